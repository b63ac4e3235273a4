"""Profile-likelihood confidence limits with domain boundaries.

For a parameter ``psi`` the limit is the root of ``D_p(psi) - D_min - chi2_1(level)`` where
``D_p`` is the deviance maximised over all other parameters (Venzon & Moolgavkar, Appl Stat
1988;37:87; Epicure and Colossus ``LikelihoodBound`` use the same criterion).  Linear excess-risk
models are defined only where ``1 + ERR > 0``; when the profile deviance at that boundary is still
below the threshold the limit does not exist and is reported as ``"boundary"`` together with the
boundary value, as Ozasa et al. (Radiat Res 2012;177:229) report "lower limit < 0, not
specified".  The search walks outward from the estimate in doubling steps of the standard error,
warm-starting each constrained fit from the previous one, then refines the root with Brent's
method or the boundary by bisection.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq
from scipy.stats import chi2

__all__ = ["FixedFit", "ProfileLimit", "profile_limit"]

FloatArray = npt.NDArray[np.float64]
LimitStatus = Literal["profile", "boundary", "not reached"]


@dataclass(frozen=True)
class FixedFit:
    """Deviance and parameters of a fit with one parameter held fixed."""

    deviance: float
    params: FloatArray


@dataclass(frozen=True)
class ProfileLimit:
    """One confidence limit.

    Attributes
    ----------
    value
        The limit, or ``None`` when it does not exist.
    status
        ``"profile"`` (a root of the profile deviance), ``"boundary"`` (the model's domain ends
        before the deviance reaches the threshold; ``boundary`` holds where) or ``"not reached"``
        (the deviance stays below the threshold as far as searched).
    boundary
        The domain boundary for status ``"boundary"``.
    """

    value: float | None
    status: LimitStatus
    boundary: float | None = None


def profile_limit(
    fit_fixed: Callable[[float, FloatArray], FixedFit | None],
    estimate: float,
    params: FloatArray,
    deviance_min: float,
    *,
    scale: float,
    direction: int,
    level: float = 0.95,
    max_doublings: int = 20,
    max_abs: float = math.inf,
) -> ProfileLimit:
    """Find the lower (``direction=-1``) or upper (``+1``) profile-likelihood limit.

    Parameters
    ----------
    fit_fixed
        ``fit_fixed(value, start)`` fits with the parameter fixed at ``value`` from starting
        values ``start``; returns ``None`` when ``value`` is outside the model's domain.
    estimate, params, deviance_min
        The unconstrained maximum-likelihood fit.
    scale
        Initial step (the Wald standard error is a good choice).
    max_abs
        Largest magnitude the parameter can take numerically (e.g. a log-linear coefficient,
        whose exponential overflows beyond it); a limit beyond it is ``"not reached"``.
    """
    threshold = deviance_min + float(chi2.ppf(level, 1))
    if not math.isfinite(scale) or scale <= 0:
        scale = 0.1 * max(abs(estimate), 1e-3)
    inside, inside_params = estimate, params
    step = scale
    for _ in range(max_doublings):
        trial = inside + direction * step
        at_bound = abs(trial) >= max_abs
        if at_bound:
            trial = math.copysign(max_abs, trial)
            if trial == inside:
                break
        fit = fit_fixed(trial, inside_params)
        if fit is None:
            return _boundary_search(fit_fixed, inside, inside_params, trial, threshold)
        if fit.deviance > threshold:
            return _root(fit_fixed, inside, inside_params, trial, threshold)
        if at_bound:
            break
        inside, inside_params = trial, fit.params
        step *= 2.0
    return ProfileLimit(value=None, status="not reached")


def _root(
    fit_fixed: Callable[[float, FloatArray], FixedFit | None],
    inside: float,
    start: FloatArray,
    outside: float,
    threshold: float,
) -> ProfileLimit:
    def excess(value: float) -> float:
        fit = fit_fixed(value, start)
        if fit is None:
            raise ValueError(f"profile fit failed at {value}")
        return fit.deviance - threshold

    tol = 1e-9 * max(abs(inside), abs(outside), 1e-12)
    root = float(brentq(excess, inside, outside, xtol=tol, rtol=1e-12))
    return ProfileLimit(value=root, status="profile")


def _boundary_search(
    fit_fixed: Callable[[float, FloatArray], FixedFit | None],
    inside: float,
    start: FloatArray,
    outside: float,
    threshold: float,
) -> ProfileLimit:
    """Bisect towards the domain boundary; find a root on the way if the deviance crosses."""
    for _ in range(200):
        middle = 0.5 * (inside + outside)
        if abs(outside - inside) <= 1e-12 * max(abs(inside), 1e-300) or middle in (inside, outside):
            break
        fit = fit_fixed(middle, start)
        if fit is None:
            outside = middle
        elif fit.deviance > threshold:
            return _root(fit_fixed, inside, start, middle, threshold)
        else:
            inside, start = middle, fit.params
    return ProfileLimit(value=None, status="boundary", boundary=inside)
