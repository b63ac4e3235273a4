"""Write prepared records into the registry: patients, exposures, events, with duplicate and
cumulative-update handling.

A modality may send the same study several times as it goes on: each RDSR is cumulative (it
holds every event so far) under a new SOP Instance UID. The registry keeps one exposure per
study and device, holding the latest content, decided by the events each report holds:

==========================================  =================================================
incoming events vs stored events            what happens
==========================================  =================================================
same SOP Instance UID, same content         duplicate: nothing written
same SOP Instance UID, other content        conflict: rejected
superset (or same set, newer content)       update: the exposure takes the new content
subset (or same set, older content)         superseded: recorded, exposure unchanged
disjoint                                    merged: events and totals added (partial reports)
partly overlapping                          conflict: rejected
==========================================  =================================================

Every function works inside the caller's transaction; the caller wraps each file in a
savepoint, so a rejected file leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Protocol, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from doseline.dicom.report import PLANE_TOTALS
from doseline.errors import ConflictError
from doseline.ingest.prepare import PreparedReport
from doseline.registry.base import utcnow
from doseline.registry.exposures import (
    DoseReportRecord,
    Exposure,
    accumulated_dose,
    ct_event,
    irradiation_event,
)
from doseline.registry.people import Anthropometry, Centre, Patient

__all__ = [
    "StoreOutcomeValues",
    "count_rows",
    "get_or_create_centre",
    "get_or_create_patient",
    "insert_ignoring_duplicates",
    "known_instance",
    "store_report",
]

_patient = cast(Table, Patient.__table__)
_exposure = cast(Table, Exposure.__table__)
_report = cast(Table, DoseReportRecord.__table__)
_centre = cast(Table, Centre.__table__)
_anthropometry = cast(Table, Anthropometry.__table__)
_EVENT_TABLES = {"irradiation_event": irradiation_event, "ct_event": ct_event}
_EXPOSURE_SUMS = (
    "kap_total_gycm2",
    "air_kerma_rp_total_gy",
    "fluoro_time_total_s",
    "acquisition_time_total_s",
    "acquisition_frames_total",
    "dlp_total_mgycm",
    "number_of_events",
)


class StoreOutcomeValues(StrEnum):
    """What storing one report did."""

    IMPORTED = "imported"
    UPDATED = "updated"
    MERGED = "merged"
    DUPLICATE = "duplicate"
    SUPERSEDED = "superseded"


def get_or_create_centre(connection: Connection, name: str) -> int:
    """Id of the centre called ``name``, created if new."""
    found = connection.execute(select(_centre.c.id).where(_centre.c.name == name)).scalar()
    if found is not None:
        return int(found)
    created = connection.execute(
        insert(_centre).values(name=name, created_at=utcnow()).returning(_centre.c.id)
    ).scalar_one()
    return int(created)


def get_or_create_patient(
    connection: Connection, patient: dict[str, Any], warnings: list[str], source: str
) -> int:
    """Id of the patient with this pseudonym; fills unknown sex and birth year/month.

    A sex that contradicts the stored one is kept as stored and reported as a warning.
    """
    row = connection.execute(
        select(_patient.c.id, _patient.c.sex, _patient.c.birth_year, _patient.c.birth_month).where(
            _patient.c.pseudonym == patient["pseudonym"]
        )
    ).first()
    if row is None:
        created = connection.execute(
            insert(_patient).values(**patient, created_at=utcnow()).returning(_patient.c.id)
        ).scalar_one()
        return int(created)
    changes: dict[str, Any] = {}
    for name in ("sex", "birth_year", "birth_month"):
        stored, given = getattr(row, name), patient.get(name)
        if given is None:
            continue
        if stored is None:
            changes[name] = given
        elif stored != given:
            warnings.append(
                f"{source}: patient: {name}: {given!r} differs from the registry's {stored!r}; "
                "the registry's value is kept"
            )
    if changes:
        connection.execute(update(_patient).where(_patient.c.id == row.id).values(**changes))
    return int(row.id)


def insert_ignoring_duplicates(
    connection: Connection, table: Table, rows: list[dict[str, Any]]
) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, on SQLite and PostgreSQL."""
    if not rows:
        return
    dialect = connection.dialect.name
    statement = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(table)
    connection.execute(statement.on_conflict_do_nothing(), rows)


