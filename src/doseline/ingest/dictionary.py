"""The REDCap data dictionary of tabular ingest, as typed objects, and the checks it implies.

``doseline/data/data_dictionary.csv`` is the single source of truth for the fields a table
(CSV, XLSX, REDCap export) may carry: their form, type, choices, validation and range. It uses
REDCap's 18-column data dictionary format, so that a centre can set up a REDCap project from it
(:func:`write_redcap_csv`) and import REDCap exports back.

:func:`check_column` applies one field's definition to a whole column at once (pandas vector
operations), returning the typed values and, per cell, the reason it was refused.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from doseline.errors import ConfigurationError

__all__ = [
    "REDCAP_COLUMNS",
    "CheckedColumn",
    "Choice",
    "CodeSystemValues",
    "DataDictionary",
    "FieldDefinition",
    "FieldTypeValues",
    "ValidationValues",
    "check_column",
    "dictionary_csv",
    "dictionary_markdown",
    "load_dictionary",
    "write_redcap_csv",
]

REDCAP_COLUMNS = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
"""The 18 columns (A-R) of a REDCap data dictionary, in order."""

# REDCap variable names: lower-case letters, digits and underscores, starting with a letter.
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]*")

# Code shapes. ICD-10 (WHO, 10th revision): a letter, two digits, optionally a dot and a
# subdivision (one digit in WHO ICD-10; up to four characters in national modifications such as
# ICD-10-CM). ICD-O-3 (WHO, International Classification of Diseases for Oncology, 3rd edition,
# 2000): topography C00.0-C80.9; morphology a four-digit histology code 8000-9999, a slash and
# a behaviour code (0 benign, 1 uncertain, 2 in situ, 3 malignant, 6 metastatic, 9 uncertain
# whether primary or metastatic).
_CODE_PATTERNS = {
    "ICD-10": r"[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?",
    "ICD-O-3 topography": r"C([0-7][0-9]|80)\.[0-9]",
    "ICD-O-3 morphology": r"[89][0-9]{3}/[012369]",
}
_CODE_EXAMPLES = {
    "ICD-10": "a letter, two digits, optionally a dot and a subdivision, e.g. Q90.9",
    "ICD-O-3 topography": "C00.0 to C80.9, e.g. C71.9",
    "ICD-O-3 morphology": "four digits 8000-9999, a slash and a behaviour 0-3, 6 or 9, e.g. 9440/3",
}
_DATE_TEXT = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_INTEGER_TEXT = r"[+-]?[0-9]+"


class FieldTypeValues(StrEnum):
    """REDCap field types (column D of the data dictionary)."""

    TEXT = "text"
    NOTES = "notes"
    DROPDOWN = "dropdown"
    RADIO = "radio"
    CHECKBOX = "checkbox"
    YESNO = "yesno"
    TRUEFALSE = "truefalse"
    CALC = "calc"
    FILE = "file"
    SLIDER = "slider"
    DESCRIPTIVE = "descriptive"
    SQL = "sql"


class ValidationValues(StrEnum):
    """REDCap text validation types that tabular ingest understands (column H)."""

    INTEGER = "integer"
    NUMBER = "number"
    DATE_YMD = "date_ymd"


class CodeSystemValues(StrEnum):
    """Coding systems whose code shape is checked, recognised by the field name's ending."""

    ICD10 = "ICD-10"
    ICDO3_TOPOGRAPHY = "ICD-O-3 topography"
    ICDO3_MORPHOLOGY = "ICD-O-3 morphology"


_CODE_SUFFIXES = {
    "icd10": CodeSystemValues.ICD10,
    "icdo3_topography": CodeSystemValues.ICDO3_TOPOGRAPHY,
    "icdo3_morphology": CodeSystemValues.ICDO3_MORPHOLOGY,
}
_WITH_CHOICES = {FieldTypeValues.DROPDOWN, FieldTypeValues.RADIO, FieldTypeValues.CHECKBOX}

Bound = float | date


@dataclass(frozen=True, slots=True)
class Choice:
    """One choice of a radio or dropdown field: the code stored, the label shown."""

    code: str
    label: str


