"""Person-time from the registry (SQLite and, where configured, PostgreSQL).

Reference: a small registry filled by hand; the frames read back must hold the values put in
(ages in days / 365.25) and the tabulated person-years are computed by hand in the comments.
"""

from __future__ import annotations

import pytest

from doseline.cohort.persontime import PersonTimeSpec, person_time_table
from doseline.cohort.registry_frames import frames_from_registry
from doseline.errors import InvalidInputError
from doseline.registry.database import Registry
from doseline.registry.doses import OrganDose
from doseline.registry.exposures import Exposure
from doseline.registry.people import Centre, Condition, FollowUp, Outcome, Patient, Treatment

Y = 365.25


def fill_registry(registry: Registry, *, second_method: bool = False) -> None:
    with registry.session() as session:
        centre = Centre(name="Centre A", country="FR")
        session.add(centre)
        session.flush()
        kids = [
            Patient(pseudonym="p1", sex="M", birth_year=2000, birth_month=1),
            Patient(pseudonym="p2", sex="F", birth_year=2005, birth_month=None),
            Patient(pseudonym="p3", sex="F", birth_year=2006, birth_month=3),
        ]
        session.add_all(kids)
        session.flush()
        p1, p2, p3 = (k.id for k in kids)
        exposures = [
            Exposure(
                patient_id=p1,
                centre_id=centre.id,
                era="legacy",
                legacy_record_id="e1",
                age_at_exposure_days=int(1 * Y),
            ),
            Exposure(
                patient_id=p1,
                centre_id=centre.id,
                era="legacy",
                legacy_record_id="e2",
                age_at_exposure_days=int(3 * Y),
            ),
            Exposure(
                patient_id=p2,
                centre_id=centre.id,
                era="legacy",
                legacy_record_id="e3",
                age_at_exposure_days=int(2 * Y),
            ),
            Exposure(
                patient_id=p3,
                centre_id=centre.id,
                era="legacy",
                legacy_record_id="e4",
                age_at_exposure_days=int(2 * Y),
            ),
        ]
        session.add_all(exposures)
        session.flush()
        for exposure, dose in zip(exposures, (0.002, 0.004, 0.01, 0.001), strict=True):
            session.add(
                OrganDose(
                    exposure_id=exposure.id,
                    organ="red_bone_marrow",
                    method="kap_model",
                    method_version="1",
                    dose_gy=dose,
                )
            )
            session.add(
                OrganDose(
                    exposure_id=exposure.id,
                    organ="brain",
                    method="kap_model",
                    method_version="1",
                    dose_gy=dose / 10,
                )
            )
        if second_method:
            session.add(
                OrganDose(
                    exposure_id=exposures[0].id,
                    organ="brain",
                    method="monte_carlo",
                    method_version="2",
                    dose_gy=0.5,
                )
            )
        session.add_all(
            [
                FollowUp(
                    patient_id=p1,
                    vital_status="alive",
                    age_at_last_contact_days=int(15 * Y),
                    source="hospital",
                ),
                FollowUp(
                    patient_id=p1,
                    vital_status="alive",
                    age_at_last_contact_days=int(18 * Y),
                    source="cancer registry",
                ),
                FollowUp(
                    patient_id=p2,
                    vital_status="dead",
                    age_at_last_contact_days=int(9 * Y),
                    age_at_death_days=int(9 * Y),
                    source="death registry",
                ),
                # p3 has no follow-up: no known person-time
                Outcome(
                    patient_id=p1,
                    outcome_type="cancer",
                    icd10_code="C91.0",
                    icdo3_morphology="9836/3",
                    age_at_diagnosis_days=int(12 * Y),
                ),
                Outcome(
                    patient_id=p2,
                    outcome_type="cancer",
                    icdo3_topography="C71.9",
                    icdo3_morphology="9440/3",
                    age_at_diagnosis_days=int(8 * Y),
                ),
                Condition(patient_id=p2, icd10_code="Q90.9", age_at_onset_days=0),
                Treatment(
                    patient_id=p1, treatment_type="heart transplant", age_at_start_days=int(6 * Y)
                ),
            ]
        )


def test_frames_and_table_from_registry(registry: Registry) -> None:
    fill_registry(registry)
    frames = frames_from_registry(registry)
    persons = frames.persons.set_index("sex")
    assert len(frames.persons) == 2  # the patient without follow-up is left out
    assert persons.loc["M", "end_age_y"] == pytest.approx(int(18 * Y) / Y)
    assert persons.loc["M", "birth_year"] == pytest.approx(2000 + 0.5 / 12)
    assert persons.loc["F", "exit_reason"] == "death"
    outcomes = set(map(tuple, frames.outcomes[["outcome"]].to_numpy().tolist()))
    assert {("cancer",), ("leukaemia",), ("brain",), ("death",)} <= outcomes
    covariates = set(frames.covariates["covariate"])
    assert {"down_syndrome", "icd10_Q90", "transplant"} <= covariates
    assert set(frames.exposures.columns) >= {"red_bone_marrow_gy", "brain_gy", "age_y"}

    spec = PersonTimeSpec(
        "leukaemia",
        ("red_bone_marrow_gy",),
        age_bands_y=(0, 5, 10, 15, 20),
        dose_bands=(0, 0.005, 0.1),
        covariates=("transplant",),
    )
    table = person_time_table(frames, spec)
    # p1 (M): entry 1 + 2 = 3, leukaemia at 12 -> 9 y, 1 case. p2 (F): entry 4, death at 9
    # -> 5 y. Ages are whole days, so allow 1 day per boundary.
    by_sex = table.groupby("sex")[["pyr", "cases"]].sum()
    assert by_sex.loc["M", "pyr"] == pytest.approx(9.0, abs=3 / Y)
    assert by_sex.loc["F", "pyr"] == pytest.approx(5.0, abs=3 / Y)
    assert by_sex.loc["M", "cases"] == 1 and by_sex.loc["F", "cases"] == 0
    # p1's transplant at 6 y splits its person-time: 3 y before and 6 y after
    transplanted = table[table["transplant"] == 1]
    assert transplanted["pyr"].sum() == pytest.approx(6.0, abs=3 / Y)
    assert set(transplanted["dose_band"]) == {"[0.005,0.1)"}  # 2 + 4 mGy lagged 2 y


def test_several_dose_methods_must_be_chosen(registry: Registry) -> None:
    fill_registry(registry, second_method=True)
    with pytest.raises(InvalidInputError, match="several methods"):
        frames_from_registry(registry)
    frames = frames_from_registry(registry, dose_method="kap_model")
    assert frames.exposures["brain_gy"].max() == pytest.approx(0.001)
