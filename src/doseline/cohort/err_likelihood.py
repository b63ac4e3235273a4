"""Poisson likelihood of a linear excess-relative-risk model on grouped person-time.

This module holds the likelihood *evaluation* that the Dask path sums over partitions
(:mod:`doseline.cohort.distributed`) and a small fit used to check known-truth cohorts; the
full model language, effect modifiers and result objects belong to
:mod:`doseline.cohort.poisson`.

Overlap with :class:`doseline.cohort.likelihood.PoissonLikelihood` (the general model, linear
form): its ``mean`` gives the same means and score, but builds the full ``cells x parameters``
Jacobian at every evaluation; with one dummy column per stratum, computing the score that way
was 3-4 times slower here (200 000 cells, 40 strata; measured at review), so the two stay
separate. Tests hold them together: ``tests/test_cohort_harmonic.py`` checks
:func:`fit_stratified_linear_err` against ``PoissonModel.linear_err`` (estimate and profile
interval, rel 1e-5).

Model (Epicure AMFIT; Preston DL, Lubin JH, Pierce DA, McConney ME. Epicure User's Guide,
Hirosoft 1993): for cell ``i`` with ``y_i`` cases and ``PY_i`` person-years,

    mu_i = PY_i * exp(x_i' alpha) * (1 + beta * d_i),

log L = sum_i y_i log mu_i - mu_i (the constant -log y_i! is left out). Its gradient is
``X'(y - mu)`` for ``alpha`` and ``sum_i d_i (y_i / (1 + beta d_i) - PY_i exp(x_i' alpha))``
for ``beta``.

With a fully stratified background (one ``alpha`` per stratum) the stratum intercepts have the
closed form ``exp(alpha_k) = Y_k / sum_{i in k} PY_i (1 + beta d_i)``, which leaves the profile
log-likelihood ``sum_i y_i log(1 + beta d_i) - sum_k Y_k log sum_{i in k} PY_i (1 + beta d_i)``
(+ const.) in ``beta`` alone. Its likelihood-ratio (profile) interval keeps the ``beta`` with
deviance increase <= chi2_1(0.95) = 3.8415; where that bound lies beyond the constraint
``1 + beta d_i > 0`` for every cell with cases or person-time, the boundary is reported as such.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, stats

__all__ = [
    "StratifiedERRFit",
    "fit_stratified_linear_err",
    "poisson_err_loglik",
    "stratified_profile_loglik",
]

FloatArray = npt.NDArray[np.float64]


def poisson_err_loglik(
    params: FloatArray, design: FloatArray, dose: FloatArray, cases: FloatArray, pyr: FloatArray
) -> tuple[float, FloatArray]:
    """Log-likelihood and gradient of ``mu = PY exp(X alpha) (1 + beta d)``.

    ``params`` is ``(alpha..., beta)``; returns ``(-inf, nan)`` outside ``1 + beta d > 0``.
    The sums are additive over disjoint sets of cells (the partitions of the Dask path).
    """
    alpha, beta = params[:-1], float(params[-1])
    rr = 1.0 + beta * dose
    if np.any(rr <= 0.0):
        return -np.inf, np.full(params.size, np.nan)
    background = pyr * np.exp(design @ alpha)
    mu = background * rr
    with np.errstate(divide="ignore", invalid="ignore"):
        log_terms = np.where(cases > 0, cases * np.log(mu), 0.0)
    value = float(np.sum(log_terms - mu))
    grad_alpha = design.T @ (cases - mu)
    grad_beta = float(np.sum(dose * (cases / rr - background)))
    return value, np.append(grad_alpha, grad_beta)


def stratified_profile_loglik(
    beta: float,
    stratum: npt.NDArray[np.int64],
    dose: FloatArray,
    cases: FloatArray,
    pyr: FloatArray,
) -> float:
    """Profile log-likelihood of ``beta`` with closed-form stratum intercepts (module doc)."""
    rr, expected, observed = _stratum_totals(beta, stratum, dose, cases, pyr)
    if np.any(rr[(pyr > 0) | (cases > 0)] <= 0.0):
        return -np.inf
    with np.errstate(divide="ignore"):
        first = float(np.sum(np.where(cases > 0, cases * np.log(rr), 0.0)))
    keep = observed > 0
    return first - float(np.sum(observed[keep] * np.log(expected[keep])))


def _stratum_totals(
    beta: float,
    stratum: npt.NDArray[np.int64],
    dose: FloatArray,
    cases: FloatArray,
    pyr: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Relative risk per cell, and per stratum ``sum PY (1 + beta d)`` and observed cases."""
    rr = 1.0 + beta * dose
    expected = np.asarray(np.bincount(stratum, weights=pyr * rr), np.float64)
    observed = np.asarray(np.bincount(stratum, weights=cases, minlength=expected.size), np.float64)
    return rr, expected, observed