@dataclass(frozen=True, slots=True)
class FieldDefinition:
    """One field (one row) of the data dictionary.

    Parameters
    ----------
    name
        Variable name (lower case, digits, underscores; unique in the dictionary).
    form
        The form (REDCap instrument) the field belongs to.
    field_type
        REDCap field type.
    label
        The label shown to the person entering data.
    choices
        Codes and labels of a radio, dropdown or checkbox field.
    validation
        Text validation type (integer, number or date_ymd), if any.
    minimum, maximum
        Inclusive range: numbers for integer and number fields, dates for date_ymd fields.
    identifier
        Whether REDCap flags the field as an identifier; doseline never stores its value as
        given (it is pseudonymised, reduced, or turned into an age).
    required
        Whether a row of the form must give a value.
    section_header, field_note, branching_logic, custom_alignment, question_number,
    matrix_group_name, matrix_ranking, field_annotation
        The other REDCap columns, kept as written so that the dictionary can be written back.
    """

    name: str
    form: str
    field_type: FieldTypeValues
    label: str
    choices: tuple[Choice, ...] = ()
    validation: ValidationValues | None = None
    minimum: Bound | None = None
    maximum: Bound | None = None
    identifier: bool = False
    required: bool = False
    section_header: str = ""
    field_note: str = ""
    branching_logic: str = ""
    custom_alignment: str = ""
    question_number: str = ""
    matrix_group_name: str = ""
    matrix_ranking: str = ""
    field_annotation: str = ""

    def __post_init__(self) -> None:
        """Check the definition (name, choices, range) as REDCap and doseline need it."""
        if not _FIELD_NAME.fullmatch(self.name):
            raise ConfigurationError(
                f"data dictionary: {self.name!r} is not a REDCap variable name "
                "(lower-case letters, digits and underscores, starting with a letter)"
            )
        if not _FIELD_NAME.fullmatch(self.form):
            raise ConfigurationError(f"data dictionary: {self.name}: bad form name {self.form!r}")
        if (self.field_type in _WITH_CHOICES) != bool(self.choices):
            raise ConfigurationError(
                f"data dictionary: {self.name}: a {self.field_type} field "
                + ("needs choices" if self.field_type in _WITH_CHOICES else "takes no choices")
            )
        codes = [choice.code for choice in self.choices]
        if len(set(codes)) != len(codes):
            raise ConfigurationError(f"data dictionary: {self.name}: repeated choice codes")
        self._check_range()

    def _check_range(self) -> None:
        """Bounds must suit the validation (dates for date_ymd, numbers otherwise); integer
        bounds are kept as floats."""
        dated = self.validation is ValidationValues.DATE_YMD
        for name in ("minimum", "maximum"):
            bound = getattr(self, name)
            numeric = isinstance(bound, int | float) and not isinstance(bound, bool)
            if bound is None:
                continue
            if self.validation is None or (not isinstance(bound, date) if dated else not numeric):
                raise ConfigurationError(
                    f"data dictionary: {self.name}: range limit {bound!r} does not suit "
                    f"validation {self.validation}"
                )
            if numeric:
                object.__setattr__(self, name, float(bound))
        low, high = self.minimum, self.maximum
        if low is not None and high is not None and low > high:  # type: ignore[operator]
            raise ConfigurationError(f"data dictionary: {self.name}: minimum above maximum")

    @property
    def codes(self) -> tuple[str, ...]:
        """The choice codes (empty for fields without choices)."""
        return tuple(choice.code for choice in self.choices)

    @property
    def code_system(self) -> CodeSystemValues | None:
        """The coding system of the field, from its name (``..._icd10``, ``icdo3_...``)."""
        for suffix, system in _CODE_SUFFIXES.items():
            if self.name.endswith(suffix):
                return system
        return None

    @classmethod
    def from_redcap_row(cls, row: Mapping[str, str]) -> FieldDefinition:
        """Build a field from one row of a REDCap data dictionary (keyed by column header)."""
        cell = {column: (row.get(column) or "").strip() for column in REDCAP_COLUMNS}
        name = cell[REDCAP_COLUMNS[0]]
        validation_text = cell[REDCAP_COLUMNS[7]]
        try:
            field_type = FieldTypeValues(cell[REDCAP_COLUMNS[3]])
            validation = ValidationValues(validation_text) if validation_text else None
        except ValueError as error:
            raise ConfigurationError(f"data dictionary: {name}: {error}") from error
        return cls(
            name=name,
            form=cell[REDCAP_COLUMNS[1]],
            section_header=cell[REDCAP_COLUMNS[2]],
            field_type=field_type,
            label=cell[REDCAP_COLUMNS[4]],
            choices=_parse_choices(cell[REDCAP_COLUMNS[5]], name),
            field_note=cell[REDCAP_COLUMNS[6]],
            validation=validation,
            minimum=_parse_bound(cell[REDCAP_COLUMNS[8]], validation, name),
            maximum=_parse_bound(cell[REDCAP_COLUMNS[9]], validation, name),
            identifier=cell[REDCAP_COLUMNS[10]].lower() == "y",
            branching_logic=cell[REDCAP_COLUMNS[11]],
            required=cell[REDCAP_COLUMNS[12]].lower() == "y",
            custom_alignment=cell[REDCAP_COLUMNS[13]],
            question_number=cell[REDCAP_COLUMNS[14]],
            matrix_group_name=cell[REDCAP_COLUMNS[15]],
            matrix_ranking=cell[REDCAP_COLUMNS[16]],
            field_annotation=cell[REDCAP_COLUMNS[17]],
        )

    def to_redcap_row(self) -> tuple[str, ...]:
        """The field as one row of a REDCap data dictionary (the 18 columns, in order)."""
        return (
            self.name,
            self.form,
            self.section_header,
            self.field_type.value,
            self.label,
            " | ".join(f"{choice.code}, {choice.label}" for choice in self.choices),
            self.field_note,
            self.validation.value if self.validation else "",
            _format_bound(self.minimum),
            _format_bound(self.maximum),
            "y" if self.identifier else "",
            self.branching_logic,
            "y" if self.required else "",
            self.custom_alignment,
            self.question_number,
            self.matrix_group_name,
            self.matrix_ranking,
            self.field_annotation,
        )

    def describe_range(self) -> str:
        """The allowed values in words (for documentation and messages)."""
        if self.choices:
            return ", ".join(self.codes)
        if self.code_system is not None:
            return _CODE_EXAMPLES[self.code_system.value]
        if self.minimum is None and self.maximum is None:
            return ""
        return f"{_format_bound(self.minimum)} to {_format_bound(self.maximum)}"


