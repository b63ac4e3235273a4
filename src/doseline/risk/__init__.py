"""Radiation risk projection: lifetime attributable risk of cancer and circulatory disease.

Models (:class:`BEIR7Model`, :class:`RadRATModel`, :class:`CirculatoryModel`) with parameters
from ``doseline/data/risk`` (each row cited), baselines (:class:`Baseline`, named open tables
via :func:`load_baseline`, or your own CSV), and :func:`lar` / :func:`lar_cohort` returning
immutable results with Monte Carlo uncertainty. Details: ``docs/risk.md``.
"""

from doseline.risk.baseline import Baseline
from doseline.risk.baseline_sources import (
    DEFAULT_BASELINE,
    BaselineInfo,
    list_baselines,
    load_baseline,
)
from doseline.risk.circulatory import CirculatoryModel, circulatory_lar
from doseline.risk.lar import CohortLAR, Exposure, lar, lar_cohort, lifetime_baseline_risk
from doseline.risk.models import (
    BEIR7_LATENCY,
    RADRAT_LATENCY,
    BEIR7Model,
    CancerModel,
    RadRATModel,
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
