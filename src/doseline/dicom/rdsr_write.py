"""Write an X-Ray Radiation Dose SR from a :class:`~doseline.dicom.report.DoseReport`.

DICOM PS3.16 TID 10001 Projection X-Ray Radiation Dose (TID 10002 Accumulated X-Ray Dose, one
container per plane; TID 10003 Irradiation Event X-Ray Data with TID 10003b X-Ray Filters) in the
X-Ray Radiation Dose SR IOD (PS3.3 A.35.8); CT (TID 10011) is not written. Codes come from
pydicom's PS3.16 tables (:mod:`pydicom.sr.codedict`), as :mod:`doseline.dicom.templates` reads
them. :class:`VendorConventions` selects what vendors write differently; each preset names the
file of ``shared/data/rdsr`` it copies (``imitates``).

Content items are made and encoded by :mod:`doseline.dicom.sr_encode` (pydicom writes the
header). Numbers are Decimal Strings of at most 16 characters (PS3.5 table 6.2-1) made by
:func:`ds_string`: the shortest text that reads back as the same float where it fits, else the
most significant digits that fit: at least 10 (relative error < 5e-10) for 1e-99 <= |x| < 1e100,
9 beyond (to 1e300). A value of at most 10 significant digits in the unit written round-trips.
"""

from __future__ import annotations

import os
import warnings
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO

from pydicom import dcmwrite
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.sr.coding import Code

from doseline.dicom import sr_encode as sr
from doseline.dicom.dates import AGE_PRECISION, AGE_UNIT_DAYS
from doseline.dicom.rdsr import X_RAY_RADIATION_DOSE_SR
from doseline.dicom.rdsr_presets import (
    CANON,
    DOSE_SOURCES,
    GE,
    PHILIPS,
    PHILIPS_XPER,
    PRESETS,
    SIEMENS,
    VendorConventions,
)
from doseline.dicom.report import (
    AccumulatedProjectionDose,
    DoseReport,
    PatientCharacteristics,
    ProjectionEvent,
    ReportKindValues,
    XRayFilter,
)
from doseline.dicom.sr_encode import (
    DCM,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    SCT,
    ContentBuilder,
    ds_string,
    name_uid,
)
from doseline.errors import DoselineWarning
from doseline.units import conversion_factor

__all__ = [
    "CANON",
    "EXPLICIT_VR_LITTLE_ENDIAN",
    "GE",
    "IMPLICIT_VR_LITTLE_ENDIAN",
    "PHILIPS",
    "PHILIPS_XPER",
    "PRESETS",
    "SIEMENS",
    "VendorConventions",
    "ds_string",
    "rdsr_dataset",
    "write_rdsr",
]


# Has Intent (CID 3629), by short name.
_INTENTS = {
    "diagnostic": SCT.DiagnosticIntent,
    "therapeutic": SCT.TherapeuticIntent,
    "combined": SCT.CombinedDiagnosticAndTherapeuticIntent,
}


# CID 4031, 4030 anatomic regions; 21, 19, 20 patient position; 10007 filter types; 10017 grids;
# 10016 anode materials; 10025 reference points.
_CODED_FIELDS = {
    "target_region": sr.codes_by_meaning(4031, 4030),
    "patient_table_relationship": sr.codes_by_meaning(21),
    "patient_orientation": sr.codes_by_meaning(19),
    "patient_orientation_modifier": sr.codes_by_meaning(20),
    "filter_type": sr.codes_by_meaning(10007),
    "xray_grid": sr.codes_by_meaning(10017),
    "anode_target_material": sr.codes_by_meaning(10016),
    "reference_point_definition": sr.codes_by_meaning(10025),
}
# SNOMED-RT "X or X compound" codes in vendors' reports (openrem/RF-No-kVp-and-others.dcm,
# RF-RDSR-Philips_Azurion.dcm), which no CID lists; the reader knows them (templates.py).
_LEGACY_MATERIALS = {
    "W": Code("C-164F9", "SRT", "Tungsten or Tungsten compound"),
    "Cu": Code("C-127F9", "SRT", "Copper or Copper compound"),
    "Al": Code("C-120F9", "SRT", "Aluminum or Aluminum compound"),
}
_VENDOR_CODES = {code.meaning.lower(): code for code in _LEGACY_MATERIALS.values()}
_PLANES = {"A": DCM.PlaneA, "B": DCM.PlaneB, "single": DCM.SinglePlane}
_EVENT_TYPES = {
    "fluoroscopy": SCT.Fluoroscopy,
    "stationary_acquisition": DCM.StationaryAcquisition,
    "stepping_acquisition": DCM.SteppingAcquisition,
    "rotational_acquisition": DCM.RotationalAcquisition,
}
_FLUORO_MODES = {"pulsed": DCM.Pulsed, "continuous": DCM.Continuous}
_MATERIALS = {
    "Cu": SCT.Copper,
    "Al": SCT.Aluminum,
    "Mo": SCT.Molybdenum,
    "Rh": SCT.Rhodium,
    "Ag": SCT.Silver,
    "Sn": SCT.Tin,
    "Ta": SCT.Tantalum,
    "Pb": SCT.Lead,
}


