"""Write checked tabular parts into the registry, in one transaction per file.

Each form goes to one table (:data:`TARGETS`). Re-importing a file is a no-op: a row whose
unique key the registry holds already is a duplicate. SQL UNIQUE constraints treat NULLs as
distinct, so keys are compared here, NULL-safely, before ``INSERT ... ON CONFLICT DO NOTHING``.
A legacy procedure whose record id the centre holds with other values is a conflict (the file
is refused); a follow-up row with a later last contact than the stored one updates it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Column, ColumnElement, String, Table, UniqueConstraint, bindparam, select
from sqlalchemy import update as sql_update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from doseline.errors import ConfigurationError, ConflictError
from doseline.ingest.store import (
    get_or_create_centre,
    get_or_create_patient,
    insert_ignoring_duplicates,
)
from doseline.ingest.table_read import (
    BIRTH,
    KEY,
    PSEUDONYM,
    RECORD,
    RECORD_ID,
    TablePart,
    TableReport,
)
from doseline.registry.base import Base
from doseline.registry.database import Registry

__all__ = ["TARGETS", "FormTarget", "TableRejectedError", "write_parts"]

_CHUNK = 500  # values per SQL IN list (SQLite allows 32766 parameters per statement)


def _table(name: str) -> Table:
    """The registry table called ``name``."""
    return Base.metadata.tables[name]


_patient = _table("patient")
_exposure = _table("exposure")
_anthropometry = _table("anthropometry")
_follow_up = _table("follow_up")


@dataclass(frozen=True)
class FormTarget:
    """Where a form's rows go: the table, the column of each field, and the fields that
    identify a row inside one file (a second row with the same values is an error)."""

    table: Table
    columns: Mapping[str, str]
    unique_in_file: tuple[str, ...] = ()


def _same_names(*names: str) -> dict[str, str]:
    """Fields stored in columns of the same name."""
    return {name: name for name in names}


TARGETS = {
    "patients": FormTarget(_patient, _same_names("sex", "birth_year", "birth_month"), (KEY,)),
    "procedures": FormTarget(
        _exposure,
        {
            **_same_names("procedure_type", "procedure_code", "modality"),
            "age_at_procedure_days": "age_at_exposure_days",
            "procedure_weight_kg": "weight_kg",
            "procedure_height_cm": "height_cm",
            "kap_gycm2": "kap_total_gycm2",
            "air_kerma_rp_gy": "air_kerma_rp_total_gy",
            "fluoro_time_s": "fluoro_time_total_s",
            "acquisition_frames": "acquisition_frames_total",
            "dlp_mgycm": "dlp_total_mgycm",
            **_same_names("device_manufacturer", "device_model"),
        },
        (RECORD_ID,),
    ),
    "anthropometry": FormTarget(_anthropometry, _same_names("age_days", "weight_kg", "height_cm")),
    "conditions": FormTarget(
        _table("condition"),
        {
            "condition_icd10": "icd10_code",
            "age_at_onset_days": "age_at_onset_days",
            "condition_description": "description",
        },
    ),
    "treatments": FormTarget(
        _table("treatment"),
        _same_names(
            "treatment_type",
            "agent",
            "cumulative_dose",
            "cumulative_dose_unit",
            "age_at_start_days",
            "age_at_end_days",
        ),
    ),
    "outcomes": FormTarget(
        _table("outcome"),
        {
            **_same_names("outcome_type", "icdo3_topography", "icdo3_morphology"),
            "outcome_icd10": "icd10_code",
            "age_at_diagnosis_days": "age_at_diagnosis_days",
            "outcome_source": "source",
        },
    ),
    "follow_up": FormTarget(
        _follow_up,
        {
            **_same_names("vital_status", "age_at_last_contact_days", "age_at_death_days"),
            "cause_of_death_icd10": "cause_of_death_icd10",
            "follow_up_source": "source",
        },
        (KEY, "follow_up_source"),
    ),
}
"""The registry table and columns of each form's fields."""


class TableRejectedError(Exception):
    """The registry refused the file (the problems are in the report): nothing was written."""


def write_parts(
    registry: Registry, parts: list[TablePart], *, centre: str, report: TableReport
) -> Counter[str]:
    """Write every part in one transaction; a conflict rolls it all back.

    Returns
    -------
    Counter
        Rows per outcome, in total (``"imported"``) and per form (``"imported:procedures"``).

    Raises
    ------
    TableRejectedError
        If the registry holds records that the file contradicts (listed in ``report``).
    """
    counts: Counter[str] = Counter()
    if not parts:
        return counts
    try:
        with registry.connect() as connection:
            centre_id = get_or_create_centre(connection, centre)
            ids = _store_patients(connection, parts, report, counts)
            for part in parts:
                if part.form == "procedures":
                    _store_procedures(
                        connection, part, ids, centre_id=centre_id, report=report, counts=counts
                    )
                elif part.form == "follow_up":
                    _store_follow_up(connection, part, ids, counts)
                elif part.form != "patients":
                    rows = _target_rows(part, ids)
                    imported = _insert_new(connection, TARGETS[part.form].table, rows)
                    _count(counts, part.form, imported=imported, duplicate=len(rows) - imported)
            if report.problems:
                raise TableRejectedError(report.source)
    except IntegrityError as error:
        report.problems.append(
            ConflictError(f"the registry refused the file ({error.orig})", source=report.source)
        )
        raise TableRejectedError(report.source) from error
    return counts


