"""Registry tables for radiotherapy: courses, plans, beams, dose grids, structure sets, ROIs and
the planning CT images they refer to.

A course is one :class:`~doseline.registry.exposures.Exposure` of modality ``RT`` (era
``rdsr``: recorded by DICOM objects; ``report_kind`` ``rt_course``), holding every DICOM-RT object
of one patient's Study Instance UID. Objects are linked by their (pseudonymised) referenced UIDs,
not by foreign keys, so that they may arrive in any order: plan -> structure set
(``referenced_structure_set_uid``), dose -> plan (``referenced_plan_uid``), structure set -> CT
series (``referenced_series_uid``). Every UID here is a keyed ``2.25.<n>`` pseudonym.

Dose grids are not stored in SQL: :class:`RTDoseGrid` keeps the grid's metadata (size, spacing,
origin, scaling, units, summation type) and, optionally, ``storage_uri`` (where the deployment
keeps the de-identified file). What the registry keeps of the dose are the organ doses computed
from it (``organ_dose`` rows with methods ``rt_dvh``, ...), see ``docs/rt_registry.md``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from doseline.registry.base import Base, utcnow

__all__ = [
    "RTBeam",
    "RTCourse",
    "RTDoseGrid",
    "RTImage",
    "RTPlanRecord",
    "RTStructure",
    "RTStructureSet",
]


class _DicomObject:
    """Columns of every stored DICOM object: its identity and its patient coordinate system.

    ``content_hash`` tells a re-import of the same object (a no-op) from other content under the
    same SOP Instance UID (a conflict), see :mod:`doseline.ingest.rt_store`.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    frame_of_reference_uid: Mapped[str | None] = mapped_column(String(64))


class _CourseObject(_DicomObject):
    """A DICOM-RT object of a course (plan, dose grid, structure set)."""

    course_id: Mapped[int] = mapped_column(
        ForeignKey("rt_course.id", ondelete="CASCADE"), index=True
    )


