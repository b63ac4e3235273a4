"""Registry tables about people: centres, patients, body size, conditions, treatments, outcomes.

No direct identifier is stored: a patient is a keyed pseudonym, and every time is an age in
days since birth (see ``docs/registry.md`` for the mapping to OMOP CDM v5.4).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doseline.registry.base import Base, utcnow

__all__ = [
    "Anthropometry",
    "Centre",
    "Condition",
    "FollowUp",
    "Outcome",
    "Patient",
    "Treatment",
]


class Centre(Base):
    """A participating hospital or registry (HARMONIC: one of several countries' centres)."""

    __tablename__ = "centre"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Patient(Base):
    """A child, known by a keyed pseudonym (HMAC-SHA256 of the source identifier).

    Birth year and month are kept (ages need them when only dates are known); the day is not.
    """

    __tablename__ = "patient"
    __table_args__ = (CheckConstraint("sex IN ('M', 'F', 'O')", name="sex"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    sex: Mapped[str | None] = mapped_column(String(1))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    birth_month: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    exposures = relationship("Exposure", back_populates="patient", lazy="raise")


class Anthropometry(Base):
    """Weight and height at a given age (from a dose report header or a table)."""

    __tablename__ = "anthropometry"
    __table_args__ = (UniqueConstraint("patient_id", "age_days", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), index=True
    )
    age_days: Mapped[int] = mapped_column(Integer)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    height_cm: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))  # "rdsr" or "table"


class Condition(Base):
    """A condition coded in ICD-10 (e.g. Q90 Down syndrome, Z94 transplanted organ status)."""

    __tablename__ = "condition"
    __table_args__ = (UniqueConstraint("patient_id", "icd10_code", "age_at_onset_days"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), index=True
    )
    icd10_code: Mapped[str] = mapped_column(String(8))
    age_at_onset_days: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(String(128))


class Treatment(Base):
    """A treatment that may modify risk (chemotherapy agent and cumulative dose, transplant)."""

    __tablename__ = "treatment"
    __table_args__ = (
        UniqueConstraint(
            "patient_id", "treatment_type", "agent", "age_at_start_days", name="uq_treatment_course"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), index=True
    )
    treatment_type: Mapped[str] = mapped_column(String(32))
    agent: Mapped[str | None] = mapped_column(String(64))
    cumulative_dose: Mapped[float | None] = mapped_column(Float)
    cumulative_dose_unit: Mapped[str | None] = mapped_column(String(16))
    age_at_start_days: Mapped[int | None] = mapped_column(Integer)
    age_at_end_days: Mapped[int | None] = mapped_column(Integer)


class Outcome(Base):
    """A health outcome: cancer (ICD-O-3), circulatory disease (ICD-10), or death."""

    __tablename__ = "outcome"
    __table_args__ = (
        CheckConstraint(
            "outcome_type IN ('cancer', 'circulatory', 'death', 'other')", name="outcome_type"
        ),
        UniqueConstraint(
            "patient_id",
            "outcome_type",
            "icd10_code",
            "icdo3_topography",
            "icdo3_morphology",
            "age_at_diagnosis_days",
            name="uq_outcome_occurrence",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), index=True
    )
    outcome_type: Mapped[str] = mapped_column(String(16))
    icd10_code: Mapped[str | None] = mapped_column(String(8))
    icdo3_topography: Mapped[str | None] = mapped_column(String(8))  # e.g. C71.9
    icdo3_morphology: Mapped[str | None] = mapped_column(String(8))  # e.g. 9440/3
    age_at_diagnosis_days: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(64))


class FollowUp(Base):
    """Vital status at last contact, from a death or cancer registry extract or the hospital."""

    __tablename__ = "follow_up"
    __table_args__ = (
        CheckConstraint("vital_status IN ('alive', 'dead', 'lost')", name="vital_status"),
        UniqueConstraint("patient_id", "source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), index=True
    )
    vital_status: Mapped[str] = mapped_column(String(8))
    age_at_last_contact_days: Mapped[int] = mapped_column(Integer)
    age_at_death_days: Mapped[int | None] = mapped_column(Integer)
    cause_of_death_icd10: Mapped[str | None] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(64))
