"""Read a doseline registry into the inputs of person-time tabulation.

:func:`frames_from_registry` reads the patient, follow_up, exposure, organ_dose, outcome,
condition and treatment tables (one SQL statement each, through SQLAlchemy) and returns a
:class:`~doseline.cohort.frames.CohortFrames`; ages in days become ages in years
(/ 365.25). Mapping:

persons
    one row per patient with follow-up: ``person_id`` (patient id), ``sex``, ``birth_year``
    (birth year + (month - 0.5) / 12 where the month is known), ``end_age_y`` (the latest last
    contact or death over all follow-up sources), ``exit_reason`` (``death``, ``lost`` or
    ``end``). Patients without a follow-up record have no known person-time and are left out.
exposures
    one row per exposure with ``exposure_id``, ``age_y`` and one ``<organ>_gy`` column per
    organ in organ_dose. Where an exposure and organ have doses from several methods, the
    method (and version) must be chosen.
outcomes
    each outcome under its ``outcome_type`` (``cancer``, ``circulatory``, ``death``, ``other``)
    and, for cancers, under every site group of :data:`CANCER_SITE_GROUPS` it falls in; deaths
    recorded in follow_up count as ``death``.
covariates
    each condition as ``icd10_<code>`` (3-character category) and, for the codes of
    :data:`CONDITION_COVARIATES`, under a readable name; transplants from the treatment table
    (``treatment_type`` containing "transplant") as ``transplant``. A condition without an
    onset age is taken as present from birth.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd
from sqlalchemy import select

from doseline.cohort.frames import DAYS_PER_YEAR, CohortFrames
from doseline.errors import InvalidInputError
from doseline.registry.database import Registry
from doseline.registry.doses import OrganDose
from doseline.registry.exposures import Exposure
from doseline.registry.people import Condition, FollowUp, Outcome, Patient, Treatment

__all__ = ["CANCER_SITE_GROUPS", "CONDITION_COVARIATES", "frames_from_registry"]

#: Cancer site groups: ICD-10 chapter II categories (WHO ICD-10, 2019 edition) and, for the
#: haematological groups, ICD-O-3 morphology code ranges (Fritz A et al., ICD-O third edition,
#: WHO 2000: 959-972 lymphomas, 980-994 leukaemias). Each entry: (ICD-10 or ICD-O-3
#: topography 3-character categories, morphology range of the first 4 digits or None).
CANCER_SITE_GROUPS: Mapping[str, tuple[tuple[str, ...], tuple[int, int] | None]] = MappingProxyType(
    {
        "leukaemia": (("C91", "C92", "C93", "C94", "C95"), (9800, 9948)),
        "lymphoma": (("C81", "C82", "C83", "C84", "C85", "C86", "C88"), (9590, 9738)),
        "brain": (("C70", "C71", "C72"), None),
        "breast": (("C50",), None),
        "lung": (("C33", "C34"), None),
        "thyroid": (("C73",), None),
    }
)

#: Readable names of predisposing conditions (ICD-10: Q90 Down syndrome, Z94 transplanted
#: organ and tissue status, Q85.1 tuberous sclerosis under Q85).
CONDITION_COVARIATES: Mapping[str, str] = MappingProxyType(
    {"Q90": "down_syndrome", "Z94": "transplant", "Q85": "phakomatosis"}
)


def _read(registry: Registry, statement: object) -> pd.DataFrame:
    with registry.engine.connect() as connection:
        frame: pd.DataFrame = pd.read_sql_query(statement, connection)  # type: ignore[call-overload]
        return frame


def _category(codes: pd.Series) -> pd.Series:
    return codes.fillna("").astype(str).str.upper().str.replace(".", "", regex=False).str[:3]


def _persons(registry: Registry) -> pd.DataFrame:
    patients = _read(
        registry, select(Patient.id, Patient.sex, Patient.birth_year, Patient.birth_month)
    )
    follow = _read(
        registry,
        select(
            FollowUp.patient_id,
            FollowUp.vital_status,
            FollowUp.age_at_last_contact_days,
            FollowUp.age_at_death_days,
        ),
    )
    follow["end_days"] = follow[["age_at_last_contact_days", "age_at_death_days"]].max(axis=1)
    follow["dead"] = (follow["vital_status"] == "dead") | follow["age_at_death_days"].notna()
    follow["lost"] = follow["vital_status"] == "lost"
    per = follow.groupby("patient_id").agg(
        end_days=("end_days", "max"), dead=("dead", "any"), lost=("lost", "any")
    )
    persons = patients.merge(per, left_on="id", right_index=True, how="inner")
    month = persons["birth_month"].astype(float).fillna(6.5)
    persons = pd.DataFrame(
        {
            "person_id": persons["id"].astype(np.int64),
            "sex": persons["sex"].fillna("O"),
            "birth_year": persons["birth_year"].astype(float) + (month - 0.5) / 12.0,
            "end_age_y": persons["end_days"].astype(float) / DAYS_PER_YEAR,
            "exit_reason": np.select([persons["dead"], persons["lost"]], ["death", "lost"], "end"),
        }
    )
    return persons.reset_index(drop=True)


def _exposures(
    registry: Registry, method: str | None, method_version: str | None, source: str
) -> pd.DataFrame:
    exposures = _read(
        registry, select(Exposure.id, Exposure.patient_id, Exposure.age_at_exposure_days)
    )
    missing = exposures["age_at_exposure_days"].isna()
    if missing.any():
        raise InvalidInputError(
            "the exposure has no age; person-time needs the age of every exposure",
            source=source,
            record=f"exposure {int(exposures.loc[missing, 'id'].iloc[0])}",
            field="age_at_exposure_days",
        )
    statement = select(
        OrganDose.exposure_id,
        OrganDose.organ,
        OrganDose.method,
        OrganDose.method_version,
        OrganDose.dose_gy,
    )
    if method is not None:
        statement = statement.where(OrganDose.method == method)
    if method_version is not None:
        statement = statement.where(OrganDose.method_version == method_version)
    doses = _read(registry, statement)
    several = doses.duplicated(["exposure_id", "organ"], keep=False)
    if several.any():
        row = doses.loc[several].iloc[0]
        raise InvalidInputError(
            f"organ {row['organ']!r} has doses from several methods "
            f"({sorted(set(doses.loc[several, 'method']))}); choose one",
            source=source,
            record=f"exposure {int(row['exposure_id'])}",
            field="method",
        )
    wide = doses.pivot(index="exposure_id", columns="organ", values="dose_gy")
    wide.columns = [f"{organ}_gy" for organ in wide.columns]
    frame = exposures.merge(wide, left_on="id", right_index=True, how="left")
    frame = frame.rename(columns={"id": "exposure_id", "patient_id": "person_id"})
    frame["age_y"] = frame.pop("age_at_exposure_days").astype(float) / DAYS_PER_YEAR
    return frame


def _outcomes(registry: Registry, deaths: pd.DataFrame) -> pd.DataFrame:
    rows = _read(
        registry,
        select(
            Outcome.patient_id,
            Outcome.outcome_type,
            Outcome.icd10_code,
            Outcome.icdo3_topography,
            Outcome.icdo3_morphology,
            Outcome.age_at_diagnosis_days,
        ),
    ).dropna(subset=["age_at_diagnosis_days"])
    frames = [rows.assign(outcome=rows["outcome_type"])]
    cancer = rows[rows["outcome_type"] == "cancer"]
    icd10, topography = _category(cancer["icd10_code"]), _category(cancer["icdo3_topography"])
    morphology = pd.to_numeric(
        cancer["icdo3_morphology"].fillna("").astype(str).str[:4], errors="coerce"
    )
    for name, (categories, morph) in CANCER_SITE_GROUPS.items():
        member = icd10.isin(categories) | topography.isin(categories)
        if morph is not None:
            member |= morphology.between(*morph)
        frames.append(cancer[member].assign(outcome=name))
    outcomes = pd.concat(frames, ignore_index=True)
    outcomes = pd.DataFrame(
        {
            "person_id": outcomes["patient_id"].astype(np.int64),
            "age_y": outcomes["age_at_diagnosis_days"].astype(float) / DAYS_PER_YEAR,
            "outcome": outcomes["outcome"].astype(str),
        }
    )
    return pd.concat([outcomes, deaths], ignore_index=True)


def _covariates(registry: Registry) -> pd.DataFrame:
    conditions = _read(
        registry, select(Condition.patient_id, Condition.icd10_code, Condition.age_at_onset_days)
    )
    category = _category(conditions["icd10_code"])
    onset = conditions["age_at_onset_days"].astype(float).fillna(0.0) / DAYS_PER_YEAR
    parts = [
        pd.DataFrame(
            {
                "person_id": conditions["patient_id"],
                "age_y": onset,
                "covariate": "icd10_" + category,
            }
        )
    ]
    named = category.map(CONDITION_COVARIATES)
    parts.append(
        pd.DataFrame(
            {"person_id": conditions["patient_id"], "age_y": onset, "covariate": named}
        ).dropna()
    )
    treatments = _read(
        registry,
        select(Treatment.patient_id, Treatment.treatment_type, Treatment.age_at_start_days),
    )
    transplant = treatments["treatment_type"].str.lower().str.contains("transplant")
    transplant &= treatments["age_at_start_days"].notna()
    parts.append(
        pd.DataFrame(
            {
                "person_id": treatments.loc[transplant, "patient_id"],
                "age_y": treatments.loc[transplant, "age_at_start_days"].astype(float)
                / DAYS_PER_YEAR,
                "covariate": "transplant",
            }
        )
    )
    covariates = pd.concat(parts, ignore_index=True)
    covariates["person_id"] = covariates["person_id"].astype(np.int64)
    return covariates


def frames_from_registry(
    registry: Registry, *, dose_method: str | None = None, dose_method_version: str | None = None
) -> CohortFrames:
    """The registry's patients, exposures, organ doses, outcomes and covariates as frames.

    Parameters
    ----------
    registry
        An open registry.
    dose_method, dose_method_version
        Which organ-dose method (and version) to use where there are several.

    Raises
    ------
    InvalidInputError
        An exposure has no age, or an organ has doses from several methods and none is chosen.
    """
    source = registry.engine.url.render_as_string(hide_password=True)
    persons = _persons(registry)
    known = pd.Index(persons["person_id"])
    follow = _read(registry, select(FollowUp.patient_id, FollowUp.age_at_death_days)).dropna()
    deaths = pd.DataFrame(
        {
            "person_id": follow["patient_id"].astype(np.int64),
            "age_y": follow["age_at_death_days"].astype(float) / DAYS_PER_YEAR,
            "outcome": "death",
        }
    )
    exposures = _exposures(registry, dose_method, dose_method_version, source)
    outcomes = _outcomes(registry, deaths)
    covariates = _covariates(registry)

    def followed(frame: pd.DataFrame) -> pd.DataFrame:
        kept: pd.DataFrame = frame[known.get_indexer(frame["person_id"]) >= 0]
        return kept.reset_index(drop=True)

    return CohortFrames(
        persons, followed(exposures), followed(outcomes), followed(covariates), source=source
    )
