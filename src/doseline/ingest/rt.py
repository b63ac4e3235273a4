"""Ingest DICOM-RT objects: RT (Ion) Plan, RT Dose, RT Structure Set and the planning CT.

:func:`parse_rt_bytes` (run in the ingest workers, no database) reads one object and lays it out
as pseudonymised rows exactly as the dose reports are (:mod:`doseline.ingest.prepare`): the
patient ID becomes the keyed pseudonym, every UID a ``2.25.<n>`` pseudonym, dates become ages
in days (and a per-patient shifted date where the deployment keeps them); names, free-text plan
names and operators are not taken. :func:`doseline.ingest.rt_store.store_rt_file` writes it
in one savepoint: a file is stored whole or not at all, re-importing it is a no-op, and the same
UID with other content is a conflict.

A course is the set of RT objects of one patient's Study Instance UID; it is one ``exposure``
row (modality ``RT``, see :mod:`doseline.registry.radiotherapy`). Objects are linked by their
referenced UIDs; at storage, objects that refer to each other must share the Frame of Reference
UID and the patient (:class:`~doseline.dicom.rt_common.FrameOfReferenceMismatchError`).

Planning CT images are only kept as the CT of a structure set: an image whose series no stored
structure set references waits until the end of the ingest run, and is then rejected as "not a
dose report" if still unreferenced (a diagnostic CT is not radiotherapy data).
"""

from __future__ import annotations

import io
import itertools
import json
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from doseline.dicom.dates import parse_da
from doseline.dicom.rt_common import (
    RT_DOSE_STORAGE,
    RT_PLAN_STORAGE,
    RT_STRUCTURE_SET_STORAGE,
    FrameOfReferenceMismatchError,
    MissingAttributeError,
    optional_float,
    quiet_pydicom,
)
from doseline.dicom.rt_dose import dose_grid_geometry
from doseline.dicom.rt_plan import RT_ION_PLAN_STORAGE, Beam, RTPlan, plan_from_dataset
from doseline.dosimetry.rt.nomenclature import NameMapping, load_name_mapping
from doseline.errors import InvalidInputError, MalformedDicomError
from doseline.ingest.options import IngestOptions
from doseline.registry.pseudonym import Pseudonymiser

__all__ = ["CT_IMAGE_STORAGE", "RT_SOP_CLASSES", "PreparedRTObject", "parse_rt_bytes"]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
"""SOP Class UID of CT Image Storage (DICOM PS3.4, table B.5-1)."""
RT_SOP_CLASSES = {
    RT_PLAN_STORAGE: "plan",
    RT_ION_PLAN_STORAGE: "plan",
    RT_DOSE_STORAGE: "dose",
    RT_STRUCTURE_SET_STORAGE: "structure_set",
    CT_IMAGE_STORAGE: "image",
}


_NOT_CONTENT = frozenset({"source", "shifted_date", "warnings", "content_hash", "row"})


@dataclass
class PreparedRTObject:
    """One pseudonymised DICOM-RT object, ready for :func:`store_rt_file`.

    ``row`` is the object's row in its table (without ``course_id``); ``children`` the beams of
    a plan or the ROIs of a structure set; ``references`` the pseudonymised UIDs it refers to.
    """

    source: str
    kind: str
    sop_instance_uid: str
    study_uid: str
    frame_of_reference_uid: str | None
    patient: dict[str, Any]
    age_days: int | None
    shifted_date: datetime | None
    row: dict[str, Any]
    children: list[dict[str, Any]] = field(default_factory=list)
    content_hash: str = ""
    warnings: list[str] = field(default_factory=list)


@lru_cache(maxsize=4)
def _mapping(extra: str | None) -> NameMapping:
    return load_name_mapping(extra)


