"""Grouped person-time tables (Epicure DATAB, R ``survival::pyears``) for Poisson regression.

:func:`person_time_table` turns a cohort (:class:`~doseline.cohort.frames.CohortFrames`) and a
:class:`PersonTimeSpec` into a plain pandas DataFrame with one row per cell of the
cross-classification. Follow-up starts at the first exposure plus an exclusion period (and not
before ``entry_age_y`` where the persons table has it) and ends at the first outcome of
interest, the end of follow-up (death, loss, study end), the age limit or the onset of a
covariate named in ``censor_at``, whichever comes first. Persons whose outcome of interest
precedes entry are left out (prevalent or early cases), as are persons without exposure.

Columns of the table
--------------------
keys
    the ``strata`` columns of the persons table (e.g. ``sex``), ``age_band`` (attained age),
    ``period_band`` (calendar period, if asked), ``tsfe_band`` (time since first exposure, if
    asked), ``dose_band`` (lagged cumulative dose of ``category_dose``) and each time-dependent
    covariate of ``covariates`` (0/1). Bands are labelled ``[lo,hi)``.
``cases``
    number of first occurrences of the outcome of interest in the cell.
``pyr``
    person-years in the cell.
``n_persons``
    number of persons contributing person-time to the cell.
dose columns
    for each column of ``dose_columns``, the person-year-weighted mean lagged cumulative dose
    (same unit as the exposure column).
``age_y``, ``tsfe_y``, ``age_first_exposure_y``, ``calendar_year``
    person-year-weighted means of attained age, time since first exposure, age at first
    exposure and calendar year (the last where birth years are known).
``means``
    person-year-weighted means of the constant numeric person columns listed in ``means``.

The computation is chunked over persons and done as sums (:func:`partial_table`, then
:func:`combine_partials`), so that the same code serves the in-memory path and the Dask path
(:mod:`doseline.cohort.distributed`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.cohort.frames import CohortFrames
from doseline.cohort.split import FollowUp, Intervals, split_follow_up

__all__ = [
    "DEFAULT_AGE_BANDS_Y",
    "DEFAULT_DOSE_BANDS_GY",
    "PersonTimeSpec",
    "band_labels",
    "chunk_frames",
    "combine_partials",
    "default_lag_y",
    "finish_table",
    "follow_up_arrays",
    "partial_table",
    "person_time_table",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_AGE_BANDS_Y = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 50.0, 60.0, 70.0)
# Cumulative-dose categories (Gy) of the size used for paediatric CT cohorts (Pearce MS et al.
# Lancet 2012;380:499, Table 2: <5, 5-10, 10-30, 30-50, ... mGy), refined at the low end.
DEFAULT_DOSE_BANDS_GY = (0.0, 0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0)

# Outcomes lagged 2 years; every other outcome is treated as a solid cancer (5 years). Pearce
# et al. 2012 (follow-up from 2 y after the first CT for leukaemia, 5 y for brain tumours);
# Harbron RW et al. Eur J Epidemiol 2018 (5 y, 2 y for leukaemia and lymphoma).
_HAEMATOLOGICAL = ("leukaemia", "leukemia", "lymphoma", "haematological", "hematological", "aml")


def default_lag_y(outcome: str) -> float:
    """Default lag (and exclusion period): 2 years for haematological malignancies, else 5."""
    name = outcome.lower()
    return 2.0 if any(word in name for word in _HAEMATOLOGICAL) else 5.0


def _edges(values: Iterable[float], name: str) -> tuple[float, ...]:
    edges = tuple(float(v) for v in values)
    if not edges or any(b <= a for a, b in itertools.pairwise(edges)):
        raise ValueError(f"{name} must be a non-empty increasing sequence, got {edges}")
    return edges


@dataclass(frozen=True)
class PersonTimeSpec:
    """What to tabulate: outcome, doses, lag, exclusion, bands, strata, covariates.

    Attributes
    ----------
    outcome
        Outcome type of interest (value of the outcomes frame's ``outcome`` column).
    dose_columns
        Exposure columns to accumulate (lagged cumulative dose, one mean column each).
    category_dose
        Dose column that defines ``dose_band`` (default: the first of ``dose_columns``).
    lag_y, exclusion_y
        Lag of the cumulative dose and exclusion period after the first exposure (default
        :func:`default_lag_y` of the outcome for both).
    age_bands_y, period_bands_year, tsfe_bands_y, dose_bands
        Band edges; ``None`` leaves out the period or time-since-exposure split.
    age_limit_y
        Follow-up ends at this attained age.
    strata
        Constant person columns that become cell keys.
    covariates
        Time-dependent covariates (covariate-frame names) that become 0/1 cell keys.
    censor_at
        Time-dependent covariates whose onset ends follow-up (e.g. censoring at transplant).
    means
        Constant numeric person columns averaged (person-year-weighted) per cell.
    """

    outcome: str
    dose_columns: tuple[str, ...]
    category_dose: str | None = None
    lag_y: float | None = None
    exclusion_y: float | None = None
    age_bands_y: tuple[float, ...] = DEFAULT_AGE_BANDS_Y
    period_bands_year: tuple[float, ...] | None = None
    tsfe_bands_y: tuple[float, ...] | None = None
    dose_bands: tuple[float, ...] = DEFAULT_DOSE_BANDS_GY
    age_limit_y: float = float("inf")
    strata: tuple[str, ...] = ("sex",)
    covariates: tuple[str, ...] = ()
    censor_at: tuple[str, ...] = ()
    means: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.dose_columns:
            raise ValueError("dose_columns: at least one dose column is needed")
        if self.category_dose is not None and self.category_dose not in self.dose_columns:
            raise ValueError(f"category_dose {self.category_dose!r} is not in dose_columns")
        for name in ("lag_y", "exclusion_y"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        _edges(self.age_bands_y, "age_bands_y")
        _edges(self.dose_bands, "dose_bands")
        if self.period_bands_year is not None:
            _edges(self.period_bands_year, "period_bands_year")
        if self.tsfe_bands_y is not None:
            _edges(self.tsfe_bands_y, "tsfe_bands_y")
        if not self.age_limit_y > 0:
            raise ValueError(f"age_limit_y must be > 0, got {self.age_limit_y}")

    @property
    def lag(self) -> float:
        return default_lag_y(self.outcome) if self.lag_y is None else float(self.lag_y)

    @property
    def exclusion(self) -> float:
        return self.lag if self.exclusion_y is None else float(self.exclusion_y)

    @property
    def dose_for_bands(self) -> str:
        return self.category_dose or self.dose_columns[0]

    @property
    def band_keys(self) -> tuple[str, ...]:
        keys = ["age_band"]
        if self.period_bands_year is not None:
            keys.append("period_band")
        if self.tsfe_bands_y is not None:
            keys.append("tsfe_band")
        return (*keys, "dose_band")

    @property
    def keys(self) -> tuple[str, ...]:
        """Cell keys, in table order."""
        return (*self.strata, *self.band_keys, *self.covariates)

    def band_edges(self, key: str) -> tuple[float, ...]:
        edges = {
            "age_band": self.age_bands_y,
            "period_band": self.period_bands_year,
            "tsfe_band": self.tsfe_bands_y,
            "dose_band": self.dose_bands,
        }[key]
        assert edges is not None
        return edges


def band_labels(edges: tuple[float, ...]) -> list[str]:
    """Labels of band indices 0..len(edges): ``<e0``, ``[e0,e1)``, ..., ``[ek,inf)``."""
    text = [f"{e:g}" for e in edges]
    inner = [f"[{a},{b})" for a, b in itertools.pairwise(text)]
    return [f"<{text[0]}", *inner, f"[{text[-1]},inf)"]


def _first_age(n: int, person: IntArray, age: FloatArray) -> FloatArray:
    first = np.full(n, np.inf)
    np.minimum.at(first, person, age)
    return first


def follow_up_arrays(frames: CohortFrames, spec: PersonTimeSpec) -> tuple[FollowUp, dict[str, int]]:
    """Per-person entry, exit, case status and lagged exposures, and counts of exclusions."""
    persons = frames.persons
    n = len(persons)
    index = pd.Index(persons["person_id"])
    exposures = frames.exposures
    ex_person = index.get_indexer(exposures["person_id"]).astype(np.int64)
    ex_age = exposures["age_y"].to_numpy(dtype=float)
    first_exposure = _first_age(n, ex_person, ex_age)
    of_interest = frames.outcomes[frames.outcomes["outcome"].astype(str) == spec.outcome]
    outcome_age = _first_age(
        n,
        index.get_indexer(of_interest["person_id"]).astype(np.int64),
        of_interest["age_y"].to_numpy(dtype=float),
    )
    cov = frames.covariates
    onset: dict[str, FloatArray] = {}
    for name in dict.fromkeys((*spec.covariates, *spec.censor_at)):
        rows = cov[cov["covariate"].astype(str) == name]
        onset[name] = _first_age(
            n,
            index.get_indexer(rows["person_id"]).astype(np.int64),
            rows["age_y"].to_numpy(dtype=float),
        )
    entry = first_exposure + spec.exclusion
    if "entry_age_y" in persons.columns:
        entry = np.maximum(entry, persons["entry_age_y"].to_numpy(dtype=float))
    censor = np.minimum(persons["end_age_y"].to_numpy(dtype=float), spec.age_limit_y)
    for name in spec.censor_at:
        censor = np.minimum(censor, onset[name])
    prevalent = outcome_age <= entry
    case = (outcome_age <= censor) & ~prevalent
    exit_ = np.where(prevalent, entry, np.minimum(censor, outcome_age))
    birth_year = (
        persons["birth_year"].to_numpy(dtype=float) if "birth_year" in persons.columns else None
    )
    follow_up = FollowUp(
        entry_y=entry,
        exit_y=exit_,
        case=case,
        first_exposure_y=first_exposure,
        birth_year=birth_year,
        exposure_person=ex_person,
        exposure_lagged_y=ex_age + spec.lag,
        exposure_doses={c: exposures[c].to_numpy(dtype=float) for c in spec.dose_columns},
        covariate_onset_y={name: onset[name] for name in spec.covariates},
    )
    counts = {
        "persons": n,
        "no_exposure": int(np.isinf(first_exposure).sum()),
        "outcome_before_entry": int((prevalent & np.isfinite(first_exposure)).sum()),
        "no_follow_up": int(((exit_ <= entry) & ~prevalent & np.isfinite(entry)).sum()),
        "followed": int((exit_ > entry).sum()),
    }
    return follow_up, counts


def _key_codes(
    frames: CohortFrames, spec: PersonTimeSpec, fu: FollowUp, iv: Intervals
) -> tuple[dict[str, IntArray], dict[str, np.ndarray]]:
    """Integer code of every cell key on every interval, and the values behind the codes."""
    codes: dict[str, IntArray] = {}
    levels: dict[str, np.ndarray] = {}
    for column in spec.strata:
        person_codes, uniques = pd.factorize(frames.persons[column], use_na_sentinel=False)
        codes[column] = person_codes.astype(np.int64)[iv.person]
        levels[column] = np.asarray(uniques, dtype=object)
    scales = {"age_band": iv.start_y}
    if spec.period_bands_year is not None:
        assert fu.birth_year is not None
        scales["period_band"] = fu.birth_year[iv.person] + iv.start_y
    if spec.tsfe_bands_y is not None:
        scales["tsfe_band"] = iv.start_y - fu.first_exposure_y[iv.person]
    scales["dose_band"] = iv.doses[spec.dose_for_bands]
    for key, value in scales.items():
        edges = np.asarray(spec.band_edges(key))
        codes[key] = np.searchsorted(edges, value, side="right").astype(np.int64)
        levels[key] = np.arange(edges.size + 1)
    for name in spec.covariates:
        codes[name] = iv.covariates[name].astype(np.int64)
        levels[name] = np.array([0, 1])
    return codes, levels


def partial_table(frames: CohortFrames, spec: PersonTimeSpec) -> pd.DataFrame:
    """Cell sums for one chunk of persons: keys, ``cases``, ``pyr``, ``n_persons``, ``sum_*``.

    Band keys are integer band indices here (labels are set by :func:`finish_table`). Partial
    tables of disjoint sets of persons add up (:func:`combine_partials`).
    """
    frames.check_doses(spec.dose_columns)
    for column in (*spec.strata, *spec.means):
        if column not in frames.persons.columns:
            raise ValueError(f"{frames.source}: persons: column {column!r} is missing")
    fu, counts = follow_up_arrays(frames, spec)
    iv = split_follow_up(
        fu,
        age_edges_y=np.asarray(spec.age_bands_y),
        period_edges_year=(
            None if spec.period_bands_year is None else np.asarray(spec.period_bands_year)
        ),
        tsfe_edges_y=None if spec.tsfe_bands_y is None else np.asarray(spec.tsfe_bands_y),
    )
    codes, levels = _key_codes(frames, spec, fu, iv)
    dims = tuple(len(levels[key]) for key in spec.keys)
    code = np.ravel_multi_index(tuple(codes[key] for key in spec.keys), dims) if dims else None
    cell_codes, cell_code = pd.factorize(
        np.zeros(iv.person.size, np.int64) if code is None else code, sort=True
    )
    cell = np.asarray(cell_codes, dtype=np.int64)
    pyr = iv.pyr
    weighted: dict[str, FloatArray] = {c: iv.doses[c] for c in spec.dose_columns}
    weighted["age_y"] = 0.5 * (iv.start_y + iv.end_y)
    weighted["tsfe_y"] = weighted["age_y"] - fu.first_exposure_y[iv.person]
    weighted["age_first_exposure_y"] = fu.first_exposure_y[iv.person]
    if fu.birth_year is not None:
        weighted["calendar_year"] = fu.birth_year[iv.person] + weighted["age_y"]
    for column in spec.means:
        weighted[column] = frames.persons[column].to_numpy(dtype=float)[iv.person]
    n_cells = cell_code.size
    pairs = pd.unique(cell * max(len(frames.persons), 1) + iv.person)
    table: dict[str, object] = {}
    unravelled = np.unravel_index(cell_code, dims) if dims else ()
    for key, key_codes in zip(spec.keys, unravelled, strict=True):
        table[key] = levels[key][key_codes]
    table["cases"] = np.bincount(cell, weights=iv.case, minlength=n_cells).astype(np.int64)
    table["pyr"] = np.bincount(cell, weights=pyr, minlength=n_cells)
    table["n_persons"] = np.bincount(
        pairs // max(len(frames.persons), 1), minlength=n_cells
    ).astype(np.int64)
    for name, value in weighted.items():
        table[f"sum_{name}"] = np.bincount(cell, weights=pyr * value, minlength=n_cells)
    partial = pd.DataFrame(table)
    partial.attrs["counts"] = counts
    return partial


def combine_partials(partials: Iterable[pd.DataFrame], spec: PersonTimeSpec) -> pd.DataFrame:
    """Add up partial tables of disjoint sets of persons, cell by cell (sorted by key)."""
    items = list(partials)
    counts: dict[str, int] = {}
    for item in items:
        for name, value in item.attrs.get("counts", {}).items():
            counts[name] = counts.get(name, 0) + int(value)
    stacked = pd.concat(items, ignore_index=True)
    keys = list(spec.keys)
    combined = (
        stacked.groupby(keys, sort=True, dropna=False).sum().reset_index()
        if keys
        else stacked.sum().to_frame().T
    )
    combined.attrs["counts"] = counts
    return combined


def finish_table(combined: pd.DataFrame, spec: PersonTimeSpec) -> pd.DataFrame:
    """Means from sums, band labels from band indices; the documented table columns."""
    table = combined.copy()
    for key in spec.band_keys:
        labels = np.asarray(band_labels(spec.band_edges(key)), dtype=object)
        table[key] = labels[table[key].to_numpy(dtype=np.int64)]
    pyr = table["pyr"].to_numpy(dtype=float)
    sums = [c for c in table.columns if c.startswith("sum_")]
    for column in sums:
        with np.errstate(invalid="ignore", divide="ignore"):
            table[column.removeprefix("sum_")] = table[column].to_numpy(float) / pyr
    table = table.drop(columns=sums)
    table["cases"] = table["cases"].astype(np.int64)
    table["n_persons"] = table["n_persons"].astype(np.int64)
    table.attrs["counts"] = dict(combined.attrs.get("counts", {}))
    table.attrs["lag_y"] = spec.lag
    table.attrs["exclusion_y"] = spec.exclusion
    return table.reset_index(drop=True)


def chunk_frames(frames: CohortFrames, size: int) -> Iterable[CohortFrames]:
    """The cohort in contiguous blocks of ``size`` persons (persons-table order), each with its
    own exposures, outcomes and covariates."""
    n = len(frames.persons)
    if n <= size:
        yield frames
        return
    index = pd.Index(frames.persons["person_id"])
    chunk_of = {
        name: index.get_indexer(getattr(frames, name)["person_id"]) // size
        for name in ("exposures", "outcomes", "covariates")
    }
    for k in range(0, (n + size - 1) // size):
        yield CohortFrames(
            frames.persons.iloc[k * size : (k + 1) * size],
            frames.exposures[chunk_of["exposures"] == k],
            frames.outcomes[chunk_of["outcomes"] == k],
            frames.covariates[chunk_of["covariates"] == k],
            source=frames.source,
        )


def person_time_table(
    frames: CohortFrames, spec: PersonTimeSpec, *, chunk_persons: int = 250_000
) -> pd.DataFrame:
    """The grouped person-time table of a cohort (columns in this module's docstring).

    Parameters
    ----------
    frames
        The cohort.
    spec
        What to tabulate.
    chunk_persons
        Persons split at a time (bounds memory; the result does not depend on it beyond
        floating-point summation order).

    Returns
    -------
    pandas.DataFrame
        One row per non-empty cell, sorted by the keys; ``attrs["counts"]`` holds the numbers
        of persons followed and excluded (no exposure, outcome before entry, no follow-up).

    Examples
    --------
    >>> spec = PersonTimeSpec("leukaemia", ("red_bone_marrow_gy",))  # doctest: +SKIP
    >>> table = person_time_table(frames, spec)  # doctest: +SKIP
    """
    partials = [partial_table(chunk, spec) for chunk in chunk_frames(frames, chunk_persons)]
    return finish_table(combine_partials(partials, spec), spec)