_Spec = tuple[tuple[str, str, str, str], ...]


def _nums_spec(text: str) -> _Spec:
    """NUM items as "concept-keyword attribute canonical-unit [unit-written]" entries separated
    by ";" or lines. The unit written is a unit code, or "kap", "kerma" or "exposure" for the
    vendor's unit of that quantity (default: the canonical unit)."""
    entries = [e.split() for line in text.strip().splitlines() for e in line.split(";")]
    return tuple((e[0], e[1], e[2], e[3] if len(e) > 3 else e[2]) for e in entries)


_PLANE_NUMS = _nums_spec("""
    DoseAreaProductTotal kap_gycm2 Gy.cm2 kap; DoseRPTotal air_kerma_rp_gy Gy kerma
    FluoroDoseAreaProductTotal fluoro_kap_gycm2 Gy.cm2 kap; TotalFluoroTime fluoro_time_s s
    FluoroDoseRPTotal fluoro_air_kerma_rp_gy Gy kerma
    AcquisitionDoseAreaProductTotal acquisition_kap_gycm2 Gy.cm2 kap
    AcquisitionDoseRPTotal acquisition_air_kerma_rp_gy Gy kerma
    TotalAcquisitionTime acquisition_time_s s; TotalNumberOfRadiographicFrames acquisition_frames 1
    DistanceSourceToReferencePoint distance_source_to_rp_mm mm""")
_EVENT_NUMS = _nums_spec("""
    DoseAreaProduct kap_gycm2 Gy.cm2 kap; DoseRP air_kerma_rp_gy Gy kerma
    PatientEquivalentThickness patient_equivalent_thickness_mm mm; HalfValueLayer hvl_mm mm
    PositionerPrimaryAngle primary_angle_deg deg; PositionerSecondaryAngle secondary_angle_deg deg
    PositionerPrimaryEndAngle primary_end_angle_deg deg; FocalSpotSize focal_spot_mm mm
    PositionerSecondaryEndAngle secondary_end_angle_deg deg; PulseWidth pulse_width_ms ms
    ColumnAngulation column_angulation_deg deg; CollimatedFieldArea collimated_field_area_cm2 cm2 m2
    CollimatedFieldHeight collimated_field_height_mm mm; ExposureTime exposure_time_ms ms
    CollimatedFieldWidth collimated_field_width_mm mm; Exposure exposure_mas mA.s exposure
    PulseRate pulse_rate_per_s /s {pulse}/s; NumberOfPulses number_of_pulses 1
    IrradiationDuration irradiation_duration_s s; XRayTubeCurrent tube_current_ma mA
    AverageXRayTubeCurrent average_tube_current_ma mA
    DistanceSourceToIsocenter distance_source_to_isocenter_mm mm
    DistanceSourceToDetector distance_source_to_detector_mm mm; KVP kvp kV
    DistanceSourceToReferencePoint distance_source_to_rp_mm mm
    DistanceSourceToTablePlane distance_source_to_table_plane_mm mm
    TableLongitudinalPosition table_longitudinal_position_mm mm
    TableLateralPosition table_lateral_position_mm mm
    TableHeightPosition table_height_position_mm mm
    TableHeadTiltAngle table_head_tilt_angle_deg deg
    TableHorizontalRotationAngle table_horizontal_rotation_angle_deg deg
    TableCradleTiltAngle table_cradle_tilt_angle_deg deg""")