def _parse_choices(text: str, name: str) -> tuple[Choice, ...]:
    """``"M, Male | F, Female"`` -> choices (REDCap's choice syntax)."""
    if not text:
        return ()
    choices = []
    for item in text.split("|"):
        code, separator, label = item.strip().partition(",")
        if not separator or not code.strip():
            raise ConfigurationError(f"data dictionary: {name}: bad choice {item.strip()!r}")
        choices.append(Choice(code.strip(), label.strip()))
    return tuple(choices)


def _parse_bound(text: str, validation: ValidationValues | None, name: str) -> Bound | None:
    """A range limit: a date for date_ymd fields, a number otherwise; None if empty."""
    if not text:
        return None
    try:
        if validation is ValidationValues.DATE_YMD:
            return date.fromisoformat(text)
        return float(text)
    except ValueError as error:
        raise ConfigurationError(f"data dictionary: {name}: bad range limit {text!r}") from error


def _format_bound(bound: Bound | None) -> str:
    """A range limit as REDCap writes it (``1900-01-01``, ``650``, ``0.2``)."""
    if bound is None:
        return ""
    if isinstance(bound, date):
        return bound.isoformat()
    return str(int(bound)) if bound.is_integer() else repr(bound)


class DataDictionary:
    """The fields of a data dictionary, in order; the first field is the record id.

    Parameters
    ----------
    fields
        The field definitions, in the dictionary's order (names unique, as REDCap requires).
    """

    def __init__(self, fields: Iterable[FieldDefinition]) -> None:
        self.fields = tuple(fields)
        if not self.fields:
            raise ConfigurationError("data dictionary: no fields")
        self._by_name = {definition.name: definition for definition in self.fields}
        if len(self._by_name) != len(self.fields):
            names = [definition.name for definition in self.fields]
            repeated = sorted({name for name in names if names.count(name) > 1})
            raise ConfigurationError(f"data dictionary: repeated field names {repeated}")

    @property
    def record_id(self) -> FieldDefinition:
        """The record id field (REDCap: the first field of the dictionary)."""
        return self.fields[0]

    def forms(self) -> tuple[str, ...]:
        """The form names, in the order of the dictionary."""
        return tuple(dict.fromkeys(definition.form for definition in self.fields))

    def fields_of(self, form: str) -> tuple[FieldDefinition, ...]:
        """The fields of ``form``, in order.

        Raises
        ------
        KeyError
            If the dictionary has no such form (the message lists the forms).
        """
        found = tuple(definition for definition in self.fields if definition.form == form)
        if not found:
            raise KeyError(f"no form {form!r} in the data dictionary (forms: {self.forms()})")
        return found

    def field(self, name: str) -> FieldDefinition:
        """The field called ``name`` (KeyError if there is none)."""
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        """Whether the dictionary has a field called ``name``."""
        return name in self._by_name