class RTCourse(Base):
    """A radiotherapy course: the DICOM-RT objects of one patient's study.

    ``prescription_dose_gy`` and ``fractions_planned`` sum the course's plans (plans of one
    course are assumed sequential, e.g. a phase and a boost).
    """

    __tablename__ = "rt_course"
    __table_args__ = (UniqueConstraint("patient_id", "study_uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    exposure_id: Mapped[int] = mapped_column(
        ForeignKey("exposure.id", ondelete="CASCADE"), unique=True
    )
    study_uid: Mapped[str] = mapped_column(String(64))
    prescription_dose_gy: Mapped[float | None] = mapped_column(Float)
    fractions_planned: Mapped[int | None] = mapped_column(Integer)
    radiation_types: Mapped[str | None] = mapped_column(String(64))  # "PHOTON,PROTON"
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RTPlanRecord(_CourseObject, Base):
    """An RT (Ion) Plan. Free-text plan names are not kept (they may hold identifiers)."""

    __tablename__ = "rt_plan"

    referenced_structure_set_uid: Mapped[str | None] = mapped_column(String(64))
    plan_label: Mapped[str] = mapped_column(String(16))
    plan_geometry: Mapped[str] = mapped_column(String(16))
    approval_status: Mapped[str | None] = mapped_column(String(16))
    is_ion: Mapped[bool] = mapped_column(Boolean)
    radiation_types: Mapped[str] = mapped_column(String(64))
    fractions_planned: Mapped[int] = mapped_column(Integer)
    prescription_dose_gy: Mapped[float | None] = mapped_column(Float)
    age_at_plan_days: Mapped[int | None] = mapped_column(Integer)
    shifted_date: Mapped[datetime | None] = mapped_column(DateTime)
    device_manufacturer: Mapped[str | None] = mapped_column(String(64))
    device_model: Mapped[str | None] = mapped_column(String(64))
    dose_references: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RTBeam(Base):
    """One beam of a plan, with its per-fraction meterset and dose (first fraction group that
    delivers it) and the aperture of its first control point."""

    __tablename__ = "rt_beam"
    __table_args__ = (UniqueConstraint("plan_id", "beam_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("rt_plan.id", ondelete="CASCADE"))
    beam_number: Mapped[int] = mapped_column(Integer)
    beam_label: Mapped[str | None] = mapped_column(String(64))
    radiation_type: Mapped[str] = mapped_column(String(16))
    beam_type: Mapped[str] = mapped_column(String(16))
    treatment_delivery_type: Mapped[str] = mapped_column(String(16))
    scan_mode: Mapped[str | None] = mapped_column(String(16))
    technique: Mapped[str] = mapped_column(String(16))  # STATIC | DYNAMIC | ARC
    high_dose_technique: Mapped[str | None] = mapped_column(String(16))  # NORMAL | TBI | HDR
    nominal_energy_mev: Mapped[float | None] = mapped_column(Float)
    gantry_angle_deg: Mapped[float | None] = mapped_column(Float)
    collimator_angle_deg: Mapped[float | None] = mapped_column(Float)
    couch_angle_deg: Mapped[float | None] = mapped_column(Float)
    isocentre_x_mm: Mapped[float | None] = mapped_column(Float)
    isocentre_y_mm: Mapped[float | None] = mapped_column(Float)
    isocentre_z_mm: Mapped[float | None] = mapped_column(Float)
    source_axis_distance_mm: Mapped[float | None] = mapped_column(Float)
    field_size_x_mm: Mapped[float | None] = mapped_column(Float)
    field_size_y_mm: Mapped[float | None] = mapped_column(Float)
    field_area_mm2: Mapped[float | None] = mapped_column(Float)
    number_of_control_points: Mapped[int] = mapped_column(Integer)
    fractions: Mapped[int | None] = mapped_column(Integer)
    meterset_per_fraction: Mapped[float | None] = mapped_column(Float)
    dose_per_fraction_gy: Mapped[float | None] = mapped_column(Float)


class RTDoseGrid(_CourseObject, Base):
    """An RT Dose object: the grid's metadata and where it is kept, not the grid itself."""

    __tablename__ = "rt_dose_grid"

    referenced_plan_uid: Mapped[str | None] = mapped_column(String(64))
    dose_units: Mapped[str] = mapped_column(String(16))  # GY | RELATIVE
    dose_type: Mapped[str] = mapped_column(String(16))  # PHYSICAL | EFFECTIVE | ERROR
    summation_type: Mapped[str] = mapped_column(String(16))  # PLAN | FRACTION | BEAM | ...
    columns: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer)
    pixel_spacing_x_mm: Mapped[float] = mapped_column(Float)
    pixel_spacing_y_mm: Mapped[float] = mapped_column(Float)
    frame_spacing_mm: Mapped[float | None] = mapped_column(Float)
    origin_x_mm: Mapped[float] = mapped_column(Float)
    origin_y_mm: Mapped[float] = mapped_column(Float)
    origin_z_mm: Mapped[float] = mapped_column(Float)
    dose_grid_scaling: Mapped[float] = mapped_column(Float)
    storage_uri: Mapped[str | None] = mapped_column(Text)


class RTStructureSet(_CourseObject, Base):
    """An RT Structure Set; its ROIs are in :class:`RTStructure`."""

    __tablename__ = "rt_structure_set"

    referenced_series_uid: Mapped[str | None] = mapped_column(String(64))
    number_of_rois: Mapped[int] = mapped_column(Integer)


class RTStructure(Base):
    """A region of interest, with its local name, its AAPM TG-263 name and the doseline organ
    it stands for (``None`` where the name is not in the mapping table)."""

    __tablename__ = "rt_structure"
    __table_args__ = (UniqueConstraint("structure_set_id", "roi_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    structure_set_id: Mapped[int] = mapped_column(
        ForeignKey("rt_structure_set.id", ondelete="CASCADE")
    )
    roi_number: Mapped[int] = mapped_column(Integer)
    roi_label: Mapped[str] = mapped_column(String(64))
    interpreted_type: Mapped[str | None] = mapped_column(String(16))
    tg263_term: Mapped[str | None] = mapped_column(String(32))
    organ: Mapped[str | None] = mapped_column(String(48))
    number_of_contours: Mapped[int] = mapped_column(Integer)
    volume_cm3: Mapped[float | None] = mapped_column(Float)


class RTImage(_DicomObject, Base):
    """One image of a planning CT series: identity and geometry only (no pixels)."""

    __tablename__ = "rt_image"

    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), index=True
    )
    study_uid: Mapped[str] = mapped_column(String(64))
    series_uid: Mapped[str] = mapped_column(String(64), index=True)
    rows: Mapped[int] = mapped_column(Integer)
    columns: Mapped[int] = mapped_column(Integer)
    pixel_spacing_x_mm: Mapped[float | None] = mapped_column(Float)
    pixel_spacing_y_mm: Mapped[float | None] = mapped_column(Float)
    position_x_mm: Mapped[float | None] = mapped_column(Float)
    position_y_mm: Mapped[float | None] = mapped_column(Float)
    position_z_mm: Mapped[float | None] = mapped_column(Float)
    slice_thickness_mm: Mapped[float | None] = mapped_column(Float)
