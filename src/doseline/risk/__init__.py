"""Radiation risk projection: lifetime attributable risk of cancer and circulatory disease.

Models (:class:`BEIR7Model`, :class:`RadRATModel`, :class:`CirculatoryModel`) with parameters
from ``doseline/data/risk`` (each row cited), baselines (:class:`Baseline`, named open tables
via :func:`load_baseline`, or your own CSV), and :func:`lar` / :func:`lar_cohort` returning
immutable results with Monte Carlo uncertainty. Details: ``docs/risk.md``.

The names below are imported on first use (PEP 562), so that ``doseline`` commands that do not
need risk projection do not pay for importing numpy, pandas and the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from doseline._lazy import lazy_getattr

if TYPE_CHECKING:
    from doseline.risk.baseline import Baseline
    from doseline.risk.baseline_sources import (
        DEFAULT_BASELINE,
        BaselineInfo,
        list_baselines,
        load_baseline,
    )
    from doseline.risk.circulatory import CirculatoryModel, circulatory_lar
    from doseline.risk.models import (
        BEIR7_LATENCY,
        RADRAT_LATENCY,
        BEIR7Model,
        CancerModel,
        RadRATModel,
    )
    from doseline.risk.projection import (
        CohortLAR,
        Exposure,
        lar,
        lar_cohort,
        lifetime_baseline_risk,
    )
    from doseline.risk.results import LARResult
    from doseline.risk.sources import exposures_from_registry, read_exposures_csv

__all__ = [
    "BEIR7_LATENCY",
    "DEFAULT_BASELINE",
    "RADRAT_LATENCY",
    "BEIR7Model",
    "Baseline",
    "BaselineInfo",
    "CancerModel",
    "CirculatoryModel",
    "CohortLAR",
    "Exposure",
    "LARResult",
    "RadRATModel",
    "circulatory_lar",
    "exposures_from_registry",
    "lar",
    "lar_cohort",
    "lifetime_baseline_risk",
    "list_baselines",
    "load_baseline",
    "read_exposures_csv",
]

_MODULE_NAMES = {
    "baseline": ("Baseline",),
    "baseline_sources": ("DEFAULT_BASELINE", "BaselineInfo", "list_baselines", "load_baseline"),
    "circulatory": ("CirculatoryModel", "circulatory_lar"),
    "projection": ("CohortLAR", "Exposure", "lar", "lar_cohort", "lifetime_baseline_risk"),
    "models": ("BEIR7_LATENCY", "RADRAT_LATENCY", "BEIR7Model", "CancerModel", "RadRATModel"),
    "results": ("LARResult",),
    "sources": ("exposures_from_registry", "read_exposures_csv"),
}
_HOMES = {name: module for module, names in _MODULE_NAMES.items() for name in names}


__getattr__ = lazy_getattr(
    "doseline.risk", {name: f"doseline.risk.{home}" for name, home in _HOMES.items()}, globals()
)