class _Instance(Protocol):
    """What :func:`known_instance` reads of a prepared DICOM object."""

    @property
    def sop_instance_uid(self) -> str: ...
    @property
    def content_hash(self) -> str: ...
    @property
    def source(self) -> str: ...


def known_instance(connection: Connection, table: Table, prepared: _Instance, what: str) -> bool:
    """Whether ``table`` holds this SOP Instance UID with the same content (a duplicate).

    Raises
    ------
    ConflictError
        If ``table`` holds the SOP Instance UID with other content.
    """
    known = connection.execute(
        select(table.c.content_hash).where(table.c.sop_instance_uid == prepared.sop_instance_uid)
    ).first()
    if known is None:
        return False
    if known.content_hash == prepared.content_hash:
        return True
    raise ConflictError(
        f"the registry holds {what} with this SOP Instance UID but different content",
        source=prepared.source,
        field="SOPInstanceUID",
    )


def store_report(
    connection: Connection, prepared: PreparedReport, centre_id: int
) -> StoreOutcomeValues:
    """Store one prepared dose report (see the module docstring for the rules).

    Raises
    ------
    ConflictError
        If the report contradicts what the registry holds.
    """
    if known_instance(connection, _report, prepared, "a report"):
        return StoreOutcomeValues.DUPLICATE
    patient_id = get_or_create_patient(
        connection, prepared.patient, prepared.warnings, prepared.source
    )
    exposure = connection.execute(
        select(_exposure.c.id, _exposure.c.patient_id, _exposure.c.centre_id).where(
            _exposure.c.study_uid == prepared.study_uid,
            _exposure.c.device_key == prepared.device_key,
        )
    ).first()
    if exposure is None:
        exposure_id = _insert_exposure(connection, prepared, patient_id, centre_id)
        _record(connection, prepared, exposure_id, "current")
        return StoreOutcomeValues.IMPORTED
    if exposure.patient_id != patient_id or exposure.centre_id != centre_id:
        raise ConflictError(
            "the registry holds this study for another patient or centre",
            source=prepared.source,
            field="StudyInstanceUID",
        )
    return _update_exposure(connection, prepared, int(exposure.id))


def _insert_exposure(
    connection: Connection, prepared: PreparedReport, patient_id: int, centre_id: int
) -> int:
    now = utcnow()
    exposure_id = int(
        connection.execute(
            insert(_exposure)
            .values(
                **prepared.exposure,
                patient_id=patient_id,
                centre_id=centre_id,
                study_uid=prepared.study_uid,
                device_key=prepared.device_key,
                source_sop_instance_uid=prepared.sop_instance_uid,
                content_hash=prepared.content_hash,
                created_at=now,
                updated_at=now,
            )
            .returning(_exposure.c.id)
        ).scalar_one()
    )
    _insert_content(connection, prepared, exposure_id, first_index=0)
    if prepared.anthropometry is not None:
        insert_ignoring_duplicates(
            connection, _anthropometry, [{**prepared.anthropometry, "patient_id": patient_id}]
        )
    return exposure_id


def _insert_content(
    connection: Connection, prepared: PreparedReport, exposure_id: int, first_index: int
) -> None:
    if prepared.planes:
        connection.execute(
            insert(accumulated_dose),
            [{**plane, "exposure_id": exposure_id} for plane in prepared.planes],
        )
    if prepared.events:
        connection.execute(
            insert(_EVENT_TABLES[prepared.event_table]),
            [
                {**event, "exposure_id": exposure_id, "event_index": first_index + i}
                for i, event in enumerate(prepared.events)
            ],
        )


def _record(
    connection: Connection, prepared: PreparedReport, exposure_id: int, status: str
) -> None:
    connection.execute(
        insert(_report).values(
            exposure_id=exposure_id,
            sop_instance_uid=prepared.sop_instance_uid,
            content_hash=prepared.content_hash,
            status=status,
            number_of_events=len(prepared.events),
            content_offset_s=prepared.content_offset_s,
            received_at=utcnow(),
        )
    )


