"""Turn a dose report into pseudonymised registry rows (no database needed; runs in workers).

What leaves this module carries no direct identifier: the patient ID becomes a keyed pseudonym,
UIDs become ``2.25.<n>`` pseudonyms, dates become ages in days (with an optional per-patient
shifted date), and names, addresses, comments and free-text identifiers are not taken at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from doseline.dicom.report import (
    CTEvent,
    DoseReport,
    ProjectionEvent,
    ReportKindValues,
    field_names,
)
from doseline.errors import InvalidInputError
from doseline.ingest.options import IngestOptions
from doseline.registry.pseudonym import Pseudonymiser

__all__ = ["PreparedReport", "prepare_report"]


@dataclass
class PreparedReport:
    """Rows for one dose report, ready for :mod:`doseline.ingest.store`.

    ``event_uids`` are the pseudonymised event UIDs (the identity of each event across
    cumulative reports). ``content_offset_s``, the time from the first irradiation to the
    report's content time, orders two reports of the same study without storing a date.
    """

    source: str
    sop_instance_uid: str
    content_offset_s: float | None
    study_uid: str
    device_key: str
    content_hash: str
    patient: dict[str, Any]
    exposure: dict[str, Any]
    planes: list[dict[str, Any]]
    event_table: str
    events: list[dict[str, Any]]
    anthropometry: dict[str, Any] | None
    warnings: list[str] = field(default_factory=list)

    @property
    def event_uids(self) -> frozenset[str]:
        return frozenset(event["event_uid"] for event in self.events)


def prepare_report(
    report: DoseReport,
    pseudonymiser: Pseudonymiser,
    *,
    options: IngestOptions | None = None,
) -> PreparedReport:
    """Pseudonymise ``report`` and lay it out as registry rows.

    Raises
    ------
    InvalidInputError
        If the report has no patient identifier (it could not be linked to anyone).
    """
    patient_id = report.patient.patient_id
    if not patient_id:
        raise InvalidInputError(
            "no patient identifier: the report cannot be linked to a patient",
            source=report.source,
            field="PatientID",
        )
    # By default linked by the identifier alone (see Settings.link_by_issuer).
    options = options or IngestOptions()
    issuer = report.patient.issuer_of_patient_id if options.link_by_issuer else None
    pseudonym = pseudonymiser.patient(patient_id, issuer)
    birth = report.patient.birth_date
    shifted = None
    if options.store_shifted_dates and report.study_date is not None:
        shift = pseudonymiser.date_shift_days(pseudonym, options.date_shift_max_days)
        shifted = datetime.combine(report.study_date, datetime.min.time()) + timedelta(shift)
    device = report.device
    device_identity = device.device_observer_uid or "|".join(
        part or "" for part in (device.manufacturer, device.model_name, device.serial_number)
    )
    events, event_table = _event_rows(report, pseudonymiser)
    if len({event["event_uid"] for event in events}) != len(events):
        raise InvalidInputError(
            "two irradiation events share one Irradiation Event UID",
            source=report.source,
            field="Irradiation Event UID",
        )
    totals = report.totals()
    age_days = report.patient.age_at_exposure_days
    anthropometry = None
    if age_days is not None and (report.patient.weight_kg or report.patient.height_cm):
        anthropometry = {
            "age_days": age_days,
            "weight_kg": report.patient.weight_kg,
            "height_cm": report.patient.height_cm,
            "source": "rdsr",
        }
    warnings = list(report.warnings)
    if age_days is None:
        warnings.append(f"{report.source}: patient: age at exposure unknown (no birth date or age)")
    prepared = PreparedReport(
        source=report.source,
        sop_instance_uid=pseudonymiser.uid(report.sop_instance_uid),
        study_uid=pseudonymiser.uid(report.study_instance_uid),
        device_key=hashlib.sha256(device_identity.encode("utf-8")).hexdigest(),
        content_hash="",  # set below, from the rows themselves
        content_offset_s=_content_offset_s(report),
        patient={
            "pseudonym": pseudonym,
            "sex": report.patient.sex,
            "birth_year": birth.year if birth else None,
            "birth_month": birth.month if birth else None,
        },
        exposure={
            "era": "rdsr",
            "modality": report.modality_type,
            "report_kind": report.kind.value,
            "procedure_description": _clip(report.study_description, 128),
            "age_at_exposure_days": age_days,
            "age_precision": report.patient.age_precision,
            "shifted_date": shifted,
            "weight_kg": report.patient.weight_kg,
            "height_cm": report.patient.height_cm,
            "device_manufacturer": _clip(device.manufacturer, 64),
            "device_model": _clip(device.model_name, 64),
            "number_of_events": report.number_of_events,
            "kap_total_gycm2": totals.get("kap_gycm2"),
            "air_kerma_rp_total_gy": totals.get("air_kerma_rp_gy"),
            "fluoro_time_total_s": totals.get("fluoro_time_s"),
            "acquisition_time_total_s": totals.get("acquisition_time_s"),
            "acquisition_frames_total": totals.get("acquisition_frames"),
            "dlp_total_mgycm": report.ct_dlp_total_mgycm,
        },
        planes=[_as_row(plane) for plane in report.planes],
        event_table=event_table,
        events=events,
        anthropometry=anthropometry,
        warnings=warnings,
    )
    prepared.content_hash = pseudonymiser.text(_canonical_content(prepared), "content")
    return prepared


def _event_rows(
    report: DoseReport, pseudonymiser: Pseudonymiser
) -> tuple[list[dict[str, Any]], str]:
    rows: list[dict[str, Any]] = []
    if report.kind is ReportKindValues.CT:
        for index, ct in enumerate(report.ct_events):
            row = _as_row(ct, skip=("sources",))
            row["sources"] = [_as_row(source) for source in ct.sources]
            rows.append(_with_identity(row, index, ct, pseudonymiser, report.source))
        return rows, "ct_event"
    starts = [e.datetime_started for e in report.events if e.datetime_started is not None]
    first = min(starts) if starts else None
    for index, event in enumerate(report.events):
        row = _as_row(event, skip=("datetime_started", "filters"))
        row["filters"] = [_as_row(f) for f in event.filters] or None
        row["start_offset_s"] = (
            (event.datetime_started - first).total_seconds()
            if first is not None and event.datetime_started is not None
            else None
        )
        rows.append(_with_identity(row, index, event, pseudonymiser, report.source))
    return rows, "irradiation_event"


def _with_identity(
    row: dict[str, Any],
    index: int,
    event: ProjectionEvent | CTEvent,
    pseudonymiser: Pseudonymiser,
    source: str,
) -> dict[str, Any]:
    """Pseudonymise the event UID; an event without one gets a UID derived from its content
    (Irradiation Event UID is mandatory in TID 10003/10013, but not every vendor writes it)."""
    uid = event.event_uid
    if not uid:
        uid = f"content:{json.dumps(row, sort_keys=True, default=str)}"
    row["event_uid"] = pseudonymiser.uid(uid)
    row["event_index"] = index
    return row


def _content_offset_s(report: DoseReport) -> float | None:
    starts = [e.datetime_started for e in report.events if e.datetime_started is not None]
    if report.start_of_xray_irradiation is not None:
        starts.append(report.start_of_xray_irradiation)
    if report.content_datetime is None or not starts:
        return None
    return (report.content_datetime - min(starts)).total_seconds()


def _as_row(obj: object, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in field_names(obj.__class__) if name not in skip}


def _canonical_content(prepared: PreparedReport) -> str:
    """The report's content as canonical JSON: the same for the same report however it was
    encoded (transfer syntax, sequence lengths, unit spellings), different if any stored
    value differs. The shifted date depends on settings, not on the report, and is left out.
    """
    content = {
        "sop_instance_uid": prepared.sop_instance_uid,
        "study_uid": prepared.study_uid,
        "device_key": prepared.device_key,
        "patient": prepared.patient,
        "exposure": {k: v for k, v in prepared.exposure.items() if k != "shifted_date"},
        "planes": prepared.planes,
        "events": prepared.events,
        "anthropometry": prepared.anthropometry,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)


def _clip(text: str | None, length: int) -> str | None:
    return text[:length] if text else text
