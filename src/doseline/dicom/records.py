"""Turn a content tree into tables of records: one row per irradiation event, filter, source.

A *record* is a container content item of a given concept (for instance "Irradiation Event
X-Ray Data", DCM 113706). Its *fields* are the content items below it, identified by the pair
(concept of their nearest container, their own concept): "KVP" directly in the event container
is one field, "KVP" in a "CT X-Ray Source Parameters" container is another. The lookup is done
on the distinct pairs of a document (a few dozen), and all fields of all records are gathered
with a handful of array operations, so the cost does not grow with a Python loop per item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from doseline.dicom import _scan
from doseline.dicom.content import ContentTree, ValueTypeValues
from doseline.errors import UnitError
from doseline.units import conversion_factor

__all__ = [
    "CodedField",
    "FieldSpec",
    "NumericField",
    "RecordTable",
    "RecordType",
    "TextField",
    "extract_records",
]


@dataclass(frozen=True)
class NumericField:
    """A NUM content item, converted to ``unit`` (a unit code of :mod:`doseline.units`)."""

    name: str
    concepts: tuple[str, ...]
    unit: str
    containers: tuple[str, ...] = ()


@dataclass(frozen=True)
class CodedField:
    """A CODE content item, normalised through ``values`` (code key -> value).

    A code missing from ``values`` keeps its code meaning. Where ``text`` is true the concept
    may also come as a TEXT item (vendors do this with Reference Point Definition).
    """

    name: str
    concepts: tuple[str, ...]
    values: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    containers: tuple[str, ...] = ()
    text: bool = False


@dataclass(frozen=True)
class TextField:
    """A TEXT, UIDREF, DATETIME, DATE, TIME content item, kept as its string."""

    name: str
    concepts: tuple[str, ...]
    containers: tuple[str, ...] = ()


FieldSpec = NumericField | CodedField | TextField


@dataclass(frozen=True)
class RecordType:
    """A kind of record: its container concepts and its fields."""

    name: str
    concepts: tuple[str, ...]
    fields: tuple[FieldSpec, ...]


@dataclass
class RecordTable:
    """Records of one type found in a document.

    Attributes
    ----------
    rows
        Content-tree rows of the record containers, in document order.
    event
        For each record, the row of the irradiation event it lies in (``-1`` if none).
    columns
        Field name -> array over records: float (NaN if absent) for numeric fields, object
        (``None`` if absent) otherwise.
    """

    type: RecordType
    rows: np.ndarray
    event: np.ndarray
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def record_name(self, i: int) -> str:
        return f"{self.type.name} {i + 1}"


@dataclass(frozen=True)
class _Layout:
    """What every record type of one document shares: containers, events, and the distinct
    (container concept, concept) pairs of the items."""

    is_container: np.ndarray
    is_event: np.ndarray
    event_of: np.ndarray
    candidates: np.ndarray
    unique_pairs: np.ndarray
    pair_inverse: np.ndarray
    n_codes: int


def _layout(tree: ContentTree, event_concepts: tuple[str, ...]) -> _Layout:
    cached = tree.memo.get(("layout", event_concepts))
    if isinstance(cached, _Layout):
        return cached
    is_container = np.asarray(tree.value_type == ValueTypeValues.CONTAINER)
    is_event = is_container & tree.concept_mask(event_concepts)
    container, event_of = _scan.nearest_ancestors(tree.parent, is_container, is_event)
    n_codes = len(tree.keys) + 1
    candidates = np.flatnonzero((container >= 0) & (tree.concept >= 0))
    container_concept = tree.concept[container[candidates]]
    pair = (container_concept.astype(np.int64) + 1) * n_codes + tree.concept[candidates]
    unique_pairs, inverse = np.unique(pair, return_inverse=True)
    layout = _Layout(is_container, is_event, event_of, candidates, unique_pairs, inverse, n_codes)
    tree.memo[("layout", event_concepts)] = layout
    return layout


@cache
def _field_lookup(record_type: RecordType) -> dict[tuple[str | None, str], int]:
    lookup: dict[tuple[str | None, str], int] = {}
    for index, spec in enumerate(record_type.fields):
        for container in spec.containers or record_type.concepts:
            for concept in spec.concepts:
                lookup.setdefault((container, concept), index)
    return lookup


def extract_records(
    tree: ContentTree,
    record_type: RecordType,
    *,
    event_concepts: Sequence[str],
    source: str | None = None,
    strict_units: bool = True,
    warnings: list[str] | None = None,
) -> RecordTable:
    """Gather the records of ``record_type`` and their fields from ``tree``.

    Parameters
    ----------
    tree
        The document's content tree.
    record_type
        Which containers are records and which fields they carry.
    event_concepts
        Concepts of irradiation-event containers, to attach each record to its event.
    source
        File name, for error messages.
    strict_units
        If true, a missing or unknown unit raises :class:`UnitError`; otherwise the value is
        left out and a message is appended to ``warnings``.
    """
    keys = tree.keys
    layout = _layout(tree, tuple(event_concepts))
    is_record = layout.is_container & tree.concept_mask(record_type.concepts)
    _, owner = _scan.nearest_ancestors(tree.parent, layout.is_container, is_record)

    record_rows = np.flatnonzero(is_record)
    record_event = np.where(layout.is_event[record_rows], record_rows, layout.event_of[record_rows])
    n_records = record_rows.shape[0]
    ordinal = np.full(len(tree), -1, dtype=np.int64)
    ordinal[record_rows] = np.arange(n_records)

    # Field of each item, looked up once per distinct (container concept, concept) pair.
    n_codes = layout.n_codes
    lookup = _field_lookup(record_type)
    pair_field = np.array(
        [
            lookup.get((keys[p // n_codes - 1] if p >= n_codes else None, keys[p % n_codes]), -1)
            for p in layout.unique_pairs.tolist()
        ],
        dtype=np.int64,
    )
    candidates = layout.candidates
    inverse = layout.pair_inverse
    item_field = pair_field[inverse] if candidates.size else np.zeros(0, dtype=np.int64)
    matched = (item_field >= 0) & (owner[candidates] >= 0)
    items, item_field = candidates[matched], item_field[matched]
    item_record = ordinal[owner[items]]

    # First occurrence in document order wins; sorting by (field, record) groups the fields.
    combined = item_field * max(n_records, 1) + item_record
    _, first = np.unique(combined, return_index=True)
    items, item_field, item_record = items[first], item_field[first], item_record[first]
    bounds = np.searchsorted(item_field, np.arange(len(record_type.fields) + 1))

    columns: dict[str, np.ndarray] = {}
    for index, spec in enumerate(record_type.fields):
        lo, hi = bounds[index], bounds[index + 1]
        f_items, f_records = items[lo:hi], item_record[lo:hi]
        if isinstance(spec, NumericField):
            values = np.full(n_records, np.nan)
            if hi > lo:
                factors = _unit_factors(
                    tree,
                    f_items,
                    f_records,
                    spec,
                    record_type,
                    source=source,
                    strict=strict_units,
                    warnings=warnings,
                )
                values[f_records] = tree.numeric[f_items] * factors
            columns[spec.name] = values
        elif isinstance(spec, CodedField):
            columns[spec.name] = _coded_values(tree, f_items, f_records, n_records, spec)
        else:
            texts = np.full(n_records, None, dtype=object)
            for item, record in zip(f_items.tolist(), f_records.tolist(), strict=True):
                texts[record] = tree.text(item)
            columns[spec.name] = texts
    return RecordTable(record_type, record_rows, record_event, columns)


def _unit_factors(
    tree: ContentTree,
    items: np.ndarray,
    records: np.ndarray,
    spec: NumericField,
    record_type: RecordType,
    *,
    source: str | None,
    strict: bool,
    warnings: list[str] | None,
) -> np.ndarray:
    """Conversion factor of each item's value to the field's canonical unit.

    A value without a number needs no unit. A number without a unit, or with an unknown or
    incompatible one, is an error (strict) or is left out with a warning (lenient).
    """
    factors = np.full(items.shape[0], np.nan)
    has_number = tree.numeric_count[items] > 0
    unit_rows = tree.unit[items]
    numbered = unit_rows[has_number]
    distinct = (
        [int(numbered[0])]
        if numbered.size and (numbered == numbered[0]).all()
        else (np.unique(numbered).tolist())
    )
    for unit_row in distinct:
        selected = has_number & (unit_rows == unit_row)
        record = f"{record_type.name} {int(records[np.flatnonzero(selected)[0]]) + 1}"
        try:
            if unit_row < 0:
                raise UnitError("the value has no unit (Measurement Units Code Sequence)")
            factors[selected] = _factor(tree.codes[unit_row].value, spec.unit)
        except UnitError as error:
            located = UnitError(error.reason, source=source, record=record, field=spec.name)
            if strict:
                raise located from None
            if warnings is not None:
                warnings.append(f"{located} (value left out)")
    return factors


@cache
def _factor(code: str, canonical: str) -> float:
    return conversion_factor(code, canonical)


def _coded_values(
    tree: ContentTree,
    items: np.ndarray,
    records: np.ndarray,
    n_records: int,
    spec: CodedField,
) -> np.ndarray:
    out = np.full(n_records, None, dtype=object)
    if items.size == 0:
        return out
    normalised = tree.meanings.copy()
    for key, value in spec.values.items():
        row = tree.key_rows.get(key)
        if row is not None:
            normalised[row] = value
    is_code = tree.value_type[items] == ValueTypeValues.CODE
    out[records[is_code]] = normalised[tree.coded_value[items[is_code]]]
    if spec.text:
        is_text = tree.value_type[items] == ValueTypeValues.TEXT
        for item, record in zip(items[is_text].tolist(), records[is_text].tolist(), strict=True):
            out[record] = tree.text(item)
    return out
