"""Cancer risk models: BEIR VII Phase 2 and the RadRAT variant, parameters read from data files.

References
----------
National Research Council (2006). Health Risks from Exposure to Low Levels of Ionizing
Radiation: BEIR VII Phase 2. Chapter 12 (equations 12-1 to 12-3, Table 12-2: solid-cancer ERR
and EAR models; leukaemia model; DDREF 1.5; ERR/EAR weighting 0.7/0.3 on the log scale, lung
0.3/0.7; breast EAR only, thyroid ERR only).
Berrington de Gonzalez A. et al. (2012). RadRAT: a radiation risk assessment tool for lifetime
cancer risk projection. J Radiol Prot 32:205, Table 1 (18 sites; arithmetic weighting; sigmoid
latency; lognormal DDREF). Parameter files: ``src/doseline/data/risk/*.csv`` (PROVENANCE.md).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import ClassVar, Literal

import pandas as pd

from doseline.organs import Sex
from doseline.risk.sites import BEIR7_SITES, RADRAT_SITES

__all__ = [
    "BEIR7_LATENCY",
    "RADRAT_LATENCY",
    "BEIR7Model",
    "CancerModel",
    "LatencySpec",
    "LeukaemiaComponent",
    "RadRATModel",
    "SolidComponent",
    "read_parameter_file",
]

Weighting = Literal["geometric", "arithmetic"]

#: Geometric SD of the lognormal DDREF in Monte Carlo: Kocher et al. 2018 Health Phys 114:602
#: Table 1 gives BEIR VII's DDREF as median 1.5, 90 % interval 0.9-2.5, i.e. GSD ~1.36; LARisk
#: 1.0.0 (a RadRAT re-implementation) uses 1.35.
_DDREF_GSD = 1.35
Distribution = Literal["lognormal", "normal", "two_piece_normal"]


def read_parameter_file(name: str) -> list[dict[str, str]]:
    """Rows of a parameter CSV shipped in ``doseline/data/risk`` (``#`` lines are comments)."""
    text = resources.files("doseline.data").joinpath("risk", name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines))


def _opt(value: str) -> float | None:
    return float(value) if value.strip() else None


def _sex_and_model(row: dict[str, str], file: str) -> tuple[Sex, Literal["err", "ear"]]:
    """The ``sex`` and ``model`` columns of a parameter row, checked."""
    sex, model = row["sex"], row["model"]
    if sex not in ("male", "female") or model not in ("err", "ear"):
        raise ValueError(f"{file}: sex {sex!r} / model {model!r} not male|female / err|ear")
    return ("male" if sex == "male" else "female"), ("err" if model == "err" else "ear")


@dataclass(frozen=True)
class SolidComponent:
    """One ERR or EAR model of one solid-cancer site and sex (BEIR VII eq. 12-2 form).

    ``ERR or EAR = beta * D * exp(gamma * e*) * (a / a_ref)^eta`` with
    ``e* = (min(e, e_cap) - e_center) / 10``; ``eta_late`` replaces ``eta`` above ``a_break``
    (breast). EAR ``beta`` is per 10^4 person-years per Gy, ERR ``beta`` per Gy.
    """

    site: str
    sex: Sex
    model: Literal["err", "ear"]
    beta: float
    beta_ci_low: float | None
    beta_ci_high: float
    distribution: Distribution
    gamma: float
    eta: float
    eta_late: float | None
    a_break_y: float | None
    a_ref_y: float
    e_center_y: float
    e_cap_y: float | None
    weight: float
    source: str

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"{self.site} {self.sex} {self.model}: weight {self.weight}")
        low = self.beta_ci_low
        if self.distribution == "lognormal" and (low is None or low <= 0 or self.beta <= 0):
            raise ValueError(f"{self.site} {self.sex}: lognormal needs a positive CI")
        if self.beta_ci_high <= self.beta or (low is not None and low >= self.beta):
            raise ValueError(f"{self.site} {self.sex} {self.model}: CI does not bracket beta")


@dataclass(frozen=True)
class LeukaemiaComponent:
    """BEIR VII leukaemia ERR or EAR model (linear-quadratic, time since exposure ``t``).

    ``beta * D * (1 + theta*D) * exp(gamma*e* + delta*ln(t/25) + phi*e*·ln(t/25))``.
    """

    sex: Sex
    model: Literal["err", "ear"]
    beta: float
    beta_log_sd: float
    gamma: float
    delta: float
    phi: float
    theta: float
    weight: float
    source: str


