"""Compiled scanner of a DICOM SR content tree, straight from the encoded bytes.

Why this exists: pydicom builds one :class:`pydicom.Dataset` per sequence item and converts
every element on access. An X-Ray Radiation Dose SR holds tens of thousands of nested items
(the Philips Azurion example has 6,581 content items and 180,000 elements), so walking it through
pydicom costs 1.5 s where reading the bytes costs 25 ms. This module walks the encoded bytes once,
in a numba-compiled loop, and records for every content item where its few interesting values
lie (byte offset and length). Nothing is decoded here: the caller decodes only what it needs.

The encoding rules followed are those of DICOM PS3.5 section 7 (data elements, explicit and
implicit VR little endian) and section 7.5 (nesting of data sets: items, item and sequence
delimitation items). The SR content-item attributes are those of PS3.3 C.17.3 (SR Document
Content Module) and C.18 (Content Item Macros). Big-endian transfer syntaxes (retired) are not
handled here; the caller falls back to pydicom for them.

The reference for this scanner is :func:`doseline.dicom.content.content_tree_from_dataset`,
which builds the same columns from pydicom objects; the tests check that both agree on every
example file and under fuzzing.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Slots: the values recorded for each content item (columns of the offset/length tables).
SLOT_VALUE_TYPE = 0
SLOT_RELATIONSHIP = 1
SLOT_NAME_VALUE = 2
SLOT_NAME_SCHEME = 3
SLOT_NAME_MEANING = 4
SLOT_CODE_VALUE = 5
SLOT_CODE_SCHEME = 6
SLOT_CODE_MEANING = 7
SLOT_NUMERIC = 8
SLOT_UNIT_VALUE = 9
SLOT_UNIT_SCHEME = 10
SLOT_TEXT = 11
N_SLOTS = 12

# Roles of a sequence item: what the item is to the content item that owns it.
ROLE_CONTENT = 0  # an SR content item (item of ContentSequence, or the document root)
ROLE_NAME = 1  # item of ConceptNameCodeSequence
ROLE_CODE = 2  # item of ConceptCodeSequence
ROLE_MEASURED = 3  # item of MeasuredValueSequence
ROLE_UNIT = 4  # item of MeasurementUnitsCodeSequence
ROLE_OTHER = 5  # anything else (walked for structure, values ignored)

# Error codes returned by the scanner (0 = no error).
ERR_TRUNCATED = 1
ERR_ITEM_OUTSIDE_SEQUENCE = 2
ERR_ELEMENT_OUTSIDE_ITEM = 3
ERR_UNEXPECTED_DELIMITER = 4
ERR_LENGTH_OVERRUN = 5
ERR_TOO_DEEP = 6
ERR_NOT_CONTENT_SEQUENCE = 7
ERR_ODD_LENGTH = 8

ERROR_MESSAGES = {
    ERR_TRUNCATED: "the file ends inside a data element (truncated file)",
    ERR_ITEM_OUTSIDE_SEQUENCE: "a sequence item appears outside a sequence",
    ERR_ELEMENT_OUTSIDE_ITEM: "a data element appears directly inside a sequence",
    ERR_UNEXPECTED_DELIMITER: "a delimitation item does not match an open item or sequence",
    ERR_LENGTH_OVERRUN: "a data element runs past the end of the item or sequence holding it",
    ERR_TOO_DEEP: "sequences are nested deeper than 64 levels",
    ERR_NOT_CONTENT_SEQUENCE: "the scan did not start at a Content Sequence (0040,A730)",
    ERR_ODD_LENGTH: "a data element has an undefined length where the VR forbids it",
}

UNDEFINED_LENGTH = 0xFFFFFFFF
MAX_DEPTH = 64

_KIND_SEQUENCE = 0
_KIND_ITEM = 1

# Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 table 7.1-1).
_LONG_VRS = (
    (ord("O"), ord("B")),
    (ord("O"), ord("D")),
    (ord("O"), ord("F")),
    (ord("O"), ord("L")),
    (ord("O"), ord("V")),
    (ord("O"), ord("W")),
    (ord("S"), ord("Q")),
    (ord("S"), ord("V")),
    (ord("U"), ord("C")),
    (ord("U"), ord("N")),
    (ord("U"), ord("R")),
    (ord("U"), ord("T")),
    (ord("U"), ord("V")),
)

_TAG_CONTENT_SEQUENCE = 0x0040A730
_TAG_CONCEPT_NAME_CODE_SEQUENCE = 0x0040A043
_TAG_CONCEPT_CODE_SEQUENCE = 0x0040A168
_TAG_MEASURED_VALUE_SEQUENCE = 0x0040A300
_TAG_MEASUREMENT_UNITS_CODE_SEQUENCE = 0x004008EA

# Sequences whose VR the scanner must know in implicit VR (defined length): only those it
# descends into. Any other defined-length element is skipped whole, sequence or not.
_IMPLICIT_SEQUENCES = (
    _TAG_CONTENT_SEQUENCE,
    _TAG_CONCEPT_NAME_CODE_SEQUENCE,
    _TAG_CONCEPT_CODE_SEQUENCE,
    _TAG_MEASURED_VALUE_SEQUENCE,
    _TAG_MEASUREMENT_UNITS_CODE_SEQUENCE,
)


@njit(cache=True, inline="always")
def _u16(buf: np.ndarray, pos: int) -> int:
    return int(buf[pos]) | (int(buf[pos + 1]) << 8)


@njit(cache=True, inline="always")
def _u32(buf: np.ndarray, pos: int) -> int:
    return (
        int(buf[pos])
        | (int(buf[pos + 1]) << 8)
        | (int(buf[pos + 2]) << 16)
        | (int(buf[pos + 3]) << 24)
    )


@njit(cache=True)
def _is_long_vr(b0: int, b1: int) -> bool:
    for pair in _LONG_VRS:  # noqa: SIM110 (numba compiles loops, not generators)
        if pair[0] == b0 and pair[1] == b1:
            return True
    return False


@njit(cache=True)
def _item_role(sequence_tag: int, owner_role: int) -> int:
    if owner_role == ROLE_CONTENT:
        if sequence_tag == _TAG_CONTENT_SEQUENCE:
            return ROLE_CONTENT
        if sequence_tag == _TAG_CONCEPT_NAME_CODE_SEQUENCE:
            return ROLE_NAME
        if sequence_tag == _TAG_CONCEPT_CODE_SEQUENCE:
            return ROLE_CODE
        if sequence_tag == _TAG_MEASURED_VALUE_SEQUENCE:
            return ROLE_MEASURED
    elif owner_role == ROLE_MEASURED and sequence_tag == _TAG_MEASUREMENT_UNITS_CODE_SEQUENCE:
        return ROLE_UNIT
    return ROLE_OTHER


@njit(cache=True)
def _slot_of(tag: int, role: int) -> int:
    if role == ROLE_CONTENT:
        if tag == 0x0040A040:  # Value Type
            return SLOT_VALUE_TYPE
        if tag == 0x0040A010:  # Relationship Type
            return SLOT_RELATIONSHIP
        # Text Value, UID, DateTime, Date, Time, Person Name: one per value type
        if tag in (0x0040A160, 0x0040A124, 0x0040A120, 0x0040A121, 0x0040A122, 0x0040A123):
            return SLOT_TEXT
        return -1
    # Code Value, Long Code Value, URN Code Value (PS3.3 section 8.8)
    is_value = tag in (0x00080100, 0x00080119, 0x00080120)
    if role == ROLE_NAME:
        if is_value:
            return SLOT_NAME_VALUE
        if tag == 0x00080102:
            return SLOT_NAME_SCHEME
        if tag == 0x00080104:
            return SLOT_NAME_MEANING
    elif role == ROLE_CODE:
        if is_value:
            return SLOT_CODE_VALUE
        if tag == 0x00080102:
            return SLOT_CODE_SCHEME
        if tag == 0x00080104:
            return SLOT_CODE_MEANING
    elif role == ROLE_MEASURED:
        if tag == 0x0040A30A:  # Numeric Value
            return SLOT_NUMERIC
    elif role == ROLE_UNIT:
        if is_value:
            return SLOT_UNIT_VALUE
        if tag == 0x00080102:
            return SLOT_UNIT_SCHEME
    return -1


@njit(cache=True)
def scan_content_sequence(
    buf: np.ndarray, start: int, implicit_vr: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]:
    """Walk the Content Sequence element that starts at byte ``start`` of ``buf``.

    Returns ``(parent, offset, length, n_items, error_code, error_position)``. Row 0 stands
    for the document root (its own attributes are outside the Content Sequence); rows
    ``1..n_items-1`` are the content items in document order, so a parent always precedes
    its children. ``offset[i, s]``/``length[i, s]`` locate slot ``s`` of item ``i`` in
    ``buf`` (``-1`` where absent; the first occurrence wins).
    """
    nbuf = buf.shape[0]
    # A content item takes at least an 8-byte item header and an 8-byte element.
    capacity = (nbuf - start) // 16 + 2
    parent = np.full(capacity, -1, dtype=np.int32)
    offset = np.full((capacity, N_SLOTS), -1, dtype=np.int64)
    length = np.full((capacity, N_SLOTS), -1, dtype=np.int64)

    frame_kind = np.zeros(MAX_DEPTH, dtype=np.int8)
    frame_end = np.zeros(MAX_DEPTH, dtype=np.int64)
    frame_role = np.zeros(MAX_DEPTH, dtype=np.int8)
    frame_item = np.zeros(MAX_DEPTH, dtype=np.int32)
    frame_tag = np.zeros(MAX_DEPTH, dtype=np.int64)

    # Frame 0 is the document root: a pseudo-item holding just the Content Sequence.
    frame_kind[0] = _KIND_ITEM
    frame_end[0] = -1
    frame_role[0] = ROLE_CONTENT
    frame_item[0] = 0
    depth = 1
    n_items = 1
    pos = start
    started = False

    while True:
        # Close every frame whose defined length is used up.
        while depth > 1 and frame_end[depth - 1] >= 0 and pos >= frame_end[depth - 1]:
            if pos > frame_end[depth - 1]:
                return parent, offset, length, n_items, ERR_LENGTH_OVERRUN, pos
            depth -= 1
        if started and depth == 1:
            break
        if pos + 8 > nbuf:
            return parent, offset, length, n_items, ERR_TRUNCATED, pos
        group = _u16(buf, pos)
        element = _u16(buf, pos + 2)
        top = depth - 1

        if group == 0xFFFE:
            item_length = _u32(buf, pos + 4)
            header_pos = pos
            pos += 8
            if element == 0xE000:  # Item
                if frame_kind[top] != _KIND_SEQUENCE:
                    return parent, offset, length, n_items, ERR_ITEM_OUTSIDE_SEQUENCE, header_pos
                if depth >= MAX_DEPTH:
                    return parent, offset, length, n_items, ERR_TOO_DEEP, header_pos
                owner = top - 1  # the item holding the sequence
                role = _item_role(frame_tag[top], frame_role[owner])
                if role == ROLE_CONTENT:
                    item = n_items
                    parent[item] = frame_item[owner]
                    n_items += 1
                else:
                    item = frame_item[owner]
                frame_kind[depth] = _KIND_ITEM
                frame_role[depth] = role
                frame_item[depth] = item
                frame_tag[depth] = 0
                if item_length == UNDEFINED_LENGTH:
                    frame_end[depth] = -1
                else:
                    frame_end[depth] = pos + item_length
                    if frame_end[top] >= 0 and frame_end[depth] > frame_end[top]:
                        return parent, offset, length, n_items, ERR_LENGTH_OVERRUN, header_pos
                depth += 1
            elif element == 0xE00D:  # Item Delimitation Item
                if frame_kind[top] != _KIND_ITEM or frame_end[top] >= 0 or depth == 1:
                    return parent, offset, length, n_items, ERR_UNEXPECTED_DELIMITER, header_pos
                depth -= 1
            elif element == 0xE0DD:  # Sequence Delimitation Item
                if frame_kind[top] != _KIND_SEQUENCE or frame_end[top] >= 0:
                    return parent, offset, length, n_items, ERR_UNEXPECTED_DELIMITER, header_pos
                depth -= 1
            else:
                return parent, offset, length, n_items, ERR_UNEXPECTED_DELIMITER, header_pos
            continue

        if frame_kind[top] != _KIND_ITEM:
            return parent, offset, length, n_items, ERR_ELEMENT_OUTSIDE_ITEM, pos
        tag = (group << 16) | element
        if not started and tag != _TAG_CONTENT_SEQUENCE:
            return parent, offset, length, n_items, ERR_NOT_CONTENT_SEQUENCE, pos

        header_pos = pos
        is_sequence = False
        if implicit_vr:
            value_length = _u32(buf, pos + 4)
            pos += 8
            if value_length == UNDEFINED_LENGTH:
                is_sequence = True
            else:
                for known in _IMPLICIT_SEQUENCES:
                    if tag == known:
                        is_sequence = True
        else:
            b0 = int(buf[pos + 4])
            b1 = int(buf[pos + 5])
            if _is_long_vr(b0, b1):
                if pos + 12 > nbuf:
                    return parent, offset, length, n_items, ERR_TRUNCATED, pos
                value_length = _u32(buf, pos + 8)
                pos += 12
                is_sequence = (b0 == ord("S") and b1 == ord("Q")) or (
                    value_length == UNDEFINED_LENGTH
                    and b0 in (ord("U"), ord("O"))
                    and b1 in (ord("N"), ord("B"), ord("W"))
                )
                if value_length == UNDEFINED_LENGTH and not is_sequence:
                    return parent, offset, length, n_items, ERR_ODD_LENGTH, header_pos
            else:
                value_length = _u16(buf, pos + 6)
                pos += 8

        if not started:
            started = True
            if not is_sequence:
                return parent, offset, length, n_items, ERR_NOT_CONTENT_SEQUENCE, header_pos

        if is_sequence:
            if depth >= MAX_DEPTH:
                return parent, offset, length, n_items, ERR_TOO_DEEP, header_pos
            frame_kind[depth] = _KIND_SEQUENCE
            frame_role[depth] = frame_role[top]
            frame_item[depth] = frame_item[top]
            frame_tag[depth] = tag
            if value_length == UNDEFINED_LENGTH:
                frame_end[depth] = -1
            else:
                frame_end[depth] = pos + value_length
                if frame_end[top] >= 0 and frame_end[depth] > frame_end[top]:
                    return parent, offset, length, n_items, ERR_LENGTH_OVERRUN, header_pos
                if frame_end[depth] > nbuf:
                    return parent, offset, length, n_items, ERR_TRUNCATED, header_pos
            depth += 1
            continue

        if pos + value_length > nbuf:
            return parent, offset, length, n_items, ERR_TRUNCATED, header_pos
        slot = _slot_of(tag, frame_role[top])
        if slot >= 0:
            item = frame_item[top]
            if offset[item, slot] < 0:
                offset[item, slot] = pos
                length[item, slot] = value_length
        pos += value_length

    return parent, offset, length, n_items, 0, pos


@njit(cache=True)
def gather_fixed_width(
    buf: np.ndarray, offset: np.ndarray, length: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Copy each located value into a row of a ``(n, width)`` byte table.

    Leading and trailing spaces and NULs are stripped (the padding of PS3.5 section 6.2).
    Returns the table and a boolean array that flags values longer than ``width`` (the
    caller decodes those separately instead of truncating them).
    """
    n = offset.shape[0]
    out = np.zeros((n, width), dtype=np.uint8)
    too_long = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        o = offset[i]
        if o < 0:
            continue
        a = o
        b = o + length[i]
        while a < b and (buf[a] == 0x20 or buf[a] == 0):
            a += 1
        while b > a and (buf[b - 1] == 0x20 or buf[b - 1] == 0):
            b -= 1
        if b - a > width:
            too_long[i] = True
            continue
        for k in range(b - a):
            out[i, k] = buf[a + k]
    return out, too_long


