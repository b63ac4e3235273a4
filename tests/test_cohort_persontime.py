"""Person-time tables: a hand-computed example and an independent per-person reference.

References: (1) a 5-person cohort tabulated by hand below (every cell written out in the
comments); (2) a deliberately naive per-person, per-interval Python implementation written in
this file from the definitions (entry = max(first exposure + exclusion, entry_age_y),
exit = first of outcome,
end of follow-up, age limit, censoring covariate; dose = sum of doses at ages <= t - lag), run
on random cohorts drawn by hypothesis. Tolerances: counts exact; person-years and means to
1e-9 relative (floating-point summation order only).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doseline.cohort.frames import CohortFrames
from doseline.cohort.persontime import (
    PersonTimeSpec,
    band_labels,
    default_lag_y,
    person_time_table,
)
from doseline.errors import InvalidInputError


def _hand_cohort() -> CohortFrames:
    persons = pd.DataFrame(
        {
            "person_id": ["A", "B", "C", "D", "E"],
            "sex": ["M", "F", "M", "M", "M"],
            "end_age_y": [20.0, 8.0, 10.0, 10.0, 11.0],
        }
    )
    exposures = pd.DataFrame(
        {
            "person_id": ["A", "A", "B", "C", "E", "E"],
            "age_y": [1.0, 4.0, 0.5, 2.0, 1.0, 9.5],
            "rbm_gy": [0.01, 0.02, 0.1, 0.0, 0.004, 0.5],
        }
    )
    outcomes = pd.DataFrame(
        {
            "person_id": ["A", "C", "E"],
            "age_y": [12.0, 3.0, 6.0],
            "outcome": ["leukaemia", "leukaemia", "brain"],
        }
    )
    return CohortFrames(persons, exposures, outcomes, source="hand example")


def test_hand_computed_table() -> None:
    # lag 2 and exclusion 2 (leukaemia default). A: entry 3, exit 12 (case); intervals
    # (3,5] 0.01 Gy, (5,6] 0.01, (6,10] 0.03, (10,12] 0.03. B: entry 2.5, exit 8, 0.1 Gy.
    # C: leukaemia at 3 <= entry 4 -> excluded. D: no exposure -> excluded. E: entry 3,
    # exit 11 (its brain tumour is not the outcome; the exposure at 9.5 counts only from
    # 11.5) -> (3,5], (5,10], (10,11] at 0.004 Gy.
    spec = PersonTimeSpec(
        "leukaemia", ("rbm_gy",), age_bands_y=(0, 5, 10, 15, 20), dose_bands=(0, 0.015, 0.05)
    )
    table = person_time_table(_hand_cohort(), spec)
    expected = pd.DataFrame(
        {
            "sex": ["F", "F", "M", "M", "M", "M", "M"],
            "age_band": ["[0,5)", "[5,10)", "[0,5)", "[5,10)", "[5,10)", "[10,15)", "[10,15)"],
            "dose_band": [
                "[0.05,inf)",
                "[0.05,inf)",
                "[0,0.015)",
                "[0,0.015)",
                "[0.015,0.05)",
                "[0,0.015)",
                "[0.015,0.05)",
            ],
            "cases": [0, 0, 0, 0, 0, 0, 1],
            "pyr": [2.5, 3.0, 4.0, 6.0, 4.0, 1.0, 2.0],
            "n_persons": [1, 1, 2, 2, 1, 1, 1],
            "rbm_gy": [0.1, 0.1, 0.007, (0.01 + 5 * 0.004) / 6, 0.03, 0.004, 0.03],
            "age_y": [3.75, 6.5, 4.0, (5.5 + 5 * 7.5) / 6, 8.0, 10.5, 11.0],
        }
    )
    pd.testing.assert_frame_equal(table[expected.columns], expected, check_dtype=False, rtol=1e-12)
    assert table.attrs["counts"] == {
        "persons": 5,
        "no_exposure": 1,
        "outcome_before_entry": 1,
        "no_follow_up": 0,
        "followed": 3,
    }


def test_default_lags_follow_the_literature() -> None:
    assert default_lag_y("leukaemia") == 2.0  # Pearce 2012, Harbron 2018
    assert default_lag_y("lymphoma") == 2.0
    assert default_lag_y("brain") == 5.0


def test_band_labels() -> None:
    assert band_labels((0.0, 5.0)) == ["<0", "[0,5)", "[5,inf)"]


def test_bad_input_names_table_record_and_field() -> None:
    frames = _hand_cohort()
    bad = frames.exposures.copy()
    bad.loc[2, "age_y"] = -1.0
    with pytest.raises(InvalidInputError, match=r"exposures row 3 \(person 'B'\): age_y"):
        CohortFrames(frames.persons, bad, frames.outcomes)
    stray = frames.outcomes.copy()
    stray.loc[0, "person_id"] = "Z"
    with pytest.raises(InvalidInputError, match="outcomes row 1: person_id"):
        CohortFrames(frames.persons, frames.exposures, stray)
    negative = frames.exposures.copy()
    negative.loc[0, "rbm_gy"] = -0.1
    with pytest.raises(InvalidInputError, match="rbm_gy"):
        person_time_table(
            CohortFrames(frames.persons, negative, frames.outcomes),
            PersonTimeSpec("x", ("rbm_gy",)),
        )


def test_dates_are_converted_to_ages() -> None:
    persons = pd.DataFrame(
        {"person_id": [1], "sex": ["F"], "birth_date": ["2000-01-01"], "end_date": ["2020-12-31"]}
    )
    exposures = pd.DataFrame({"person_id": [1], "date": ["2001-01-01"], "lung_gy": [0.01]})
    frames = CohortFrames.from_dates(persons, exposures)
    assert frames.exposures["age_y"].iloc[0] == pytest.approx(366 / 365.25)
    assert frames.persons["end_age_y"].iloc[0] == pytest.approx(7670 / 365.25)
    assert frames.persons["birth_year"].iloc[0] == pytest.approx(2000.0)


# -- independent reference: one person at a time --------------------------------------------


def _band(edges: tuple[float, ...], value: float) -> str:
    labels = band_labels(edges)
    k = 0
    while k < len(edges) and value >= edges[k]:
        k += 1
    return labels[k]


def _reference(frames: CohortFrames, spec: PersonTimeSpec) -> pd.DataFrame:
    cells: dict[tuple[object, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    members: dict[tuple[object, ...], set[object]] = defaultdict(set)
    lag, excl = spec.lag, spec.exclusion
    dose_col = spec.dose_columns[0]
    for _, person in frames.persons.iterrows():
        pid = person["person_id"]
        ex = frames.exposures[frames.exposures["person_id"] == pid]
        if ex.empty:
            continue
        first = float(ex["age_y"].min())
        entry = max(first + excl, float(person["entry_age_y"]))
        out = frames.outcomes[
            (frames.outcomes["person_id"] == pid) & (frames.outcomes["outcome"] == spec.outcome)
        ]
        outcome_age = float(out["age_y"].min()) if len(out) else math.inf
        cov = frames.covariates[frames.covariates["person_id"] == pid]
        onset = {
            name: float(cov.loc[cov["covariate"] == name, "age_y"].min())
            if (cov["covariate"] == name).any()
            else math.inf
            for name in (*spec.covariates, *spec.censor_at)
        }
        censor = min(float(person["end_age_y"]), spec.age_limit_y)
        for name in spec.censor_at:
            censor = min(censor, onset[name])
        if outcome_age <= entry:
            continue
        exit_ = min(censor, outcome_age)
        if exit_ <= entry:
            continue
        is_case = outcome_age <= censor
        points = {entry, exit_}
        points.update(e for e in spec.age_bands_y if entry < e < exit_)
        if spec.tsfe_bands_y:
            points.update(first + e for e in spec.tsfe_bands_y if entry < first + e < exit_)
        if spec.period_bands_year:
            birth = float(person["birth_year"])
            points.update(p - birth for p in spec.period_bands_year if entry < p - birth < exit_)
        points.update(a + lag for a in ex["age_y"] if entry < a + lag < exit_)
        points.update(a for a in onset.values() if entry < a < exit_)
        ordered = sorted(points)
        for start, end in itertools.pairwise(ordered):
            if end <= start:
                continue
            dose = float(ex.loc[ex["age_y"] + lag <= start, dose_col].sum())
            key: list[object] = [person[s] for s in spec.strata]
            key.append(_band(spec.age_bands_y, start))
            if spec.period_bands_year:
                key.append(_band(spec.period_bands_year, float(person["birth_year"]) + start))
            if spec.tsfe_bands_y:
                key.append(_band(spec.tsfe_bands_y, start - first))
            key.append(_band(spec.dose_bands, dose))
            key.extend(int(start >= onset[name]) for name in spec.covariates)
            cell = cells[tuple(key)]
            cell[0] += float(is_case and end == exit_)
            cell[1] += end - start
            cell[2] += (end - start) * dose
            cell[3] += (end - start) * float(person["score"])
            members[tuple(key)].add(pid)
    rows = [
        (*key, int(v[0]), v[1], len(members[key]), v[2] / v[1], v[3] / v[1])
        for key, v in cells.items()
    ]
    columns = [*spec.keys, "cases", "pyr", "n_persons", dose_col, "score"]
    return pd.DataFrame(rows, columns=columns)


@st.composite
def cohorts(draw: st.DrawFn) -> CohortFrames:
    n = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    persons = pd.DataFrame(
        {
            "person_id": np.arange(n) + 100,
            "sex": rng.choice(["F", "M"], n),
            "end_age_y": np.round(rng.uniform(0.0, 40.0, n), 1),
            "birth_year": np.round(rng.uniform(1980.0, 2010.0, n), 2),
            "entry_age_y": np.round(rng.uniform(0.0, 10.0, n), 0),
            "score": rng.normal(size=n),
        }
    )
    m = draw(st.integers(0, 3 * n))
    exposures = pd.DataFrame(
        {
            "person_id": rng.integers(0, n, m) + 100,
            # rounded ages make ties between cuts, lagged exposures and exits likely
            "age_y": np.round(rng.uniform(0.0, 18.0, m), 0),
            # multiples of 2**-10 Gy: sums are exact in binary floating point, so a cumulative
            # dose that lands on a band edge is classified the same way by both methods
            "dose_gy": np.round(rng.exponential(0.02, m) * 1024.0) / 1024.0,
        }
    )
    k = draw(st.integers(0, n))
    outcomes = pd.DataFrame(
        {
            "person_id": rng.integers(0, n, k) + 100,
            "age_y": np.round(rng.uniform(0.0, 40.0, k), 0),
            "outcome": rng.choice(["leukaemia", "brain"], k),
        }
    )
    j = draw(st.integers(0, n))
    covariates = pd.DataFrame(
        {
            "person_id": rng.integers(0, n, j) + 100,
            "age_y": np.round(rng.uniform(0.0, 30.0, j), 0),
            "covariate": rng.choice(["transplant", "down"], j),
        }
    )
    return CohortFrames(persons, exposures, outcomes, covariates)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=cohorts(), censor=st.booleans(), lag=st.sampled_from([0.0, 2.0, 5.0]))
def test_matches_per_person_reference(frames: CohortFrames, censor: bool, lag: float) -> None:
    spec = PersonTimeSpec(
        "leukaemia",
        ("dose_gy",),
        lag_y=lag,
        exclusion_y=1.0,
        age_bands_y=(0, 5, 10, 20, 30),
        period_bands_year=(1990, 2000, 2010),
        tsfe_bands_y=(0, 3, 10),
        dose_bands=(0, 2**-7, 2**-5, 0.1),
        age_limit_y=35.0,
        covariates=("down",),
        means=("score",),
        censor_at=("transplant",) if censor else (),
    )
    table = person_time_table(frames, spec, chunk_persons=5)
    reference = _reference(frames, spec)
    keys = list(spec.keys)
    got = table[[*reference.columns]].sort_values(keys).reset_index(drop=True)
    want = reference.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-9)
    # total person-years conserved: sum over persons of (exit - entry)
    assert table["pyr"].sum() == pytest.approx(want["pyr"].sum(), rel=1e-12, abs=1e-12)
