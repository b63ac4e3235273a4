"""RT Plan and RT Ion Plan reader (DICOM PS3.3 C.8.8.9-C.8.8.14 and C.8.8.25-C.8.8.27).

:func:`read_rt_plan` turns an RT Plan (SOP Class 1.2.840.10008.5.1.4.1.1.481.5) or RT Ion Plan
(...481.8) into typed, frozen records: the plan identity and geometry, fraction groups (fractions
planned, the beams each delivers with their meterset and dose), beams (radiation type, nominal
energy, delivery type, angles, isocentre and the aperture of the first control point), the dose
references (prescription) and the referenced structure set.

Every record checks its values on construction; a value that cannot be read raises
:class:`~doseline.errors.InvalidInputError` naming the file, the record (``beam 3``,
``fraction group 1``) and the DICOM keyword.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from doseline.dicom.dates import parse_da
from doseline.dicom.rt_common import RT_PLAN_STORAGE
from doseline.errors import InvalidInputError, MalformedDicomError

__all__ = [
    "RADIATION_TYPES",
    "RT_ION_PLAN_STORAGE",
    "Beam",
    "DoseReference",
    "FractionGroup",
    "RTPlan",
    "plan_from_dataset",
    "read_rt_plan",
]

RT_ION_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.8"
"""SOP Class UID of RT Ion Plan Storage (DICOM PS3.4, table B.5-1)."""
#: Radiation Type (300A,00C6) and Ion Radiation Type defined terms (PS3.3 C.8.8.14.1, C.8.8.25).
RADIATION_TYPES = frozenset({"PHOTON", "ELECTRON", "NEUTRON", "PROTON", "ION"})
_BEAM_TYPES = frozenset({"STATIC", "DYNAMIC"})


@dataclass(frozen=True, slots=True)
class Beam:
    """One treatment or setup beam (Beam Sequence or Ion Beam Sequence item).

    Parameters
    ----------
    number, name
        Beam Number (300A,00C0) and Beam Name.
    radiation_type
        PHOTON, ELECTRON, NEUTRON, PROTON or ION.
    beam_type
        STATIC or DYNAMIC (300A,00C4).
    treatment_delivery_type
        TREATMENT, OPEN_PORTFILM, TRMT_PORTFILM, CONTINUATION or SETUP.
    nominal_energy_mev
        Nominal Beam Energy of the first control point: MV for photons (the DICOM value is
        in MeV), MeV for electrons, MeV per nucleon for ions (PS3.3 C.8.8.14.5).
    gantry_angle_deg, collimator_angle_deg, couch_angle_deg
        Angles of the first control point (IEC 61217).
    isocentre_mm
        Isocenter Position (300A,012C) in patient coordinates, if given.
    source_axis_distance_mm
        Source-Axis Distance (photons/electrons) or Virtual Source-Axis Distance (ions).
    jaw_x_mm, jaw_y_mm
        Jaw positions (X1, X2), (Y1, Y2) at the isocentre plane of the first control point.
    field_size_x_mm, field_size_y_mm
        Extent of the open aperture of the first control point: the MLC opening within the
        jaws where an MLC is given, else the jaws.
    field_area_mm2
        Open area of that aperture (sum over leaf pairs of gap times leaf width, clipped to the
        jaws), or the jaw rectangle.
    number_of_control_points
        Number of Control Points.
    scan_mode
        Ion beams: Scan Mode (NONE, UNIFORM, MODULATED, MODULATED_SPEC); ``None`` otherwise.
    treatment_machine
        Treatment Machine Name (a device name, not a person).
    gantry_rotation
        Gantry Rotation Direction of the first control point: NONE, CW or CC (an arc).
    high_dose_technique
        High-Dose Technique Type (300A,00C7): NORMAL, TBI or HDR, where given.
    """

    number: int
    name: str | None
    radiation_type: str
    beam_type: str
    treatment_delivery_type: str
    nominal_energy_mev: float | None
    gantry_angle_deg: float | None
    collimator_angle_deg: float | None
    couch_angle_deg: float | None
    isocentre_mm: tuple[float, float, float] | None
    source_axis_distance_mm: float | None
    jaw_x_mm: tuple[float, float] | None
    jaw_y_mm: tuple[float, float] | None
    field_size_x_mm: float | None
    field_size_y_mm: float | None
    field_area_mm2: float | None
    number_of_control_points: int
    scan_mode: str | None = None
    treatment_machine: str | None = None
    gantry_rotation: str | None = None
    high_dose_technique: str | None = None

    def __post_init__(self) -> None:
        where = f"beam {self.number}"
        if self.radiation_type not in RADIATION_TYPES:
            raise InvalidInputError(
                f"unknown radiation type {self.radiation_type!r}",
                record=where,
                field="RadiationType",
            )
        if self.beam_type not in _BEAM_TYPES:
            raise InvalidInputError(
                f"beam type {self.beam_type!r} is not STATIC or DYNAMIC",
                record=where,
                field="BeamType",
            )
        for name in ("nominal_energy_mev", "source_axis_distance_mm", "field_area_mm2"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise InvalidInputError(f"{name} = {value} is not >= 0", record=where, field=name)
        if self.number_of_control_points < 1:
            raise InvalidInputError(
                "a beam needs at least one control point", record=where, field="ControlPoints"
            )

    @property
    def technique(self) -> str:
        """ARC (the gantry turns: dynamic arc, VMAT), DYNAMIC (moving MLC or wedge at a fixed
        angle: IMRT, dynamic wedge) or STATIC, from Beam Type and the first control point's
        Gantry Rotation Direction (PS3.3 C.8.8.14)."""
        if self.gantry_rotation in {"CW", "CC"}:
            return "ARC"
        return self.beam_type

    @property
    def is_treatment(self) -> bool:
        """Whether the beam delivers treatment dose (not a setup or port-film beam)."""
        return self.treatment_delivery_type in {"TREATMENT", "CONTINUATION"}


@dataclass(frozen=True, slots=True)
class FractionGroup:
    """A fraction group: how many fractions, and the beams each fraction delivers.

    ``beam_meterset`` maps beam number to Beam Meterset (MU, or NP for ions) per fraction;
    ``beam_dose_gy`` maps beam number to Beam Dose (Gy per fraction at the specification
    point) where given.
    """

    number: int
    fractions_planned: int
    beam_meterset: dict[int, float]
    beam_dose_gy: dict[int, float]

    def __post_init__(self) -> None:
        if self.fractions_planned < 1:
            raise InvalidInputError(
                f"{self.fractions_planned} fractions planned",
                record=f"fraction group {self.number}",
                field="NumberOfFractionsPlanned",
            )
        for beam, value in (*self.beam_meterset.items(), *self.beam_dose_gy.items()):
            if not (math.isfinite(value) and value >= 0):
                raise InvalidInputError(
                    f"beam {beam}: negative or non-finite value {value}",
                    record=f"fraction group {self.number}",
                    field="ReferencedBeamSequence",
                )

    @property
    def beam_numbers(self) -> tuple[int, ...]:
        return tuple(sorted({*self.beam_meterset, *self.beam_dose_gy}))

    @property
    def dose_per_fraction_gy(self) -> float | None:
        """Sum of the beam doses of one fraction (``None`` if no beam dose is given)."""
        return sum(self.beam_dose_gy.values()) if self.beam_dose_gy else None


@dataclass(frozen=True, slots=True)
class DoseReference:
    """A Dose Reference Sequence item (prescription or constraint)."""

    number: int
    structure_type: str | None
    description: str | None
    reference_type: str | None  # TARGET | ORGAN_AT_RISK
    target_prescription_dose_gy: float | None
    referenced_roi_number: int | None
    point_mm: tuple[float, float, float] | None

    def __post_init__(self) -> None:
        dose = self.target_prescription_dose_gy
        if dose is not None and not (math.isfinite(dose) and dose >= 0):
            raise InvalidInputError(
                f"prescription dose {dose} Gy is not >= 0",
                record=f"dose reference {self.number}",
                field="TargetPrescriptionDose",
            )


@dataclass(frozen=True, slots=True)
class RTPlan:
    """An RT (Ion) Plan as read from one file; see :func:`read_rt_plan`.

    Identifiers (``patient_id``, UIDs) are the file's own: pseudonymisation happens at ingest.
    """

    source: str
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str | None
    series_instance_uid: str | None
    frame_of_reference_uid: str | None
    patient_id: str | None
    issuer_of_patient_id: str | None
    patient_sex: str | None
    patient_birth_date: date | None
    plan_label: str
    plan_name: str | None
    plan_date: date | None
    plan_geometry: str
    approval_status: str | None
    manufacturer: str | None
    model_name: str | None
    referenced_structure_set_uid: str | None
    fraction_groups: tuple[FractionGroup, ...]
    beams: tuple[Beam, ...]
    dose_references: tuple[DoseReference, ...]

    def __post_init__(self) -> None:
        if self.plan_geometry not in {"PATIENT", "TREATMENT_DEVICE"}:
            raise InvalidInputError(
                f"RT Plan Geometry {self.plan_geometry!r} is not PATIENT or TREATMENT_DEVICE",
                source=self.source,
                field="RTPlanGeometry",
            )
        if self.plan_geometry == "PATIENT" and not self.referenced_structure_set_uid:
            raise InvalidInputError(
                "a plan of PATIENT geometry must reference a structure set (PS3.3 C.8.8.9)",
                source=self.source,
                field="ReferencedStructureSetSequence",
            )
        numbers = {beam.number for beam in self.beams}
        if len(numbers) != len(self.beams):
            raise InvalidInputError(
                "two beams share a Beam Number", source=self.source, field="BeamNumber"
            )
        for group in self.fraction_groups:
            missing = set(group.beam_numbers) - numbers
            if missing:
                raise InvalidInputError(
                    f"references beam(s) {sorted(missing)} that the plan does not contain",
                    source=self.source,
                    record=f"fraction group {group.number}",
                    field="ReferencedBeamNumber",
                )

    @property
    def is_ion(self) -> bool:
        return self.sop_class_uid == RT_ION_PLAN_STORAGE

    @property
    def radiation_types(self) -> tuple[str, ...]:
        """Radiation types of the treatment beams, sorted."""
        return tuple(sorted({b.radiation_type for b in self.beams if b.is_treatment}))

    @property
    def fractions_planned(self) -> int:
        """Fractions of all fraction groups together."""
        return sum(group.fractions_planned for group in self.fraction_groups)

    @property
    def prescription_dose_gy(self) -> float | None:
        """Highest Target Prescription Dose of the TARGET dose references; else the planned
        beam doses (sum over fraction groups of fractions times dose per fraction)."""
        targets = [
            ref.target_prescription_dose_gy
            for ref in self.dose_references
            if ref.reference_type == "TARGET" and ref.target_prescription_dose_gy is not None
        ]
        if targets:
            return max(targets)
        planned = [
            group.fractions_planned * dose
            for group in self.fraction_groups
            if (dose := group.dose_per_fraction_gy) is not None
        ]
        return sum(planned) if planned else None

    def beam(self, number: int) -> Beam:
        for beam in self.beams:
            if beam.number == number:
                return beam
        raise KeyError(f"{self.source}: no beam {number}")


def read_rt_plan(path: str | os.PathLike[str]) -> RTPlan:
    """Read an RT Plan or RT Ion Plan file.

    Raises
    ------
    MalformedDicomError
        If the file is not readable DICOM.
    InvalidInputError
        If it is not an RT (Ion) Plan, or a value the plan needs is missing or impossible
        (the message names file, record and field).
    """
    source = str(path)
    try:
        dataset = pydicom.dcmread(Path(path), force=True)
    except (InvalidDicomError, OSError, EOFError, ValueError) as error:
        raise MalformedDicomError(f"not readable as DICOM ({error})", source=source) from error
    return plan_from_dataset(dataset, source)


def plan_from_dataset(dataset: Dataset, source: str) -> RTPlan:
    """Build an :class:`RTPlan` from a dataset already read (see :func:`read_rt_plan`)."""
    sop_class = _text(dataset, "SOPClassUID")
    if sop_class not in {RT_PLAN_STORAGE, RT_ION_PLAN_STORAGE}:
        raise InvalidInputError(
            f"SOP Class {sop_class!r} is not RT Plan or RT Ion Plan Storage",
            source=source,
            field="SOPClassUID",
        )
    try:
        return _plan(dataset, source, sop_class)
    except InvalidInputError as error:
        raise error.with_source(source) from None
    except (ValueError, TypeError, AttributeError, KeyError) as error:
        raise InvalidInputError(f"unreadable plan content ({error})", source=source) from error


def _plan(dataset: Dataset, source: str, sop_class: str) -> RTPlan:
    ion = sop_class == RT_ION_PLAN_STORAGE
    sop_instance = _text(dataset, "SOPInstanceUID")
    if not sop_instance:
        raise InvalidInputError("no SOP Instance UID", field="SOPInstanceUID")
    label = _text(dataset, "RTPlanLabel")
    if not label:
        raise InvalidInputError("no RT Plan Label (type 1)", field="RTPlanLabel")
    beam_items = dataset.get("IonBeamSequence" if ion else "BeamSequence") or []
    fraction_items = dataset.get("FractionGroupSequence") or []
    structure_refs = dataset.get("ReferencedStructureSetSequence") or []
    return RTPlan(
        source=source,
        sop_class_uid=sop_class,
        sop_instance_uid=sop_instance,
        study_instance_uid=_text(dataset, "StudyInstanceUID"),
        series_instance_uid=_text(dataset, "SeriesInstanceUID"),
        frame_of_reference_uid=_text(dataset, "FrameOfReferenceUID"),
        patient_id=_text(dataset, "PatientID"),
        issuer_of_patient_id=_text(dataset, "IssuerOfPatientID"),
        patient_sex=_text(dataset, "PatientSex"),
        patient_birth_date=parse_da(dataset.get("PatientBirthDate")),
        plan_label=label,
        plan_name=_text(dataset, "RTPlanName"),
        plan_date=parse_da(dataset.get("RTPlanDate")) or parse_da(dataset.get("StudyDate")),
        plan_geometry=_text(dataset, "RTPlanGeometry") or "",
        approval_status=_text(dataset, "ApprovalStatus"),
        manufacturer=_text(dataset, "Manufacturer"),
        model_name=_text(dataset, "ManufacturerModelName"),
        referenced_structure_set_uid=(
            _text(structure_refs[0], "ReferencedSOPInstanceUID") if structure_refs else None
        ),
        fraction_groups=tuple(_fraction_group(item) for item in fraction_items),
        beams=tuple(_beam(item, ion) for item in beam_items),
        dose_references=tuple(
            _dose_reference(item) for item in dataset.get("DoseReferenceSequence") or []
        ),
    )


def _fraction_group(item: Dataset) -> FractionGroup:
    number = _int(item, "FractionGroupNumber", "fraction group")
    where = f"fraction group {number}"
    fractions = _int(item, "NumberOfFractionsPlanned", where)
    meterset: dict[int, float] = {}
    dose: dict[int, float] = {}
    for ref in item.get("ReferencedBeamSequence") or []:
        beam = _int(ref, "ReferencedBeamNumber", where)
        if (value := _float(ref, "BeamMeterset", where)) is not None:
            meterset[beam] = value
        if (value := _float(ref, "BeamDose", where)) is not None:
            dose[beam] = value
    return FractionGroup(number, fractions, meterset, dose)


def _beam(item: Dataset, ion: bool) -> Beam:
    number = _int(item, "BeamNumber", "beam")
    where = f"beam {number}"
    points = item.get("IonControlPointSequence" if ion else "ControlPointSequence") or []
    if not points:
        raise InvalidInputError("no control points", record=where, field="ControlPointSequence")
    first = points[0]
    radiation = _text(item, "RadiationType") or ""
    jaws, mlc = _aperture(item, first, where)
    size_x, size_y, area = _field_size(jaws, mlc)
    return Beam(
        number=number,
        name=_text(item, "BeamName"),
        radiation_type=radiation,
        beam_type=_text(item, "BeamType") or "",
        treatment_delivery_type=_text(item, "TreatmentDeliveryType") or "TREATMENT",
        nominal_energy_mev=_float(first, "NominalBeamEnergy", where),
        gantry_angle_deg=_float(first, "GantryAngle", where),
        collimator_angle_deg=_float(first, "BeamLimitingDeviceAngle", where),
        couch_angle_deg=_float(first, "PatientSupportAngle", where),
        isocentre_mm=_point(first, "IsocenterPosition", where),
        source_axis_distance_mm=_float(
            item, "VirtualSourceAxisDistances" if ion else "SourceAxisDistance", where
        ),
        jaw_x_mm=jaws.get("X"),
        jaw_y_mm=jaws.get("Y"),
        field_size_x_mm=size_x,
        field_size_y_mm=size_y,
        field_area_mm2=area,
        number_of_control_points=len(points),
        scan_mode=_text(item, "ScanMode") if ion else None,
        treatment_machine=_text(item, "TreatmentMachineName"),
        gantry_rotation=_text(first, "GantryRotationDirection"),
        high_dose_technique=_text(item, "HighDoseTechniqueType"),
    )


@dataclass(frozen=True, slots=True)
class _MLC:
    axis: str  # "X" (leaves move along x) or "Y"
    boundaries_mm: np.ndarray[Any, np.dtype[np.float64]]
    bank_a_mm: np.ndarray[Any, np.dtype[np.float64]]
    bank_b_mm: np.ndarray[Any, np.dtype[np.float64]]


def _aperture(
    beam: Dataset, first: Dataset, where: str
) -> tuple[dict[str, tuple[float, float]], _MLC | None]:
    """Jaw pairs by axis and the MLC of the first control point."""
    boundaries: dict[str, list[float]] = {}
    for device in beam.get("BeamLimitingDeviceSequence") or []:
        kind = _text(device, "RTBeamLimitingDeviceType") or ""
        if kind.startswith("MLC") and "LeafPositionBoundaries" in device:
            boundaries[kind[-1]] = [float(v) for v in device.LeafPositionBoundaries]
    jaws: dict[str, tuple[float, float]] = {}
    mlc: _MLC | None = None
    for position in first.get("BeamLimitingDevicePositionSequence") or []:
        kind = _text(position, "RTBeamLimitingDeviceType") or ""
        values = [float(v) for v in position.get("LeafJawPositions") or []]
        if kind in {"X", "Y", "ASYMX", "ASYMY"} and len(values) == 2:
            jaws[kind[-1]] = (values[0], values[1])
        elif kind.startswith("MLC") and kind[-1] in boundaries:
            edges = np.asarray(boundaries[kind[-1]])
            pairs = len(edges) - 1
            if len(values) != 2 * pairs:
                raise InvalidInputError(
                    f"{len(values)} leaf positions for {pairs} leaf pairs",
                    record=where,
                    field="LeafJawPositions",
                )
            leaves = np.asarray(values)
            mlc = _MLC(kind[-1], edges, leaves[:pairs], leaves[pairs:])
    return jaws, mlc


def _field_size(
    jaws: dict[str, tuple[float, float]], mlc: _MLC | None
) -> tuple[float | None, float | None, float | None]:
    """Extent along x and y and open area of the aperture (MLC within the jaws)."""
    jx, jy = jaws.get("X"), jaws.get("Y")
    if mlc is None:
        if jx is None or jy is None:
            return None, None, None
        size_x, size_y = jx[1] - jx[0], jy[1] - jy[0]
        return size_x, size_y, max(size_x, 0.0) * max(size_y, 0.0)
    # Leaves move along ``mlc.axis``; the leaf pairs stack along the other axis.
    along = jaws.get(mlc.axis, (-np.inf, np.inf))
    across = jaws.get("Y" if mlc.axis == "X" else "X", (-np.inf, np.inf))
    low = np.clip(mlc.boundaries_mm[:-1], across[0], across[1])
    high = np.clip(mlc.boundaries_mm[1:], across[0], across[1])
    width = high - low
    start = np.maximum(mlc.bank_a_mm, along[0])
    stop = np.minimum(mlc.bank_b_mm, along[1])
    gap = np.clip(stop - start, 0.0, None)
    open_pairs = (gap > 0) & (width > 0)
    if not open_pairs.any():
        return 0.0, 0.0, 0.0
    extent_along = float(stop[open_pairs].max() - start[open_pairs].min())
    extent_across = float(high[open_pairs].max() - low[open_pairs].min())
    area = float(np.sum(gap * width))
    if mlc.axis == "X":
        return extent_along, extent_across, area
    return extent_across, extent_along, area


def _dose_reference(item: Dataset) -> DoseReference:
    number = _int(item, "DoseReferenceNumber", "dose reference")
    where = f"dose reference {number}"
    roi = item.get("ReferencedROINumber")
    return DoseReference(
        number=number,
        structure_type=_text(item, "DoseReferenceStructureType"),
        description=_text(item, "DoseReferenceDescription"),
        reference_type=_text(item, "DoseReferenceType"),
        target_prescription_dose_gy=_float(item, "TargetPrescriptionDose", where),
        referenced_roi_number=int(roi) if roi not in (None, "") else None,
        point_mm=_point(item, "DoseReferencePointCoordinates", where),
    )


def _text(item: Dataset, keyword: str) -> str | None:
    value = item.get(keyword)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(item: Dataset, keyword: str, where: str) -> int:
    value = item.get(keyword)
    if value in (None, ""):
        raise InvalidInputError("missing (type 1)", record=where, field=keyword)
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"{value!r} is not an integer", record=where, field=keyword) from (
            error
        )


def _float(item: Dataset, keyword: str, where: str) -> float | None:
    value = item.get(keyword)
    if value in (None, ""):
        return None
    if isinstance(value, Sequence) and not isinstance(value, str):
        value = value[0]
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"{value!r} is not a number", record=where, field=keyword) from (
            error
        )
    if not math.isfinite(number):
        raise InvalidInputError(f"{value!r} is not finite", record=where, field=keyword)
    return number


def _point(item: Dataset, keyword: str, where: str) -> tuple[float, float, float] | None:
    value = item.get(keyword)
    if value in (None, ""):
        return None
    try:
        x, y, z = (float(v) for v in value)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(
            f"{value!r} is not an (x, y, z) position", record=where, field=keyword
        ) from error
    if not all(math.isfinite(v) for v in (x, y, z)):
        raise InvalidInputError(f"{value!r} is not a finite position", record=where, field=keyword)
    return (x, y, z)
