"""Person-time of the rERR example cohorts (../shared/data/epi, GPL data read in place).

References: the rERR README results as documented in ../shared/data/epi/PROVENANCE.md: with a
2-year lag, 18 risk sets (cases) in ``cohort_ef`` (exclusion already built into ``entry_age``)
and 34 in ``cohort_wf`` after moving entry to the first CT + 2 years. A case counts when it
occurs after entry, as in the rERR risk sets. Person-years are checked against the direct sum
of max(0, exit - entry) over subjects (an independent one-line computation). Tolerances: counts
exact, person-years 1e-9 relative.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from doseline.cohort.frames import CohortFrames
from doseline.cohort.persontime import PersonTimeSpec, person_time_table

EPI = Path(__file__).resolve().parents[2] / "shared" / "data" / "epi"


def _read(name: str) -> pd.DataFrame:
    path = EPI / name
    if not path.exists():
        pytest.skip(f"rERR example cohort not found at {path}")
    return pd.read_csv(path)


def test_cohort_ef_cases_and_person_years() -> None:
    scans = _read("rerr_cohort_ef_v2018-04-11.csv.gz")
    subjects = scans.groupby("id").first().reset_index()
    persons = pd.DataFrame(
        {
            "person_id": subjects["id"],
            "sex": subjects["sex"],
            "entry_age_y": subjects["entry_age"],
            "end_age_y": subjects["exit_age"],
        }
    )
    exposures = pd.DataFrame(
        {"person_id": scans["id"], "age_y": scans["age"], "dose_mgy": scans["dose"]}
    )
    cases = subjects[subjects["outcome"] == 1]
    outcomes = pd.DataFrame(
        {"person_id": cases["id"], "age_y": cases["exit_age"], "outcome": "case"}
    )
    spec = PersonTimeSpec("case", ("dose_mgy",), lag_y=2.0, exclusion_y=0.0, dose_bands=(0, 10, 50))
    table = person_time_table(CohortFrames(persons, exposures, outcomes), spec)
    assert table["cases"].sum() == 18
    first = scans.groupby("id")["age"].min().reindex(subjects["id"]).to_numpy()
    entry = np.maximum(subjects["entry_age"].to_numpy(), first)
    want = np.clip(subjects["exit_age"].to_numpy() - entry, 0.0, None).sum()
    assert table["pyr"].sum() == pytest.approx(want, rel=1e-9)


def test_cohort_wf_cases_after_exclusion() -> None:
    wide = _read("rerr_cohort_wf_v2018-04-11.csv.gz")
    ages = wide[[f"ctage{i}" for i in range(1, 36)]].to_numpy()
    doses = wide[[f"dose{i}" for i in range(1, 36)]].to_numpy()
    real = ages > 0  # 0 = padding (PROVENANCE.md); number_of_ct does not index the columns
    row, column = np.nonzero(real)
    exposures = pd.DataFrame(
        {
            "person_id": wide["id"].to_numpy()[row],
            "age_y": ages[row, column],
            "dose_mgy": doses[row, column],
        }
    )
    persons = pd.DataFrame(
        {"person_id": wide["id"], "sex": wide["sex"], "end_age_y": wide["age_at_event"]}
    )
    cases = wide[wide["outcome"] == 1]
    outcomes = pd.DataFrame(
        {"person_id": cases["id"], "age_y": cases["age_at_event"], "outcome": "case"}
    )
    spec = PersonTimeSpec("case", ("dose_mgy",), lag_y=2.0, exclusion_y=2.0, dose_bands=(0, 10, 50))
    table = person_time_table(CohortFrames(persons, exposures, outcomes), spec)
    assert table["cases"].sum() == 34
    entry = exposures.groupby("person_id")["age_y"].min().reindex(wide["id"]).to_numpy() + 2.0
    want = np.clip(wide["age_at_event"].to_numpy() - entry, 0.0, None).sum()
    assert table["pyr"].sum() == pytest.approx(want, rel=1e-9)
    assert table.attrs["counts"]["outcome_before_entry"] == 38 - 34
