"""Read an X-Ray Radiation Dose SR (TID 10001 projection X-ray, TID 10011 CT) into a
:class:`~doseline.dicom.report.DoseReport`.

The header (patient, study, equipment) is read by pydicom, which stops at the Content Sequence;
the content tree is read by the compiled scanner of :mod:`doseline.dicom._scan` for the little-
endian transfer syntaxes and by pydicom otherwise. Decoding is lenient where the standard allows
vendors latitude and strict where a value would otherwise be misread: a value with a missing or
unknown unit, or an impossible value, rejects the file (``strict=True``, the default) or is left
out with a warning (``strict=False``).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import pydicom
from pydicom.uid import UID

from doseline.dicom import templates as tpl
from doseline.dicom.content import (
    ContentTree,
    code_key,
    content_tree_from_bytes,
    content_tree_from_dataset,
)
from doseline.dicom.dates import age_string_days, parse_da, parse_dt
from doseline.dicom.header import ReportHeader, read_header
from doseline.dicom.records import RecordTable, RecordType, extract_records
from doseline.dicom.report import (
    AccumulatedProjectionDose,
    CTEvent,
    CTSource,
    DeviceIdentity,
    DoseReport,
    PatientCharacteristics,
    ProjectionEvent,
    ReportKindValues,
    XRayFilter,
)
from doseline.dicom.vendor import philips_collimated_field_mm, siemens_comment_fields
from doseline.errors import (
    ImplausibleValueError,
    InvalidInputError,
    MalformedDicomError,
    NotADoseReportError,
)
from doseline.plausibility import check_value, violations

__all__ = ["X_RAY_RADIATION_DOSE_SR", "read_rdsr", "read_rdsr_bytes"]

X_RAY_RADIATION_DOSE_SR = UID("1.2.840.10008.5.1.4.1.1.88.67")
# SR storage classes that may carry an X-Ray Radiation Dose Report root (vendors have sent
# TID 10001 content as Enhanced or Comprehensive SR): PS3.4 annex B.5.
_SR_STORAGE_CLASSES = frozenset(
    {
        X_RAY_RADIATION_DOSE_SR,
        "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
        "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
        "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
        "1.2.840.10008.5.1.4.1.1.88.76",  # Enhanced X-Ray Radiation Dose SR
    }
)
_TEMPLATE_KINDS = {"10001": ReportKindValues.PROJECTION, "10011": ReportKindValues.CT}
_FAST_TRANSFER_SYNTAXES = frozenset(
    {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}  # implicit and explicit VR little endian
)
_T = TypeVar("_T")
_ROOT_KEY = tpl.key(tpl.DCM.XRayRadiationDoseReport)
# Event fields computed here rather than read (their sources were checked as read).
_DERIVED_EVENT_FIELDS = (
    "filter_cu_mm",
    "filter_al_mm",
    "collimated_field_area_cm2",
    "collimated_field_height_mm",
    "collimated_field_width_mm",
)


def read_rdsr(
    path: str | os.PathLike[str], *, strict: bool = True, engine: str = "compiled"
) -> DoseReport:
    """Read the dose report in ``path``.

    Parameters
    ----------
    path
        The DICOM file.
    strict
        Reject values with missing or unknown units and impossible values (default), or leave
        them out with a warning.
    engine
        "compiled" (default) reads the content tree with doseline's compiled scanner;
        "pydicom" walks pydicom's datasets instead (slower; the reference implementation).

    Raises
    ------
    MalformedDicomError
        The file is not readable DICOM (truncated, corrupt).
    NotADoseReportError
        Readable DICOM, but not an X-Ray Radiation Dose SR of TID 10001 or 10011.
    UnitError, ImplausibleValueError
        A value cannot be trusted (``strict=True``).
    """
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise InvalidInputError(f"cannot read the file: {error.strerror}", source=source) from error
    return read_rdsr_bytes(data, source=source, strict=strict, engine=engine)


def read_rdsr_bytes(
    data: bytes, *, source: str = "<bytes>", strict: bool = True, engine: str = "compiled"
) -> DoseReport:
    """Read a dose report from the bytes of a DICOM file (see :func:`read_rdsr`)."""
    if engine not in ("compiled", "pydicom"):
        raise ValueError(f"engine must be 'compiled' or 'pydicom', not {engine!r}")
    try:
        return _Reader(data, source, strict, engine == "compiled").read()
    except InvalidInputError as error:
        raise error.with_source(source) from None


class _Reader:
    """One pass over one file; holds the warnings collected on the way."""

    def __init__(self, data: bytes, source: str, strict: bool, compiled: bool) -> None:
        self.data = data
        self.source = source
        self.strict = strict
        self.compiled = compiled
        self.warnings: list[str] = []

    # -- reading --------------------------------------------------------------------------

    def read(self) -> DoseReport:
        header = read_header(self.data)
        self.warnings.extend(header.warnings)
        kind, template_id = self._classify(header)
        tree = self._content_tree(header)
        root = self._records(tree, tpl.ROOT)
        procedure = _str_or_none(_first(root, "procedure_reported"))
        if template_id is None:
            kind = _kind_from_procedure(procedure, self.source)
        report = DoseReport(
            source=self.source,
            sop_class_uid=header.sop_class_uid or "",
            sop_instance_uid=_required(header.sop_instance_uid, "SOPInstanceUID"),
            study_instance_uid=_required(header.study_instance_uid, "StudyInstanceUID"),
            accession_number=header.accession_number,
            kind=kind,
            template_id=template_id,
            procedure_reported=procedure,
            study_date=parse_da(header.study_date) or parse_da(header.content_date),
            content_datetime=parse_dt(f"{header.content_date or ''}{header.content_time or ''}"),
            modality_type=None,
            study_description=header.study_description,
            patient=self._patient(header),
            device=_device(header, root),
            start_of_xray_irradiation=parse_dt(_first(root, "start_of_xray_irradiation")),
            end_of_xray_irradiation=parse_dt(_first(root, "end_of_xray_irradiation")),
        )
        if kind is ReportKindValues.PROJECTION:
            report = replace(
                report,
                planes=self._planes(tree),
                events=self._projection_events(tree, _str_or_none(_first(root, "comment"))),
            )
        else:
            accumulated = self._records(tree, tpl.CT_ACCUMULATED)
            report = replace(
                report,
                ct_events=self._ct_events(tree),
                ct_dlp_total_mgycm=_float_or_none(_first(accumulated, "dlp_mgycm")),
                ct_number_of_events=_float_or_none(_first(accumulated, "number_of_events")),
            )
        if report.study_date is None and report.events and report.events[0].datetime_started:
            report = replace(report, study_date=report.events[0].datetime_started.date())
        return replace(report, modality_type=_modality_type(report), warnings=tuple(self.warnings))

    def _classify(self, header: ReportHeader) -> tuple[ReportKindValues, str | None]:
        sop_class = header.sop_class_uid or ""
        if sop_class not in _SR_STORAGE_CLASSES:
            name = UID(sop_class).name if sop_class else "no SOP Class UID"
            raise NotADoseReportError(
                f"not an X-Ray Radiation Dose SR (SOP Class: {name})", field="SOPClassUID"
            )
        root_code = header.document_title
        if root_code is None or code_key(root_code) != _ROOT_KEY:
            meaning = (
                f"'{root_code.meaning}' ({root_code.scheme} {root_code.value})"
                if root_code
                else "no document title"
            )
            raise NotADoseReportError(
                f"a structured report of another kind: {meaning}; doseline reads the X-Ray "
                "Radiation Dose Report (DCM 113701) of TID 10001 and TID 10011",
                field="ConceptNameCodeSequence",
            )
        template_id = header.template_id
        if template_id is not None and template_id not in _TEMPLATE_KINDS:
            raise NotADoseReportError(
                f"a dose report of template TID {template_id}; doseline reads TID 10001 "
                "(projection X-ray) and TID 10011 (CT)",
                field="TemplateIdentifier",
            )
        kind = _TEMPLATE_KINDS.get(template_id or "", ReportKindValues.PROJECTION)
        return kind, template_id

    def _content_tree(self, header: ReportHeader) -> ContentTree:
        if header.content_start >= len(self.data):
            raise NotADoseReportError("the report has no content (no Content Sequence)")
        assert header.document_title is not None
        if self.compiled and header.transfer_syntax_uid in _FAST_TRANSFER_SYNTAXES:
            return content_tree_from_bytes(
                self.data,
                header.content_start,
                implicit_vr=header.transfer_syntax_uid == "1.2.840.10008.1.2",
                encodings=header.encodings,
                root_concept=header.document_title,
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the header pass reported them already
            try:
                return content_tree_from_dataset(pydicom.dcmread(io.BytesIO(self.data)))
            # As in doseline.dicom.header: pydicom raises many types on corrupt input.
            except Exception as error:
                raise MalformedDicomError(f"unreadable content ({error})") from error

    def _records(self, tree: ContentTree, record_type: RecordType) -> RecordTable:
        table = extract_records(
            tree,
            record_type,
            event_concepts=tpl.EVENT_CONCEPTS,
            source=self.source,
            strict_units=self.strict,
            warnings=self.warnings,
        )
        for name, column in table.columns.items():
            if column.dtype.kind == "f":
                self._check_column(table, name, column)
        return table

    # -- checks ---------------------------------------------------------------------------

    def _check_column(self, table: RecordTable, name: str, column: np.ndarray) -> None:
        """Apply the plausibility limits to a column: refuse the file, or drop the values with
        a warning (values whose limit says "drop", and every value in lenient mode)."""
        bad = violations(name, column)
        for i in np.flatnonzero(bad).tolist():
            self._drop_or_raise(name, float(column[i]), table.record_name(i))
            column[i] = np.nan

    def _drop_or_raise(self, name: str, value: float, record: str) -> None:
        try:
            check_value(name, value, source=self.source, record=record)
        except ImplausibleValueError as error:
            if self.strict and error.reject:
                raise
            self.warnings.append(f"{error} (value left out)")

    def _checked(
        self, values: dict[str, object], record: str, names: tuple[str, ...] | None = None
    ) -> dict[str, object]:
        """:meth:`_check_column` for single values (all of ``values``, or only ``names``)."""
        for name in names or tuple(values):
            value = values[name]
            if isinstance(value, float | int):
                try:
                    check_value(name, float(value))
                except ImplausibleValueError:
                    self._drop_or_raise(name, float(value), record)
                    values[name] = None
        return values

    # -- sections -------------------------------------------------------------------------

    def _patient(self, header: ReportHeader) -> PatientCharacteristics:
        birth = parse_da(header.patient_birth_date)
        study = parse_da(header.study_date) or parse_da(header.content_date)
        age_days: int | None = None
        precision: str | None = None
        if birth and study:
            age_days, precision = (study - birth).days, "day"
        else:
            from_age_string = age_string_days(header.patient_age)
            if from_age_string:
                age_days, precision = from_age_string
        weight = _float(header.patient_weight)
        size_m = _float(header.patient_size)
        values = self._checked(
            {
                "weight_kg": weight,
                "height_cm": None if size_m is None else size_m * 100.0,
                "age_at_exposure_days": age_days,
            },
            "patient",
        )
        sex = header.patient_sex
        return PatientCharacteristics(
            patient_id=header.patient_id,
            issuer_of_patient_id=header.issuer_of_patient_id,
            sex=sex.upper() if sex and sex.upper() in ("M", "F", "O") else None,
            birth_date=birth,
            age_at_exposure_days=_int_or_none(values["age_at_exposure_days"]),
            age_precision=precision if values["age_at_exposure_days"] is not None else None,
            weight_kg=_float_or_none(values["weight_kg"]),
            height_cm=_float_or_none(values["height_cm"]),
        )

    def _planes(self, tree: ContentTree) -> tuple[AccumulatedProjectionDose, ...]:
        planes = []
        for values in self._records(tree, tpl.PROJECTION_ACCUMULATED).as_dicts():
            values["plane"] = values.get("plane") or "single"
            planes.append(AccumulatedProjectionDose(**values))  # type: ignore[arg-type]
        return tuple(planes)

    def _projection_events(
        self, tree: ContentTree, document_comment: str | None
    ) -> tuple[ProjectionEvent, ...]:
        events = self._records(tree, tpl.PROJECTION_EVENT)
        filters = _grouped(self._records(tree, tpl.PROJECTION_FILTER), events, _filter)
        shutters = _grouped(self._records(tree, tpl.PHILIPS_SHUTTERS), events, dict)
        out = []
        for i, values in enumerate(events.as_dicts()):
            values["datetime_started"] = parse_dt(values["datetime_started"])
            event_filters = tuple(filters.get(i, []))
            values["filters"] = event_filters
            values["filter_cu_mm"] = _filter_sum(event_filters, "Cu")
            values["filter_al_mm"] = _filter_sum(event_filters, "Al")
            _apply_vendor_conventions(values, shutters.get(i, []), document_comment)
            self._checked(values, events.record_name(i), _DERIVED_EVENT_FIELDS)
            out.append(ProjectionEvent(**values))  # type: ignore[arg-type]
        return tuple(out)

    def _ct_events(self, tree: ContentTree) -> tuple[CTEvent, ...]:
        events = self._records(tree, tpl.CT_EVENT)
        sources = _grouped(self._records(tree, tpl.CT_SOURCE), events, _ct_source)
        out = []
        for i, values in enumerate(events.as_dicts()):
            values.pop("comment")
            values["sources"] = tuple(sources.get(i, ()))
            out.append(CTEvent(**values))  # type: ignore[arg-type]
        return tuple(out)


# -- helpers ------------------------------------------------------------------------------


def _first(table: RecordTable, name: str) -> object:
    """The value of field ``name`` in the first record (``None`` if there is none)."""
    if len(table) == 0:
        return None
    value = table.columns[name][0]
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    return value


def _grouped(
    sub: RecordTable, events: RecordTable, make: Callable[[dict[str, object]], _T]
) -> dict[int, list[_T]]:
    """Sub-records (filters, sources) by the ordinal of the event holding them."""
    position = {row: i for i, row in enumerate(events.rows.tolist())}
    grouped: dict[int, list[_T]] = {}
    for event_row, values in zip(sub.event.tolist(), sub.as_dicts(), strict=True):
        if event_row in position:
            grouped.setdefault(position[event_row], []).append(make(values))
    return grouped


def _filter(values: dict[str, object]) -> XRayFilter:
    return XRayFilter(
        material=tpl.filter_material_symbol(_str_or_none(values["material"])),
        filter_type=_str_or_none(values["filter_type"]),
        thickness_min_mm=_float_or_none(values["thickness_min_mm"]),
        thickness_max_mm=_float_or_none(values["thickness_max_mm"]),
    )


def _ct_source(values: dict[str, object]) -> CTSource:
    return CTSource(
        source_id=_str_or_none(values["source_id"]),
        kvp=_float_or_none(values["kvp"]),
        max_tube_current_ma=_float_or_none(values["max_tube_current_ma"]),
        tube_current_ma=_float_or_none(values["tube_current_ma"]),
        exposure_time_per_rotation_s=_float_or_none(values["exposure_time_per_rotation_s"]),
    )


def _filter_sum(filters: tuple[XRayFilter, ...], material: str) -> float | None:
    """Total thickness of the filters of one material (filters in a beam add up)."""
    thicknesses = [f.thickness_mm for f in filters if f.material == material]
    present = [t for t in thicknesses if t is not None]
    return sum(present) if present else (0.0 if filters and not thicknesses else None)


def _apply_vendor_conventions(
    values: dict[str, object], shutters: list[dict[str, object]], document_comment: str | None
) -> None:
    """Fill standard fields from private content (never overwriting a standard value).

    Siemens writes the patient position in the document-level comment and the image
    intensifier size in each event's comment; the event's own comment takes precedence.
    """
    comment = values.pop("comment")
    for text in (_str_or_none(comment), document_comment):
        for name, value in siemens_comment_fields(text).items():
            if values.get(name) is None:
                values[name] = value
    frames = values.pop("philips_number_of_frames")
    if values.get("number_of_pulses") is None and frames is not None:
        values["number_of_pulses"] = frames
    if shutters and values.get("collimated_field_height_mm") is None:
        positions = shutters[0]
        field = philips_collimated_field_mm(
            _float_or_none(positions.get("top_mm")),
            _float_or_none(positions.get("bottom_mm")),
            _float_or_none(positions.get("left_mm")),
            _float_or_none(positions.get("right_mm")),
            _float_or_none(values.get("distance_source_to_detector_mm")),
        )
        if field is not None:
            values["collimated_field_height_mm"], values["collimated_field_width_mm"] = field
            if values.get("collimated_field_area_cm2") is None:
                values["collimated_field_area_cm2"] = field[0] * field[1] / 100.0


def _device(header: ReportHeader, root: RecordTable) -> DeviceIdentity:
    return DeviceIdentity(
        manufacturer=header.manufacturer
        or _str_or_none(_first(root, "device_observer_manufacturer")),
        model_name=header.model_name or _str_or_none(_first(root, "device_observer_model_name")),
        serial_number=header.serial_number
        or _str_or_none(_first(root, "device_observer_serial_number")),
        device_observer_uid=_str_or_none(_first(root, "device_observer_uid")),
        station_name=header.station_name or _str_or_none(_first(root, "device_observer_name")),
    )


def _modality_type(report: DoseReport) -> str:
    """CT, RF, MG or DX, as OpenREM classifies RDSRs (``extractors/rdsr.py``)."""
    if report.kind is ReportKindValues.CT:
        return "CT"
    if report.procedure_reported == "mammography":
        return "MG"
    fluoroscopy = any(p.fluoro_time_s is not None for p in report.planes) or any(
        e.event_type == "fluoroscopy" for e in report.events
    )
    return "RF" if fluoroscopy else "DX"


def _kind_from_procedure(procedure: object, source: str) -> ReportKindValues:
    if procedure == "ct":
        return ReportKindValues.CT
    if procedure in ("projection", "mammography"):
        return ReportKindValues.PROJECTION
    raise NotADoseReportError(
        f"no template identifier and no recognised 'Procedure reported' ({procedure!r})",
        source=source,
        field="Procedure reported",
    )


def _required(value: str | None, keyword: str) -> str:
    if not value:
        raise NotADoseReportError("missing", field=keyword)
    return value


def _float(value: str | None) -> float | None:
    text = value.strip() if value else None
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _float_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