class _Builder(ContentBuilder):
    """Makes the content items of one report with one vendor's conventions."""

    def __init__(self, conventions: VendorConventions) -> None:
        super().__init__(legacy_snomed=conventions.legacy_snomed)
        self.conventions = conventions
        self.record = "document"
        self.left_out: list[str] = []

    def lookup(self, field: str, meaning: str | None) -> Code | None:
        """The code of a coded field given by its meaning (the meaning is written as given)."""
        if meaning is None:
            return None
        code = _CODED_FIELDS[field].get(meaning.lower()) or _VENDOR_CODES.get(meaning.lower())
        if code is None:
            raise ValueError(
                f"{self.record}: {field}: no code known for {meaning!r} (doseline"
                " writes the meanings of the concept's PS3.16 context group)"
            )
        return Code(code.value, code.scheme_designator, meaning)

    def mapped(self, field: str, value: str | None, table: dict[str, Code]) -> Code | None:
        if value is not None and value not in table:  # an enumerated value of the reader
            raise ValueError(f"{self.record}: {field}: {value!r} is not one of {sorted(table)}")
        return None if value is None else table[value]

    def measured(
        self, concept: Code, value: float | None, canonical: str, unit: str
    ) -> sr.Item | None:
        """A NUM item of ``value`` (in unit ``canonical``), written in ``unit``."""
        if value is None or unit == canonical:
            return self.num(concept, value, unit)
        return self.num(concept, value * conversion_factor(canonical, unit), unit)

    def nums(self, obj: object, spec: _Spec) -> list[sr.Item | None]:
        """The NUM items of ``spec`` for the attributes of ``obj``."""
        c = self.conventions
        vendor = {"kap": c.kap_unit, "kerma": c.air_kerma_unit, "exposure": c.exposure_unit}
        return [
            self.measured(
                getattr(DCM, keyword), getattr(obj, name), canonical, vendor.get(unit, unit)
            )
            for keyword, name, canonical, unit in spec
        ]

    def reference_point(self, text: str | None) -> sr.Item | None:
        code = _CODED_FIELDS["reference_point_definition"].get((text or "").lower())
        if text is not None and self.conventions.reference_point_as_code and code is not None:
            return self.coded(
                DCM.ReferencePointDefinition, Code(code.value, code.scheme_designator, text)
            )
        return self.text(DCM.ReferencePointDefinition, text)


def _da(value: date | None) -> str:
    return "" if value is None else value.strftime("%Y%m%d")


def _age_string(patient: PatientCharacteristics) -> str:
    """Patient's Age (AS) of the age at exposure, in the unit of its precision (PS3.5)."""
    if (days := patient.age_at_exposure_days) is None:
        return ""
    letter = {v: k for k, v in AGE_PRECISION.items()}.get(patient.age_precision or "day", "D")
    size = AGE_UNIT_DAYS[letter]
    if letter == "D" and days > 999:
        letter = "W" if days / AGE_UNIT_DAYS["W"] <= 999 else "Y"
        size = AGE_UNIT_DAYS[letter]
    return f"{min(round(days / size), 999):03d}{letter}"


# -- projection X-ray (TID 10001) ---------------------------------------------------------


def _plane_container(b: _Builder, p: AccumulatedProjectionDose) -> sr.Item:
    calibration = None
    if p.kap_calibration_factor is not None or p.kap_calibration_uncertainty_percent is not None:
        calibration = b.container(
            DCM.Calibration,
            [
                b.num(DCM.CalibrationFactor, p.kap_calibration_factor, "1"),
                b.num(DCM.CalibrationUncertainty, p.kap_calibration_uncertainty_percent, "%"),
            ],
        )
    return b.container(
        DCM.AccumulatedXRayDoseData,
        [
            b.coded(DCM.AcquisitionPlane, b.mapped("plane", p.plane, _PLANES), "HAS CONCEPT MOD"),
            calibration,
            *b.nums(p, _PLANE_NUMS),
            b.reference_point(p.reference_point_definition),
        ],
    )


