"""Lifetime attributable risk (LAR) of cancer for a person or a cohort.

``lar`` computes one person's LAR from several exposures (organ doses at each age at
exposure) with a :class:`~doseline.risk.models.CancerModel` and a
:class:`~doseline.risk.baseline.Baseline`; ``lar_cohort`` does the same for many persons at
once, vectorised over persons, exposures and Monte Carlo draws. Methods: BEIR VII (NRC 2006)
ch. 12; uncertainty as described in :mod:`doseline.risk.uncertainty`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from doseline.errors import InvalidInputError
from doseline.organs import Sex
from doseline.risk.baseline import AGES_Y, Baseline, FloatArray
from doseline.risk.baseline_sources import load_baseline
from doseline.risk.engine import KernelContext, lar_chunk, year_terms
from doseline.risk.kernels import baseline_multipliers, residual_rate
from doseline.risk.models import BEIR7Model, CancerModel, LeukaemiaComponent
from doseline.risk.results import LARResult
from doseline.risk.sites import organ_dose_for_site
from doseline.risk.uncertainty import ParameterDraws, central_parameters, draw_parameters

__all__ = [
    "CohortLAR",
    "Exposure",
    "baseline_risk_weights",
    "check_sex",
    "lar",
    "lar_cohort",
    "lifetime_baseline_risk",
]

_CHUNK = 256


@dataclass(frozen=True)
class Exposure:
    """One exposure: age at exposure (years) and absorbed dose per organ (Gy)."""

    age_at_exposure_y: float
    organ_dose_gy: Mapping[str, float]

    def __post_init__(self) -> None:
        if not 0.0 <= self.age_at_exposure_y < 100.0:
            raise InvalidInputError(
                f"age at exposure {self.age_at_exposure_y!r} y outside 0-100",
                field="age_at_exposure_y",
            )
        if not self.organ_dose_gy:
            raise InvalidInputError("no organ doses", field="organ_dose_gy")
        object.__setattr__(self, "organ_dose_gy", MappingProxyType(dict(self.organ_dose_gy)))


def check_sex(sex: str) -> Sex:
    """``sex`` as :data:`doseline.organs.Sex`, or :class:`InvalidInputError` naming it."""
    if sex not in ("male", "female"):
        raise InvalidInputError(f"sex {sex!r} must be 'male' or 'female'", field="sex")
    return "male" if sex == "male" else "female"


def baseline_risk_weights(baseline: Baseline, sex: Sex, age_y: float) -> FloatArray:
    """Weight of each year of age in a lifetime baseline risk from exact age ``age_y``: the
    part of the year after ``age_y`` times survival to mid-year given survival to ``age_y``
    (BEIR VII, NRC 2006, eq. 12-1 without the excess term)."""
    s_e = float(baseline.survival_at(sex, np.array([age_y]))[0])
    after = np.clip(AGES_Y + 1.0 - age_y, 0.0, 1.0)
    weight: FloatArray = after * baseline.survival_mid_year(sex) / s_e
    return weight


def lifetime_baseline_risk(
    model: CancerModel, baseline: Baseline, sex: Sex, outcome: str, age_y: float
) -> dict[str, float]:
    """Baseline risk per 100,000 from exact age ``age_y`` to 100, per site and in total."""
    weight = baseline_risk_weights(baseline, sex, age_y)

    def risk(rate: FloatArray) -> float:
        return float(np.sum(weight * rate))

    out: dict[str, float] = {}
    for site in KernelContext(model, baseline, sex, outcome).sites():
        if site == model.residual_site:
            out[site] = risk(residual_rate(baseline, model, outcome, sex))
        elif baseline.has(outcome, site, sex):
            out[site] = risk(baseline.rate_per_100000(outcome, site, sex))
        else:
            out[site] = math.nan
    if baseline.has(outcome, "all_solid", sex):
        out["all_solid"] = risk(baseline.rate_per_100000(outcome, "all_solid", sex))
    else:
        out["all_solid"] = float(
            np.nansum([v for s, v in out.items() if s not in ("leukaemia", "all_solid")])
        )
    out["all_cancer"] = out["all_solid"] + out.get("leukaemia", math.nan)
    return out


def _site_doses(
    ctx: KernelContext, organ_doses: Mapping[str, FloatArray], record: str | None = None
) -> dict[str, FloatArray]:
    return {
        site: organ_dose_for_site(site, ctx.sex, organ_doses, record=record) for site in ctx.sites()
    }


def _profile(
    ctx: KernelContext, ages: FloatArray, doses: Mapping[str, FloatArray], totals: dict[str, float]
) -> pd.DataFrame:
    """Central excess by attained age: each site's LAR spread over age like its components."""
    rows: list[pd.DataFrame] = []
    for site in ctx.sites():
        mult = baseline_multipliers(ctx.baseline, ctx.model, site, ctx.sex, ctx.outcome)
        total = totals.get(site, math.nan)
        if mult is None or not math.isfinite(total) or total == 0.0:
            continue
        # age shape of the weighted arithmetic mean of the components (exact for RadRAT's
        # arithmetic weighting; the shape used for BEIR VII's geometric mean, whose total
        # has no per-year decomposition)
        shape = np.zeros_like(AGES_Y)
        for comp in ctx.components(site):
            base = mult[0] if comp.model == "err" else mult[1]
            terms = year_terms(ctx, site, comp, ages, base=base)
            theta = comp.theta if isinstance(comp, LeukaemiaComponent) else 0.0
            dose = doses[site]
            per_year = ((dose * (1 + theta * dose))[:, None] * terms).sum(axis=0)
            shape = shape + comp.weight * comp.beta * per_year
        mix = shape / shape.sum() if shape.sum() != 0 else shape
        excess = totals[site] * np.asarray(mix)
        rows.append(
            pd.DataFrame({"site": site, "attained_age_y": AGES_Y, "excess_per_100000": excess})
        )
    frame = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["site", "attained_age_y", "excess_per_100000"])
    )
    wide = frame.pivot_table(
        index="attained_age_y", columns="site", values="excess_per_100000", aggfunc="sum"
    ).reindex(AGES_Y, fill_value=0.0)
    solid = wide.drop(columns=["leukaemia"], errors="ignore").sum(axis=1)
    extra = pd.DataFrame(
        {
            "site": ["all_solid"] * len(AGES_Y) + ["all_cancer"] * len(AGES_Y),
            "attained_age_y": np.concatenate([AGES_Y, AGES_Y]),
            "excess_per_100000": np.concatenate(
                [solid.to_numpy(), (solid + wide.get("leukaemia", 0.0)).to_numpy()]
            ),
        }
    )
    return pd.concat([frame, extra], ignore_index=True)


