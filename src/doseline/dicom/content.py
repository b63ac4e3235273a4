"""The SR content tree as columns: one row per content item, built from bytes or from pydicom.

A structured report is a tree of content items (PS3.3 C.17.3). doseline keeps it as a set of
aligned arrays (parent, value type, concept name, coded value, numeric value, unit, text) so that
the template readers can pick the items they need with array operations instead of walking
Python objects. Two builders produce the same columns:

- :func:`content_tree_from_bytes`, the fast path, over the byte offsets found by the compiled
  scanner in :mod:`doseline.dicom._scan`;
- :func:`content_tree_from_dataset`, the reference path, over pydicom's ``Dataset`` objects
  (used for big-endian files, and by the tests as the independent reference).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from typing import NamedTuple

import numpy as np
from pydicom.charset import decode_bytes
from pydicom.dataset import Dataset
from pydicom.sr._snomed_dict import mapping as _snomed_mapping

from doseline.dicom import _scan
from doseline.errors import MalformedDicomError

_SRT_TO_SCT: dict[str, str] = _snomed_mapping["SRT"]
# Control characters that delimit text in the text VRs (PS3.5 section 6.1.3): TAB, LF, FF, CR.
TEXT_VR_DELIMS = {0x09, 0x0A, 0x0C, 0x0D}

__all__ = [
    "Code",
    "ContentTree",
    "RelationshipValues",
    "ValueTypeValues",
    "code_key",
    "content_tree_from_bytes",
    "content_tree_from_dataset",
]


class ValueTypeValues(IntEnum):
    """Value Type (0040,A040) of a content item (PS3.3 C.17.3.2.1); UNKNOWN if unreadable."""

    UNKNOWN = 0
    CONTAINER = 1
    NUM = 2
    CODE = 3
    TEXT = 4
    UIDREF = 5
    DATETIME = 6
    DATE = 7
    TIME = 8
    PNAME = 9
    IMAGE = 10
    COMPOSITE = 11
    WAVEFORM = 12
    SCOORD = 13
    SCOORD3D = 14
    TCOORD = 15
    TABLE = 16


class RelationshipValues(IntEnum):
    """Relationship Type (0040,A010) of a content item (PS3.3 C.17.3.2.4)."""

    NONE = 0
    CONTAINS = 1
    HAS_PROPERTIES = 2
    HAS_OBS_CONTEXT = 3
    HAS_ACQ_CONTEXT = 4
    HAS_CONCEPT_MOD = 5
    INFERRED_FROM = 6
    SELECTED_FROM = 7
    OTHER = 8


_VALUE_TYPES = {member.name.encode(): member.value for member in ValueTypeValues}
_RELATIONSHIPS = {
    member.name.replace("_", " ").encode(): member.value for member in RelationshipValues
}


class Code(NamedTuple):
    """A coded concept (PS3.3 section 8.8): code value, coding scheme designator, meaning."""

    value: str
    scheme: str
    meaning: str


@dataclass(frozen=True, eq=False)
class ContentTree:
    """An SR content tree as aligned columns. Row 0 is the document root.

    Attributes
    ----------
    parent
        Row of each item's parent (``-1`` for the root). Parents precede children.
    value_type, relationship
        :class:`ValueTypeValues` and :class:`RelationshipValues` codes.
    concept
        Row of :attr:`codes` holding the item's Concept Name (``-1`` if absent).
    coded_value
        Row of :attr:`codes` holding a CODE item's Concept Code (``-1`` if absent).
    numeric
        NUM value (float; mean of the non-zero values when multi-valued; NaN if absent).
    numeric_count
        How many values the Numeric Value holds (0 if none).
    unit
        Row of :attr:`codes` holding a NUM item's Measurement Units Code (``-1`` if absent).
    text_offset, text_length
        Where the TEXT, UIDREF, DATETIME, DATE, TIME or PNAME value lies in :attr:`buffer`.
    codes
        The distinct codes of the document.
    buffer, encodings
        The bytes the text values are read from, and their character sets.
    memo
        Results derived from the tree and kept for the readers that need them again.
    """

    parent: np.ndarray
    value_type: np.ndarray
    relationship: np.ndarray
    concept: np.ndarray
    coded_value: np.ndarray
    numeric: np.ndarray
    numeric_count: np.ndarray
    unit: np.ndarray
    text_offset: np.ndarray
    text_length: np.ndarray
    codes: tuple[Code, ...]
    buffer: bytes
    encodings: tuple[str, ...]
    memo: dict[object, object] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.parent.shape[0])

    @cached_property
    def keys(self) -> tuple[str, ...]:
        """Match key (:func:`code_key`) of each row of :attr:`codes`."""
        return tuple(code_key(code) for code in self.codes)

    @cached_property
    def key_rows(self) -> dict[str, int]:
        """Row of :attr:`codes` for each match key."""
        return {key: row for row, key in enumerate(self.keys)}

    @cached_property
    def meanings(self) -> np.ndarray:
        """Code meaning (or value, if it has no meaning) of each code, plus a trailing None."""
        return np.array([c.meaning or c.value for c in self.codes] + [None], dtype=object)

    def concept_mask(self, concepts: Sequence[str]) -> np.ndarray:
        """Boolean mask of the items whose concept name is one of ``concepts`` (keys)."""
        wanted = np.array([key in concepts for key in self.keys] + [False], dtype=np.bool_)
        return np.asarray(wanted[self.concept])  # concept -1 picks the trailing False

    def text(self, row: int) -> str | None:
        """The decoded text value of ``row`` (``None`` if it has none)."""
        offset = int(self.text_offset[row])
        if offset < 0:
            return None
        raw = self.buffer[offset : offset + int(self.text_length[row])]
        value = decode_bytes(raw, list(self.encodings), TEXT_VR_DELIMS)
        return value.strip(" \x00") or None


def code_key(code: Code) -> str:
    """The key doseline matches a code by: ``SCHEME:value`` with SNOMED codes made uniform.

    Legacy SNOMED-RT codes (``SRT``, such as ``P5-06000``) are mapped to their SNOMED CT
    equivalents (``SCT:44491008``) with the table pydicom ships from PS3.16 Annex O, so that
    old and new reports match. A code in the SNOMED-RT form is recognised by its shape even
    when a vendor tags it with another scheme (``C-120F9`` tagged ``DCM`` in the Eurocolumbus
    example). Private schemes (``99...``) keep their designator.
    """
    value = code.value.strip()
    scheme = code.scheme.strip().upper()
    if scheme.startswith("99"):
        return f"{scheme}:{value}"
    if _SNOMED_RT_SHAPE.match(value):
        mapped = _SRT_TO_SCT.get(value)
        return f"SCT:{mapped}" if mapped else f"SRT:{value}"
    if scheme in ("SCT", "SRT", "SNM3"):
        return f"SCT:{value}"
    return f"{scheme}:{value}"


_SNOMED_RT_SHAPE = re.compile(r"^[A-Z][0-9]?-[0-9A-Z]{3,6}$")


def _vocabulary(
    buf: np.ndarray, parts: Sequence[tuple[np.ndarray, np.ndarray]], widths: Sequence[int]
) -> tuple[np.ndarray, list[tuple[bytes, ...]]]:
    """Distinct tuples of byte strings located by ``(offset, length)`` columns.

    Returns the row of each item in the vocabulary (``-1`` where the first part is absent)
    and the vocabulary as tuples of stripped bytes. Hash-based; every hash class is checked
    to be a single value, so a 64-bit collision cannot merge two different codes.
    """
    tables = []
    combined = np.zeros(parts[0][0].shape[0], dtype=np.uint64)
    too_long_any = np.zeros(parts[0][0].shape[0], dtype=np.bool_)
    for (offset, length), width in zip(parts, widths, strict=True):
        table, too_long = _scan.gather_fixed_width(buf, offset, length, width)
        tables.append(table)
        too_long_any |= too_long
        combined = combined * np.uint64(1099511628211) ^ _scan.hash_fixed_width(table)
    present = parts[0][0] >= 0
    rows = np.full(present.shape[0], -1, dtype=np.int32)
    if too_long_any.any():
        raise MalformedDicomError("a code value or unit is longer than its VR allows")
    if not present.any():
        return rows, []
    keys = combined[present]
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    index = np.flatnonzero(present)
    for table in tables:
        sub = table[index]
        if not np.array_equal(sub, sub[first][inverse]):  # pragma: no cover - 2**-64 odds
            raise MalformedDicomError("internal hash collision while reading codes")
    rows[present] = inverse.astype(np.int32)
    vocabulary = [tuple(bytes(table[index[f]]).rstrip(b"\x00") for table in tables) for f in first]
    del unique
    return rows, vocabulary


def _decode(raw: bytes, encodings: Sequence[str]) -> str:
    return decode_bytes(raw, list(encodings), TEXT_VR_DELIMS).strip(" \x00")


def _code_meanings(
    buf: bytes,
    offset: np.ndarray,
    length: np.ndarray,
    rows: np.ndarray,
    *,
    n_codes: int,
    encodings: Sequence[str],
) -> list[str]:
    """Meaning of each code, taken from its first occurrence."""
    meanings = [""] * n_codes
    order = np.flatnonzero(rows >= 0)
    _, first = np.unique(rows[order], return_index=True)
    for item in order[first]:  # one item per code
        code_row = rows[item]
        if offset[item] >= 0:
            raw = buf[offset[item] : offset[item] + length[item]]
            meanings[code_row] = _decode(raw, encodings)
    return meanings


def content_tree_from_bytes(
    data: bytes, start: int, *, implicit_vr: bool, encodings: Sequence[str], root_concept: Code
) -> ContentTree:
    """Build the content tree of the Content Sequence that starts at byte ``start``.

    Raises
    ------
    MalformedDicomError
        If the bytes do not follow the encoding rules (the message names the byte offset).
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    parent, offset, length, n_items, error, error_pos = _scan.scan_content_sequence(
        buf, start, implicit_vr
    )
    if error:
        raise MalformedDicomError(
            f"{_scan.ERROR_MESSAGES[error]} (byte offset {error_pos})",
            record="Content Sequence (0040,A730)",
        )
    parent = parent[:n_items]
    offset = offset[:n_items]
    length = length[:n_items]

    def column(slot: int) -> tuple[np.ndarray, np.ndarray]:
        return offset[:, slot], length[:, slot]

    value_type = _enumerate(buf, *column(_scan.SLOT_VALUE_TYPE), _VALUE_TYPES)
    value_type[0] = ValueTypeValues.CONTAINER
    relationship = _enumerate(buf, *column(_scan.SLOT_RELATIONSHIP), _RELATIONSHIPS)

    # One vocabulary for concept names, coded values and units, keyed by (value, scheme):
    # the three kinds of code are stacked, rows 0..n-1, n..2n-1, 2n..3n-1.
    n = n_items

    absent = np.full(n, -1, dtype=np.int64)

    def stacked(*slots: int | None) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.concatenate([absent if s is None else offset[:, s] for s in slots]),
            np.concatenate([absent if s is None else length[:, s] for s in slots]),
        )

    rows, vocabulary = _vocabulary(
        buf,
        [
            stacked(_scan.SLOT_NAME_VALUE, _scan.SLOT_CODE_VALUE, _scan.SLOT_UNIT_VALUE),
            stacked(_scan.SLOT_NAME_SCHEME, _scan.SLOT_CODE_SCHEME, _scan.SLOT_UNIT_SCHEME),
        ],
        [64, 16],
    )
    meaning_offsets, meaning_lengths = stacked(
        _scan.SLOT_NAME_MEANING,
        _scan.SLOT_CODE_MEANING,
        None,  # units have no meaning here
    )
    meanings = _code_meanings(
        data, meaning_offsets, meaning_lengths, rows, n_codes=len(vocabulary), encodings=encodings
    )
    codes = [
        Code(value.decode("ascii", "replace"), scheme.decode("ascii", "replace"), meaning)
        for (value, scheme), meaning in zip(vocabulary, meanings, strict=True)
    ]
    concept, coded_value, unit = rows[:n].copy(), rows[n : 2 * n], rows[2 * n :]
    concept[0] = _add_code(codes, root_concept)

    numeric, numeric_count, exact = _scan.parse_numeric_values(buf, *column(_scan.SLOT_NUMERIC))
    for item in np.flatnonzero(~exact):
        numeric[item], numeric_count[item] = _parse_numeric_text(
            data[offset[item, _scan.SLOT_NUMERIC] :][: length[item, _scan.SLOT_NUMERIC]].decode(
                "ascii", "replace"
            )
        )
    return ContentTree(
        parent=parent,
        value_type=value_type,
        relationship=relationship,
        concept=concept,
        coded_value=coded_value,
        numeric=numeric,
        numeric_count=numeric_count,
        unit=unit,
        text_offset=offset[:, _scan.SLOT_TEXT].copy(),
        text_length=length[:, _scan.SLOT_TEXT].copy(),
        codes=tuple(codes),
        buffer=data,
        encodings=tuple(encodings),
    )