def _filters(b: _Builder, event: ProjectionEvent) -> list[sr.Item]:
    """X-Ray Filters containers: the event's filters, or flat filters of its copper and
    aluminium thicknesses where it lists none."""
    filters = list(event.filters)
    if not filters:
        for symbol, thickness in (("Cu", event.filter_cu_mm), ("Al", event.filter_al_mm)):
            if thickness is not None:
                filters.append(XRayFilter(symbol, "Flat filter", thickness, thickness))
    out = []
    for item in filters:
        material = b.mapped("filter material", item.material, _MATERIALS)
        if b.conventions.legacy_snomed and item.material in ("Cu", "Al"):
            material = _LEGACY_MATERIALS[str(item.material)]
        out.append(
            b.container(
                DCM.XRayFilters,
                [
                    b.coded(DCM.XRayFilterType, b.lookup("filter_type", item.filter_type)),
                    b.coded(DCM.XRayFilterMaterial, material),
                    b.num(DCM.XRayFilterThicknessMinimum, item.thickness_min_mm, "mm"),
                    b.num(DCM.XRayFilterThicknessMaximum, item.thickness_max_mm, "mm"),
                ],
            )
        )
    return out


def _siemens_comment(b: _Builder, event: ProjectionEvent) -> sr.Item | None:
    size = event.ii_field_size_mm
    if size is None or not b.conventions.siemens_comments:
        b.left_out.extend([] if size is None else [f"{b.record}: ii_field_size_mm"])
        return None
    text = repr(float(size))
    if size < 0 or "e" in text:
        raise ValueError(f"{b.record}: ii_field_size_mm: {size!r} is not a plain decimal")
    return b.text(DCM.Comment, f'<FluoroData><iiDiameter SRData="{text}"/></FluoroData>')


def _event_container(b: _Builder, e: ProjectionEvent) -> sr.Item:
    modifier = b.lookup("patient_orientation_modifier", e.patient_orientation_modifier)
    orientation = b.coded(
        DCM.PatientOrientation,
        b.lookup("patient_orientation", e.patient_orientation),
        children=[b.coded(DCM.PatientOrientationModifier, modifier, "HAS CONCEPT MOD")],
    )
    if orientation is None:  # a modifier alone, as Canon writes it
        orientation = b.coded(DCM.PatientOrientationModifier, modifier)
    return b.container(
        DCM.IrradiationEventXRayData,
        [
            b.coded(DCM.AcquisitionPlane, b.mapped("plane", e.plane, _PLANES), "HAS CONCEPT MOD"),
            b.text(DCM.IrradiationEventUID, e.event_uid, value_type="UIDREF"),
            b.when(DCM.DatetimeStarted, e.datetime_started),
            b.coded(DCM.IrradiationEventType, b.mapped("event_type", e.event_type, _EVENT_TYPES)),
            b.text(DCM.AcquisitionProtocol, e.protocol),
            b.coded(DCM.TargetRegion, b.lookup("target_region", e.target_region)),
            b.reference_point(e.reference_point_definition),
            *b.nums(e, _EVENT_NUMS),
            *_filters(b, e),
            b.coded(DCM.FluoroMode, b.mapped("fluoro_mode", e.fluoro_mode, _FLUORO_MODES)),
            b.coded(DCM.XRayGrid, b.lookup("xray_grid", e.xray_grid)),
            b.coded(
                DCM.AnodeTargetMaterial, b.lookup("anode_target_material", e.anode_target_material)
            ),
            b.coded(
                DCM.PatientTableRelationship,
                b.lookup("patient_table_relationship", e.patient_table_relationship),
            ),
            orientation,
            _siemens_comment(b, e),
        ],
    )


def _content(b: _Builder, report: DoseReport) -> list[sr.Item | None]:
    """The accumulated-dose containers (one per plane) and the irradiation events."""
    out: list[sr.Item | None] = [_plane_container(b, plane) for plane in report.planes]
    for i, event in enumerate(report.events):
        b.record = f"irradiation event {i + 1}"
        out.append(_event_container(b, event))
    return out


# -- document ---------------------------------------------------------------------------------


