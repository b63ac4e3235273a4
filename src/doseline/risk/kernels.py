"""Per-gray lifetime-risk kernels: the sum over attained age of excess rate x survival.

For an exposure at age ``e`` the lifetime attributable risk of one ERR or EAR component is
(BEIR VII, NRC 2006, ch. 12, eq. 12-1, in discrete single years of age)::

    LAR(D, e) = beta * dose_term(D) * sum_a  W(a, e) * f(e, a) * base(a) * S(a + 1/2) / S(e)

where ``W`` is the latency weight of the year ``[a, a+1)``, ``f`` the age-at-exposure and
attained-age (or time-since-exposure) modifiers, ``base`` the baseline rate (ERR) or 10^-4
(EAR, per 10^4 person-years), and ``S`` all-cause survival. This module returns the sum for
``beta * dose_term = 1``; :mod:`doseline.risk.engine` multiplies by doses and parameters.
Attained age and time since exposure are taken at the middle of each year of age.
"""

from __future__ import annotations

import numpy as np

from doseline.organs import Sex
from doseline.risk.baseline import AGES_Y, Baseline, FloatArray
from doseline.risk.models import CancerModel, LeukaemiaComponent, SolidComponent

__all__ = [
    "baseline_multipliers",
    "leukaemia_year_terms",
    "residual_rate",
    "sigmoid_weights",
    "solid_year_terms",
    "step_weights",
]

_MID_AGE = AGES_Y + 0.5


def step_weights(age_at_exposure_y: FloatArray, lag_y: float) -> FloatArray:
    """Fraction of each year of age ``[a, a+1)`` lying ``lag_y`` or more after exposure."""
    e = age_at_exposure_y[:, None]
    out: FloatArray = np.clip(AGES_Y[None, :] + 1.0 - (e + lag_y), 0.0, 1.0)
    return out


def sigmoid_weights(age_at_exposure_y: FloatArray, midpoint_y: float, scale_y: float) -> FloatArray:
    """Logistic latency factor at mid-year, times the fraction of the year after exposure."""
    e = age_at_exposure_y[:, None]
    after = np.clip(AGES_Y[None, :] + 1.0 - e, 0.0, 1.0)
    t = _MID_AGE[None, :] - e
    out: FloatArray = after / (1.0 + np.exp(-(t - midpoint_y) / scale_y))
    return out


def residual_rate(baseline: Baseline, model: CancerModel, outcome: str, sex: Sex) -> FloatArray:
    """Baseline of the residual site ("other"/"remainder"): all solid minus modelled sites.

    Uses the baseline's ``all_solid`` when present; otherwise the sum of its solid sites that
    the model does not project separately (for tables like LARisk's with a remainder row).
    """
    modelled = {s for s in model.sites if s not in ("leukaemia", model.residual_site)}
    if baseline.has(outcome, "all_solid", sex):
        rate = baseline.rate_per_100000(outcome, "all_solid", sex).copy()
        for site in modelled:
            if baseline.has(outcome, site, sex):
                rate -= baseline.rate_per_100000(outcome, site, sex)
        clipped: FloatArray = np.clip(rate, 0.0, None)
        return clipped
    rate = np.zeros_like(AGES_Y)
    excluded = modelled | {"leukaemia", "all_leukaemia", "all_cancer"}
    for site in sorted(baseline.sites(outcome) - excluded):
        if baseline.has(outcome, site, sex):
            rate = rate + baseline.rate_per_100000(outcome, site, sex)
    return rate


def baseline_multipliers(
    baseline: Baseline, model: CancerModel, site: str, sex: Sex, outcome: str
) -> tuple[FloatArray, FloatArray] | None:
    """Per-person-year multipliers of ERR and EAR for one site, or None if no baseline.

    Incidence: ERR x incidence rate, EAR x 10^-4. Mortality (BEIR VII ch. 12: mortality from
    the incidence models via the ratio of baseline mortality to incidence): ERR x mortality
    rate, EAR x 10^-4 x mortality/incidence.
    """

    def rate(kind: str) -> FloatArray | None:
        if site == model.residual_site:
            return residual_rate(baseline, model, kind, sex)
        if not baseline.has(kind, site, sex):
            return None
        return baseline.rate_per_100000(kind, site, sex)

    incidence = rate("incidence")
    if incidence is None:
        return None
    ear = np.full_like(AGES_Y, 1e-4)
    if outcome == "incidence":
        return incidence / 1e5, ear
    mortality = rate("mortality")
    if mortality is None:
        return None
    ratio = np.divide(mortality, incidence, out=np.zeros_like(mortality), where=incidence > 0)
    return mortality / 1e5, ear * ratio


def _estar(comp_center: float, comp_cap: float | None, e: FloatArray) -> FloatArray:
    capped = e if comp_cap is None else np.minimum(e, comp_cap)
    out: FloatArray = (capped - comp_center) / 10.0
    return out


def solid_year_terms(
    comp: SolidComponent,
    age_at_exposure_y: FloatArray,
    weights: FloatArray,
    *,
    base: FloatArray,
    survival_mid: FloatArray,
    survival_at_exposure: FloatArray,
) -> FloatArray:
    """Per-gray excess risk in each year of age, shape (exposures, 101), for beta = 1."""
    estar = _estar(comp.e_center_y, comp.e_cap_y, age_at_exposure_y)
    ratio = _MID_AGE / comp.a_ref_y
    eta = np.full_like(AGES_Y, comp.eta)
    if comp.eta_late is not None and comp.a_break_y is not None:
        eta = np.where(comp.a_break_y < _MID_AGE, comp.eta_late, comp.eta)
    age_term = ratio**eta * base * survival_mid
    out: FloatArray = (
        weights * age_term[None, :] * (np.exp(comp.gamma * estar) / survival_at_exposure)[:, None]
    )
    return out


def leukaemia_year_terms(
    comp: LeukaemiaComponent,
    age_at_exposure_y: FloatArray,
    weights: FloatArray,
    *,
    base: FloatArray,
    survival_mid: FloatArray,
    survival_at_exposure: FloatArray,
    min_tse_y: float,
) -> FloatArray:
    """Per-gray (linear term) leukaemia excess in each year of age, shape (exposures, 101)."""
    # BEIR VII leukaemia model (PROVENANCE.md, beir7_leukaemia.csv): e* = (min(e, 30) - 30)/10
    # and time since exposure t relative to 25 y.
    estar = _estar(30.0, 30.0, age_at_exposure_y)[:, None]
    t = _MID_AGE[None, :] - age_at_exposure_y[:, None]
    # 0.25 y: numerical floor only (the mid-year t of the year of exposure can be <= 0, where
    # ln t is undefined); such years carry latency weight 0 (step) or nearly 0 (sigmoid).
    log_t = np.log(np.maximum(t, max(min_tse_y, 0.25)) / 25.0)
    modifier = np.exp(comp.gamma * estar + (comp.delta + comp.phi * estar) * log_t)
    out: FloatArray = (
        weights * modifier * (base * survival_mid)[None, :] / survival_at_exposure[:, None]
    )
    return out
