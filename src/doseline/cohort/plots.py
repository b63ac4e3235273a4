"""Dose-response plot: category-specific excess risk with intervals and the fitted curve.

The categorical fit uses the same background and modifiers as the fit being drawn; each point sits
at the person-year-weighted mean dose of its category (Preston et al., Radiat Res 2007;168:1,
Fig. 2 style).  The reference (first) category is drawn at zero excess.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from doseline.cohort.design import categorise_dose

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from doseline.cohort.poisson import PoissonResults

__all__ = ["default_cutpoints", "plot_dose_response"]

#: Person-year quantiles of dose used as default category boundaries (reference = lower half).
DEFAULT_QUANTILES = (0.0, 0.5, 0.75, 0.9, 0.975, 1.0)


def default_cutpoints(dose: np.ndarray, weights: np.ndarray) -> list[float]:
    """Person-year-weighted dose quantiles :data:`DEFAULT_QUANTILES`, duplicates removed."""
    order = np.argsort(dose)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    positions = np.searchsorted(cumulative, DEFAULT_QUANTILES[1:-1])
    inner = dose[order][np.clip(positions, 0, len(dose) - 1)]
    cuts = np.unique(np.concatenate([[dose.min()], inner, [dose.max()]]))
    return [float(c) for c in cuts]


def plot_dose_response(
    results: PoissonResults, ax: Axes | None = None, cutpoints: list[float] | None = None
) -> Axes:
    """Plot categorical excess-risk estimates (profile 95 % intervals) and the fitted curve.

    Parameters
    ----------
    results
        A fit with a numeric dose column.
    ax
        Axes to draw on (a new figure when ``None``).
    cutpoints
        Category boundaries; default the fit's own (categorical form) or
        :func:`default_cutpoints`.
    """
    import matplotlib.pyplot as plt

    from doseline.cohort.poisson import PoissonModel

    model = results.model
    assert model is not None
    spec, design = model.spec, model.design
    if spec.dose is None or design.dose is None:
        raise ValueError("the fit has no numeric dose to plot against")
    if ax is None:
        _, ax = plt.subplots()
    dose, pyr = design.dose, design.pyr
    if cutpoints is None:
        cutpoints = list(spec.cutpoints) if spec.cutpoints else default_cutpoints(dose, pyr)
    categorical = results
    if spec.form != "categorical" or spec.cutpoints != tuple(cutpoints):
        cat_spec = replace(spec, form="categorical", cutpoints=tuple(cutpoints))
        categorical = PoissonModel(
            model.table, cat_spec, cases=model.cases_column, pyr=model.pyr_column
        ).fit()
    codes, _ = categorise_dose(dose, tuple(cutpoints))
    n_categories = len(cutpoints) - 1
    mean_dose = np.bincount(codes, weights=dose * pyr, minlength=n_categories) / np.bincount(
        codes, weights=pyr, minlength=n_categories
    )
    names = [n for n in categorical.params.index if n.startswith(f"{spec.excess}:")]
    interval = categorical.conf_int(names=names)
    estimate = np.concatenate([[0.0], categorical.params[names].to_numpy()])
    lower = np.concatenate([[0.0], interval["lower"].to_numpy()])
    upper = np.concatenate([[0.0], interval["upper"].to_numpy()])
    lower = np.where(np.isnan(lower), estimate, lower)
    upper = np.where(np.isnan(upper), estimate, upper)
    ax.errorbar(
        mean_dose,
        estimate,
        yerr=[estimate - lower, upper - estimate],
        fmt="o",
        capsize=3,
        label="by dose category (profile 95 % CI)",
    )
    if spec.form != "categorical":
        grid = np.linspace(0.0, float(dose.max()), 200)
        lik = model.likelihood
        beta = results.params.to_numpy()[lik.n_background : lik.n_background + lik.n_dose]
        curve = _curve(spec.form, beta, grid)
        ax.plot(grid, curve, "-", label=f"fitted {spec.form} model")
    ax.axhline(0.0, color="grey", linewidth=0.5)
    ax.set_xlabel(f"{spec.dose} (person-year-weighted mean of category)")
    ax.set_ylabel("excess relative risk" if spec.excess == "err" else "excess absolute rate")
    ax.legend()
    return ax


def _curve(form: str, beta: np.ndarray, dose: np.ndarray) -> np.ndarray:
    if form == "linear":
        return np.asarray(beta[0] * dose)
    if form == "lq":
        return np.asarray(beta[0] * dose + beta[1] * dose**2)
    return np.asarray(beta[0] * dose * np.exp(beta[1] * dose))