def _read_dictionary(text: str) -> DataDictionary:
    """Parse the text of a REDCap data dictionary CSV."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in REDCAP_COLUMNS if column not in (reader.fieldnames or ())]
    if missing:
        raise ConfigurationError(f"data dictionary: missing REDCap columns {missing}")
    return DataDictionary(FieldDefinition.from_redcap_row(row) for row in reader)


@cache
def _shipped_dictionary() -> DataDictionary:
    """The dictionary shipped in ``doseline/data`` (read once)."""
    text = files("doseline.data").joinpath("data_dictionary.csv").read_text("utf-8-sig")
    return _read_dictionary(text)


def load_dictionary(path: Path | None = None) -> DataDictionary:
    """Load a REDCap data dictionary; by default the one shipped with doseline.

    Parameters
    ----------
    path
        A REDCap data dictionary CSV; ``None`` for ``doseline/data/data_dictionary.csv``.

    Raises
    ------
    ConfigurationError
        If the dictionary is not a valid REDCap dictionary of the kind doseline reads.
    """
    if path is None:
        return _shipped_dictionary()
    return _read_dictionary(Path(path).read_text(encoding="utf-8-sig"))


def write_redcap_csv(
    destination: Path | TextIO,
    *,
    form: str | None = None,
    dictionary: DataDictionary | None = None,
) -> None:
    """Write the dictionary, or the fields of one form, as a REDCap data dictionary CSV.

    The whole dictionary can be uploaded to a new REDCap project as it is (REDCap needs the
    record id ``patient_id`` as first field, so a single form other than ``patients`` is
    meant for adding an instrument to a project by hand).

    Parameters
    ----------
    destination
        A file path or an open text stream.
    form
        Write only the fields of this form.
    dictionary
        The dictionary to write; the shipped one by default.
    """
    dictionary = dictionary or load_dictionary()
    chosen = dictionary.fields_of(form) if form is not None else dictionary.fields
    if isinstance(destination, Path):
        with destination.open("w", encoding="utf-8", newline="") as handle:
            _write_rows(handle, chosen)
    else:
        _write_rows(destination, chosen)


def dictionary_csv(*, form: str | None = None, dictionary: DataDictionary | None = None) -> str:
    """The dictionary, or the fields of one form, as the text of a REDCap data dictionary CSV
    (see :func:`write_redcap_csv`)."""
    buffer = io.StringIO()
    write_redcap_csv(buffer, form=form, dictionary=dictionary)
    return buffer.getvalue()


def _write_rows(handle: TextIO, chosen: Iterable[FieldDefinition]) -> None:
    """Write the header and one row per field."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(REDCAP_COLUMNS)
    writer.writerows(definition.to_redcap_row() for definition in chosen)


