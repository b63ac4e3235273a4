"""Legacy path against the RDSR path on RDSR-era procedures whose detail is hidden from it.

For each procedure, the RDSR path sums its events' ``KAP_i x CF_i``; the legacy path sees only
the procedure's total KAP and patient, and uses the technique distribution of its stratum with
the procedure itself left out (:mod:`doseline.dosimetry.fluoro.legacy`). The ratio of the two,
per organ, gives the legacy path's bias and spread (issue 4, section 7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from doseline.dosimetry.fluoro.events import CoefficientSource, check_events
from doseline.dosimetry.fluoro.legacy import (
    DEFAULT_LEVELS,
    MAX_PROCEDURES,
    MIN_PROCEDURES,
    PATIENT_COLUMNS,
    ROWS_PER_PROCEDURE,
    TechniqueDistribution,
    _dose_per_kap,
    legacy_organ_doses,
)

__all__ = ["LegacyValidation", "hide_detail"]


@dataclass(frozen=True, eq=False)
class LegacyValidation:
    """Legacy path against the RDSR path on the same procedures (see :func:`hide_detail`).

    Attributes
    ----------
    per_procedure
        One row per procedure and organ: ``dose_rdsr_gy``, ``dose_legacy_gy``, ``p05_gy``,
        ``p95_gy``, ``ratio`` (legacy / RDSR), ``covered`` (RDSR dose inside the legacy
        5-95 % range) and the fallback ``level`` used.
    summary
        One row per organ: ``n``, ``ratio_of_sums`` (sum of legacy over sum of RDSR doses),
        ``gm_ratio`` and ``gsd_ratio`` (geometric mean and SD of the ratio), ``p05_ratio``,
        ``p95_ratio`` and ``coverage_90`` (share of procedures covered).
    """

    per_procedure: pd.DataFrame
    summary: pd.DataFrame


def hide_detail(
    events: pd.DataFrame,
    source: CoefficientSource,
    *,
    procedure: str = "procedure_id",
    levels: Sequence[tuple[str, ...]] = DEFAULT_LEVELS,
    min_procedures: int = MIN_PROCEDURES,
    rows_per_procedure: int = ROWS_PER_PROCEDURE,
    max_procedures: int = MAX_PROCEDURES,
    default: TechniqueDistribution | None = None,
    seed: int = 0,
) -> LegacyValidation:
    """Bias and spread of the legacy path on RDSR procedures whose detail is hidden from it.

    For each procedure of ``events`` (an event frame with ``procedure`` and stratum columns,
    as for :meth:`TechniqueDistribution.from_events`): the RDSR path, sum over its events of
    ``KAP_e x c(event e)``, and the legacy path, its total KAP x the stratum mean (the
    procedure itself left out of its stratum, and out of the stratum's procedure count).
    """
    dist = TechniqueDistribution.from_events(
        events, procedure=procedure, levels=levels, min_procedures=min_procedures,
        rows_per_procedure=rows_per_procedure, default=default, seed=seed,
    )  # fmt: skip
    checked = check_events(events)
    organs: list[str] = []
    per_event = _dose_per_kap(source, checked, organs) * checked["kap_gycm2"].to_numpy()[:, None]
    table = dist.procedures
    codes = pd.Index(table["procedure_id"]).get_indexer(events[procedure])
    rdsr = np.zeros((len(table), len(organs)))
    np.add.at(rdsr, codes, per_event)
    first = checked.iloc[np.unique(codes, return_index=True)[1]]
    records = table.drop(columns=["procedure_id", "n_events"]).copy()
    for column in PATIENT_COLUMNS:
        records[column] = first[column].to_numpy()
    legacy = legacy_organ_doses(
        records, dist, source, max_procedures=max_procedures,
        exclude=table["procedure_id"], seed=seed, keep_samples=False,
    )  # fmt: skip
    index = pd.MultiIndex.from_product(
        [table["procedure_id"].to_numpy(), organs], names=["procedure_id", "organ"]
    )
    truth = rdsr.ravel()
    p05, p95 = legacy.p05_gy.to_numpy().ravel(), legacy.p95_gy.to_numpy().ravel()
    per = pd.DataFrame({"dose_rdsr_gy": truth, "dose_legacy_gy": legacy.dose_gy.to_numpy().ravel(),
                        "p05_gy": p05, "p95_gy": p95}, index=index)  # fmt: skip
    per["ratio"] = per["dose_legacy_gy"] / per["dose_rdsr_gy"]
    slack = 1e-9 * np.abs(truth)  # rounding: identical procedures give p05 = p95 = truth
    per["covered"] = (truth >= p05 - slack) & (truth <= p95 + slack)
    per["level"] = np.repeat(legacy.inputs["level"].to_numpy(), len(organs))
    return LegacyValidation(per.reset_index(), _ratio_summary(per))


def _ratio_summary(per: pd.DataFrame) -> pd.DataFrame:
    grouped = per.groupby(level="organ", sort=False)
    log_ratio = np.log(per["ratio"].where(per["ratio"] > 0))
    by_log = log_ratio.groupby(level="organ", sort=False)
    return pd.DataFrame({
        "n": grouped.size(),
        "ratio_of_sums": grouped["dose_legacy_gy"].sum() / grouped["dose_rdsr_gy"].sum(),
        "gm_ratio": np.exp(by_log.mean()), "gsd_ratio": np.exp(by_log.std(ddof=1)),
        "p05_ratio": grouped["ratio"].quantile(0.05), "p95_ratio": grouped["ratio"].quantile(0.95),
        "coverage_90": grouped["covered"].mean(),
    })  # fmt: skip