def _enumerate(
    buf: np.ndarray, offset: np.ndarray, length: np.ndarray, values: dict[bytes, int]
) -> np.ndarray:
    rows, vocabulary = _vocabulary(buf, [(offset, length)], [16])
    lookup = np.array([values.get(v[0], 0) for v in vocabulary] + [0], dtype=np.uint8)
    return np.asarray(lookup[rows])  # row -1 picks the trailing 0 (unknown)


def _add_code(codes: list[Code], code: Code) -> int:
    for row, known in enumerate(codes):
        if (known.value, known.scheme) == (code.value, code.scheme):
            return row
    codes.append(code)
    return len(codes) - 1


def _parse_numeric_text(text: str) -> tuple[float, int]:
    """Python-side parse of a Numeric Value the compiled parser left to us.

    Same convention as :func:`doseline.dicom._scan.parse_numeric_values`. An unreadable
    number gives NaN with count 0; the template reader reports it as a missing value.
    """
    try:
        values = [float(part) for part in text.strip(" \x00").split("\\")]
    except ValueError:
        return float("nan"), 0
    if len(values) == 1:
        return values[0], 1
    nonzero = [v for v in values if v != 0.0]
    total = 0.0
    for v in nonzero:
        total += v
    return (total / len(nonzero) if nonzero else 0.0), len(values)