def _dose_factor(
    rng: np.random.Generator, n: int, shape: tuple[int, int], gsd: float
) -> FloatArray | None:
    if gsd == 1.0:
        return None
    if not gsd > 1.0:
        raise InvalidInputError(f"dose GSD {gsd} must be >= 1", field="dose_gsd")
    out: FloatArray = np.exp(np.log(gsd) * rng.standard_normal((n, *shape)))
    return out


def _organ_doses_gy(exposures: Sequence[Exposure]) -> dict[str, FloatArray]:
    """organ -> array (1, exposures) of doses in Gy; ``whole_body`` fills organs not given."""
    organ_doses: dict[str, FloatArray] = {}
    for organ in sorted({o for e in exposures for o in e.organ_dose_gy}):
        per_exposure = [
            e.organ_dose_gy.get(organ, e.organ_dose_gy.get("whole_body")) for e in exposures
        ]
        if any(v is None for v in per_exposure):
            raise InvalidInputError(
                f"organ {organ!r} has a dose in some exposures only (give whole_body)",
                field="organ_dose_gy",
            )
        organ_doses[organ] = np.array([per_exposure], dtype=np.float64)
    return organ_doses


def _with_realisations(
    organ_doses: Mapping[str, FloatArray],
    dose_realisations: Mapping[str, FloatArray],
    draws: int,
    n_exposures: int,
) -> dict[str, FloatArray]:
    """``organ_doses`` with the organs of ``dose_realisations`` replaced by their draws
    (shape (draws, 1, exposures))."""
    realised = dict(organ_doses)
    for organ, values in dose_realisations.items():
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (draws, n_exposures):
            raise InvalidInputError(
                f"realisations of {organ} have shape {arr.shape}, need ({draws}, {n_exposures})",
                field="dose_realisations",
            )
        realised[organ] = arr[:, None, :]
    return realised


