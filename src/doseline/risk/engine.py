"""Vectorised lifetime attributable risk for many persons, exposures and Monte Carlo draws.

Persons of one sex are processed in chunks; in each chunk the per-gray kernels
(:mod:`doseline.risk.kernels`) are computed once per distinct age at exposure, then combined
with doses and parameter draws as array products over (draws, persons, exposures). ERR and
EAR components are combined per site as the model says (geometric or arithmetic weighting),
solid sites are divided by the DDREF, and all_solid / all_cancer are sums over the sites the
baseline supports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from doseline.errors import InvalidInputError
from doseline.organs import Sex
from doseline.risk.baseline import Baseline, FloatArray
from doseline.risk.kernels import (
    baseline_multipliers,
    leukaemia_year_terms,
    sigmoid_weights,
    solid_year_terms,
    step_weights,
)
from doseline.risk.models import CancerModel, LeukaemiaComponent, SolidComponent
from doseline.risk.sites import sites_for_sex
from doseline.risk.uncertainty import ParameterDraws

__all__ = ["KernelContext", "combine_components", "lar_chunk", "year_terms"]

_MIDPOINT_GRID = 9


@dataclass(frozen=True)
class KernelContext:
    """What the kernels of one sex need: model, baseline, outcome and survival curves."""

    model: CancerModel
    baseline: Baseline
    sex: Sex
    outcome: str

    def __post_init__(self) -> None:
        if self.outcome not in ("incidence", "mortality"):
            raise InvalidInputError(
                f"outcome {self.outcome!r} must be incidence or mortality", field="outcome"
            )
        if not self.baseline.sites(self.outcome):
            raise InvalidInputError(
                f"baseline {self.baseline.name} has no {self.outcome} rates",
                source=self.baseline.name,
                field=self.outcome,
            )

    def sites(self) -> tuple[str, ...]:
        """Sites of the model for this sex (leukaemia last)."""
        return sites_for_sex(self.model.sites, self.sex)

    def components(self, site: str) -> tuple[SolidComponent | LeukaemiaComponent, ...]:
        """The ERR/EAR components of a site for this sex."""
        if site == "leukaemia":
            return self.model.leukaemia[self.sex]
        return self.model.solid[(site, self.sex)]


def _weights(ctx: KernelContext, site: str, ages: FloatArray, midpoint: float | None) -> FloatArray:
    latency = ctx.model.latency
    group = latency.group(site)
    if latency.kind == "step":
        return step_weights(ages, latency.lag_y[group])
    mid = latency.midpoint_y[group][1] if midpoint is None else midpoint
    return sigmoid_weights(ages, mid, latency.scale_y[group])


def year_terms(
    ctx: KernelContext,
    site: str,
    comp: SolidComponent | LeukaemiaComponent,
    ages: FloatArray,
    *,
    base: FloatArray,
    midpoint: float | None = None,
    weights: FloatArray | None = None,
) -> FloatArray:
    """Per-gray excess risk of one component in each year of age, (len(ages), 101).

    ``weights`` (latency weights of these ages) may be passed to reuse them.
    """
    if weights is None:
        weights = _weights(ctx, site, ages, midpoint)
    s_mid = ctx.baseline.survival_mid_year(ctx.sex)
    s_e = ctx.baseline.survival_at(ctx.sex, ages)
    if isinstance(comp, LeukaemiaComponent):
        return leukaemia_year_terms(
            comp,
            ages,
            weights,
            base=base,
            survival_mid=s_mid,
            survival_at_exposure=s_e,
            min_tse_y=ctx.model.leukaemia_min_tse_y,
        )
    return solid_year_terms(
        comp, ages, weights, base=base, survival_mid=s_mid, survival_at_exposure=s_e
    )


def _kernel(
    ctx: KernelContext,
    site: str,
    comp: SolidComponent | LeukaemiaComponent,
    ages_u: FloatArray,
    *,
    base: FloatArray,
    draws: ParameterDraws,
    cache: dict[tuple[str, float | None], FloatArray],
) -> tuple[FloatArray, FloatArray | None]:
    """Kernel at distinct ages: (n_u,) or, with sampled sigmoid latency, (n_u, grid)."""
    latency = ctx.model.latency
    group = latency.group(site)

    def terms(midpoint: float | None) -> FloatArray:
        key = (group, midpoint)
        if key not in cache:
            cache[key] = _weights(ctx, site, ages_u, midpoint)
        per_year = year_terms(
            ctx, site, comp, ages_u, base=base, midpoint=midpoint, weights=cache[key]
        )
        summed: FloatArray = per_year.sum(axis=1)
        return summed

    if latency.kind == "step" or draws.central:
        return terms(None), None
    low, _, high = latency.midpoint_y[group]
    grid = np.linspace(low, high, _MIDPOINT_GRID)
    return np.stack([terms(float(m)) for m in grid], axis=1), grid


def _dose_sum(
    dose: FloatArray,
    dose_factor: FloatArray | None,
    theta: float,
    kernel: FloatArray,
    weights_dg: FloatArray | None,
) -> FloatArray:
    """sum over exposures of dose_term x kernel: (draws, persons) or (persons,).

    ``kernel`` is (persons, exposures) or, with ``weights_dg`` (draws, grid) interpolating
    over latency midpoints, (persons, exposures, grid).
    """
    if weights_dg is None:
        if theta == 0.0 and dose_factor is not None and dose.ndim == 2:
            out: FloatArray = np.einsum("dpk,pk->dp", dose_factor, dose * kernel)
            return out
        d = dose if dose_factor is None else dose * dose_factor
        out = (d * (1.0 + theta * d) * kernel).sum(axis=-1)
        return out
    total: FloatArray = np.zeros((weights_dg.shape[0], kernel.shape[0]))
    for k in range(kernel.shape[1]):
        drawn_kernel = weights_dg @ kernel[:, k, :].T  # (draws, persons)
        d = dose[..., k] if dose_factor is None else dose[..., k] * dose_factor[..., k]
        total += d * (1.0 + theta * d) * drawn_kernel
    return total


def _interp_matrix(grid: FloatArray, midpoints: FloatArray) -> FloatArray:
    """(draws, grid) weights of linear interpolation of a kernel over latency midpoints."""
    position = np.clip((midpoints - grid[0]) / (grid[1] - grid[0]), 0, len(grid) - 1 - 1e-9)
    index = np.floor(position).astype(np.intp)
    frac = position - index
    rows = np.arange(len(midpoints))
    out = np.zeros((len(midpoints), len(grid)))
    out[rows, index] = 1.0 - frac
    out[rows, index + 1] += frac
    return out


def combine_components(
    values: Mapping[str, FloatArray], weights: Mapping[str, float], weighting: str
) -> FloatArray:
    """Combine ERR- and EAR-based LARs: weighted geometric (BEIR VII) or arithmetic mean.

    In the geometric mean a non-positive component (a coefficient draw below zero) gives 0.
    """
    if len(values) == 1:
        return next(iter(values.values()))
    err, ear = values["err"], values["ear"]
    w = weights["err"]
    if weighting == "arithmetic":
        out: FloatArray = w * err + (1.0 - w) * ear
        return out
    positive = (err > 0) & (ear > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        geo = np.exp(w * np.log(err) + (1.0 - w) * np.log(ear))
    out = np.where(positive, geo, 0.0)
    return out


def lar_chunk(
    ctx: KernelContext,
    ages: FloatArray,
    site_doses: Mapping[str, FloatArray],
    draws: ParameterDraws,
    dose_factor: FloatArray | None,
) -> dict[str, FloatArray]:
    """LAR per 100,000 for one chunk of persons, site -> (n_draws, n_persons).

    Parameters
    ----------
    ages
        Ages at exposure (persons, exposures); padding exposures have dose 0.
    site_doses
        site -> organ dose in Gy driving that site: (persons, exposures), or
        (draws, persons, exposures) for supplied dose realisations.
    draws
        Parameter draws (``draws.n`` rows; 1 for the central estimate).
    dose_factor
        Multiplicative dose draws (draws, persons, exposures) or None for fixed doses.
    """
    ages_u, inverse = np.unique(ages, return_inverse=True)
    inverse = inverse.reshape(ages.shape)
    result: dict[str, FloatArray] = {}
    cache: dict[tuple[str, float | None], FloatArray] = {}
    for site in ctx.sites():
        mult = baseline_multipliers(ctx.baseline, ctx.model, site, ctx.sex, ctx.outcome)
        if mult is None:
            continue
        dose = site_doses[site]
        values: dict[str, FloatArray] = {}
        weights: dict[str, float] = {}
        for comp in ctx.components(site):
            base = mult[0] if comp.model == "err" else mult[1]
            table, grid = _kernel(ctx, site, comp, ages_u, base=base, draws=draws, cache=cache)
            weights_dg = None
            if grid is not None:
                group = ctx.model.latency.group(site)
                weights_dg = _interp_matrix(grid, draws.midpoint_y[group])
            theta = comp.theta if isinstance(comp, LeukaemiaComponent) else 0.0
            summed = _dose_sum(dose, dose_factor, theta, table[inverse], weights_dg)
            if summed.ndim == 1:
                summed = summed[None, :]
            beta = draws.beta[(site, ctx.sex, comp.model)]
            values[comp.model] = 1e5 * beta[:, None] * summed
            weights[comp.model] = comp.weight
        combined = combine_components(values, weights, ctx.model.weighting)
        if site != "leukaemia":
            combined = combined / draws.ddref[:, None]
        result[site] = combined
    solid = [v for s, v in result.items() if s != "leukaemia"]
    result["all_solid"] = np.sum(solid, axis=0)
    result["all_cancer"] = result["all_solid"] + result.get("leukaemia", 0.0)
    return result
