"""The header of a dose report (everything before the Content Sequence), read by pydicom.

All access to pydicom's objects for the header happens here, in one guarded pass: pydicom
converts values lazily and, on corrupt input, raises a variety of exceptions (NotImplementedError
for an unknown VR, struct errors, decoding errors ...). Any of them becomes a
:class:`~doseline.errors.MalformedDicomError` naming the problem.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from pydicom.charset import convert_encodings
from pydicom.dataset import Dataset
from pydicom.filereader import read_partial

from doseline.dicom.content import Code
from doseline.errors import MalformedDicomError, NotADoseReportError

__all__ = ["CONTENT_SEQUENCE_TAG", "ReportHeader", "read_header"]

CONTENT_SEQUENCE_TAG = 0x0040A730  # (0040,A730) Content Sequence, PS3.6


@dataclass(frozen=True, slots=True)
class ReportHeader:
    """Header attributes the reader uses, as plain strings (``None`` where absent or empty)."""

    transfer_syntax_uid: str
    sop_class_uid: str | None
    sop_instance_uid: str | None
    study_instance_uid: str | None
    accession_number: str | None
    study_date: str | None
    content_date: str | None
    content_time: str | None
    study_description: str | None
    patient_id: str | None
    issuer_of_patient_id: str | None
    patient_sex: str | None
    patient_birth_date: str | None
    patient_age: str | None
    patient_weight: str | None
    patient_size: str | None
    manufacturer: str | None
    model_name: str | None
    serial_number: str | None
    station_name: str | None
    encodings: tuple[str, ...]
    document_title: Code | None
    template_id: str | None
    content_start: int


def read_header(data: bytes) -> ReportHeader:
    """Read the header of a DICOM Part 10 file.

    Raises
    ------
    NotADoseReportError
        If the bytes are not a DICOM Part 10 file.
    MalformedDicomError
        If the header cannot be read.
    """
    if len(data) < 132 or data[128:132] != b"DICM":
        raise NotADoseReportError("not a DICOM file (no 'DICM' marker after the 128-byte preamble)")
    stream = io.BytesIO(data)
    try:
        dataset = read_partial(stream, stop_when=lambda tag, vr, n: tag == CONTENT_SEQUENCE_TAG)
        return _extract(dataset, stream.tell())
    # pydicom raises many exception types on corrupt input (see the module docstring).
    except Exception as error:
        raise MalformedDicomError(f"unreadable DICOM header ({error})") from error


def _extract(dataset: Dataset, content_start: int) -> ReportHeader:
    def text(keyword: str) -> str | None:
        value = dataset.get(keyword)
        if value is None:
            return None
        stripped = str(value).strip(" \x00")
        return stripped or None

    template = _first_item(dataset, "ContentTemplateSequence")
    template_id = template.get("TemplateIdentifier") if template is not None else None
    return ReportHeader(
        transfer_syntax_uid=str(dataset.file_meta.get("TransferSyntaxUID", "")),
        sop_class_uid=text("SOPClassUID"),
        sop_instance_uid=text("SOPInstanceUID"),
        study_instance_uid=text("StudyInstanceUID"),
        accession_number=text("AccessionNumber"),
        study_date=text("StudyDate"),
        content_date=text("ContentDate"),
        content_time=text("ContentTime"),
        study_description=text("StudyDescription"),
        patient_id=text("PatientID"),
        issuer_of_patient_id=text("IssuerOfPatientID"),
        patient_sex=text("PatientSex"),
        patient_birth_date=text("PatientBirthDate"),
        patient_age=text("PatientAge"),
        patient_weight=text("PatientWeight"),
        patient_size=text("PatientSize"),
        manufacturer=text("Manufacturer"),
        model_name=text("ManufacturerModelName"),
        serial_number=text("DeviceSerialNumber"),
        station_name=text("StationName"),
        encodings=tuple(convert_encodings(dataset.get("SpecificCharacterSet") or "ISO_IR 6")),
        document_title=_code(_first_item(dataset, "ConceptNameCodeSequence")),
        template_id=str(template_id).strip() or None if template_id is not None else None,
        content_start=content_start,
    )


def _first_item(dataset: Dataset, keyword: str) -> Dataset | None:
    sequence = dataset.get(keyword)
    return sequence[0] if sequence else None


def _code(item: Dataset | None) -> Code | None:
    if item is None or not item.get("CodeValue"):
        return None
    return Code(
        str(item.CodeValue).strip(),
        str(item.get("CodingSchemeDesignator") or "").strip(),
        str(item.get("CodeMeaning") or "").strip(),
    )