def lar(
    exposures: Sequence[Exposure],
    *,
    sex: str,
    model: CancerModel | None = None,
    baseline: Baseline | None = None,
    outcome: str = "incidence",
    draws: int = 0,
    seed: int | None = None,
    dose_gsd: float = 1.0,
    dose_realisations: Mapping[str, FloatArray] | None = None,
) -> LARResult:
    """Lifetime attributable risk of one person with one or more exposures.

    Parameters
    ----------
    exposures
        The exposures (age at exposure, organ doses in Gy).
    sex
        ``male`` or ``female``.
    model
        A :class:`~doseline.risk.models.CancerModel`; default :class:`BEIR7Model`.
    baseline
        A :class:`~doseline.risk.baseline.Baseline`; default the shipped default baseline.
    outcome
        ``incidence`` or ``mortality``.
    draws
        Number of Monte Carlo draws (0: central estimate only).
    seed
        Seed of the :class:`numpy.random.Generator` (reproducible draws).
    dose_gsd
        Geometric SD of lognormal organ-dose uncertainty (1: doses fixed).
    dose_realisations
        organ -> array (draws, len(exposures)) of dose realisations in Gy, instead of
        ``dose_gsd``; organs not given keep their fixed dose.

    Returns
    -------
    LARResult
    """
    if not exposures:
        raise InvalidInputError("no exposures", field="exposures")
    sex_t = check_sex(sex)
    model = model or BEIR7Model()
    baseline = baseline or load_baseline()
    ctx = KernelContext(model, baseline, sex_t, outcome)
    ages = np.array([[e.age_at_exposure_y for e in exposures]], dtype=np.float64)
    organ_doses = _organ_doses_gy(exposures)
    central_doses = _site_doses(ctx, organ_doses)
    central = lar_chunk(ctx, ages, central_doses, central_parameters(model), None)
    totals = {s: float(v[0, 0]) for s, v in central.items()}
    lar_values = {s: totals.get(s, math.nan) for s in (*ctx.sites(), "all_solid", "all_cancer")}
    draw_values = None
    if draws > 0:
        rng = np.random.default_rng(seed)
        params = draw_parameters(model, draws, rng)
        factor = None
        doses = central_doses
        if dose_realisations is not None:
            realised = _with_realisations(organ_doses, dose_realisations, draws, len(exposures))
            doses = _site_doses(ctx, realised)
        else:
            factor = _dose_factor(rng, draws, ages.shape, dose_gsd)
        sampled = lar_chunk(ctx, ages, doses, params, factor)
        draw_values = {s: v[:, 0].copy() for s, v in sampled.items()}
    first_age = float(ages.min())
    return LARResult(
        model=model.name,
        baseline=baseline.name,
        sex=sex_t,
        outcome=outcome,
        exposures=tuple((e.age_at_exposure_y, e.organ_dose_gy) for e in exposures),
        lar_per_100000=lar_values,
        lbr_per_100000=lifetime_baseline_risk(model, baseline, sex_t, outcome, first_age),
        by_attained_age=_profile(ctx, ages[0], {s: d[0] for s, d in central_doses.items()}, totals),
        draws=draw_values,
        seed=seed,
        notes=baseline.notes,
    )


@dataclass(frozen=True)
class CohortLAR:
    """LAR of many persons: central values and Monte Carlo quantiles per site.

    ``central[site]`` is (persons,); ``quantiles[site]`` is (persons, len(probabilities)).
    """

    sites: tuple[str, ...]
    central: Mapping[str, FloatArray]
    quantiles: Mapping[str, FloatArray] = field(default_factory=dict)
    probabilities: tuple[float, ...] = (0.05, 0.5, 0.95)

    def frame(self) -> pd.DataFrame:
        """Tidy frame: person, site, lar_per_100000 and one column per quantile."""
        parts = []
        for site in self.sites:
            part = pd.DataFrame({"person": np.arange(len(self.central[site])), "site": site})
            part["lar_per_100000"] = self.central[site]
            if site in self.quantiles:
                for j, p in enumerate(self.probabilities):
                    part[f"q{p:g}"] = self.quantiles[site][:, j]
            parts.append(part)
        return pd.concat(parts, ignore_index=True)