def rdsr_dataset(
    report: DoseReport,
    *,
    patient_name: str | None = None,
    conventions: VendorConventions = GE,
    intent: str | None = "combined",
) -> Dataset:
    """The X-Ray Radiation Dose SR of ``report`` as a pydicom dataset with its file meta.

    Made of :data:`~doseline.dicom.sr_encode.Item` trees by
    :func:`~doseline.dicom.sr_encode.to_sequence` (slow for a long report: use
    :func:`write_rdsr` to write a file).

    Parameters
    ----------
    report
        Written with its identifiers (UIDs, patient ID, accession number) as given. A missing
        Device Observer UID is made from the device names (``2.25`` root, PS3.5 B.2), missing
        manufacturer and model come from ``conventions``.
    patient_name
        Patient's Name (empty if ``None``). Pass synthetic names only.
    conventions
        The vendor conventions (see the presets).
    intent
        Has Intent of the procedure (CID 3629): ``diagnostic``, ``therapeutic``, ``combined``,
        or ``None`` to leave it out.

    Raises
    ------
    ValueError
        A value the document cannot carry (a meaning without a known code, an unknown plane or
        event type, NaN), a CT report, or a report without any date.
    """
    ds, content = _document(report, patient_name, conventions, intent)
    ds.ContentSequence = sr.to_sequence(content)
    return sr.mark_undefined_lengths(ds, conventions.undefined_length)


def _document(
    report: DoseReport, patient_name: str | None, conventions: VendorConventions, intent: str | None
) -> tuple[Dataset, tuple[sr.Item, ...]]:
    """The document of :func:`rdsr_dataset` without its Content Sequence, and the items of the
    Content Sequence (the last top-level element); warns of what was left out."""
    b = _Builder(conventions)
    if report.kind is not ReportKindValues.PROJECTION:
        raise ValueError(
            f"{report.source}: kind: doseline writes projection X-ray reports "
            f"(TID 10001), not {report.kind.value!r}"
        )
    device = report.device
    manufacturer = device.manufacturer or conventions.manufacturer
    model = device.model_name or conventions.model_name
    observer_uid = device.device_observer_uid or name_uid(
        manufacturer, model, device.serial_number or "", device.station_name or ""
    )
    dates = [
        report.content_datetime,
        report.end_of_xray_irradiation,
        *(e.datetime_started for e in reversed(report.events)),
    ]
    if report.study_date is not None:
        dates.append(datetime(*report.study_date.timetuple()[:3]))
    content_dt = next((d for d in dates if d is not None), None)
    if content_dt is None:
        raise ValueError(f"{report.source}: content_datetime: needed (the report has no date)")
    started = report.start_of_xray_irradiation or next(
        (e.datetime_started for e in report.events if e.datetime_started), content_dt
    )
    ds = sr.dataset(
        SpecificCharacterSet=conventions.character_set,
        SOPClassUID=X_RAY_RADIATION_DOSE_SR,
        SOPInstanceUID=report.sop_instance_uid,
        StudyDate=_da(report.study_date),
        StudyTime=started.strftime("%H%M%S"),
        ContentDate=content_dt.strftime("%Y%m%d"),
        ContentTime=content_dt.strftime("%H%M%S.%f"),
        AccessionNumber=report.accession_number or "",
        Modality="SR",
        Manufacturer=manufacturer,
        ReferringPhysicianName="",
        StationName=device.station_name or "",
        SeriesDescription="Radiation Dose Information",
        StudyDescription=report.study_description or "",
        ManufacturerModelName=model,
        ReferencedPerformedProcedureStepSequence=Sequence(),
        DeviceSerialNumber=device.serial_number or "",
        SoftwareVersions="doseline",
        StudyInstanceUID=report.study_instance_uid,
        SeriesInstanceUID=name_uid(report.sop_instance_uid, "series"),
        StudyID="",
        SeriesNumber=990,
        InstanceNumber=1,
        ValueType="CONTAINER",
        ConceptNameCodeSequence=sr.to_sequence([b.code(DCM.XRayRadiationDoseReport)]),
        ContinuityOfContent="SEPARATE",
        PerformedProcedureCodeSequence=Sequence(),
        CompletionFlag="COMPLETE",
        VerificationFlag="UNVERIFIED",
        ContentTemplateSequence=Sequence(
            [sr.dataset(MappingResource="DCMR", TemplateIdentifier="10001")]
        ),
    )
    _patient_module(ds, report.patient, patient_name)

    mammography = report.procedure_reported == "mammography"
    procedure, context = (SCT.Mammography if mammography else DCM.ProjectionXRay), "HAS OBS CONTEXT"
    root = [
        b.coded(
            DCM.ProcedureReported,
            procedure,
            "HAS CONCEPT MOD",
            [b.coded(SCT.HasIntent, b.mapped("intent", intent, _INTENTS), "HAS CONCEPT MOD")],
        ),
        b.coded(DCM.ObserverType, DCM.Device, context),
        b.text(DCM.DeviceObserverUID, observer_uid, context, "UIDREF"),
        b.text(DCM.DeviceObserverName, device.station_name, context),
        b.text(DCM.DeviceObserverManufacturer, manufacturer, context),
        b.text(DCM.DeviceObserverModelName, model, context),
        b.text(DCM.DeviceObserverSerialNumber, device.serial_number, context),
        b.when(DCM.StartOfXRayIrradiation, report.start_of_xray_irradiation, context),
        b.when(DCM.EndOfXRayIrradiation, report.end_of_xray_irradiation, context),
        b.coded(
            DCM.ScopeOfAccumulation,
            DCM.Study,
            context,
            [b.text(DCM.StudyInstanceUID, report.study_instance_uid, "HAS PROPERTIES", "UIDREF")],
        ),
        *_content(b, report),
        b.coded(DCM.SourceOfDoseInformation, DOSE_SOURCES[conventions.source_of_dose_information]),
    ]
    content = tuple(item for item in root if item is not None)
    if b.left_out:
        warnings.warn(
            f"{report.source}: not written (no place in the document): {'; '.join(b.left_out)}",
            DoselineWarning,
            stacklevel=3,
        )
    ds.file_meta = sr.file_meta(ds, conventions.transfer_syntax, "DOSELINE")
    return ds, content