def _count(counts: Counter[str], form: str, **outcomes: int) -> None:
    """Add row counts per outcome, in total and for ``form``."""
    for outcome, n in outcomes.items():
        if n:
            counts[outcome] += n
            counts[f"{outcome}:{form}"] += n


def _store_patients(
    connection: Connection, parts: list[TablePart], report: TableReport, counts: Counter[str]
) -> pd.Series:
    """Create the file's patients; fill unknown sex and birth year and month of known ones.

    Returns the registry id of each patient key.
    """
    info = ["sex", "birth_year", "birth_month"]
    linked = pd.concat([p.values[[PSEUDONYM, KEY, BIRTH]] for p in parts]).drop_duplicates(KEY)
    listed = pd.concat(
        [p.values[[KEY, *info]] for p in parts if p.form == "patients"]
        or [pd.DataFrame(columns=[KEY, *info])]
    )
    rows = linked.merge(listed, on=KEY, how="left").rename(columns={PSEUDONYM: "pseudonym"})
    rows["birth_year"] = rows["birth_year"].astype("Int64").fillna(rows[BIRTH].dt.year)
    rows["birth_month"] = rows["birth_month"].astype("Int64").fillna(rows[BIRTH].dt.month)
    stored = _select_in(
        connection,
        [_patient.c.pseudonym, *(_patient.c[c] for c in info)],
        _patient.c.pseudonym,
        rows["pseudonym"],
    )
    new = ~rows["pseudonym"].isin(stored["pseudonym"])
    insert_ignoring_duplicates(connection, _patient, _records(rows.loc[new, ["pseudonym", *info]]))
    known = rows.loc[~new].merge(stored, on="pseudonym", suffixes=("", "_stored"))
    changed = pd.Series(False, index=known.index)
    filled = pd.Series(False, index=known.index)
    for name in info:
        given = known[name].notna()
        changed |= given & ~_same(known[name], known[f"{name}_stored"])
        filled |= given & known[f"{name}_stored"].isna()
    for patient in _records(known.loc[changed, ["pseudonym", *info]]):  # fills, or warns
        get_or_create_patient(connection, patient, report.warnings, report.source)
    is_listed = rows[KEY].isin(listed[KEY])
    updated = rows[KEY].isin(known.loc[filled, KEY])
    _count(
        counts,
        "patients",
        imported=int((new & is_listed).sum()),
        updated=int((updated & is_listed).sum()),
        duplicate=int((~new & ~updated & is_listed).sum()),
    )
    ids = _select_in(
        connection, [_patient.c.pseudonym, _patient.c.id], _patient.c.pseudonym, rows["pseudonym"]
    )
    return rows.set_index(KEY)["pseudonym"].map(ids.set_index("pseudonym")["id"])


def _target_rows(part: TablePart, ids: pd.Series) -> pd.DataFrame:
    """The part's rows laid out as rows of its registry table."""
    target = TARGETS[part.form]
    rows = pd.DataFrame({column: part.values[name] for name, column in target.columns.items()})
    rows.insert(0, "patient_id", part.values[KEY].map(ids).astype("Int64"))
    if target.table is _anthropometry:
        rows["source"] = "table"
    return rows


def _store_procedures(
    connection: Connection,
    part: TablePart,
    ids: pd.Series,
    *,
    centre_id: int,
    report: TableReport,
    counts: Counter[str],
) -> None:
    """Legacy procedures become exposures (``era='legacy'``); a record id that the centre
    holds with other values is a conflict. Weight and height also go to anthropometry."""
    rows = _target_rows(part, ids).assign(
        centre_id=centre_id, era="legacy", legacy_record_id=part.values[RECORD], device_key=""
    )
    rows["age_precision"] = rows["age_at_exposure_days"].notna().map({True: "day", False: None})
    field_of = {"patient_id": "patient_id"} | {
        column: name for name, column in TARGETS["procedures"].columns.items()
    }
    stored = _select_in(
        connection,
        [_exposure.c.legacy_record_id, *(_exposure.c[c] for c in field_of)],
        _exposure.c.legacy_record_id,
        rows["legacy_record_id"],
        _exposure.c.centre_id == centre_id,
    )
    merged = rows.merge(
        stored, on="legacy_record_id", how="left", suffixes=("", "_stored"), indicator=True
    )
    known = (merged["_merge"] == "both").to_numpy()
    differing = pd.Series("", index=rows.index, dtype="string")
    for column, name in field_of.items():
        other = known & ~_same(merged[column], merged[f"{column}_stored"]).to_numpy()
        differing = differing.mask(other, differing + ", " + name)
    report.flag(
        part,
        differing != "",
        RECORD_ID,
        "the registry holds this record of the centre with other values in "
        + differing.str.removeprefix(", "),
        kind=ConflictError,
    )
    insert_ignoring_duplicates(connection, _exposure, _records(rows.loc[~known]))
    _count(counts, "procedures", imported=int((~known).sum()), duplicate=int(known.sum()))
    body = rows.rename(columns={"age_at_exposure_days": "age_days"})
    measured = body["age_days"].notna() & body[["weight_kg", "height_cm"]].notna().any(axis=1)
    columns = ["patient_id", "age_days", "weight_kg", "height_cm"]
    _insert_new(connection, _anthropometry, body.loc[measured, columns].assign(source="table"))