def parse_rt_bytes(
    data: bytes,
    source: str,
    pseudonymiser: Pseudonymiser,
    options: IngestOptions | None = None,
    *,
    names: str | None = None,
) -> PreparedRTObject | None:
    """Read one DICOM-RT object and pseudonymise it; ``None`` if it is not an RT object.

    ``names`` is an extra TG-263 mapping CSV (default: ``DOSELINE_RT_NAME_MAP``).

    Raises
    ------
    InvalidInputError
        If the object lacks what the registry needs (naming file, record and field).
    """
    try:
        with quiet_pydicom():
            dataset = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
            sop_class = str(dataset.get("SOPClassUID", "") or "").strip()
    except Exception:
        return None
    kind = RT_SOP_CLASSES.get(sop_class)
    if kind is None:
        return None
    options = options or IngestOptions()
    try:
        with quiet_pydicom():
            prepared = _prepare(dataset, kind, source, pseudonymiser, options=options, names=names)
    except InvalidInputError as error:
        if kind == "image":  # a CT image that cannot be a planning CT is not RT data
            return None
        raise error.with_source(source) from None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as error:
        if kind == "image":
            return None
        raise MalformedDicomError(f"unreadable {kind} ({error})", source=source) from error
    # The content as stored, less what depends on settings or on where the file was read.
    content = {
        **{k: v for k, v in vars(prepared).items() if k not in _NOT_CONTENT},
        "row": {k: v for k, v in prepared.row.items() if k != "shifted_date"},
    }
    prepared.content_hash = pseudonymiser.text(
        json.dumps(content, sort_keys=True, default=str), "content"
    )
    return prepared


def _prepare(
    dataset: Dataset,
    kind: str,
    source: str,
    pseudonymiser: Pseudonymiser,
    *,
    options: IngestOptions,
    names: str | None,
) -> PreparedRTObject:
    patient_id = _text(dataset, "PatientID")
    if not patient_id:
        raise InvalidInputError(
            "no patient identifier: the object cannot be linked to a patient", field="PatientID"
        )
    for keyword in ("SOPInstanceUID", "StudyInstanceUID"):
        if not _text(dataset, keyword):
            raise MissingAttributeError("required attribute missing or empty", field=keyword)
    issuer = _text(dataset, "IssuerOfPatientID") if options.link_by_issuer else None
    pseudonym = pseudonymiser.patient(patient_id, issuer)
    birth = parse_da(dataset.get("PatientBirthDate"))
    sex = _text(dataset, "PatientSex")
    plan = plan_from_dataset(dataset, source) if kind == "plan" else None
    when = plan.plan_date if plan else parse_da(dataset.get("StudyDate"))
    shifted = None
    if options.store_shifted_dates and when is not None:
        shift = pseudonymiser.date_shift_days(pseudonym, options.date_shift_max_days)
        shifted = datetime.combine(when, datetime.min.time()) + timedelta(shift)
    warnings_: list[str] = []
    age = (when - birth).days if when and birth else None
    if kind == "plan" and age is None:
        warnings_.append(f"{source}: patient: age at plan unknown (no birth date or plan date)")
    prepared = PreparedRTObject(
        source=source,
        kind=kind,
        sop_instance_uid=pseudonymiser.uid(str(dataset.SOPInstanceUID)),
        study_uid=pseudonymiser.uid(str(dataset.StudyInstanceUID)),
        frame_of_reference_uid=_uid(pseudonymiser, _text(dataset, "FrameOfReferenceUID")),
        patient={
            "pseudonym": pseudonym,
            "sex": sex if sex in {"M", "F", "O"} else None,
            "birth_year": birth.year if birth else None,
            "birth_month": birth.month if birth else None,
        },
        age_days=age,
        shifted_date=shifted,
        row={},
        warnings=warnings_,
    )
    if plan is not None:
        _plan_rows(prepared, plan, pseudonymiser)
    elif kind == "dose":
        _dose_row(prepared, dataset, pseudonymiser)
    elif kind == "structure_set":
        _structure_rows(prepared, dataset, pseudonymiser, _mapping(names))
    else:
        _image_row(prepared, dataset, pseudonymiser)
    return prepared


