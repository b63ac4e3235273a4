"""Splitting follow-up into intervals on which every time-dependent quantity is constant.

The method of Lexis-diagram splitting (Clayton D, Hills M. Statistical Models in Epidemiology,
Oxford University Press 1993, ch. 6 and 22; R ``Epi::splitLexis`` and ``survival::survSplit``),
vectorised over persons: all split points of all persons are put in one array, sorted by
person and age (one sort of exact integer keys: person and the dense rank of the age), and
consecutive points of one person bound an interval. Split points are the
band edges on each time scale (attained age, calendar period, time since first exposure), the
ages at which a lagged exposure starts to count, and the onsets of time-dependent covariates.

Intervals are right-closed, ``(start, end]``: a quantity that changes at age ``t`` takes its
new value on every interval starting at ``t``, and a case at age ``t`` belongs to the interval
ending at ``t``. The lagged cumulative dose on an interval is the sum of the doses of the
exposures at ages ``<= start - lag`` (Epicure and rERR: dose received at least ``lag`` years
before). No Python loop runs over persons or intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["FollowUp", "Intervals", "split_follow_up"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class FollowUp:
    """Per-person follow-up and exposures as arrays (persons numbered 0..n-1).

    Attributes
    ----------
    entry_y, exit_y
        Ages at entry and exit (persons with ``exit_y <= entry_y`` contribute nothing).
    case
        Whether follow-up ends with the outcome of interest.
    first_exposure_y
        Age at first exposure (origin of time since first exposure).
    birth_year
        Decimal calendar year of birth, or ``None`` when no calendar split is asked for.
    exposure_person, exposure_lagged_y
        Person and age (plus lag) from which each exposure counts.
    exposure_doses
        Dose of each exposure, per dose column.
    covariate_onset_y
        Per time-dependent covariate, the age at which it switches on (``inf``: never).
    """

    entry_y: FloatArray
    exit_y: FloatArray
    case: BoolArray
    first_exposure_y: FloatArray
    birth_year: FloatArray | None
    exposure_person: IntArray
    exposure_lagged_y: FloatArray
    exposure_doses: dict[str, FloatArray]
    covariate_onset_y: dict[str, FloatArray]


@dataclass(frozen=True)
class Intervals:
    """Follow-up split into intervals ``(start_y, end_y]``, sorted by person then age.

    ``doses`` holds the lagged cumulative dose and ``covariates`` the 0/1 time-dependent
    covariates on each interval; ``case`` is true on the last interval of each case.
    """

    person: IntArray
    start_y: FloatArray
    end_y: FloatArray
    case: BoolArray
    doses: dict[str, FloatArray]
    covariates: dict[str, npt.NDArray[np.int8]]

    @property
    def pyr(self) -> FloatArray:
        """Person-years of each interval."""
        return self.end_y - self.start_y


def _band_cuts(
    base_y: FloatArray, edges: FloatArray, entry_y: FloatArray, exit_y: FloatArray
) -> tuple[IntArray, FloatArray]:
    """Persons and ages of the cuts ``base + edge`` strictly inside (entry, exit)."""
    ages = base_y[:, None] + edges[None, :]
    inside = (ages > entry_y[:, None]) & (ages < exit_y[:, None])
    person, column = np.nonzero(inside)
    return person.astype(np.int64), ages[person, column]


def _age_ranks(ages: FloatArray) -> IntArray:
    """Dense rank of each age (equal ages, equal ranks): exact ordering keys for ages."""
    order = np.argsort(ages)
    ordered = ages[order]
    new = np.empty(ages.size, dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    ranks = np.empty(ages.size, dtype=np.int64)
    ranks[order] = np.cumsum(new) - 1
    return ranks


def _lagged_sums(
    start_person: IntArray,
    start_y: FloatArray,
    event_person: IntArray,
    event_y: FloatArray,
    values: dict[str, FloatArray],
) -> dict[str, FloatArray]:
    """Per start, the sum of each value over the same person's events at ages <= start.

    Ages are replaced by their dense ranks among all event and start ages, so that
    ``person * (number of ranks) + rank`` is an exact integer key ordered by person then age;
    the number of events with keys <= a start's key (``searchsorted``) indexes a cumulative sum
    of the events sorted by key, from which the person's sum before its first event is
    subtracted.
    """
    if event_person.size == 0:
        return {name: np.zeros(start_y.size) for name in values}
    ranks = _age_ranks(np.concatenate([event_y, start_y]))
    width = np.int64(ranks.max(initial=0) + 1)
    event_key = event_person * width + ranks[: event_y.size]
    start_key = start_person * width + ranks[event_y.size :]
    order = np.argsort(event_key)
    sorted_key = event_key[order]
    count = np.searchsorted(sorted_key, start_key, side="right")
    first_of_person = np.searchsorted(sorted_key, start_person * width, side="left")
    sums: dict[str, FloatArray] = {}
    for name, value in values.items():
        cumulative = np.concatenate([[0.0], np.cumsum(value[order])])
        sums[name] = np.maximum(cumulative[count] - cumulative[first_of_person], 0.0)
    return sums


def split_follow_up(
    follow_up: FollowUp,
    *,
    age_edges_y: FloatArray,
    period_edges_year: FloatArray | None = None,
    tsfe_edges_y: FloatArray | None = None,
) -> Intervals:
    """Split each person's follow-up ``(entry, exit]`` at every change of a tabulated quantity.

    Parameters
    ----------
    follow_up
        Per-person arrays (:class:`FollowUp`).
    age_edges_y
        Attained-age band edges (years).
    period_edges_year
        Calendar-period band edges (decimal years); needs ``follow_up.birth_year``.
    tsfe_edges_y
        Band edges of time since first exposure (years).

    Returns
    -------
    Intervals
        Sorted by person then age; the person-years of all intervals of a person add up to
        ``exit - entry``.
    """
    fu = follow_up
    followed = fu.exit_y > fu.entry_y
    ids = np.flatnonzero(followed).astype(np.int64)
    entry, exit_ = fu.entry_y[ids], fu.exit_y[ids]
    cut_person = [ids, ids]
    cut_age = [entry, exit_]
    bases: list[tuple[FloatArray, FloatArray]] = [(np.zeros(ids.size), age_edges_y)]
    if period_edges_year is not None:
        if fu.birth_year is None:
            raise ValueError("calendar-period bands need the persons' birth_year")
        bases.append((-fu.birth_year[ids], period_edges_year))
    if tsfe_edges_y is not None:
        bases.append((fu.first_exposure_y[ids], tsfe_edges_y))
    for base, edges in bases:
        local, ages = _band_cuts(base, np.asarray(edges, float), entry, exit_)
        cut_person.append(ids[local])
        cut_age.append(ages)
    # Ages at which a lagged exposure or a covariate changes the tabulated values.
    change_person = [fu.exposure_person] + [
        np.arange(fu.entry_y.size, dtype=np.int64) for _ in fu.covariate_onset_y
    ]
    change_age = [fu.exposure_lagged_y, *fu.covariate_onset_y.values()]
    for person, age in zip(change_person, change_age, strict=True):
        inside = (age > fu.entry_y[person]) & (age < fu.exit_y[person])
        cut_person.append(person[inside])
        cut_age.append(age[inside])
    person_all = np.concatenate(cut_person)
    age_all = np.concatenate(cut_age)
    ranks = _age_ranks(age_all)  # exact integer keys ordered by person, then age
    order = np.argsort(person_all * np.int64(ranks.max(initial=0) + 1) + ranks)
    person_all, age_all = person_all[order], age_all[order]
    keep = (person_all[1:] == person_all[:-1]) & (age_all[1:] > age_all[:-1])
    person = person_all[:-1][keep]
    start, end = age_all[:-1][keep], age_all[1:][keep]
    is_last = end == fu.exit_y[person]
    case = is_last & fu.case[person]
    doses = _lagged_sums(person, start, fu.exposure_person, fu.exposure_lagged_y, fu.exposure_doses)
    covariates = {
        name: (start >= onset[person]).astype(np.int8)
        for name, onset in fu.covariate_onset_y.items()
    }
    return Intervals(person, start, end, case, doses, covariates)
