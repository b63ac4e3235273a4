"""Reading tabular files into per-form parts: a CSV of one form, an XLSX workbook with one
sheet per form, or a REDCap flat export.

Cells are read as text (stripped, NA where empty), with the row number a spreadsheet shows
(header = row 1), so that every later problem can name its sheet, row and column. Column
names are checked against the data dictionary here; cell values in
:mod:`doseline.ingest.tables`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import load_workbook

from doseline.errors import InvalidInputError
from doseline.ingest.dictionary import DataDictionary, load_dictionary

__all__ = [
    "BIRTH",
    "BIRTH_DATE",
    "ISSUER",
    "KEY",
    "LINK_FIELDS",
    "PATIENT_ID",
    "PSEUDONYM",
    "RECORD",
    "RECORD_ID",
    "TablePart",
    "TableReport",
    "UnreadableTableError",
    "read_table",
    "recognise_form",
]

PATIENT_ID = "patient_id"
ISSUER = "issuer_of_patient_id"
BIRTH_DATE = "birth_date"
RECORD_ID = "record_id"
LINK_FIELDS = (ISSUER, BIRTH_DATE)
"""Fields of the patients form that a table of another form may carry, to link its rows."""

# Columns added to TablePart.values while a file is checked.
KEY = "_patient_key"  # the patient id and its issuer, in one string
BIRTH = "_birth"  # the patient's birth date, from any row of the file
PSEUDONYM = "_pseudonym"  # keyed pseudonym of the patient
RECORD = "_record"  # keyed pseudonym of record_id

_INSTRUMENT = "redcap_repeat_instrument"
_INSTANCE = "redcap_repeat_instance"
_REDCAP_SYSTEM = frozenset({_INSTRUMENT, _INSTANCE, "redcap_data_access_group"})
_WORKBOOK_SUFFIXES = frozenset({".xlsx", ".xlsm"})


class UnreadableTableError(Exception):
    """The file cannot be read as a table at all (not UTF-8 CSV, not an XLSX workbook)."""


@dataclass
class TablePart:
    """The rows of one form in one file (a CSV, a sheet, or one form of a REDCap export).

    Attributes
    ----------
    form
        The form of the rows.
    sheet
        The workbook sheet, if any.
    text
        The cells as stripped strings, NA where empty; every field of the form and the link
        fields are columns (empty where the file does not have them).
    lines
        Row number of each row as a spreadsheet shows it (header = row 1).
    given
        The columns the file has.
    values
        The checked, typed values (filled by :mod:`doseline.ingest.tables`).
    """

    form: str
    sheet: str | None
    text: pd.DataFrame
    lines: pd.Series
    given: frozenset[str] = frozenset()
    values: pd.DataFrame = field(default_factory=pd.DataFrame)

    def record(self, position: int | None) -> str:
        """Where the row at ``position`` is, in words (``None``: the header)."""
        row = f"row {self.lines.iloc[position]}" if position is not None else "row 1"
        return f"sheet {self.sheet}, {row}" if self.sheet else row


@dataclass
class TableReport:
    """The problems (each naming file, sheet, row and column) and warnings of one file."""

    source: str
    problems: list[InvalidInputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def flag(
        self,
        part: TablePart,
        mask: pd.Series,
        column: str,
        reason: pd.Series | str,
        kind: type[InvalidInputError] = InvalidInputError,
    ) -> None:
        """One problem per row where ``mask`` holds (the loop only words the messages)."""
        flagged = np.flatnonzero(mask.fillna(False).to_numpy(dtype=bool))
        for position in flagged:
            text = reason if isinstance(reason, str) else str(reason.iloc[position])
            self.problems.append(
                kind(text, source=self.source, record=part.record(int(position)), field=column)
            )

    def header(self, sheet: str | None, column: str | None, reason: str) -> None:
        """A problem with the header row (a column missing or unknown)."""
        record = f"sheet {sheet}, row 1" if sheet else "row 1"
        self.problems.append(
            InvalidInputError(reason, source=self.source, record=record, field=column)
        )


def recognise_form(columns: Iterable[str], dictionary: DataDictionary | None = None) -> str:
    """The form whose fields the ``columns`` of a one-form table are.

    ``patient_id``, ``birth_date`` and ``issuer_of_patient_id`` may accompany any form; a
    table with no other column is of the patients form.

    Raises
    ------
    InvalidInputError
        If a column is not in the dictionary, or the columns belong to several forms.
    """
    dictionary = dictionary or load_dictionary()
    names = [str(name) for name in columns]
    unknown = [name for name in names if name not in dictionary]
    if unknown:
        raise InvalidInputError(
            f"columns not in the data dictionary: {', '.join(unknown)}", record="row 1"
        )
    forms: dict[str, list[str]] = {}
    for name in names:
        if name not in (PATIENT_ID, *LINK_FIELDS):
            forms.setdefault(dictionary.field(name).form, []).append(name)
    if len(forms) > 1:
        listed = "; ".join(f"{form} ({', '.join(cols)})" for form, cols in forms.items())
        raise InvalidInputError(
            f"the columns belong to several forms: {listed}; give the form or split the file",
            record="row 1",
        )
    return next(iter(forms), dictionary.record_id.form)


def read_table(
    path: Path, form: str | None, dictionary: DataDictionary, report: TableReport
) -> list[TablePart]:
    """Read ``path`` into one part per form; problems with columns go to ``report``.

    Raises
    ------
    UnreadableTableError
        If the file is not a readable CSV or XLSX file.
    InvalidInputError
        If ``form`` is given for a workbook (whose sheets name their forms).
    """
    workbook = path.suffix.lower() in _WORKBOOK_SUFFIXES
    if workbook and form is not None:
        raise InvalidInputError(
            "a workbook names the form of each sheet by the sheet's name; form= is for a CSV",
            source=report.source,
        )
    try:
        sheets = _read_workbook(path) if workbook else {None: _read_csv(path)}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        kind = "an XLSX workbook" if workbook else "a UTF-8 CSV file"
        raise UnreadableTableError(f"{path}: cannot be read as {kind}: {error}") from error
    if not workbook:
        text, lines = sheets[None]
        if _INSTRUMENT in text.columns:
            return _flat_parts(text, lines, dictionary, report)
        try:  # columns outside the dictionary are reported with the form's other problems
            known = [name for name in text.columns if name in dictionary]
            form = form or recognise_form(known, dictionary)
        except InvalidInputError as error:
            report.problems.append(error.with_source(report.source))
            return []
    parts = []
    for sheet, (text, lines) in sheets.items():
        name = form if sheet is None else sheet
        if sheet is not None and text.columns.empty:
            continue  # an empty sheet
        if name in dictionary.forms():
            parts.append(_form_part(name, sheet, text, lines, dictionary=dictionary, report=report))
        else:
            forms = ", ".join(dictionary.forms())
            report.header(sheet, None, f"the sheet is not named after a form ({forms})")
    return parts


def _read_csv(path: Path) -> tuple[pd.DataFrame, pd.Series]:
    """Read every cell of a UTF-8 CSV file as text (a byte-order mark is allowed)."""
    frame = pd.read_csv(
        path, dtype=str, keep_default_na=False, skip_blank_lines=False, encoding="utf-8-sig"
    )
    return _tidy(frame)


def _read_workbook(path: Path) -> dict[str | None, tuple[pd.DataFrame, pd.Series]]:
    """Read every sheet of an XLSX workbook, cells as text, by sheet name."""
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheets: dict[str | None, tuple[pd.DataFrame, pd.Series]] = {}
        for sheet in workbook.worksheets:
            cells = [
                [_cell_text(value) for value in row]
                for row in sheet.iter_rows(min_row=1, values_only=True)
            ]
            width = max((len(row) for row in cells), default=0)
            cells = [row + [None] * (width - len(row)) for row in cells]
            header = [name or "" for name in cells[0]] if cells else []
            sheets[sheet.title] = _tidy(pd.DataFrame(cells[1:], columns=header, dtype="str"))
        return sheets
    finally:
        workbook.close()


def _cell_text(value: object) -> str | None:
    """A spreadsheet cell as the text a CSV would hold (dates as YYYY-MM-DD)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        midnight = value.hour == value.minute == value.second == value.microsecond == 0
        return value.date().isoformat() if midnight else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _tidy(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Strip the cells, make empty ones NA, drop empty rows and unnamed empty columns.

    Returns the cells and the row number of each row (the header is row 1).
    """
    frame.columns = pd.Index([str(name).strip() for name in frame.columns])
    text = frame.apply(lambda column: column.str.strip())
    text = text.mask(text == "")
    lines = pd.Series(np.arange(2, len(text) + 2))
    unnamed = [
        name
        for name in text.columns
        if (not name or name.startswith("Unnamed:")) and text[name].isna().all()
    ]
    keep = text.notna().any(axis=1)
    text = text.loc[keep].drop(columns=unnamed).reset_index(drop=True)
    return text, lines.loc[keep].reset_index(drop=True)


def _form_part(
    form: str,
    sheet: str | None,
    text: pd.DataFrame,
    lines: pd.Series,
    *,
    dictionary: DataDictionary,
    report: TableReport,
) -> TablePart:
    """The rows of a one-form table, its columns checked against the form."""
    allowed = {PATIENT_ID, *(f.name for f in dictionary.fields_of(form))}
    if form != dictionary.record_id.form:
        allowed.update(LINK_FIELDS)
    for name in text.columns[text.columns.duplicated()].unique():
        report.header(sheet, name, "the column appears more than once")
    for name in text.columns:
        if name not in allowed:
            report.header(sheet, name or None, _unknown_column(name, form, dictionary))
    text = text.loc[:, ~text.columns.duplicated()]
    known = [name for name in text.columns if name in allowed]
    return _complete(TablePart(form, sheet, text[known].copy(), lines), dictionary, report)


def _unknown_column(name: str, form: str, dictionary: DataDictionary) -> str:
    """Why a column is refused, in words."""
    if not name or name.startswith("Unnamed:"):
        return "a column without a name holds values"
    if name in dictionary:
        return f"the column is a field of form {dictionary.field(name).form}, not of {form}"
    return "the column is not a field of the data dictionary"


def _complete(part: TablePart, dictionary: DataDictionary, report: TableReport) -> TablePart:
    """Add the form's absent columns as empty ones; a required one must be present."""
    part.given = frozenset(part.text.columns)
    names = [PATIENT_ID, *LINK_FIELDS, *(f.name for f in dictionary.fields_of(part.form))]
    for name in dict.fromkeys(names):
        if name in part.given:
            continue
        if dictionary.field(name).required:
            report.header(part.sheet, name, f"the {part.form} table has no {name} column")
        part.text[name] = pd.Series(pd.NA, index=part.text.index, dtype="str")
    return part


def _flat_parts(
    text: pd.DataFrame, lines: pd.Series, dictionary: DataDictionary, report: TableReport
) -> list[TablePart]:
    """Split a REDCap flat export into one part per form.

    Rows with an empty ``redcap_repeat_instrument`` are the patients' rows; they may also hold
    the fields of forms that the REDCap project does not repeat. Every other row holds one
    instance of the repeating form it names.
    """
    forms = dictionary.forms()
    whole = TablePart(dictionary.record_id.form, None, text, lines)
    ignored = _REDCAP_SYSTEM | {f"{name}_complete" for name in forms}
    for name in text.columns:
        if name not in dictionary and name not in ignored:
            report.header(None, name or None, _unknown_column(name, "any", dictionary))
    for name in (PATIENT_ID, _INSTANCE):
        if name not in text.columns:
            report.header(None, name, f"a REDCap export with {_INSTRUMENT} needs {name}")
            text[name] = pd.Series(pd.NA, index=text.index, dtype="str")
    instrument = text[_INSTRUMENT]
    repeating = instrument.notna()
    repeatable = [form for form in forms if form != whole.form]
    report.flag(
        whole,
        repeating & ~instrument.isin(repeatable),
        _INSTRUMENT,
        "'" + instrument + "' is not a repeating form of the data dictionary",
    )
    numbered = text[_INSTANCE].str.fullmatch(r"[1-9][0-9]*").fillna(False).astype(bool)
    report.flag(whole, repeating & ~numbered, _INSTANCE, "a repeating form needs an instance")
    twice = repeating & text.duplicated([PATIENT_ID, _INSTRUMENT, _INSTANCE])
    report.flag(whole, twice, _INSTANCE, "this instance of the form is on an earlier row too")
    columns = {
        form: [f.name for f in dictionary.fields_of(form) if f.name in text] for form in forms
    }
    parts = []
    for form in forms:
        own = columns[form]
        rows = ~repeating
        if form != whole.form:
            rows = (instrument == form) | (rows & text[own].notna().any(axis=1))
            _flag_stray(whole, text, form, columns, report)
        if rows.any():
            selected = text.loc[rows, list(dict.fromkeys([PATIENT_ID, *own]))]
            part = TablePart(
                form, None, selected.reset_index(drop=True), lines[rows].reset_index(drop=True)
            )
            parts.append(_complete(part, dictionary, report))
    return parts


def _flag_stray(
    whole: TablePart,
    text: pd.DataFrame,
    form: str,
    columns: Mapping[str, list[str]],
    report: TableReport,
) -> None:
    """A row of a repeating form must leave the other forms' fields empty."""
    rows = text[_INSTRUMENT] == form
    for other, names in columns.items():
        for name in names:
            if other != form and name != PATIENT_ID:
                report.flag(
                    whole,
                    rows & text[name].notna(),
                    name,
                    f"a field of form {other} is filled on a row of form {form}",
                )