def _plan_rows(prepared: PreparedRTObject, plan: RTPlan, pseudonymiser: Pseudonymiser) -> None:
    prepared.row = {
        "referenced_structure_set_uid": _uid(pseudonymiser, plan.referenced_structure_set_uid),
        "plan_label": plan.plan_label[:16],
        "plan_geometry": plan.plan_geometry,
        "approval_status": plan.approval_status,
        "is_ion": plan.is_ion,
        "radiation_types": ",".join(plan.radiation_types),
        "fractions_planned": plan.fractions_planned,
        "prescription_dose_gy": plan.prescription_dose_gy,
        "age_at_plan_days": prepared.age_days,
        "shifted_date": prepared.shifted_date,
        "device_manufacturer": (plan.manufacturer or "")[:64] or None,
        "device_model": (plan.model_name or "")[:64] or None,
        "dose_references": [
            {
                "number": ref.number,
                "type": ref.reference_type,
                "structure_type": ref.structure_type,
                # to the microgray: long decimals in text look like phone numbers to audit-phi
                "target_prescription_dose_gy": _round(ref.target_prescription_dose_gy),
                "referenced_roi_number": ref.referenced_roi_number,
            }
            for ref in plan.dose_references
        ],
    }
    prepared.children.extend(_beam_row(beam, plan) for beam in plan.beams)


def _beam_row(beam: Beam, plan: RTPlan) -> dict[str, Any]:
    """The ``rt_beam`` row of one beam; fractions, meterset and dose per fraction from the
    first fraction group that delivers it."""
    group = next((g for g in plan.fraction_groups if beam.number in g.beam_numbers), None)
    iso = beam.isocentre_mm or (None, None, None)
    return {
        "beam_number": beam.number,
        "beam_label": (beam.name or "")[:64] or None,
        "radiation_type": beam.radiation_type,
        "beam_type": beam.beam_type,
        "treatment_delivery_type": beam.treatment_delivery_type,
        "scan_mode": beam.scan_mode,
        "technique": beam.technique,
        "high_dose_technique": beam.high_dose_technique,
        "nominal_energy_mev": beam.nominal_energy_mev,
        "gantry_angle_deg": beam.gantry_angle_deg,
        "collimator_angle_deg": beam.collimator_angle_deg,
        "couch_angle_deg": beam.couch_angle_deg,
        "isocentre_x_mm": iso[0],
        "isocentre_y_mm": iso[1],
        "isocentre_z_mm": iso[2],
        "source_axis_distance_mm": beam.source_axis_distance_mm,
        "field_size_x_mm": beam.field_size_x_mm,
        "field_size_y_mm": beam.field_size_y_mm,
        "field_area_mm2": beam.field_area_mm2,
        "number_of_control_points": beam.number_of_control_points,
        "fractions": group.fractions_planned if group else None,
        "meterset_per_fraction": group.beam_meterset.get(beam.number) if group else None,
        "dose_per_fraction_gy": group.beam_dose_gy.get(beam.number) if group else None,
    }


def _dose_row(prepared: PreparedRTObject, dataset: Dataset, pseudonymiser: Pseudonymiser) -> None:
    scaling = optional_float(dataset, "DoseGridScaling", prepared.source)
    if scaling is None or scaling <= 0:
        raise MissingAttributeError(
            "no positive Dose Grid Scaling: the stored values cannot be turned into dose",
            field="DoseGridScaling",
        )
    if not prepared.frame_of_reference_uid:  # Type 1 in RT Dose (PS3.3 C.7.4.1), as the reader
        raise MissingAttributeError(
            "the dose grid has no frame of reference", field="FrameOfReferenceUID"
        )
    # The same geometry checks as the reader (offsets per frame, spacing, orientation).
    geometry = dose_grid_geometry(dataset, prepared.source)
    spacing = geometry.pixel_spacing_mm
    origin = [float(v) for v in geometry.image_position_mm]
    frames, rows, columns = geometry.shape
    steps = {round(float(b - a), 4) for a, b in itertools.pairwise(geometry.frame_offsets_mm)}
    plans = dataset.get("ReferencedRTPlanSequence") or []
    prepared.row = {
        "referenced_plan_uid": _uid(
            pseudonymiser, _text(plans[0], "ReferencedSOPInstanceUID") if plans else None
        ),
        "dose_units": _text(dataset, "DoseUnits") or "",
        "dose_type": _text(dataset, "DoseType") or "",
        "summation_type": _text(dataset, "DoseSummationType") or "",
        "columns": columns,
        "rows": rows,
        "frames": frames,
        # PixelSpacing is (row spacing = along y, column spacing = along x), PS3.3 C.7.6.2.1.1.
        "pixel_spacing_x_mm": spacing[1],
        "pixel_spacing_y_mm": spacing[0],
        "frame_spacing_mm": abs(steps.pop()) if len(steps) == 1 else None,
        "origin_x_mm": origin[0],
        "origin_y_mm": origin[1],
        "origin_z_mm": origin[2],
        "dose_grid_scaling": scaling,
        "storage_uri": None,
    }
    if not prepared.row["referenced_plan_uid"]:
        prepared.warnings.append(f"{prepared.source}: RT Dose references no RT Plan")


