"""Tabular ingest: CSV files, XLSX workbooks and REDCap exports, checked against the data
dictionary (:mod:`doseline.ingest.dictionary`).

Three layouts are read (``docs/data_dictionary.md``; :mod:`doseline.ingest.table_read`):

- a CSV of one form: ``patient_id`` and the form's fields, optionally with ``birth_date`` and
  ``issuer_of_patient_id`` so that dates become ages and identifiers link;
- an XLSX workbook, one sheet per form, each sheet named after its form;
- a REDCap flat export (``redcap_repeat_instrument`` and ``redcap_repeat_instance`` columns).

A file is checked whole before anything is written, with column operations, and written in one
transaction (:mod:`doseline.ingest.table_store`): if anything in the file is wrong, nothing is
written, and every problem is listed with file, sheet, row (as a spreadsheet numbers it), column
and reason. Identifiers never reach the registry: patient ids and record numbers become keyed
pseudonyms, the birth date becomes year and month, and other dates become ages in days.
"""

from __future__ import annotations

import os
import time
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Column, String

from doseline.errors import ConfigurationError, ImplausibleValueError, InvalidInputError
from doseline.ingest.dictionary import DataDictionary, check_column, load_dictionary
from doseline.ingest.options import IngestOptions
from doseline.ingest.summary import IngestSummary
from doseline.ingest.table_read import (
    BIRTH,
    BIRTH_DATE,
    ISSUER,
    KEY,
    PATIENT_ID,
    PSEUDONYM,
    RECORD,
    RECORD_ID,
    TablePart,
    TableReport,
    UnreadableTableError,
    read_table,
    recognise_form,
)
from doseline.ingest.table_store import TARGETS, TableRejectedError, write_parts
from doseline.plausibility import limits, violation, violations
from doseline.registry.database import Registry
from doseline.registry.pseudonym import Pseudonymiser

__all__ = ["AGE_OF_DATE", "ingest_table", "recognise_form"]

AGE_OF_DATE = {
    "procedure_date": "age_at_procedure_days",
    "measurement_date": "age_days",
    "onset_date": "age_at_onset_days",
    "start_date": "age_at_start_days",
    "end_date": "age_at_end_days",
    "diagnosis_date": "age_at_diagnosis_days",
    "last_contact_date": "age_at_last_contact_days",
    "death_date": "age_at_death_days",
}
"""Each date field and the age field (days since birth) it becomes; the date is not stored."""


def ingest_table(
    registry: Registry,
    path: str | os.PathLike[str],
    *,
    centre: str,
    form: str | None = None,
    options: IngestOptions | None = None,
) -> IngestSummary:
    """Import a CSV file, an XLSX workbook or a REDCap flat export, all or nothing.

    Parameters
    ----------
    registry
        An open registry with a deployment key.
    path
        A ``.csv`` file (one form, or a REDCap flat export) or an ``.xlsx`` workbook (one
        sheet per form, named after it).
    centre
        Name of the centre the records come from (created if new).
    form
        The form of a one-form CSV; recognised from its columns when not given.
    options
        The deployment's pseudonymisation choices (``link_by_issuer``; see
        :class:`doseline.config.Settings`).

    Returns
    -------
    IngestSummary
        Rows imported, updated and duplicate, in total and per form
        (``outcomes["imported:procedures"]``); if the file was refused, every problem found in
        it, each naming file, sheet, row, column and reason.

    Raises
    ------
    ConfigurationError
        If the registry has no deployment key.
    InvalidInputError
        If ``form`` is not a form of the data dictionary, or is given for a workbook.
    """
    pseudonymiser = registry.pseudonymiser
    if pseudonymiser is None:
        raise ConfigurationError("the registry was opened without a deployment key")
    dictionary = load_dictionary()
    check_routes(dictionary)
    if form is not None and form not in dictionary.forms():
        raise InvalidInputError(f"no form {form!r} (forms: {', '.join(dictionary.forms())})")
    started = time.perf_counter()
    path = Path(path)
    report = TableReport(str(path))
    summary = IngestSummary(files=1)
    try:
        summary.bytes_read = path.stat().st_size
        parts = read_table(path, form, dictionary, report)
        link_by_issuer = (options or IngestOptions()).link_by_issuer
        _prepare(parts, dictionary, pseudonymiser, report, link_by_issuer)
        if not report.problems:
            summary.outcomes.update(write_parts(registry, parts, centre=centre, report=report))
            summary.warnings.extend(report.warnings)
    except (UnreadableTableError, OSError) as error:
        summary.reject(report.source, "unreadable", str(error))
    except TableRejectedError:
        pass
    for problem in report.problems:
        summary.reject(report.source, problem.code, str(problem))
    summary.seconds = time.perf_counter() - started
    return summary