@njit(cache=True)
def hash_fixed_width(table: np.ndarray) -> np.ndarray:
    """64-bit FNV-1a hash of each row of a byte table (rows of zeros hash to 0)."""
    n, width = table.shape
    out = np.zeros(n, dtype=np.uint64)
    for i in range(n):
        h = np.uint64(0xCBF29CE484222325)
        empty = True
        for k in range(width):
            c = table[i, k]
            if c == 0:
                break
            empty = False
            h = (h ^ np.uint64(c)) * np.uint64(0x100000001B3)
        out[i] = np.uint64(0) if empty else h
    return out


# Exact powers of ten in binary64: 10**k is exact for k <= 22 (Clinger 1990, "How to read
# floating point numbers accurately", PLDI '90, the fast path).
_EXACT_POWERS_OF_TEN = np.array([10.0**k for k in range(23)], dtype=np.float64)


@njit(cache=True)
def _parse_decimal(buf: np.ndarray, a: int, b: int) -> tuple[float, bool]:
    """Parse one Decimal String value (PS3.5 table 6.2-1) in ``buf[a:b]``.

    Returns ``(value, exact)``. ``exact`` is False where the fast path of Clinger (1990)
    does not apply (more than 15 significant digits or a decimal exponent beyond +-22) or the
    text is not a decimal number; the caller then parses the text with Python's ``float``.
    """
    while a < b and buf[a] == 0x20:
        a += 1
    while b > a and buf[b - 1] == 0x20:
        b -= 1
    if a >= b:
        return np.nan, False
    negative = False
    if buf[a] == ord("+") or buf[a] == ord("-"):
        negative = buf[a] == ord("-")
        a += 1
    mantissa = 0
    digits = 0
    exponent = 0
    seen_digit = False
    seen_point = False
    while a < b:
        c = buf[a]
        if ord("0") <= c <= ord("9"):
            seen_digit = True
            if mantissa == 0 and c == ord("0"):
                if seen_point:
                    exponent -= 1
            else:
                if digits >= 15:
                    return np.nan, False
                mantissa = mantissa * 10 + (c - ord("0"))
                digits += 1
                if seen_point:
                    exponent -= 1
        elif c == ord(".") and not seen_point:
            seen_point = True
        else:
            break
        a += 1
    if not seen_digit:
        return np.nan, False
    if a < b:
        if buf[a] != ord("e") and buf[a] != ord("E"):
            return np.nan, False
        a += 1
        exp_negative = False
        if a < b and (buf[a] == ord("+") or buf[a] == ord("-")):
            exp_negative = buf[a] == ord("-")
            a += 1
        if a >= b:
            return np.nan, False
        e = 0
        while a < b:
            c = buf[a]
            if not ord("0") <= c <= ord("9") or e > 10000:
                return np.nan, False
            e = e * 10 + (c - ord("0"))
            a += 1
        exponent += -e if exp_negative else e
    value = float(mantissa)
    if mantissa == 0:
        value = 0.0
    elif exponent > 22 or exponent < -22:
        return np.nan, False
    elif exponent >= 0:
        value = value * _EXACT_POWERS_OF_TEN[exponent]
    else:
        value = value / _EXACT_POWERS_OF_TEN[-exponent]
    return (-value if negative else value), True


