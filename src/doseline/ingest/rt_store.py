"""Store prepared DICOM-RT objects (:mod:`doseline.ingest.rt`) in the registry.

One savepoint per file; re-importing the same object is a no-op, the same SOP Instance UID with
other content a conflict; objects that refer to each other (plan -> structure set, dose -> plan,
structure set -> planning CT series) must share the patient and the Frame of Reference UID.
A course (one patient's RT study) is created with its ``exposure`` row on first use.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from doseline.dicom.rt_common import FrameOfReferenceMismatchError
from doseline.errors import ConflictError, InvalidInputError
from doseline.ingest.rt import PreparedRTObject
from doseline.ingest.store import (
    StoreOutcomeValues,
    count_rows,
    get_or_create_patient,
    known_instance,
)
from doseline.ingest.summary import IngestSummary
from doseline.registry import radiotherapy as rt
from doseline.registry.base import utcnow
from doseline.registry.exposures import Exposure

__all__ = ["count_rt_rows", "store_rt_file"]

_TABLES: dict[str, Table] = {
    "plan": cast(Table, rt.RTPlanRecord.__table__),
    "dose": cast(Table, rt.RTDoseGrid.__table__),
    "structure_set": cast(Table, rt.RTStructureSet.__table__),
    "image": cast(Table, rt.RTImage.__table__),
}
_course = cast(Table, rt.RTCourse.__table__)
_exposure = cast(Table, Exposure.__table__)
_beam = cast(Table, rt.RTBeam.__table__)
_structure = cast(Table, rt.RTStructure.__table__)
_plan, _dose, _sset, _image = (_TABLES[k] for k in ("plan", "dose", "structure_set", "image"))


def store_rt_file(
    connection: Connection,
    prepared: PreparedRTObject,
    centre_id: int,
    summary: IngestSummary,
    pending: list[PreparedRTObject] | None = None,
) -> None:
    """Store one prepared object in its own savepoint and count the outcome in ``summary``.

    A CT image no stored structure set references is appended to ``pending`` (retried at the
    end of the run, see the module docstring) or, without ``pending``, rejected.
    """
    savepoint = connection.begin_nested()
    try:
        outcome = _store(connection, prepared, centre_id)
    except InvalidInputError as error:
        savepoint.rollback()
        summary.reject(prepared.source, error.code, str(error))
        return
    except IntegrityError as error:
        savepoint.rollback()
        summary.reject(
            prepared.source,
            "conflict",
            f"{prepared.source}: the registry refused it ({error.orig})",
        )
        return
    if outcome is None:
        savepoint.rollback()
        if pending is not None:
            pending.append(prepared)
        else:
            summary.reject(
                prepared.source,
                "not a dose report",
                f"{prepared.source}: SOPClassUID: CT Image Storage, and no RT Structure Set in the "
                "registry refers to its series: not kept (only planning CTs are)",
            )
        return
    savepoint.commit()
    summary.count(outcome.value)
    summary.count(f"{outcome.value}:RT {prepared.kind.replace('_', ' ')}s")
    summary.warnings.extend(prepared.warnings)


def _store(
    connection: Connection, prepared: PreparedRTObject, centre_id: int
) -> StoreOutcomeValues | None:
    table = _TABLES[prepared.kind]
    if known_instance(connection, table, prepared, "an object"):
        return StoreOutcomeValues.DUPLICATE
    if prepared.kind == "image" and not _series_is_referenced(connection, prepared):
        return None
    patient_id = get_or_create_patient(
        connection, prepared.patient, prepared.warnings, prepared.source
    )
    _check_links(connection, prepared, patient_id)
    common = {
        "sop_instance_uid": prepared.sop_instance_uid,
        "content_hash": prepared.content_hash,
        "frame_of_reference_uid": prepared.frame_of_reference_uid,
    }
    if prepared.kind == "image":
        connection.execute(insert(_image).values(**common, **prepared.row, patient_id=patient_id))
        return StoreOutcomeValues.IMPORTED
    course_id = _get_or_create_course(connection, prepared, patient_id, centre_id)
    object_id = connection.execute(
        insert(table).values(**common, **prepared.row, course_id=course_id).returning(table.c.id)
    ).scalar_one()
    if prepared.kind == "plan":
        _insert_children(connection, _beam, "plan_id", object_id, prepared.children)
        _update_course(connection, course_id)
    elif prepared.kind == "structure_set":
        _insert_children(connection, _structure, "structure_set_id", object_id, prepared.children)
    return StoreOutcomeValues.IMPORTED


def _insert_children(
    connection: Connection, table: Table, key: str, parent_id: int, rows: list[dict[str, Any]]
) -> None:
    if rows:
        connection.execute(insert(table), [{**row, key: parent_id} for row in rows])


def _series_is_referenced(connection: Connection, prepared: PreparedRTObject) -> bool:
    found = connection.execute(
        select(_sset.c.id).where(_sset.c.referenced_series_uid == prepared.row["series_uid"])
    ).first()
    return found is not None


def _linked(prepared: PreparedRTObject) -> list[tuple[Table, Any, str]]:
    """(table, condition, what) of the stored objects this one must agree with."""
    uid = prepared.sop_instance_uid
    row = prepared.row
    if prepared.kind == "plan":
        return [
            (
                _sset,
                _sset.c.sop_instance_uid == row["referenced_structure_set_uid"],
                "structure set",
            ),
            (_dose, _dose.c.referenced_plan_uid == uid, "dose"),
        ]
    if prepared.kind == "dose":
        return [(_plan, _plan.c.sop_instance_uid == row["referenced_plan_uid"], "plan")]
    if prepared.kind == "structure_set":
        return [
            (_plan, _plan.c.referenced_structure_set_uid == uid, "plan"),
            (_image, _image.c.series_uid == row["referenced_series_uid"], "planning CT"),
        ]
    return [(_sset, _sset.c.referenced_series_uid == row["series_uid"], "structure set")]


def _check_links(connection: Connection, prepared: PreparedRTObject, patient_id: int) -> None:
    """Objects that refer to each other must share patient and frame of reference."""
    for table, condition, what in _linked(prepared):
        owner = (
            table.c.patient_id
            if table is _image
            else select(_course.c.patient_id)
            .where(_course.c.id == table.c.course_id)
            .scalar_subquery()
        )
        for other in connection.execute(
            select(table.c.frame_of_reference_uid, owner).where(condition)
        ):
            if other[1] != patient_id:
                raise ConflictError(
                    f"refers to (or is referred to by) a stored {what} of another patient",
                    source=prepared.source,
                    field="PatientID",
                )
            if (
                other[0]
                and prepared.frame_of_reference_uid
                and (other[0] != prepared.frame_of_reference_uid)
            ):
                raise FrameOfReferenceMismatchError(
                    f"its frame of reference differs from that of the {what} it is linked to",
                    source=prepared.source,
                    field="FrameOfReferenceUID",
                )


def _get_or_create_course(
    connection: Connection, prepared: PreparedRTObject, patient_id: int, centre_id: int
) -> int:
    found = connection.execute(
        select(_course.c.id).where(
            _course.c.patient_id == patient_id, _course.c.study_uid == prepared.study_uid
        )
    ).first()
    if found is not None:
        return int(found.id)
    clash = connection.execute(
        select(_exposure.c.id).where(
            _exposure.c.study_uid == prepared.study_uid, _exposure.c.device_key == "rt"
        )
    ).first()
    if clash is not None:
        raise ConflictError(
            "the registry holds this study's course for another patient",
            source=prepared.source,
            field="StudyInstanceUID",
        )
    return _insert_course(connection, prepared, patient_id, centre_id)


def _insert_course(
    connection: Connection, prepared: PreparedRTObject, patient_id: int, centre_id: int
) -> int:
    """A new course and its ``exposure`` row (modality RT, report kind ``rt_course``)."""
    now = utcnow()
    exposure_id = connection.execute(
        insert(_exposure)
        .values(
            patient_id=patient_id,
            centre_id=centre_id,
            era="rdsr",
            modality="RT",
            report_kind="rt_course",
            procedure_type="radiotherapy",
            device_key="rt",
            study_uid=prepared.study_uid,
            created_at=now,
            updated_at=now,
        )
        .returning(_exposure.c.id)
    ).scalar_one()
    return int(
        connection.execute(
            insert(_course)
            .values(
                patient_id=patient_id,
                exposure_id=exposure_id,
                study_uid=prepared.study_uid,
                created_at=now,
            )
            .returning(_course.c.id)
        ).scalar_one()
    )


def _update_course(connection: Connection, course_id: int) -> None:
    """Course totals from its plans; the exposure's age and date from its first plan."""
    plans = connection.execute(
        select(
            _plan.c.prescription_dose_gy,
            _plan.c.fractions_planned,
            _plan.c.radiation_types,
            _plan.c.age_at_plan_days,
            _plan.c.shifted_date,
            _plan.c.device_manufacturer,
            _plan.c.device_model,
        ).where(_plan.c.course_id == course_id)
    ).all()
    doses = [p.prescription_dose_gy for p in plans if p.prescription_dose_gy is not None]
    types = sorted({t for p in plans for t in (p.radiation_types or "").split(",") if t})
    connection.execute(
        update(_course)
        .where(_course.c.id == course_id)
        .values(
            prescription_dose_gy=sum(doses) if doses else None,
            fractions_planned=sum(p.fractions_planned for p in plans),
            radiation_types=",".join(types) or None,
        )
    )
    first = min(plans, key=lambda p: (p.age_at_plan_days is None, p.age_at_plan_days or 0))
    exposure_id = select(_course.c.exposure_id).where(_course.c.id == course_id).scalar_subquery()
    connection.execute(
        update(_exposure)
        .where(_exposure.c.id == exposure_id)
        .values(
            age_at_exposure_days=first.age_at_plan_days,
            age_precision="day" if first.age_at_plan_days is not None else None,
            shifted_date=first.shifted_date,
            device_manufacturer=first.device_manufacturer,
            device_model=first.device_model,
            number_of_events=len(plans),
            updated_at=utcnow(),
        )
    )


def count_rt_rows(connection: Connection) -> dict[str, int]:
    """Rows of each RT table (for summaries and tests)."""
    return count_rows(connection, [_course, _plan, _beam, _dose, _sset, _structure, _image])