def _update_exposure(
    connection: Connection, prepared: PreparedReport, exposure_id: int
) -> StoreOutcomeValues:
    events = _EVENT_TABLES[prepared.event_table]
    stored = frozenset(
        connection.execute(
            select(events.c.event_uid).where(events.c.exposure_id == exposure_id)
        ).scalars()
    )
    incoming = prepared.event_uids
    if incoming > stored or (incoming == stored and _is_newer(connection, prepared, exposure_id)):
        _replace_content(connection, prepared, exposure_id)
        return StoreOutcomeValues.UPDATED
    if incoming <= stored:
        _record(connection, prepared, exposure_id, "superseded")
        return StoreOutcomeValues.SUPERSEDED
    if incoming.isdisjoint(stored):
        _merge_content(connection, prepared, exposure_id, first_index=len(stored))
        return StoreOutcomeValues.MERGED
    raise ConflictError(
        f"this report shares {len(incoming & stored)} of its {len(incoming)} irradiation "
        "events with a report already stored for the study, but is neither a cumulative "
        "update of it nor a separate part",
        source=prepared.source,
        field="Irradiation Event UID",
    )


def _is_newer(connection: Connection, prepared: PreparedReport, exposure_id: int) -> bool:
    """Whether ``prepared`` was written after the exposure's current report."""
    current = connection.execute(
        select(_report.c.content_offset_s).where(
            _report.c.exposure_id == exposure_id, _report.c.status == "current"
        )
    ).first()
    if current is None or current.content_offset_s is None or prepared.content_offset_s is None:
        return True  # no way to order them: the latest received wins
    return bool(prepared.content_offset_s > current.content_offset_s)


def _replace_content(connection: Connection, prepared: PreparedReport, exposure_id: int) -> None:
    for table in (accumulated_dose, irradiation_event, ct_event):
        connection.execute(delete(table).where(table.c.exposure_id == exposure_id))
    connection.execute(
        update(_exposure)
        .where(_exposure.c.id == exposure_id)
        .values(
            **prepared.exposure,
            source_sop_instance_uid=prepared.sop_instance_uid,
            content_hash=prepared.content_hash,
            updated_at=utcnow(),
        )
    )
    connection.execute(
        update(_report)
        .where(_report.c.exposure_id == exposure_id, _report.c.status != "superseded")
        .values(status="superseded")
    )
    _insert_content(connection, prepared, exposure_id, first_index=0)
    _record(connection, prepared, exposure_id, "current")


def _merge_content(
    connection: Connection, prepared: PreparedReport, exposure_id: int, first_index: int
) -> None:
    """Add a separate partial report: its events, and its totals added to the stored ones."""
    stored_planes = {
        row.plane: row
        for row in connection.execute(
            select(accumulated_dose).where(accumulated_dose.c.exposure_id == exposure_id)
        )
    }
    new_planes = []
    for plane in prepared.planes:
        row = stored_planes.get(plane["plane"])
        if row is None:
            new_planes.append(plane)
            continue
        sums = {name: _add(getattr(row, name), plane.get(name)) for name in PLANE_TOTALS}
        connection.execute(
            update(accumulated_dose).where(accumulated_dose.c.id == row.id).values(**sums)
        )
    stored = connection.execute(
        select(*(_exposure.c[name] for name in _EXPOSURE_SUMS)).where(_exposure.c.id == exposure_id)
    ).one()
    sums = {
        name: _add(getattr(stored, name), prepared.exposure.get(name)) for name in _EXPOSURE_SUMS
    }
    connection.execute(
        update(_exposure).where(_exposure.c.id == exposure_id).values(**sums, updated_at=utcnow())
    )
    content = PreparedReport(**{**vars(prepared), "planes": new_planes})
    _insert_content(connection, content, exposure_id, first_index)
    _record(connection, prepared, exposure_id, "merged")


def _add(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def count_rows(connection: Connection, tables: Iterable[Table]) -> dict[str, int]:
    """Row count of each table (for summaries and tests)."""
    return {
        table.name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
        for table in tables
    }
