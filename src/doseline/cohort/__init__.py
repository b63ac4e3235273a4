"""Cohorts: synthetic multi-centre paediatric cardiology data sets (:mod:`.synth`)."""

from doseline.cohort.files import CohortFiles, dictionary_fields, legacy_tables, write_cohort
from doseline.cohort.synth import (
    CohortConfig,
    SyntheticCohort,
    generate_cohort,
    generate_patients,
    generate_procedures,
)
from doseline.cohort.technique import DEFAULT_CENTRES, CentreSpec

__all__ = [
    "DEFAULT_CENTRES",
    "CentreSpec",
    "CohortConfig",
    "CohortFiles",
    "SyntheticCohort",
    "dictionary_fields",
    "generate_cohort",
    "generate_patients",
    "generate_procedures",
    "legacy_tables",
    "write_cohort",
]