# --- reference path -------------------------------------------------------------------------


class _Collector:
    """Accumulates rows while walking pydicom objects (reference builder)."""

    def __init__(self, encodings: Sequence[str]) -> None:
        self.parent: list[int] = []
        self.value_type: list[int] = []
        self.relationship: list[int] = []
        self.concept: list[int] = []
        self.coded_value: list[int] = []
        self.numeric: list[float] = []
        self.numeric_count: list[int] = []
        self.unit: list[int] = []
        self.text_offset: list[int] = []
        self.text_length: list[int] = []
        self.codes: list[Code] = []
        self.code_index: dict[tuple[str, str], int] = {}
        self.buffer = bytearray()
        self.encodings = list(encodings)

    def code(self, item: Dataset | None) -> int:
        if item is None:
            return -1
        value = item.get("CodeValue") or item.get("LongCodeValue") or item.get("URNCodeValue")
        if value is None:
            return -1
        key = (str(value).strip(), str(item.get("CodingSchemeDesignator") or "").strip())
        if key not in self.code_index:
            self.code_index[key] = len(self.codes)
            self.codes.append(Code(key[0], key[1], str(item.get("CodeMeaning") or "").strip()))
        return self.code_index[key]

    def add(self, item: Dataset, parent: int) -> int:
        row = len(self.parent)
        self.parent.append(parent)
        self.value_type.append(_VALUE_TYPES.get(str(item.get("ValueType", "")).encode(), 0))
        self.relationship.append(
            _RELATIONSHIPS.get(str(item.get("RelationshipType", "")).encode(), 0)
        )
        self.concept.append(self.code(_first(item, "ConceptNameCodeSequence")))
        self.coded_value.append(self.code(_first(item, "ConceptCodeSequence")))
        measured = _first(item, "MeasuredValueSequence")
        value, count, unit = float("nan"), 0, -1
        if measured is not None:
            unit = self.code(_first(measured, "MeasurementUnitsCodeSequence"))
            element = measured.get_item("NumericValue")
            if element is not None and element.value:
                raw = element.value
                text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
                value, count = _parse_numeric_text(text)
        self.numeric.append(value)
        self.numeric_count.append(count)
        self.unit.append(unit)
        text_value = None
        for keyword in ("TextValue", "UID", "DateTime", "Date", "Time", "PersonName"):
            if keyword in item:
                text_value = str(item.get(keyword) or "")
                break
        if text_value is None:
            self.text_offset.append(-1)
            self.text_length.append(-1)
        else:
            encoded = text_value.encode("utf-8")
            self.text_offset.append(len(self.buffer))
            self.text_length.append(len(encoded))
            self.buffer.extend(encoded)
        return row

    def walk(self, items: Sequence[Dataset], parent: int) -> None:
        for item in items:
            row = self.add(item, parent)
            if "ContentSequence" in item:
                self.walk(item.ContentSequence, row)