@dataclass(frozen=True)
class LatencySpec:
    """How risk starts after exposure.

    ``kind="step"``: no excess before ``lag`` years (BEIR VII: 5 y solid, 2 y leukaemia).
    ``kind="sigmoid"``: a logistic factor ``1 / (1 + exp(-(t - M) / scale))`` whose midpoint
    ``M`` has a triangular uncertainty ``(low, mode, high)`` (RadRAT; Land et al., NCI-CDC
    latency appendix: solid T(5, 7.5, 10), thyroid T(3, 5, 7), leukaemia T(2, 2.25, 2.5); the
    scales put the factor at 0.01 and 0.99 about 4 and 11 y, 2.5 and 7.5 y, 0.4 and 4.1 y,
    as LARisk 1.0.0 ``latencyft`` does).
    """

    kind: Literal["step", "sigmoid"]
    lag_y: Mapping[str, float] = field(default_factory=dict)
    midpoint_y: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)
    scale_y: Mapping[str, float] = field(default_factory=dict)

    def group(self, site: str) -> str:
        """Latency group of a site: ``leukaemia``, ``thyroid`` or ``solid``."""
        if site in ("leukaemia", "thyroid"):
            return site
        return "solid"


BEIR7_LATENCY = LatencySpec(
    "step", lag_y=MappingProxyType({"solid": 5.0, "thyroid": 5.0, "leukaemia": 2.0})
)
RADRAT_LATENCY = LatencySpec(
    "sigmoid",
    midpoint_y=MappingProxyType(
        {"solid": (5.0, 7.5, 10.0), "thyroid": (3.0, 5.0, 7.0), "leukaemia": (2.0, 2.25, 2.5)}
    ),
    scale_y=MappingProxyType({"solid": 0.76, "thyroid": 0.544, "leukaemia": 0.401}),
)


@dataclass(frozen=True)
class CancerModel:
    """A set of site models with their combination rules (BEIR VII or RadRAT).

    Parameters
    ----------
    name
        ``beir7`` or ``radrat``.
    sites
        Sites reported, residual site included (``other`` or ``remainder``), leukaemia last.
    solid
        (site, sex) -> its ERR and/or EAR components.
    leukaemia
        sex -> ERR and EAR components.
    weighting
        ``geometric`` (BEIR VII: LAR = LAR_ERR^w LAR_EAR^(1-w)) or ``arithmetic`` (RadRAT).
    ddref
        Central dose and dose-rate effectiveness factor dividing solid-cancer risks.
    ddref_gsd
        Geometric SD of the lognormal DDREF in Monte Carlo (median ``ddref``).
    latency
        :class:`LatencySpec`.
    leukaemia_min_tse_y
        Times since exposure shorter than this use the leukaemia risk at this time (0: off).
    """

    name: str
    sites: tuple[str, ...]
    solid: Mapping[tuple[str, Sex], tuple[SolidComponent, ...]]
    leukaemia: Mapping[Sex, tuple[LeukaemiaComponent, ...]]
    weighting: Weighting
    ddref: float
    ddref_gsd: float
    latency: LatencySpec
    leukaemia_min_tse_y: float = 0.0

    def __post_init__(self) -> None:
        if not self.ddref > 0 or not self.ddref_gsd >= 1.0:
            raise ValueError("ddref must be > 0 and ddref_gsd >= 1")

    @property
    def residual_site(self) -> str:
        """The site whose baseline is all solid cancers minus the modelled ones."""
        return "other" if "other" in self.sites else "remainder"

    @property
    def params(self) -> pd.DataFrame:
        """All parameters as a tidy frame (one row per site, sex and ERR/EAR model)."""
        rows: list[dict[str, object]] = []
        for comps in self.solid.values():
            rows.extend(dict(c.__dict__) for c in comps)
        for comps_l in self.leukaemia.values():
            rows.extend(dict(c.__dict__, site="leukaemia") for c in comps_l)
        return pd.DataFrame(rows)