def _store_follow_up(
    connection: Connection, part: TablePart, ids: pd.Series, counts: Counter[str]
) -> None:
    """One vital status per patient and source; a later last contact updates it."""
    rows = _target_rows(part, ids)
    key = ["patient_id", "source"]
    status = [c for c in rows.columns if c not in key]
    stored = _select_in(
        connection,
        [_follow_up.c.id, *(_follow_up.c[c] for c in rows.columns)],
        _follow_up.c.patient_id,
        rows["patient_id"],
    )
    rows["_k"] = _key_strings(rows, _follow_up, key)
    stored["_k"] = _key_strings(stored, _follow_up, key)
    merged = rows.merge(stored.drop(columns=key), on="_k", how="left", suffixes=("", "_stored"))
    known = merged["id"].notna()
    same = pd.Series(True, index=merged.index)
    for name in status:
        same &= _same(merged[name], merged[f"{name}_stored"])
    last_days = merged["age_at_last_contact_days"].astype("float64")
    stored_days = pd.to_numeric(merged["age_at_last_contact_days_stored"]).astype("float64")
    later = known & ~same & (last_days > stored_days)
    insert_ignoring_duplicates(connection, _follow_up, _records(rows.loc[~known, [*key, *status]]))
    changes = merged.loc[later, ["id", *status]].rename(columns=lambda c: f"new_{c}")
    if not changes.empty:
        statement = sql_update(_follow_up).where(_follow_up.c.id == bindparam("new_id"))
        values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in status}
        connection.execute(statement.values(values), _records(changes))
    _count(
        counts,
        "follow_up",
        imported=int((~known).sum()),
        updated=int(later.sum()),
        duplicate=int((known & same).sum()),
        superseded=int((known & ~same & ~later).sum()),
    )


def _insert_new(connection: Connection, table: Table, rows: pd.DataFrame) -> int:
    """Insert the rows whose unique key is neither stored nor earlier in ``rows``.

    Returns the number of rows inserted.
    """
    key = _unique_key(table, rows.columns)
    stored = _select_in(
        connection, [table.c[c] for c in key], table.c.patient_id, rows["patient_id"]
    )
    incoming = _key_strings(rows, table, key)
    new = ~incoming.isin(set(_key_strings(stored, table, key))) & ~incoming.duplicated()
    insert_ignoring_duplicates(connection, table, _records(rows.loc[new]))
    return int(new.sum())


def _unique_key(table: Table, columns: Iterable[str]) -> list[str]:
    """The columns of the table's unique constraint that the rows fill."""
    available = set(columns)
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            names = [column.name for column in constraint.columns]
            if set(names) <= available:
                return names
    raise ConfigurationError(f"{table.name}: no unique key among {sorted(available)}")


def _key_strings(frame: pd.DataFrame, table: Table, key: list[str]) -> pd.Series:
    """Each row's key as one string, NULL equal to NULL (column types from the table)."""
    joined = pd.Series("", index=frame.index, dtype="string")
    for name in key:
        column = frame[name]
        if not isinstance(table.c[name].type, String):
            column = pd.to_numeric(column).astype("Int64")
        joined = joined + "\x1f" + column.astype("string").fillna("\x00")
    return joined


def _python(values: pd.Series) -> list[Any]:
    """The values as Python objects, None where missing."""
    return values.astype(object).where(values.notna(), None).tolist()


def _same(left: pd.Series, right: pd.Series) -> pd.Series:
    """Element-wise equality in which missing equals missing."""
    a = np.asarray(_python(left), dtype=object)
    b = np.asarray(_python(right), dtype=object)
    return pd.Series(np.equal(a, b).astype(bool), index=left.index)


def _select_in(
    connection: Connection,
    columns: list[Column[Any]],
    where: Column[Any],
    values: pd.Series,
    *conditions: ColumnElement[bool],
) -> pd.DataFrame:
    """Rows whose ``where`` column is in ``values``, queried in chunks."""
    wanted = _python(values.dropna().drop_duplicates())
    frames = [pd.DataFrame(columns=[column.name for column in columns])]
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        result = connection.execute(select(*columns).where(where.in_(chunk), *conditions))
        frames.append(pd.DataFrame(result.fetchall(), columns=list(result.keys())))
    return pd.concat(frames, ignore_index=True)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dictionaries of Python values (None for missing), for executemany."""
    columns = {name: _python(frame[name]) for name in frame.columns}
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