def lar_cohort(
    sex: Sequence[str] | np.ndarray,
    age_at_exposure_y: FloatArray,
    organ_dose_gy: Mapping[str, FloatArray],
    *,
    model: CancerModel | None = None,
    baseline: Baseline | None = None,
    outcome: str = "incidence",
    draws: int = 0,
    seed: int | None = None,
    dose_gsd: float = 1.0,
    probabilities: tuple[float, ...] = (0.05, 0.5, 0.95),
) -> CohortLAR:
    """LAR of many persons with a fixed number of exposures each (pad with dose 0).

    Parameters
    ----------
    sex
        Per person, ``male`` or ``female``.
    age_at_exposure_y
        (persons, exposures) ages at exposure in years.
    organ_dose_gy
        organ -> (persons, exposures) absorbed doses in Gy (``whole_body`` as fallback).
    draws, seed, dose_gsd
        As in :func:`lar`. Parameter draws are shared by all persons; dose draws are
        independent per person and exposure. Persons are processed in chunks of 256 with
        random streams spawned per chunk, so results do not depend on the machine.
    """
    model = model or BEIR7Model()
    baseline = baseline or load_baseline()
    ages = np.asarray(age_at_exposure_y, dtype=np.float64)
    sexes = np.asarray(sex)
    if ages.ndim != 2 or sexes.shape != ages.shape[:1]:
        raise InvalidInputError("ages must be (persons, exposures) and sex (persons,)")
    unknown = sorted(set(sexes.tolist()) - {"male", "female"})
    if unknown:
        raise InvalidInputError(f"sex values {unknown} are not 'male' or 'female'", field="sex")
    if not (np.all(np.isfinite(ages)) and np.all((ages >= 0) & (ages < 100))):
        raise InvalidInputError("ages at exposure must be within 0-100", field="age_at_exposure_y")
    organs = {
        o: np.broadcast_to(np.asarray(v, np.float64), ages.shape) for o, v in organ_dose_gy.items()
    }
    seq = np.random.SeedSequence(seed)
    params: ParameterDraws = (
        draw_parameters(model, draws, np.random.default_rng(seq.spawn(1)[0]))
        if draws > 0
        else central_parameters(model)
    )
    n_people = ages.shape[0]
    n_chunks = (n_people + _CHUNK - 1) // _CHUNK
    # one independent stream per (sex, chunk): the males and females of a chunk are processed
    # separately and must not reuse one stream (that would give them identical dose factors)
    chunk_seeds = seq.spawn(2 * n_chunks)
    central_params = central_parameters(model)
    out_sites: list[str] = []
    central: dict[str, FloatArray] = {}
    quant: dict[str, FloatArray] = {}
    for s_index, sex_value in enumerate(("male", "female")):
        ctx = KernelContext(model, baseline, check_sex(sex_value), outcome)
        for c in range(n_chunks):
            rows = np.arange(c * _CHUNK, min((c + 1) * _CHUNK, n_people))
            rows = rows[sexes[rows] == sex_value]
            if rows.size == 0:
                continue
            doses = _site_doses(ctx, {o: v[rows] for o, v in organs.items()})
            base = lar_chunk(ctx, ages[rows], doses, central_params, None)
            _store(central, base, rows, n_people, None)
            if draws > 0:
                rng = np.random.default_rng(chunk_seeds[s_index * n_chunks + c])
                factor = _dose_factor(rng, draws, (rows.size, ages.shape[1]), dose_gsd)
                sampled = lar_chunk(ctx, ages[rows], doses, params, factor)
                qs = {s: np.quantile(v, probabilities, axis=0).T for s, v in sampled.items()}
                _store(quant, qs, rows, n_people, len(probabilities))
            out_sites.extend(s for s in base if s not in out_sites)
    return CohortLAR(tuple(out_sites), central, quant, probabilities)


def _store(
    target: dict[str, FloatArray],
    values: Mapping[str, FloatArray],
    rows: np.ndarray,
    n_people: int,
    width: int | None,
) -> None:
    for site, v in values.items():
        if site not in target:
            shape = (n_people,) if width is None else (n_people, width)
            target[site] = np.full(shape, np.nan)
        target[site][rows] = v[0] if width is None else v