@cache
def check_routes(dictionary: DataDictionary) -> None:
    """Check that every field of ``dictionary`` has exactly one way into the registry.

    Raises
    ------
    ConfigurationError
        If a field would be silently dropped (a field added to the dictionary but not here).
    """
    routed = {name: form for form, target in TARGETS.items() for name in target.columns}
    patient_form = dictionary.record_id.form
    special = {PATIENT_ID: patient_form, ISSUER: patient_form, BIRTH_DATE: patient_form}
    special[RECORD_ID] = "procedures"
    special.update({date_name: routed[age] for date_name, age in AGE_OF_DATE.items()})
    for definition in dictionary.fields:
        if routed.get(definition.name, special.get(definition.name)) != definition.form:
            raise ConfigurationError(
                f"data dictionary: field {definition.name} (form {definition.form}) has no "
                "place in the registry; map it in doseline.ingest.table_store.TARGETS"
            )


# -- checking ------------------------------------------------------------------------------


def _prepare(
    parts: list[TablePart],
    dictionary: DataDictionary,
    pseudonymiser: Pseudonymiser,
    report: TableReport,
    link_by_issuer: bool,
) -> None:
    """Check every cell and row, link rows to patients, turn dates into ages, pseudonymise."""
    if not parts:
        return
    for part in parts:
        _check_cells(part, dictionary, report)
    _link_patients(parts, dictionary.record_id.form, report)
    for part in parts:
        _check_unique(part, report)
        _add_ages(part, dictionary, report)
        for mask, column, reason in _row_rules(part):
            report.flag(part, mask, column, reason)
    _pseudonymise(parts, pseudonymiser, link_by_issuer)


def _check_cells(part: TablePart, dictionary: DataDictionary, report: TableReport) -> None:
    """Check every cell against its field (format, range, codes, text length, plausibility)
    and keep the typed values in ``part.values``."""
    values = {}
    target = TARGETS.get(part.form)
    for name in part.text.columns:
        checked = check_column(dictionary.field(name), part.text[name])
        report.flag(part, checked.problems.notna(), name, checked.problems)
        values[name] = checked.values
        column = target.table.c.get(target.columns.get(name, "")) if target else None
        if column is not None and isinstance(column.type, String) and column.type.length:
            too_long = part.text[name].str.len() > column.type.length
            report.flag(
                part,
                too_long & checked.problems.isna(),
                name,
                f"the text is longer than {column.type.length} characters",
            )
        limit = _limit_name(name, column)
        if limit is not None:
            values[name] = _check_plausible(part, name, limit, checked.values, report)
    part.values = pd.DataFrame(values, index=part.text.index)


def _limit_name(name: str, column: Column[Any] | None) -> str | None:
    """The plausibility limit of a field: by its own name or its registry column's."""
    for candidate in (name, column.name if column is not None else None):
        if candidate in limits():
            return candidate
    return None


def _check_plausible(
    part: TablePart, name: str, limit: str, values: pd.Series, report: TableReport
) -> pd.Series:
    """Apply :mod:`doseline.plausibility`: refuse the file, or leave the value out."""
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    outside = violations(limit, numbers)
    for position in np.flatnonzero(outside):  # only to word the messages
        error = violation(limit, float(numbers[position]))
        if error is None:
            continue
        problem = ImplausibleValueError(
            error.reason,
            source=report.source,
            record=part.record(int(position)),
            field=name,  # the column, which may differ from the limit's field name
            reject=error.reject,
        )
        if problem.reject:
            report.problems.append(problem)
        else:
            report.warnings.append(f"{problem}; the value is left out")
    return values.mask(pd.Series(outside, index=values.index))


