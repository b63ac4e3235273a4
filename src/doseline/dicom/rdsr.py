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
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import UID

from doseline.dicom import templates as tpl
from doseline.dicom.assemble import accumulated_doses, ct_events, projection_events
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
    DeviceIdentity,
    DoseReport,
    PatientCharacteristics,
    ProjectionEvent,
    ReportKindValues,
)
from doseline.errors import (
    InvalidInputError,
    MalformedDicomError,
    NotADoseReportError,
)
from doseline.plausibility import violation, violations

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
_ROOT_KEY = tpl.key(tpl.DCM.XRayRadiationDoseReport)


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
    # pydicom warns about odd values (unknown character-set escapes, invalid UIDs) while
    # decoding; those become the report's warnings instead of lines on the terminal.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            report = _Reader(data, source, strict, engine == "compiled").read()
        except InvalidInputError as error:
            raise error.with_source(source) from None
    if not caught:
        return report
    notes = dict.fromkeys(f"{source}: DICOM: {w.message}" for w in caught)
    return replace(report, warnings=(*report.warnings, *notes))


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

    def _drop_or_raise(self, name: str, value: float, record: str) -> bool:
        """Raise the value's violation if it refuses the file; otherwise warn about it and
        return whether the value must be left out."""
        error = violation(name, value, source=self.source, record=record)
        if error is None:
            return False
        if self.strict and error.reject:
            raise error
        self.warnings.append(f"{error} (value left out)")
        return True

    def _checked(self, values: dict[str, object], record: str) -> dict[str, object]:
        """:meth:`_check_column` for single values (patient characteristics)."""
        for name, value in values.items():
            if isinstance(value, float | int) and self._drop_or_raise(name, float(value), record):
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
        return accumulated_doses(self._records(tree, tpl.PROJECTION_ACCUMULATED))

    def _projection_events(
        self, tree: ContentTree, document_comment: str | None
    ) -> tuple[ProjectionEvent, ...]:
        return projection_events(
            self._records(tree, tpl.PROJECTION_EVENT),
            self._records(tree, tpl.PROJECTION_FILTER),
            self._records(tree, tpl.PHILIPS_SHUTTERS),
            document_comment=document_comment,
            check=self._check_column,
        )

    def _ct_events(self, tree: ContentTree) -> tuple[CTEvent, ...]:
        return ct_events(self._records(tree, tpl.CT_EVENT), self._records(tree, tpl.CT_SOURCE))


# -- helpers ------------------------------------------------------------------------------


def _first(table: RecordTable, name: str) -> object:
    """The value of field ``name`` in the first record (``None`` if there is none)."""
    if len(table) == 0:
        return None
    value = table.columns[name][0]
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    return value


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