def dictionary_markdown(dictionary: DataDictionary | None = None) -> str:
    """A Markdown table of every field: form, name, type, allowed values, flags and label."""
    dictionary = dictionary or load_dictionary()
    lines = [
        "| form | field | type | allowed values | required | identifier | label |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in dictionary.fields:
        kind = f.validation.value if f.validation else f.field_type.value
        if f.code_system is not None:
            kind = f.code_system.value
        lines.append(
            f"| {f.form} | `{f.name}` | {kind} | {f.describe_range()} | "
            f"{'yes' if f.required else ''} | {'yes' if f.identifier else ''} | {f.label} |"
        )
    return "\n".join(lines) + "\n"


# -- checking a column against its definition ----------------------------------------------


@dataclass(frozen=True)
class CheckedColumn:
    """A column checked against its field definition.

    Attributes
    ----------
    values
        The typed values: ``Int64`` for integer fields, ``float64`` for number fields,
        ``datetime64`` for date_ymd fields, stripped strings otherwise (codes in upper case);
        missing or refused cells are NA.
    problems
        Per cell, why it was refused (NA where it was accepted).
    """

    values: pd.Series
    problems: pd.Series


def check_column(definition: FieldDefinition, text: pd.Series) -> CheckedColumn:
    """Check the cells of one column (strings, NA where empty) against ``definition``.

    Every check is a column operation: presence (required), format (integer, number,
    date_ymd), range, choices and code shape. A refused cell's reason quotes the value unless
    the field is an identifier.
    """
    present = text.notna()
    problems = pd.Series(pd.NA, index=text.index, dtype="string")
    problems = problems.mask(~present & definition.required, "a value is required")
    shown = _shown(definition, text)
    values: pd.Series
    if definition.validation is ValidationValues.INTEGER:
        well_formed = text.str.fullmatch(_INTEGER_TEXT).fillna(False).astype(bool)
        values = pd.to_numeric(text.where(well_formed), errors="coerce").astype("Int64")
        problems = _flag(problems, present & ~well_formed, shown + " is not an integer")
    elif definition.validation is ValidationValues.NUMBER:
        values = pd.to_numeric(text, errors="coerce").astype("float64")
        finite = pd.Series(np.isfinite(values.to_numpy()), index=text.index)
        problems = _flag(problems, present & ~finite, shown + " is not a number")
    elif definition.validation is ValidationValues.DATE_YMD:
        well_formed = text.str.fullmatch(_DATE_TEXT).fillna(False).astype(bool)
        values = pd.to_datetime(text.where(well_formed), format="%Y-%m-%d", errors="coerce")
        problems = _flag(
            problems, present & values.isna(), shown + " is not a date written YYYY-MM-DD"
        )
    else:
        values = text.str.upper() if definition.code_system is not None else text
    problems = _check_bounds(definition, values, shown, problems)
    problems = _check_codes(definition, values, present, shown, problems)
    return CheckedColumn(values.where(problems.isna()), problems)


def _shown(definition: FieldDefinition, text: pd.Series) -> pd.Series:
    """How a cell is named in a message: its value, or "the value" for identifiers."""
    if definition.identifier:
        return pd.Series("the value", index=text.index, dtype="string")
    return ("'" + text.astype("string") + "'").fillna("the value")


def _flag(problems: pd.Series, mask: pd.Series, reasons: pd.Series | str) -> pd.Series:
    """Set ``reasons`` where ``mask`` holds and no earlier problem was found."""
    return problems.mask(mask & problems.isna(), reasons)


def _check_bounds(
    definition: FieldDefinition, values: pd.Series, shown: pd.Series, problems: pd.Series
) -> pd.Series:
    """Flag values below the field's minimum or above its maximum."""
    low, high = definition.minimum, definition.maximum
    low_value: object = pd.Timestamp(low) if isinstance(low, date) else low
    high_value: object = pd.Timestamp(high) if isinstance(high, date) else high
    if low_value is not None:
        below = (values < low_value).fillna(False).astype(bool)
        problems = _flag(problems, below, shown + f" is below the minimum {_format_bound(low)}")
    if high_value is not None:
        above = (values > high_value).fillna(False).astype(bool)
        problems = _flag(problems, above, shown + f" is above the maximum {_format_bound(high)}")
    return problems


def _check_codes(
    definition: FieldDefinition,
    values: pd.Series,
    present: pd.Series,
    shown: pd.Series,
    problems: pd.Series,
) -> pd.Series:
    """Flag values that are not a choice code, or not of the field's code shape."""
    if definition.choices:
        allowed = ", ".join(definition.codes)
        problems = _flag(
            problems,
            present & ~values.isin(definition.codes),
            shown + f" is not one of the codes {allowed}",
        )
    system = definition.code_system
    if system is not None:
        shaped = values.str.fullmatch(_CODE_PATTERNS[system.value]).fillna(False).astype(bool)
        problems = _flag(
            problems,
            present & ~shaped,
            shown + f" is not an {system.value} code ({_CODE_EXAMPLES[system.value]})",
        )
    return problems