def _structure_rows(
    prepared: PreparedRTObject,
    dataset: Dataset,
    pseudonymiser: Pseudonymiser,
    mapping: NameMapping,
) -> None:
    frames = dataset.get("ReferencedFrameOfReferenceSequence") or []
    listed = {_text(f, "FrameOfReferenceUID") for f in frames} - {None}
    series = None
    for frame in frames:
        for study in frame.get("RTReferencedStudySequence") or []:
            for item in study.get("RTReferencedSeriesSequence") or []:
                series = series or _text(item, "SeriesInstanceUID")
    types = {
        int(obs.ReferencedROINumber): _text(obs, "RTROIInterpretedType")
        for obs in dataset.get("RTROIObservationsSequence") or []
    }
    contours = {
        int(item.ReferencedROINumber): len(item.get("ContourSequence") or [])
        for item in dataset.get("ROIContourSequence") or []
    }
    frame_uids = set()
    for roi in dataset.get("StructureSetROISequence") or []:
        number = int(roi.ROINumber)
        name = _text(roi, "ROIName") or f"ROI {number}"
        roi_frame = _text(roi, "ReferencedFrameOfReferenceUID")
        if roi_frame and listed and roi_frame not in listed:
            raise FrameOfReferenceMismatchError(
                "the ROI's frame of reference is not one the structure set lists",
                record=f"ROI {number} ({name})",
                field="ReferencedFrameOfReferenceUID",
            )
        frame_uids.add(roi_frame)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mapped = mapping.lookup(name, types.get(number))
        prepared.warnings.extend(f"{prepared.source}: {w.message}" for w in caught)
        prepared.children.append(
            {
                "roi_number": number,
                "roi_label": name[:64],
                "interpreted_type": types.get(number),
                "tg263_term": mapped.tg263_name,
                "organ": mapped.dose_organ,
                "number_of_contours": contours.get(number, 0),
                "volume_cm3": None,
            }
        )
    frame = next(iter(listed), None) or next(iter(frame_uids - {None}), None)
    prepared.frame_of_reference_uid = _uid(pseudonymiser, frame)
    prepared.row = {
        "referenced_series_uid": _uid(pseudonymiser, series),
        "number_of_rois": len(prepared.children),
    }


def _image_row(prepared: PreparedRTObject, dataset: Dataset, pseudonymiser: Pseudonymiser) -> None:
    spacing: list[float | None] = [float(v) for v in dataset.get("PixelSpacing") or []]
    position: list[float | None] = [float(v) for v in dataset.get("ImagePositionPatient") or []]
    spacing = spacing if len(spacing) == 2 else [None, None]
    position = position if len(position) == 3 else [None, None, None]
    series = _text(dataset, "SeriesInstanceUID")
    if not series:
        raise MissingAttributeError("required attribute missing", field="SeriesInstanceUID")
    prepared.row = {
        "study_uid": prepared.study_uid,
        "series_uid": pseudonymiser.uid(series),
        "rows": int(dataset.get("Rows") or 0),
        "columns": int(dataset.get("Columns") or 0),
        "pixel_spacing_x_mm": spacing[1],
        "pixel_spacing_y_mm": spacing[0],
        "position_x_mm": position[0],
        "position_y_mm": position[1],
        "position_z_mm": position[2],
        "slice_thickness_mm": optional_float(dataset, "SliceThickness", prepared.source),
    }


def _text(item: Dataset, keyword: str) -> str | None:
    value = item.get(keyword)
    text = str(value).strip(" \x00") if value is not None else ""
    return text or None


def _round(value: float | None) -> float | None:
    return round(value, 6) if value is not None else None


def _uid(pseudonymiser: Pseudonymiser, uid: str | None) -> str | None:
    return pseudonymiser.uid(uid) if uid else None
