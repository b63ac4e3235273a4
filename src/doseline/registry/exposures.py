"""Registry tables about exposures: studies, the dose reports behind them, and their events.

The event tables (:data:`irradiation_event`, :data:`ct_event`, :data:`accumulated_dose`) take
their columns from the normalised report objects of :mod:`doseline.dicom.report`, so that every
field the reader produces is stored, with the same name and unit, and a new field cannot be
forgotten in one of the two places.
"""

from __future__ import annotations

import types
import typing
from dataclasses import fields
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doseline.dicom.report import AccumulatedProjectionDose, CTEvent, ProjectionEvent
from doseline.registry.base import Base, utcnow

__all__ = [
    "DoseReportRecord",
    "Exposure",
    "accumulated_dose",
    "ct_event",
    "irradiation_event",
]


class Exposure(Base):
    """One examination of one patient: an RDSR-era study or a legacy record.

    ``study_uid`` and ``source_sop_instance_uid`` are keyed pseudonyms of the DICOM UIDs
    (``2.25.<n>``). Accumulated totals are denormalised here for fast cohort queries; per-plane
    totals are in :data:`accumulated_dose` and events in :data:`irradiation_event` and
    :data:`ct_event`.
    """

    __tablename__ = "exposure"
    __table_args__ = (
        CheckConstraint("era IN ('rdsr', 'legacy')", name="era"),
        UniqueConstraint("centre_id", "study_uid", "device_key"),
        UniqueConstraint("centre_id", "legacy_record_id"),
        Index("ix_exposure_patient_age", "patient_id", "age_at_exposure_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    era: Mapped[str] = mapped_column(String(8))
    modality: Mapped[str | None] = mapped_column(String(8))
    report_kind: Mapped[str | None] = mapped_column(String(16))  # projection | ct
    procedure_type: Mapped[str | None] = mapped_column(String(64))
    procedure_code: Mapped[str | None] = mapped_column(String(32))
    procedure_description: Mapped[str | None] = mapped_column(String(128))
    age_at_exposure_days: Mapped[int | None] = mapped_column(Integer)
    age_precision: Mapped[str | None] = mapped_column(String(8))
    shifted_date: Mapped[datetime | None] = mapped_column(DateTime)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    height_cm: Mapped[float | None] = mapped_column(Float)
    device_manufacturer: Mapped[str | None] = mapped_column(String(64))
    device_model: Mapped[str | None] = mapped_column(String(64))
    device_key: Mapped[str] = mapped_column(String(64), default="")
    study_uid: Mapped[str | None] = mapped_column(String(64))
    legacy_record_id: Mapped[str | None] = mapped_column(String(64))
    source_sop_instance_uid: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    number_of_events: Mapped[int | None] = mapped_column(Integer)
    kap_total_gycm2: Mapped[float | None] = mapped_column(Float)
    air_kerma_rp_total_gy: Mapped[float | None] = mapped_column(Float)
    fluoro_time_total_s: Mapped[float | None] = mapped_column(Float)
    acquisition_time_total_s: Mapped[float | None] = mapped_column(Float)
    acquisition_frames_total: Mapped[float | None] = mapped_column(Float)
    dlp_total_mgycm: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    patient = relationship("Patient", back_populates="exposures", lazy="raise")


class DoseReportRecord(Base):
    """Every dose report received, for duplicate detection and audit.

    ``status`` is "current" for the report whose content the exposure holds, "superseded" for
    earlier cumulative reports of the same study, "merged" for partial reports whose events
    were added to the exposure.
    """

    __tablename__ = "dose_report"
    __table_args__ = (
        CheckConstraint("status IN ('current', 'superseded', 'merged')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exposure_id: Mapped[int] = mapped_column(
        ForeignKey("exposure.id", ondelete="CASCADE"), index=True
    )
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    number_of_events: Mapped[int] = mapped_column(Integer)
    # Seconds from the first irradiation to the report's content time: orders the cumulative
    # reports of one study without storing a date.
    content_offset_s: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def _column_type(annotation: object) -> type[Float[float]] | type[String] | None:
    """SQL type of a report field from its annotation (``float | None`` -> Float)."""
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else ()
    inner = [a for a in args if a is not type(None)] or [annotation]
    if inner[0] is float:
        return Float
    if inner[0] is str:
        return String
    return None


def _report_columns(report_type: type, *, skip: set[str]) -> list[Column[object]]:
    columns: list[Column[object]] = []
    hints = typing.get_type_hints(report_type)
    for spec in fields(report_type):
        if spec.name in skip:
            continue
        sql_type = _column_type(hints[spec.name])
        if sql_type is None:
            raise TypeError(f"no column type for {report_type.__name__}.{spec.name}")
        columns.append(Column(spec.name, sql_type()))
    return columns


def _event_table(name: str, report_type: type, extra: list[Column[object]]) -> Table:
    return Table(
        name,
        Base.metadata,
        Column("id", Integer, primary_key=True),
        Column(
            "exposure_id", Integer, ForeignKey("exposure.id", ondelete="CASCADE"), nullable=False
        ),
        Column("event_index", Integer, nullable=False),
        *extra,
        *_report_columns(report_type, skip={"datetime_started", "filters", "sources"}),
        UniqueConstraint("exposure_id", "event_uid"),
        Index(f"ix_{name}_exposure", "exposure_id", "event_index"),
    )


irradiation_event = _event_table(
    "irradiation_event",
    ProjectionEvent,
    [
        Column("start_offset_s", Float),  # seconds after the first event of the exposure
        Column("filters", JSON),
    ],
)
"""Projection X-ray irradiation events (TID 10003), one row per event."""

ct_event = _event_table("ct_event", CTEvent, [Column("sources", JSON)])
"""CT acquisitions (TID 10013), one row per event; X-ray sources as a JSON list."""

accumulated_dose = Table(
    "accumulated_dose",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("exposure_id", Integer, ForeignKey("exposure.id", ondelete="CASCADE"), nullable=False),
    *_report_columns(AccumulatedProjectionDose, skip=set()),
    UniqueConstraint("exposure_id", "plane"),
)
"""Accumulated X-ray dose per acquisition plane (TID 10002)."""
