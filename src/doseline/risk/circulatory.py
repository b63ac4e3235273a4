"""Lifetime attributable risk of circulatory-disease death from heart and brain doses.

Excess relative risk per Gy, constant in age at exposure and attained age, applied to
baseline mortality of ischaemic heart disease (heart dose) and cerebrovascular disease (brain
dose) after a lag, with all-cause survival (the BEIR VII LAR form, NRC 2006 eq. 12-1)::

    LAR = sum_exposures ERR * D * sum_a W(a, e) * m(a) * S(a + 1/2) / S(e)

Coefficients: Little M.P. et al. (2012) Systematic review and meta-analysis of circulatory
disease from exposure to low-level ionizing radiation and estimates of potential population
mortality risks. Environ Health Perspect 120:1503-1511 (``data/risk/circulatory.csv``).
No DDREF is applied: the meta-analysis pooled low-dose and low-dose-rate studies.

No open circulatory-mortality baseline is shipped: the user supplies ``ihd`` and
``cerebrovascular`` mortality rates (per 100,000, by sex and single year of age) in the
baseline CSV format (``docs/risk.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from doseline.errors import InvalidInputError
from doseline.organs import Sex
from doseline.risk.baseline import AGES_Y, Baseline, FloatArray
from doseline.risk.kernels import step_weights
from doseline.risk.models import read_parameter_file
from doseline.risk.projection import Exposure, baseline_risk_weights, check_sex
from doseline.risk.results import LARResult
from doseline.risk.uncertainty import ci_draws

__all__ = ["CirculatoryModel", "CirculatoryRisk", "circulatory_lar"]


@dataclass(frozen=True)
class CirculatoryRisk:
    """ERR per Gy of one circulatory outcome, its organ, 95 % CI, lag and citation."""

    outcome: str
    organ: str
    err_per_gy: float
    ci_low: float
    ci_high: float
    lag_y: float
    source: str


@dataclass(frozen=True)
class CirculatoryModel:
    """Circulatory-disease ERR models of one source (``little2012_random`` by default).

    Parameters
    ----------
    source_key
        ``little2012_random`` or ``little2012_fixed`` (random- or fixed-effect meta-analysis).
    """

    source_key: str = "little2012_random"
    #: The outcome models of the chosen source (read and checked once, on construction).
    risks: tuple[CirculatoryRisk, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rows = [
            r for r in read_parameter_file("circulatory.csv") if r["source_key"] == self.source_key
        ]
        if not rows:
            raise ValueError(f"unknown circulatory source {self.source_key!r}")
        risks = tuple(
            CirculatoryRisk(
                r["outcome"],
                r["organ"],
                float(r["err_per_gy"]),
                float(r["ci_low"]),
                float(r["ci_high"]),
                float(r["lag_y"]),
                r["source"],
            )
            for r in rows
        )
        object.__setattr__(self, "risks", risks)

    @property
    def params(self) -> pd.DataFrame:
        """The coefficients as a frame."""
        return pd.DataFrame([r.__dict__ for r in self.risks])


def _kernel(baseline: Baseline, sex: Sex, risk: CirculatoryRisk, ages: FloatArray) -> FloatArray:
    rate = baseline.rate_per_100000("mortality", risk.outcome, sex) / 1e5
    s_mid = baseline.survival_mid_year(sex)
    s_e = baseline.survival_at(sex, ages)
    w = step_weights(ages, risk.lag_y)
    out: FloatArray = w * (rate * s_mid)[None, :] / s_e[:, None]
    return out


def _doses_gy(exposures: Sequence[Exposure], risk: CirculatoryRisk) -> FloatArray:
    """The dose (Gy) to the organ of ``risk`` in each exposure (``whole_body`` where absent)."""
    dose = np.array(
        [
            e.organ_dose_gy.get(risk.organ, e.organ_dose_gy.get("whole_body", math.nan))
            for e in exposures
        ]
    )
    if not np.all(np.isfinite(dose)):
        raise InvalidInputError(
            f"{risk.outcome} needs a {risk.organ} (or whole_body) dose in every exposure",
            field="organ_dose_gy",
        )
    return dose


def _with_total(rows: list[pd.DataFrame]) -> pd.DataFrame:
    """The per-outcome excess by attained age, followed by their sum (``all_circulatory``)."""
    frame = pd.concat(rows, ignore_index=True)
    total = frame.groupby("attained_age_y", as_index=False)["excess_per_100000"].sum()
    total["site"] = "all_circulatory"
    return pd.concat([frame, pd.DataFrame(total)], ignore_index=True)


def circulatory_lar(
    exposures: Sequence[Exposure],
    *,
    sex: str,
    baseline: Baseline,
    model: CirculatoryModel | None = None,
    draws: int = 0,
    seed: int | None = None,
) -> LARResult:
    """LAR of death from IHD and cerebrovascular disease, per 100,000.

    Parameters
    ----------
    exposures
        Exposures with ``heart`` and ``brain`` doses (or ``whole_body``).
    sex
        ``male`` or ``female``.
    baseline
        Must hold mortality rates of sites ``ihd`` and ``cerebrovascular``.
    model
        :class:`CirculatoryModel` (default Little et al. 2012 random effects).
    draws, seed
        Monte Carlo over the ERR (two-piece normal through the published 95 % CI).
    """
    sex_t = check_sex(sex)
    model = model or CirculatoryModel()
    ages = np.array([e.age_at_exposure_y for e in exposures], dtype=np.float64)
    rng = np.random.default_rng(seed)
    lar_values: dict[str, float] = {}
    lbr: dict[str, float] = {}
    sampled: dict[str, FloatArray] = {}
    rows: list[pd.DataFrame] = []
    after = baseline_risk_weights(baseline, sex_t, float(ages.min()))
    for risk in model.risks:
        dose = _doses_gy(exposures, risk)
        per_year = (
            1e5 * risk.err_per_gy * (dose[:, None] * _kernel(baseline, sex_t, risk, ages)).sum(0)
        )
        lar_values[risk.outcome] = float(per_year.sum())
        lbr[risk.outcome] = float(
            np.sum(after * baseline.rate_per_100000("mortality", risk.outcome, sex_t))
        )
        rows.append(
            pd.DataFrame(
                {"site": risk.outcome, "attained_age_y": AGES_Y, "excess_per_100000": per_year}
            )
        )
        if draws > 0:
            err = ci_draws(
                risk.err_per_gy,
                risk.ci_low,
                risk.ci_high,
                distribution="two_piece_normal",
                rng=rng,
                n=draws,
            )
            sampled[risk.outcome] = lar_values[risk.outcome] / risk.err_per_gy * err
    lar_values["all_circulatory"] = sum(lar_values.values())
    lbr["all_circulatory"] = sum(lbr.values())
    if draws > 0:
        sampled["all_circulatory"] = np.sum(list(sampled.values()), axis=0)
    return LARResult(
        model=f"circulatory:{model.source_key}",
        baseline=baseline.name,
        sex=sex_t,
        outcome="mortality",
        exposures=tuple((e.age_at_exposure_y, e.organ_dose_gy) for e in exposures),
        lar_per_100000=lar_values,
        lbr_per_100000=lbr,
        by_attained_age=_with_total(rows),
        draws=sampled or None,
        seed=seed,
        endpoint="circulatory disease",
        total="all_circulatory",
    )