def _solid_components(file: str) -> dict[tuple[str, Sex], tuple[SolidComponent, ...]]:
    grouped: dict[tuple[str, Sex], list[SolidComponent]] = {}
    for row in read_parameter_file(file):
        sex, model = _sex_and_model(row, file)
        comp = SolidComponent(
            site=row["site"],
            sex=sex,
            model=model,
            beta=float(row["beta"]),
            beta_ci_low=_opt(row["beta_ci_low"]),
            beta_ci_high=float(row["beta_ci_high"]),
            distribution=row["distribution"],  # type: ignore[arg-type]
            gamma=float(row["gamma"]),
            eta=float(row["eta"]),
            eta_late=_opt(row["eta_late"]),
            a_break_y=_opt(row["a_break_y"]),
            a_ref_y=float(row["a_ref_y"]),
            e_center_y=float(row["e_center_y"]),
            e_cap_y=_opt(row["e_cap_y"]),
            weight=float(row["weight"]),
            source=row["source"],
        )
        grouped.setdefault((comp.site, sex), []).append(comp)
    for key, comps in grouped.items():
        if not math.isclose(sum(c.weight for c in comps), 1.0):
            raise ValueError(f"{file}: weights of {key} do not sum to 1")
    return {key: tuple(comps) for key, comps in grouped.items()}


def _leukaemia_components() -> dict[Sex, tuple[LeukaemiaComponent, ...]]:
    grouped: dict[Sex, list[LeukaemiaComponent]] = {}
    for row in read_parameter_file("beir7_leukaemia.csv"):
        sex, model = _sex_and_model(row, "beir7_leukaemia.csv")
        grouped.setdefault(sex, []).append(
            LeukaemiaComponent(
                sex=sex,
                model=model,
                beta=float(row["beta"]),
                beta_log_sd=float(row["beta_log_sd"]),
                gamma=float(row["gamma"]),
                delta=float(row["delta"]),
                phi=float(row["phi"]),
                theta=float(row["theta"]),
                weight=float(row["weight"]),
                source=row["source"],
            )
        )
    return {sex: tuple(comps) for sex, comps in grouped.items()}


class _PublishedModel(CancerModel):
    """A published model: its sites, solid-cancer parameter file, weighting and latency are
    class attributes; the leukaemia models are BEIR VII's in both (NRC 2006, Table 12-5)."""

    _NAME: ClassVar[str]
    _SITES: ClassVar[tuple[str, ...]]
    _SOLID_FILE: ClassVar[str]
    _WEIGHTING: ClassVar[Weighting]
    _LATENCY: ClassVar[LatencySpec]

    def __init__(
        self,
        *,
        ddref: float = 1.5,
        leukaemia_min_tse_y: float = 5.0,
        latency: LatencySpec | None = None,
    ) -> None:
        super().__init__(
            name=self._NAME,
            sites=self._SITES,
            solid=MappingProxyType(_solid_components(self._SOLID_FILE)),
            leukaemia=MappingProxyType(_leukaemia_components()),
            weighting=self._WEIGHTING,
            ddref=ddref,
            ddref_gsd=_DDREF_GSD,
            latency=self._LATENCY if latency is None else latency,
            leukaemia_min_tse_y=leukaemia_min_tse_y,
        )


class BEIR7Model(_PublishedModel):
    """BEIR VII Phase 2 incidence/mortality models (NRC 2006, ch. 12).

    Geometric ERR/EAR weighting, DDREF 1.5 for solid cancers (median of a lognormal with GSD
    1.35 in Monte Carlo, see :data:`_DDREF_GSD`), step lags 5 y (solid) and 2 y (leukaemia).
    ``latency=RADRAT_LATENCY`` samples the latency as RadRAT does instead; the default
    (``None``) is :data:`BEIR7_LATENCY`.
    """

    _NAME = "beir7"
    _SITES = BEIR7_SITES
    _SOLID_FILE = "beir7_solid_incidence.csv"
    _WEIGHTING = "geometric"
    _LATENCY = BEIR7_LATENCY


class RadRATModel(_PublishedModel):
    """The RadRAT variant (Berrington de Gonzalez et al. 2012): 18 sites, arithmetic ERR/EAR
    weighting, sigmoid latency with uncertain midpoint (default ``None``:
    :data:`RADRAT_LATENCY`), lognormal DDREF (median 1.5, GSD 1.35 as in LARisk 1.0.0, a
    RadRAT re-implementation)."""

    _NAME = "radrat"
    _SITES = RADRAT_SITES
    _SOLID_FILE = "radrat_solid_incidence.csv"
    _WEIGHTING = "arithmetic"
    _LATENCY = RADRAT_LATENCY