def _maximise(
    loglik: Callable[[float], float], lower: float, upper: float, scale: float
) -> tuple[float, float]:
    """Maximum of a one-parameter log-likelihood on (lower, upper): a grid dense near the
    constraint boundary, zero and small values (log-spaced), then Brent's method between the
    neighbours of the best grid point."""
    grid = [0.0, upper]
    if np.isfinite(lower):
        grid.extend(lower * np.geomspace(1e-9, 1.0, 120))
    grid.extend(np.geomspace(1e-9 * scale, upper, 360))
    points = np.unique(np.clip(np.asarray(grid), lower if np.isfinite(lower) else -upper, upper))
    values = np.array([loglik(float(b)) for b in points])
    k = int(np.nanargmax(values))
    lo, hi = points[max(k - 1, 0)], points[min(k + 1, points.size - 1)]
    if hi > lo:
        found = optimize.minimize_scalar(
            lambda b: -loglik(float(b)),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-12 * max(1.0, abs(points[k]))},
        )
        if -float(found.fun) >= values[k]:
            return float(found.x), -float(found.fun)
    return float(points[k]), float(values[k])


@dataclass(frozen=True)
class StratifiedERRFit:
    """Estimate and profile-likelihood interval of the ERR per unit dose.

    ``ci_low``/``ci_high`` are ``None`` where no finite bound exists: the low side when the
    deviance stays below the threshold up to the ``1 + beta d > 0`` boundary
    (``beta_boundary``), the high side when it does not reach the threshold below
    ``max_beta``.
    """

    beta: float
    ci_low: float | None
    ci_high: float | None
    beta_boundary: float
    deviance: float  # Poisson deviance of the fitted model against the saturated one
    n_cells: int
    n_cases: int


def fit_stratified_linear_err(
    table: pd.DataFrame,
    *,
    dose: str,
    strata: tuple[str, ...],
    cases: str = "cases",
    pyr: str = "pyr",
    conf_level: float = 0.95,
    max_beta: float = 1e6,
) -> StratifiedERRFit:
    """Fit ``beta`` of a linear ERR with a fully stratified background (profile interval)."""
    d = table[dose].to_numpy(float)
    y = table[cases].to_numpy(float)
    t = table[pyr].to_numpy(float)
    stratum: npt.NDArray[np.int64] = (
        np.asarray(table.groupby(list(strata), sort=False, dropna=False).ngroup(), np.int64)
        if strata
        else np.zeros(len(table), np.int64)
    )
    used = (t > 0) | (y > 0)
    d_max = float(d[used].max()) if used.any() else 0.0
    boundary = -1.0 / d_max if d_max > 0 else -np.inf
    lower = boundary * (1.0 - 1e-9)

    def loglik(beta: float) -> float:
        return stratified_profile_loglik(beta, stratum, d, y, t)

    beta_hat, ll_hat = _maximise(loglik, lower, max_beta, scale=1.0 / max(d_max, 1e-300))
    threshold = float(stats.chi2.ppf(conf_level, 1)) / 2.0

    def excess(beta: float) -> float:
        return loglik(beta) - (ll_hat - threshold)

    ci_low: float | None = None
    if np.isfinite(lower) and excess(lower) < 0:
        ci_low = float(optimize.brentq(excess, lower, beta_hat, xtol=1e-14, rtol=1e-12))
    ci_high: float | None = None
    if excess(max_beta) < 0:
        ci_high = float(optimize.brentq(excess, beta_hat, max_beta, xtol=1e-14, rtol=1e-12))
    rr, expected, observed = _stratum_totals(beta_hat, stratum, d, y, t)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = t * rr * np.where(expected > 0, observed / expected, 0.0)[stratum]
        terms = np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)
    return StratifiedERRFit(
        beta=beta_hat,
        ci_low=ci_low,
        ci_high=ci_high,
        beta_boundary=boundary,
        deviance=float(2.0 * np.sum(terms)),
        n_cells=len(table),
        n_cases=int(y.sum()),
    )
