"""Dose-response analysis over K dose realisations (two-dimensional Monte Carlo dosimetry).

Three estimators of one excess-risk parameter (by default ``err:dose``) from a grouped table whose
dose column is known only through K joint realisations (an array cells x K; Simon, Hoffman &
Hofer, Radiat Res 2015;183:27 for the 2DMC method that produces them):

- :func:`naive_fit`: the model fitted to the mean dose over realisations, with its profile
  interval (Stram et al., Radiat Res 2015;183:614 note that the mean-dose score is unbiased
  at beta = 0 but the interval ignores dose uncertainty).
- :func:`fma`: frequentist model averaging (Kwon, Simon, Hoffman & Pfeiffer, PLoS One
  2023;18:e0290498, doi:10.1371/journal.pone.0290498): fit each realisation, weight fit ``k`` by
  its Akaike weight ``w_k ∝ exp(-AIC_k/2)`` (Burnham & Anderson, *Model Selection and Multimodel
  Inference*, 2nd ed. 2002, §2.9), and take the estimate and 95 % interval from the mixture
  ``sum_k w_k N(beta_k, se_k^2)`` (mean and 2.5/97.5 % quantiles).  The mixture reading of the
  FMA interval is ours; the paper's exact interval construction was not re-read here.
- :func:`mcml`: Monte Carlo maximum likelihood (Stayner et al., Radiat Res 2007;168:757):
  maximise the likelihood averaged over realisations,
  ``Lbar(beta) = (1/K) sum_k max_nuisance L_k(beta, nuisance)``, a Monte Carlo approximation of
  the marginal likelihood under Berkson-type uncertainty; the interval is where
  ``2 [log Lbar(beta_hat) - log Lbar(beta)] <= chi2_1(0.95)``.  (Colossus ``mcml=TRUE`` averages
  the log-likelihoods instead.)

All three work with any :class:`~doseline.cohort.poisson.PoissonModel` specification whose dose
column is numeric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import brentq, minimize_scalar
from scipy.special import logsumexp
from scipy.stats import chi2, norm

from doseline.cohort.likelihood import PoissonLikelihood
from doseline.cohort.poisson import PoissonModel
from doseline.cohort.spec import ModelSpec
from doseline.errors import InvalidInputError

__all__ = ["UncertaintyEstimate", "fit_realisations", "fma", "mcml", "naive_fit"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class UncertaintyEstimate:
    """One estimate of a parameter under dose uncertainty.

    Attributes
    ----------
    method
        ``"naive"``, ``"fma"`` or ``"mcml"``.
    parameter, estimate, lower, upper
        The parameter, its estimate and 95 % limits (``None`` where a limit does not exist).
    per_realisation
        For FMA: one row per realisation (``estimate``, ``std_err``, ``aic``, ``weight``).
    """

    method: str
    parameter: str
    estimate: float
    lower: float | None
    upper: float | None
    per_realisation: pd.DataFrame | None = None

    def covers(self, value: float) -> bool:
        """Whether the interval contains ``value`` (a missing limit is unbounded)."""
        low = -math.inf if self.lower is None else self.lower
        high = math.inf if self.upper is None else self.upper
        return low <= value <= high


def _check(model: PoissonModel, realisations: FloatArray) -> FloatArray:
    values = np.asarray(realisations, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != model.design.n_cells:
        raise InvalidInputError(
            f"realisations must be an array cells x K with {model.design.n_cells} rows, "
            f"got shape {values.shape}",
            field="realisations",
        )
    if model.spec.form == "categorical" or model.design.dose is None:
        raise InvalidInputError("dose realisations need a numeric dose form", field="model")
    if not np.all(np.isfinite(values)):
        raise InvalidInputError("realisations contain non-finite doses", field="realisations")
    return values


def _likelihood(model: PoissonModel, dose: FloatArray) -> PoissonLikelihood:
    design = replace(model.design, dose=np.ascontiguousarray(dose))
    return PoissonLikelihood(design, form=model.spec.form, excess=model.spec.excess)


def _model_with_dose(model: PoissonModel, dose: FloatArray) -> PoissonModel:
    clone = object.__new__(PoissonModel)
    clone.spec, clone.table = model.spec, model.table
    clone.cases_column, clone.pyr_column = model.cases_column, model.pyr_column
    clone.likelihood = _likelihood(model, dose)
    clone.design = clone.likelihood.design
    return clone


def naive_fit(
    model: PoissonModel, realisations: FloatArray, parameter: str = "err:dose"
) -> UncertaintyEstimate:
    """Fit the model to the mean dose over realisations; profile-likelihood 95 % interval."""
    values = _check(model, realisations)
    results = _model_with_dose(model, values.mean(axis=1)).fit()
    low, high = results.profile_limits(parameter)
    return UncertaintyEstimate("naive", parameter, float(results.params[parameter]),
                               low.value, high.value)  # fmt: skip


def fit_realisations(
    model: PoissonModel, realisations: FloatArray, parameter: str = "err:dose"
) -> pd.DataFrame:
    """Fit every realisation: estimate, Wald standard error and AIC of ``parameter``.

    Each fit starts from the mean-dose estimate, so the K fits converge in a few iterations.
    """
    values = _check(model, realisations)
    start = _model_with_dose(model, values.mean(axis=1)).fit().params.to_numpy()
    rows = []
    for k in range(values.shape[1]):
        results = _model_with_dose(model, values[:, k]).fit(start=start)
        rows.append((float(results.params[parameter]), float(results.bse[parameter]),
                     results.aic))  # fmt: skip
    return pd.DataFrame(rows, columns=["estimate", "std_err", "aic"])


def fma(
    model: PoissonModel,
    realisations: FloatArray,
    parameter: str = "err:dose",
    level: float = 0.95,
) -> UncertaintyEstimate:
    """Frequentist model averaging over realisations (Kwon et al. 2023; see module notes)."""
    fits = fit_realisations(model, realisations, parameter)
    weight = np.exp(-(fits["aic"] - fits["aic"].min()) / 2.0)
    fits["weight"] = weight / weight.sum()
    mean = float(np.sum(fits["weight"] * fits["estimate"]))
    lower, upper = _mixture_quantiles(
        fits["weight"].to_numpy(), fits["estimate"].to_numpy(), fits["std_err"].to_numpy(), level
    )
    return UncertaintyEstimate("fma", parameter, mean, lower, upper, per_realisation=fits)


def _mixture_quantiles(
    weight: FloatArray, mean: FloatArray, sd: FloatArray, level: float
) -> tuple[float, float]:
    """Quantiles of a normal mixture by root finding on its distribution function."""
    span = float(np.max(np.abs(mean)) + 20 * np.max(sd) + 1e-12)

    def cdf(x: float) -> float:
        return float(np.sum(weight * norm.cdf((x - mean) / sd)))

    tail = (1.0 - level) / 2.0
    low = brentq(lambda x: cdf(x) - tail, -span, span, xtol=1e-12)
    high = brentq(lambda x: cdf(x) - (1.0 - tail), -span, span, xtol=1e-12)
    return float(low), float(high)


class _AveragedProfile:
    """``log Lbar(psi)`` with the nuisance parameters of every realisation profiled out."""

    def __init__(self, model: PoissonModel, values: FloatArray, index: int) -> None:
        self.models = [_model_with_dose(model, values[:, k]) for k in range(values.shape[1])]
        self.index = index
        start = _model_with_dose(model, values.mean(axis=1)).fit().params.to_numpy()
        self.starts = [start.copy() for _ in self.models]

    def __call__(self, value: float) -> float:
        logliks = np.full(len(self.models), -np.inf)
        for k, model in enumerate(self.models):
            fit = model._fit_fixed(self.index, value, self.starts[k])
            if fit is not None:
                logliks[k] = -0.5 * fit.deviance
                self.starts[k] = fit.params
        return float(logsumexp(logliks) - math.log(len(self.models)))


def mcml(
    model: PoissonModel,
    realisations: FloatArray,
    parameter: str = "err:dose",
    level: float = 0.95,
) -> UncertaintyEstimate:
    """Monte Carlo maximum likelihood (Stayner et al. 2007; see module notes)."""
    values = _check(model, realisations)
    index = list(model.names).index(parameter)
    profile = _AveragedProfile(model, values, index)
    naive = _model_with_dose(model, values.mean(axis=1)).fit()
    centre, scale = float(naive.params[parameter]), max(float(naive.bse[parameter]), 1e-12)
    domain = _domain_limit(model, values, parameter)
    low_bound = max(centre - 10 * scale, domain)
    result = minimize_scalar(
        lambda v: -profile(v), bounds=(low_bound, centre + 10 * scale), method="bounded",
        options={"xatol": 1e-6 * scale},
    )  # fmt: skip
    estimate, top = float(result.x), -float(result.fun)
    threshold = float(chi2.ppf(level, 1)) / 2.0

    def gap(v: float) -> float:
        return top - profile(v) - threshold

    limits: list[float | None] = []
    for direction in (-1, 1):
        edge = estimate + direction * scale
        for _ in range(40):
            if direction < 0 and edge <= domain:
                edge = domain
                break
            if gap(edge) > 0:
                break
            edge = estimate + 2 * (edge - estimate)
        if gap(edge) > 0:
            bracket = (edge, estimate) if direction < 0 else (estimate, edge)
            limits.append(float(brentq(gap, *bracket, xtol=1e-8 * scale)))
        else:
            limits.append(None)
    return UncertaintyEstimate("mcml", parameter, estimate, limits[0], limits[1])


def _domain_limit(model: PoissonModel, values: FloatArray, parameter: str) -> float:
    """Lower edge of the linear-ERR domain over all realisations, ``-1 / max dose``.

    For other parameters (or forms) no edge is imposed here; infeasible points are dropped from
    the average by the profile.
    """
    spec: ModelSpec = model.spec
    plain = spec.form == "linear" and spec.excess == "err" and not spec.modifiers
    if plain and parameter == "err:dose":
        top = float(values.max())
        return -1.0 / top * (1 - 1e-9) if top > 0 else -math.inf
    return -math.inf