def _link_patients(parts: list[TablePart], patient_form: str, report: TableReport) -> None:
    """Give every row its patient (id and issuer) and birth date, from any row of the file.

    A table without an issuer column takes the issuer of the patient's row in the patients
    form; a table without a birth date takes the one given for the patient elsewhere.
    """
    listed = pd.concat(
        [p.values[[PATIENT_ID, ISSUER]] for p in parts if p.form == patient_form]
        or [pd.DataFrame(columns=[PATIENT_ID, ISSUER])]
    ).drop_duplicates()
    ambiguous = set(listed[PATIENT_ID][listed[PATIENT_ID].duplicated()])
    issuer_of = listed.drop_duplicates(PATIENT_ID).set_index(PATIENT_ID)[ISSUER]
    for part in parts:
        if ISSUER not in part.given:
            report.flag(
                part,
                part.values[PATIENT_ID].isin(ambiguous),
                PATIENT_ID,
                "the patient_id is on several patients rows with different issuers; "
                f"give {ISSUER} in this table",
            )
            part.values[ISSUER] = _lookup(part.values[PATIENT_ID], issuer_of)
        part.values[KEY] = (
            part.values[PATIENT_ID].astype("string")
            + "\x1f"
            + part.values[ISSUER].astype("string").fillna("")
        )
    births = pd.concat([p.values[[KEY, BIRTH_DATE]] for p in parts]).dropna()
    if births.groupby(KEY)[BIRTH_DATE].nunique().gt(1).any():
        differing = births.groupby(KEY)[BIRTH_DATE].nunique().gt(1)
        for part in parts:
            clash = _lookup(part.values[KEY], differing).fillna(False).astype(bool)
            report.flag(
                part,
                clash & part.values[BIRTH_DATE].notna(),
                BIRTH_DATE,
                "another row gives this patient a different birth date",
            )
    birth_of = births.groupby(KEY)[BIRTH_DATE].first()
    for part in parts:
        part.values[BIRTH] = _lookup(part.values[KEY], birth_of)


def _lookup(keys: pd.Series, table: pd.Series) -> pd.Series:
    """``table``'s value for each of ``keys`` (NA where it has none), keeping its dtype."""
    return pd.Series(table.reindex(keys.to_numpy()).to_numpy(), index=keys.index)


def _check_unique(part: TablePart, report: TableReport) -> None:
    """A patient, a procedure record, a follow-up source may appear once per file."""
    target = TARGETS.get(part.form)
    key = list(target.unique_in_file) if target else []
    if not key or part.values.empty:
        return
    present = part.values[key].notna().all(axis=1)
    first = part.lines.groupby([part.values[k] for k in key], dropna=False).transform("first")
    again = present & part.values.duplicated(key)
    report.flag(
        part,
        again,
        key[-1] if key[-1] != KEY else PATIENT_ID,
        "the record appears twice in the file (first on row " + first.astype(str) + ")",
    )


def _add_ages(part: TablePart, dictionary: DataDictionary, report: TableReport) -> None:
    """Turn the form's dates into ages in days since birth (``(date - birth_date).days``)."""
    values = part.values
    for date_name, age_name in AGE_OF_DATE.items():
        if date_name not in values:
            continue
        dates, given = values[date_name], values[age_name]
        report.flag(
            part,
            dates.notna() & values[BIRTH].isna(),
            date_name,
            "a date needs the patient's birth_date, which this file does not give "
            f"(or give {age_name})",
        )
        computed = (dates - values[BIRTH]).dt.days
        bound = dictionary.field(age_name).maximum
        maximum = bound if isinstance(bound, float) else np.inf
        report.flag(part, computed < 0, date_name, "the date is before the birth date")
        report.flag(
            part,
            computed > maximum,
            date_name,
            f"the date is more than {maximum:g} days after the birth date",
        )
        valid = computed.where((computed >= 0) & (computed <= maximum)).round().astype("Int64")
        differs = given.notna() & valid.notna() & (given != valid)
        report.flag(
            part,
            differs,
            age_name,
            "'" + given.astype("string") + f"' disagrees with "
            f"{date_name} (" + valid.astype("string") + " days after the birth date)",
        )
        values[age_name] = given.fillna(valid)


