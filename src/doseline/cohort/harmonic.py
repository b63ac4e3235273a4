"""Known-truth HARMONIC-like cohorts: cardiac catheterisations, organ doses, cancers.

:func:`simulate_harmonic` draws, vectorised over children, a cohort in the input layout of
:class:`~doseline.cohort.frames.CohortFrames`: children born over three decades with one or more
cardiac catheterisations, the red-marrow, brain, breast and lung dose of each, Down syndrome
(constant) and heart transplant (time-dependent), follow-up ending at death, loss or the end of
the study, and first cancers of four sites drawn from the hazard

    h_s(t) = lambda_s(attained age, sex) * m * RR_Down,s(t) * RR_transplant,s(t)
             * (1 + beta_s * D_s(t - lag_s)),

where ``D_s`` is the cumulative dose to the site's organ from exposures at least ``lag_s``
years earlier and ``beta_s`` is the true ERR per Gy chosen by the user. Event ages are drawn
exactly from this piecewise-constant hazard (inversion of the cumulative hazard on the
intervals of :func:`~doseline.cohort.split.split_follow_up`).

**The organ-dose model is a simple synthetic stand-in** (organ dose = KAP x an organ
coefficient x a weight factor x a log-normal scatter); the real organ dosimetry of the
catheterisations comes with the dosimetry issue (issue 4). Every number below is a synthetic
design choice unless its comment cites a source. Large cohorts are drawn in independent
chunks (random streams ``[seed, chunk, k]``), so a cohort of 10^6 children needs little memory
and its chunks can be drawn in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.cohort.frames import CohortFrames
from doseline.cohort.growth import weight_height
from doseline.cohort.split import FollowUp, Intervals, split_follow_up
from doseline.cohort.technique import KAP_LOG_SD, era_dose_factor, kap_q3_gycm2

__all__ = [
    "DEFAULT_SITES",
    "CancerSite",
    "HarmonicConfig",
    "background_rates",
    "simulate_harmonic",
    "simulate_harmonic_chunk",
    "write_frames",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
DAYS_PER_YEAR = 365.25
_Z75 = 0.6744897501960817  # 75th percentile of the standard normal distribution


@dataclass(frozen=True)
class CancerSite:
    """A cancer site of the simulation: its organ dose column, lag and true ERR per Gy."""

    name: str
    dose_column: str
    lag_y: float
    err_per_gy: float


# Defaults of the true ERR per Gy, of the size reported for paediatric CT cohorts and the LSS:
# haematological malignancies 1.96 per 100 mGy (Bosch de Basea Gomez M et al. Nat Med 2023),
# brain 1.27 per 100 mGy (Hauptmann M et al. Lancet Oncol 2023); breast and lung about 1 per
# Gy (synthetic round value of the order of LSS estimates). Lags: 2 y for leukaemia, 5 y for
# solid cancers (Pearce MS et al. Lancet 2012;380:499).
DEFAULT_SITES = (
    CancerSite("leukaemia", "red_bone_marrow_gy", 2.0, 19.6),
    CancerSite("brain", "brain_gy", 5.0, 12.7),
    CancerSite("breast", "breast_gy", 5.0, 1.0),
    CancerSite("lung", "lung_gy", 5.0, 1.0),
)

# Synthetic organ-dose model: mGy per Gy.cm2 of KAP at a weight of 20 kg, scaled by
# (20 kg / weight)^0.6 (smaller children: more of the body in the field, less shielding).
ORGAN_MGY_PER_GYCM2 = {
    "red_bone_marrow_gy": 0.3,
    "lung_gy": 1.5,
    "breast_gy": 0.8,
    "brain_gy": 0.03,
}
WEIGHT_EXPONENT = 0.6
ORGAN_LOG_SD = 0.25  # procedure-to-procedure scatter of the organ coefficient (GSD 1.28)

# Down syndrome: leukaemia SIR 56 at ages 0-4, 10 at 5-29 and no excess from 30; solid
# tumours SIR 0.50 (Hasle H, Clemmensen IH, Mikkelsen M. Lancet 2000;355:165-169).
DOWN_LEUKAEMIA_RR = ((5.0, 56.0), (30.0, 10.0), (np.inf, 1.0))  # (age below, RR)
DOWN_SOLID_RR = 0.5


@dataclass(frozen=True)
class HarmonicConfig:
    """Parameters of a known-truth cohort (synthetic design choices unless cited).

    Attributes
    ----------
    n_children, seed
        Size and seed; chunks of ``chunk_children`` have their own random streams.
    sites
        Cancer sites with their true ERR per Gy (:data:`DEFAULT_SITES`).
    background_multiplier
        Factor on every background rate (more cases for small test cohorts).
    birth_years, study_end_year
        Children are born uniformly over ``birth_years``; follow-up ends at ``study_end_year``.
    p_down
        Share of children with Down syndrome (about 40-50 % of children with Down syndrome
        have a congenital heart defect; their share among catheterised children is set to 6 %).
    transplant_per_y, transplant_rr_leukaemia
        Hazard of heart transplant after the first catheterisation, and the relative risk of
        haematological malignancy after it (post-transplant lymphoproliferative disease; all
        lymphomas of Harbron RW et al. Eur J Epidemiol 2018 followed a transplant).
    death_per_y, loss_per_y
        Constant hazards of death and of loss to follow-up after the first procedure.
    p_repeat, max_procedures, mean_gap_y
        Chance of each further catheterisation, the most per child, mean gap between them.
    """

    n_children: int = 10_000
    seed: int = 0
    sites: tuple[CancerSite, ...] = DEFAULT_SITES
    background_multiplier: float = 1.0
    birth_years: tuple[float, float] = (1985.0, 2015.0)
    study_end_year: float = 2035.0
    p_down: float = 0.06
    transplant_per_y: float = 0.001
    transplant_rr_leukaemia: float = 10.0
    death_per_y: float = 0.005
    loss_per_y: float = 0.01
    p_repeat: float = 0.3
    max_procedures: int = 5
    mean_gap_y: float = 2.0
    chunk_children: int = 250_000
    rates: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.n_children < 0 or self.chunk_children < 1:
            raise ValueError("n_children must be >= 0 and chunk_children >= 1")
        if self.background_multiplier <= 0:
            raise ValueError("background_multiplier must be > 0")
        if not 0 <= self.p_down <= 1 or not 0 <= self.p_repeat < 1:
            raise ValueError("p_down must be in [0, 1] and p_repeat in [0, 1)")
        if self.study_end_year <= self.birth_years[1]:
            raise ValueError("study_end_year must be after the last birth year")

    def with_err(self, err_per_gy: float) -> HarmonicConfig:
        """The same cohort with one true ERR per Gy for every site."""
        sites = tuple(replace(site, err_per_gy=err_per_gy) for site in self.sites)
        return replace(self, sites=sites)

    @property
    def n_chunks(self) -> int:
        return max(1, -(-self.n_children // self.chunk_children))


def background_rates() -> pd.DataFrame:
    """The background incidence rates shipped with doseline (see the data PROVENANCE.md)."""
    path = files("doseline") / "data" / "cohort" / "harmonic_background_rates.csv"
    with path.open("r", encoding="utf-8") as stream:
        return pd.read_csv(stream)


def _rate_lookup(
    rates: pd.DataFrame, site: str, male: npt.NDArray[np.bool_], age_y: FloatArray
) -> FloatArray:
    """Background rate per person-year of ``site`` for each (sex, age)."""
    out = np.zeros(age_y.size)
    chosen = rates[rates["site"] == site]
    for sex, is_sex in (("male", male), ("female", ~male)):
        table = chosen[chosen["sex"] == sex].sort_values("age_lo_y")
        lo = table["age_lo_y"].to_numpy(float)
        band = np.clip(np.searchsorted(lo, age_y[is_sex], side="right") - 1, 0, lo.size - 1)
        out[is_sex] = table["rate_per_100000"].to_numpy(float)[band] / 1e5
    return out


def _procedures(
    rng: np.random.Generator, config: HarmonicConfig, birth_year: FloatArray, male: FloatArray
) -> pd.DataFrame:
    """Catheterisations: ages, KAP and organ doses (vectorised over procedures)."""
    n = birth_year.size
    # First procedure: 35 % in infancy (mostly neonatal), 30 % at 1-4 y, 35 % at 5-17 y,
    # the age mix of the synthetic registry cohort (doseline.cohort.synth.CohortConfig).
    group = rng.choice(3, size=n, p=[0.35, 0.30, 0.35])
    first = np.choose(
        group,
        [
            np.minimum(rng.exponential(60.0, n), 364.0) / DAYS_PER_YEAR,
            rng.uniform(1.0, 5.0, n),
            rng.uniform(5.0, 18.0, n),
        ],
    )
    count = 1 + np.minimum(rng.geometric(1.0 - config.p_repeat, n) - 1, config.max_procedures - 1)
    person = np.repeat(np.arange(n), count)
    rank = np.arange(person.size) - np.repeat(np.cumsum(count) - count, count)
    gaps = np.where(rank > 0, rng.exponential(config.mean_gap_y, person.size), 0.0)
    cumulative_gap = np.cumsum(gaps)  # the gap of each child's first procedure is 0
    age = (
        first[person] + cumulative_gap - np.repeat(cumulative_gap[np.cumsum(count) - count], count)
    )
    year = birth_year[person] + age
    keep = ((age < 18.0) & (year < config.study_end_year)) | (rank == 0)
    person, age, year = person[keep], age[keep], year[keep]
    z_w, z_h = rng.normal(-0.7, 1.0, n), rng.normal(-0.4, 1.0, n)  # as synth.CohortConfig
    weight_kg, _ = weight_height(age * DAYS_PER_YEAR, male[person] > 0, z_w[person], z_h[person])
    interventional = rng.random(person.size) < 0.3 + 0.3 * np.clip((year - 1990) / 25, 0, 1)
    q3 = kap_q3_gycm2(weight_kg, interventional) * era_dose_factor(year)
    kap = q3 * np.exp(KAP_LOG_SD * (rng.standard_normal(person.size) - _Z75))
    frame = pd.DataFrame({"person": person, "age_y": age, "kap_gycm2": kap})
    weight_factor = (20.0 / weight_kg) ** WEIGHT_EXPONENT
    for column, coefficient in ORGAN_MGY_PER_GYCM2.items():
        scatter = np.exp(ORGAN_LOG_SD * rng.standard_normal(person.size))
        frame[column] = kap * coefficient * weight_factor * scatter / 1000.0
    return frame


def _waiting_y(rng: np.random.Generator, rate_per_y: float, n: int) -> FloatArray:
    """Exponential waiting times (``inf`` for a zero rate; the stream advances either way)."""
    draws = rng.exponential(1.0, n)
    return draws / rate_per_y if rate_per_y > 0 else np.full(n, np.inf)


def _first_events(
    iv: Intervals, hazard: FloatArray, n: int, rng: np.random.Generator
) -> FloatArray:
    """Age of the first event of a piecewise-constant hazard on sorted intervals (inf: none)."""
    pieces = hazard * iv.pyr
    cumulative = np.cumsum(pieces)
    starts = np.searchsorted(iv.person, np.arange(n), side="left")
    offset = np.concatenate([[0.0], cumulative])[starts]
    threshold = rng.exponential(1.0, n) + offset
    before = cumulative - pieces  # cumulative hazard (all persons) at each interval start
    hit = (before < threshold[iv.person]) & (cumulative >= threshold[iv.person])
    hit &= pieces > 0
    ages = np.full(n, np.inf)
    idx = np.flatnonzero(hit)
    p = iv.person[idx]
    ages[p] = iv.start_y[idx] + (threshold[p] - before[idx]) / hazard[idx]
    return ages


def _site_hazard(
    *,
    site: CancerSite,
    config: HarmonicConfig,
    rates: pd.DataFrame,
    iv: Intervals,
    male: npt.NDArray[np.bool_],
    down: npt.NDArray[np.bool_],
) -> FloatArray:
    age = iv.start_y
    hazard = _rate_lookup(rates, site.name, male[iv.person], age) * config.background_multiplier
    on_down = down[iv.person]
    if site.name == "leukaemia":
        limits = np.array([limit for limit, _ in DOWN_LEUKAEMIA_RR])
        rr = np.array([value for _, value in DOWN_LEUKAEMIA_RR])
        hazard = hazard * np.where(on_down, rr[np.searchsorted(limits, age, side="right")], 1.0)
        hazard = hazard * np.where(
            iv.covariates["transplant"] > 0, config.transplant_rr_leukaemia, 1.0
        )
    else:
        hazard = hazard * np.where(on_down, DOWN_SOLID_RR, 1.0)
    return hazard * (1.0 + site.err_per_gy * iv.doses[site.dose_column])


def simulate_harmonic_chunk(config: HarmonicConfig, chunk: int) -> CohortFrames:
    """Chunk ``chunk`` of the cohort (children ``chunk * chunk_children`` onwards)."""
    start = chunk * config.chunk_children
    n = int(max(0, min(config.chunk_children, config.n_children - start)))
    rng = np.random.default_rng([config.seed, chunk, 7])
    rates = background_rates() if config.rates is None else config.rates
    birth_year = rng.uniform(*config.birth_years, n)
    male = (rng.random(n) < 0.53).astype(float)  # 53 % boys, as synth.CohortConfig
    down = rng.random(n) < config.p_down
    proc = _procedures(rng, config, birth_year, male)
    first = np.full(n, np.inf)
    np.minimum.at(first, proc["person"].to_numpy(), proc["age_y"].to_numpy())
    admin_end = config.study_end_year - birth_year
    death = first + _waiting_y(rng, config.death_per_y, n)
    loss = first + _waiting_y(rng, config.loss_per_y, n)
    end_age = np.minimum.reduce([admin_end, death, loss])
    reason = np.select([end_age == death, end_age == loss], ["death", "lost"], "end")
    proc = proc[proc["age_y"].to_numpy() < end_age[proc["person"].to_numpy()]]
    transplant = first + _waiting_y(rng, config.transplant_per_y, n)
    transplant = np.where(transplant < end_age, transplant, np.inf)
    person = proc["person"].to_numpy().astype(np.int64)
    edges = np.unique(np.concatenate([rates["age_lo_y"].to_numpy(float), [5.0, 30.0]]))
    outcome_person: list[IntArray] = []
    outcome_age: list[FloatArray] = []
    outcome_name: list[npt.NDArray[np.str_]] = []
    for lag in sorted({site.lag_y for site in config.sites}):
        follow = FollowUp(
            entry_y=first,
            exit_y=end_age,
            case=np.zeros(n, bool),
            first_exposure_y=first,
            birth_year=None,
            exposure_person=person,
            exposure_lagged_y=proc["age_y"].to_numpy() + lag,
            exposure_doses={c: proc[c].to_numpy() for c in ORGAN_MGY_PER_GYCM2},
            covariate_onset_y={"transplant": transplant},
        )
        iv = split_follow_up(follow, age_edges_y=edges)
        for site in (s for s in config.sites if s.lag_y == lag):
            hazard = _site_hazard(
                site=site, config=config, rates=rates, iv=iv, male=male > 0, down=down
            )
            ages = _first_events(iv, hazard, n, rng)
            got = np.flatnonzero(np.isfinite(ages))
            outcome_person.append(got)
            outcome_age.append(ages[got])
            outcome_name.append(np.full(got.size, site.name))
    ids = np.arange(start, start + n, dtype=np.int64)
    persons = pd.DataFrame(
        {
            "person_id": ids,
            "sex": np.where(male > 0, "M", "F"),
            "birth_year": birth_year,
            "end_age_y": end_age,
            "exit_reason": reason,
            "down_syndrome": down.astype(np.int8),
        }
    )
    exposures = proc.rename(columns={"person": "person_id"})
    exposures["person_id"] = ids[person]
    outcomes = pd.DataFrame(
        {
            "person_id": ids[np.concatenate(outcome_person)],
            "age_y": np.concatenate(outcome_age),
            "outcome": np.concatenate(outcome_name),
        }
    )
    has = np.isfinite(transplant)
    covariates = pd.DataFrame(
        {"person_id": ids[has], "age_y": transplant[has], "covariate": "transplant"}
    )
    return CohortFrames(persons, exposures, outcomes, covariates, source=f"harmonic chunk {chunk}")


def simulate_harmonic(config: HarmonicConfig) -> CohortFrames:
    """The whole known-truth cohort (all chunks, concatenated)."""
    chunks = [simulate_harmonic_chunk(config, k) for k in range(config.n_chunks)]

    def stacked(name: str) -> pd.DataFrame:
        frames: list[pd.DataFrame] = [getattr(c, name) for c in chunks]
        return pd.concat(frames, ignore_index=True)

    return CohortFrames(
        stacked("persons"),
        stacked("exposures"),
        stacked("outcomes"),
        stacked("covariates"),
        source=f"harmonic simulation (seed {config.seed})",
    )


def write_frames(frames: CohortFrames, directory: str | Path, fmt: str = "parquet") -> list[Path]:
    """Write the four frames as ``persons``, ``exposures``, ``outcomes``, ``covariates`` files."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("persons", "exposures", "outcomes", "covariates"):
        path = folder / f"{name}.{fmt}"
        frame = getattr(frames, name)
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
        written.append(path)
    return written
