"""Monte Carlo draws of risk-model parameters, DDREF, latency and organ dose.

- Coefficients ``beta``: lognormal with median ``beta`` and ``sigma = ln(hi/lo) / 3.92`` so that
  the 2.5 and 97.5 % points are the published 95 % CI (as LARisk 1.0.0 does for the BEIR VII
  sites); ``normal`` with SD from the upper half-width where the published lower bound is
  "<0" (LARisk does the same for uterus and prostate); ``two_piece_normal`` with separate
  lower/upper SDs through the 2.5/50/97.5 % points (the RadRAT-added sites, whose CIs are
  asymmetric; LARisk uses a two-piece uniform through the same points).
- DDREF: lognormal, median ``model.ddref``, GSD ``model.ddref_gsd`` (1.35; LARisk
  ``DDREFft``; Kocher et al. 2018 Table 1: BEIR VII DDREF median 1.5, 90 % 0.9-2.5).
- Latency midpoint: triangular ``(low, mode, high)`` (:class:`~doseline.risk.models.LatencySpec`).
- Organ dose: fixed, lognormal with the given dose as median and a geometric SD (one factor
  per exposure and draw, shared by all organs of that exposure, independent between
  exposures), or realisations supplied by the dosimetry.

All draws come from one :class:`numpy.random.Generator` seeded by the caller, in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from doseline.risk.baseline import FloatArray
from doseline.risk.models import CancerModel, SolidComponent

__all__ = [
    "ParameterDraws",
    "beta_draws",
    "central_parameters",
    "ci_draws",
    "draw_parameters",
]

_Z975 = 1.959963984540054


def ci_draws(
    central: float,
    low: float | None,
    high: float,
    *,
    distribution: str,
    rng: np.random.Generator,
    n: int,
) -> FloatArray:
    """``n`` draws whose 2.5/50/97.5 % points are ``low``/``central``/``high``.

    ``lognormal`` (median ``central``, ``sigma = ln(high/low)/3.92``), ``normal`` (SD from the
    CI, or from the upper half-width when ``low`` is None, i.e. published as "<0"), or
    ``two_piece_normal`` (separate SDs below and above ``central``).
    """
    z = rng.standard_normal(n)
    if distribution == "lognormal":
        if low is None or low <= 0:
            raise ValueError("lognormal draws need a positive lower bound")
        sigma = np.log(high / low) / (2 * _Z975)
        out: FloatArray = central * np.exp(sigma * z)
        return out
    sd_high = (high - central) / _Z975
    if distribution == "normal":
        sd = sd_high if low is None else (high - low) / (2 * _Z975)
        out = central + sd * z
        return out
    sd_low = sd_high if low is None else (central - low) / _Z975
    out = central + np.where(z < 0, sd_low, sd_high) * z
    return out


def beta_draws(comp: SolidComponent, rng: np.random.Generator, n: int) -> FloatArray:
    """``n`` draws of a solid-site coefficient reproducing its published 95 % CI."""
    return ci_draws(
        comp.beta,
        comp.beta_ci_low,
        comp.beta_ci_high,
        distribution=comp.distribution,
        rng=rng,
        n=n,
    )


@dataclass(frozen=True)
class ParameterDraws:
    """Model parameters for ``n`` Monte Carlo draws (``n = 1``: the central values)."""

    n: int
    ddref: FloatArray
    midpoint_y: dict[str, FloatArray]
    beta: dict[tuple[str, str, str], FloatArray]
    central: bool


def central_parameters(model: CancerModel) -> ParameterDraws:
    """The central values: published betas, DDREF, modal latency midpoints."""
    beta: dict[tuple[str, str, str], FloatArray] = {
        (c.site, c.sex, c.model): np.array([c.beta])
        for comps in model.solid.values()
        for c in comps
    }
    for sex, comps in model.leukaemia.items():
        for lc in comps:
            beta[("leukaemia", sex, lc.model)] = np.array([lc.beta])
    midpoints = {g: np.array([tri[1]]) for g, tri in model.latency.midpoint_y.items()}
    return ParameterDraws(1, np.array([model.ddref]), midpoints, beta, central=True)


def draw_parameters(model: CancerModel, n: int, rng: np.random.Generator) -> ParameterDraws:
    """``n`` joint draws of DDREF, latency midpoints and coefficients, in a fixed order.

    Leukaemia coefficients are lognormal with the log-SD of ``beir7_leukaemia.csv`` (from the
    variance of beta in LARisk's covariance matrices); the other leukaemia parameters are kept
    at their central values (LARisk propagates them by a delta method instead).
    """
    if n < 1:
        raise ValueError("number of draws must be at least 1")
    ddref = model.ddref * np.exp(np.log(model.ddref_gsd) * rng.standard_normal(n))
    midpoints = {
        group: rng.triangular(*model.latency.midpoint_y[group], size=n)
        for group in sorted(model.latency.midpoint_y)
    }
    beta: dict[tuple[str, str, str], FloatArray] = {}
    for key in sorted(model.solid):
        for comp in model.solid[key]:
            beta[(comp.site, comp.sex, comp.model)] = beta_draws(comp, rng, n)
    for sex, comps in model.leukaemia.items():
        for lc in comps:
            z = rng.standard_normal(n)
            beta[("leukaemia", sex, lc.model)] = lc.beta * np.exp(lc.beta_log_sd * z)
    return ParameterDraws(n, ddref, midpoints, beta, central=False)