def _row_rules(part: TablePart) -> list[tuple[pd.Series, str, str]]:
    """Rules across the fields of one row: (rows that break it, column, reason)."""
    text, values = part.text, part.values
    if part.form == "patients":
        dated = values["birth_year"].notna() & values[BIRTH].notna()
        return [
            (
                text["birth_month"].notna() & text["birth_year"].isna() & text[BIRTH_DATE].isna(),
                "birth_year",
                "birth_month is given without birth_year",
            ),
            (
                dated & (values["birth_year"] != values[BIRTH].dt.year),
                "birth_year",
                "birth_year disagrees with birth_date",
            ),
            (
                dated & (values["birth_month"] != values[BIRTH].dt.month),
                "birth_month",
                "birth_month disagrees with birth_date",
            ),
        ]
    if part.form == "anthropometry":
        return [
            (
                text["measurement_date"].isna() & text["age_days"].isna(),
                "age_days",
                "an age is required: give age_days, or measurement_date and birth_date",
            ),
            (
                text["weight_kg"].isna() & text["height_cm"].isna(),
                "weight_kg",
                "neither weight_kg nor height_cm is given",
            ),
        ]
    if part.form == "treatments":
        return [
            (
                text["cumulative_dose"].notna() & text["cumulative_dose_unit"].isna(),
                "cumulative_dose_unit",
                "cumulative_dose is given without its unit",
            ),
            (
                values["age_at_end_days"] < values["age_at_start_days"],
                "age_at_end_days",
                "the treatment ends before it starts",
            ),
        ]
    if part.form == "follow_up":
        return _follow_up_rules(part)
    return []


def _follow_up_rules(part: TablePart) -> list[tuple[pd.Series, str, str]]:
    """The death details need vital status 'dead'; the last contact of the dead is death."""
    text, values = part.text, part.values
    death_given = text[["death_date", "age_at_death_days", "cause_of_death_icd10"]].notna()
    dead = values["vital_status"] == "dead"
    last = values["age_at_last_contact_days"]
    values["age_at_last_contact_days"] = last.where(
        last.notna() | ~dead, values["age_at_death_days"]
    )
    no_contact = text["last_contact_date"].isna() & text["age_at_last_contact_days"].isna()
    return [
        (
            death_given.any(axis=1) & values["vital_status"].notna() & ~dead,
            "vital_status",
            "death details are given but vital_status is not 'dead'",
        ),
        (
            no_contact & ~(dead & values["age_at_death_days"].notna()),
            "age_at_last_contact_days",
            "give last_contact_date or age_at_last_contact_days (or the death of a patient "
            "who died)",
        ),
        (
            values["age_at_death_days"] > last,
            "age_at_death_days",
            "the death is after the last contact",
        ),
    ]


def _pseudonymise(
    parts: list[TablePart], pseudonymiser: Pseudonymiser, link_by_issuer: bool
) -> None:
    """Keyed pseudonyms of patient ids (with their issuer where ``link_by_issuer``; see
    :class:`doseline.config.Settings`) and of procedure record ids."""
    patients = pd.concat([p.values[[KEY, PATIENT_ID, ISSUER]] for p in parts])
    unique = patients.dropna(subset=[PATIENT_ID]).drop_duplicates(KEY)
    pseudonyms = pd.Series(
        [  # one HMAC per patient
            pseudonymiser.patient(
                str(patient_id), None if pd.isna(issuer) or not link_by_issuer else str(issuer)
            )
            for patient_id, issuer in zip(unique[PATIENT_ID], unique[ISSUER], strict=True)
        ],
        index=unique[KEY],
        dtype="str",
    )
    for part in parts:
        part.values[PSEUDONYM] = _lookup(part.values[KEY], pseudonyms)
        if RECORD_ID in part.values:
            records = part.values[RECORD_ID].dropna().unique()
            named = {record: pseudonymiser.text(str(record), "legacy record") for record in records}
            part.values[RECORD] = part.values[RECORD_ID].map(named)