def _first(item: Dataset, keyword: str) -> Dataset | None:
    sequence = item.get(keyword)
    return sequence[0] if sequence else None


def content_tree_from_dataset(dataset: Dataset) -> ContentTree:
    """Build the content tree of a pydicom ``Dataset`` (reference implementation)."""
    collector = _Collector(["utf-8"])
    root = collector.add(dataset, -1)
    collector.value_type[root] = ValueTypeValues.CONTAINER
    collector.relationship[root] = RelationshipValues.NONE
    collector.text_offset[root] = collector.text_length[root] = -1  # the document has no value
    collector.walk(dataset.get("ContentSequence", []), root)
    return ContentTree(
        parent=np.array(collector.parent, dtype=np.int32),
        value_type=np.array(collector.value_type, dtype=np.uint8),
        relationship=np.array(collector.relationship, dtype=np.uint8),
        concept=np.array(collector.concept, dtype=np.int32),
        coded_value=np.array(collector.coded_value, dtype=np.int32),
        numeric=np.array(collector.numeric, dtype=np.float64),
        numeric_count=np.array(collector.numeric_count, dtype=np.int32),
        unit=np.array(collector.unit, dtype=np.int32),
        text_offset=np.array(collector.text_offset, dtype=np.int64),
        text_length=np.array(collector.text_length, dtype=np.int64),
        codes=tuple(collector.codes),
        buffer=bytes(collector.buffer),
        encodings=("utf-8",),
    )