@njit(cache=True)
def parse_numeric_values(
    buf: np.ndarray, offset: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode the Numeric Value (DS, possibly multi-valued) of each item.

    Returns ``(value, count, exact)``: for a single value, the value; for a multi-valued
    Numeric Value (pulse-level data), the mean of its non-zero values, the convention of
    OpenREM's exports (``openrem/remapp/exports/rf_export.py``, pulse-level kVp and mA "averaged
    excluding zeros"); ``count`` is the number of values; ``exact`` is False where the caller
    must re-parse the text with Python (see :func:`_parse_decimal`).
    """
    n = offset.shape[0]
    value = np.full(n, np.nan, dtype=np.float64)
    count = np.zeros(n, dtype=np.int32)
    exact = np.ones(n, dtype=np.bool_)
    for i in range(n):
        o = offset[i]
        if o < 0:
            continue
        end = o + length[i]
        start = o
        total = 0.0
        nonzero = 0
        k = 0
        ok = True
        single = 0.0
        while start <= end:
            stop = start
            while stop < end and buf[stop] != ord("\\"):
                stop += 1
            v, good = _parse_decimal(buf, start, stop)
            if not good:
                ok = False
                break
            if k == 0:
                single = v
            if v != 0.0:
                total += v
                nonzero += 1
            k += 1
            start = stop + 1
        if not ok:
            exact[i] = False
            continue
        count[i] = k
        if k == 1:
            value[i] = single
        elif nonzero > 0:
            value[i] = total / nonzero
        else:
            value[i] = 0.0
    return value, count, exact


@njit(cache=True)
def nearest_ancestors(
    parent: np.ndarray, is_container: np.ndarray, is_event: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each item, its nearest CONTAINER ancestor and the event container it lies in.

    Relies on document order (a parent precedes its children). ``-1`` where there is none.
    """
    n = parent.shape[0]
    container = np.full(n, -1, dtype=np.int32)
    event = np.full(n, -1, dtype=np.int32)
    for i in range(1, n):
        p = parent[i]
        if p < 0:
            continue
        container[i] = p if is_container[p] else container[p]
        event[i] = p if is_event[p] else event[p]
    return container, event