def _patient_module(ds: Dataset, patient: PatientCharacteristics, name: str | None) -> None:
    """Patient and Patient Study modules (PS3.3 C.7.1.1, C.7.2.2); Patient's Size in m."""
    ds.PatientName = name or ""
    ds.PatientID = patient.patient_id or ""
    if patient.issuer_of_patient_id:
        ds.IssuerOfPatientID = patient.issuer_of_patient_id
    ds.PatientBirthDate = _da(patient.birth_date)
    ds.PatientSex = patient.sex or ""
    ds.PatientAge = _age_string(patient)
    if patient.height_cm is not None:
        ds.PatientSize = ds_string(patient.height_cm / 100.0)
    if patient.weight_kg is not None:
        ds.PatientWeight = ds_string(patient.weight_kg)


def write_rdsr(
    report: DoseReport,
    path_or_buffer: str | os.PathLike[str] | BinaryIO,
    *,
    patient_name: str | None = None,
    conventions: VendorConventions = GE,
    intent: str | None = "combined",
    engine: str = "direct",
) -> None:
    """Write ``report`` as a DICOM file (PS3.10) with the parameters of :func:`rdsr_dataset`.

    A field with no place in the document (the image-intensifier size without Siemens comments)
    is left out with a :class:`~doseline.errors.DoselineWarning`.

    Parameters
    ----------
    engine
        ``direct``: pydicom writes the header, :mod:`doseline.dicom.sr_encode` the Content
        Sequence (some 30 times faster); ``pydicom``: pydicom writes the whole
        :func:`rdsr_dataset`. The bytes are the same.
    """
    if engine not in ("direct", "pydicom"):
        raise ValueError(f"engine must be 'direct' or 'pydicom', not {engine!r}")
    header, content = _document(report, patient_name, conventions, intent)
    undefined = conventions.undefined_length
    if engine == "pydicom":
        header.ContentSequence = sr.to_sequence(content)
        dataset = sr.mark_undefined_lengths(header, undefined)
        dcmwrite(path_or_buffer, dataset, enforce_file_format=True)
        return
    header = sr.mark_undefined_lengths(header, undefined)
    data = sr.file_bytes(header, (sr.CONTENT_SEQUENCE, "SQ", content), undefined_length=undefined)
    if isinstance(path_or_buffer, str | os.PathLike):
        Path(path_or_buffer).write_bytes(data)
    else:
        path_or_buffer.write(data)
