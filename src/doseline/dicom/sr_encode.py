"""SR content items as plain tuples, encoded straight to DICOM bytes as pydicom writes them.

An X-Ray Radiation Dose SR of 30 irradiation events holds some 25,000 nested data sets (content
items, code items, measured values); building them as :class:`pydicom.dataset.Dataset` objects
and encoding them with :func:`pydicom.dcmwrite` costs about half a second. Here
:class:`ContentBuilder` makes the content tree of plain tuples (:data:`Item`) and
:class:`Encoder` turns it into bytes in one pass, encoding each distinct code sequence once
(some 30 times faster). :func:`to_dataset` turns the same tree into pydicom data sets: the
reference the tests compare the bytes with (``tests/test_sr_encode.py``).

What is written (DICOM PS3.5, 2024 editions):

- data elements (7.1): explicit VR little endian (7.1.2: tag, VR, 2-byte length; for the VRs of
  table 7.1-1, OB OD OF OL OV OW SQ SV UC UN UR UT UV, two reserved bytes and a 4-byte length),
  or implicit VR little endian (7.1.3: tag, 4-byte length); transfer syntaxes of Annex A.1, A.2;
- sequences and items (7.5): of defined length, or of undefined length closed by the Item
  Delimitation Item (FFFE,E00D) and the Sequence Delimitation Item (FFFE,E0DD) (7.5.1, 7.5.2);
- values (6.2): padded to an even length with a space, UI with a NUL; values of SH, LO, ST, LT,
  UC, UT, PN in the Specific Character Set (6.1.2.3, 6.1.2.5), through pydicom's own
  :func:`pydicom.charset.encode_string`, the other string VRs in ISO 8859-1 as pydicom does; a
  backslash separates the values of a multi-valued element (6.4), except in ST, LT and UT.

The elements of an :data:`Item` must be in ascending tag order (7.1: as they are written).
"""

from __future__ import annotations

import io
import math
import struct
import uuid
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import TypeAlias

import pydicom.uid
from pydicom import dcmwrite
from pydicom.charset import convert_encodings, encode_string
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.sr._cid_dict import cid_concepts
from pydicom.sr._snomed_dict import mapping as _snomed_mapping
from pydicom.sr.codedict import Collection, codes
from pydicom.sr.coding import Code
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID
from pydicom.valuerep import PersonName

__all__ = [
    "CODE_MEANING",
    "CODE_VALUE",
    "CODING_SCHEME_DESIGNATOR",
    "CONCEPT_CODE_SEQUENCE",
    "CONCEPT_NAME_CODE_SEQUENCE",
    "CONTENT_SEQUENCE",
    "CONTINUITY_OF_CONTENT",
    "DATE_TIME",
    "DCM",
    "EXPLICIT_VR_LITTLE_ENDIAN",
    "IMPLICIT_VR_LITTLE_ENDIAN",
    "MEASURED_VALUE_SEQUENCE",
    "MEASUREMENT_UNITS_CODE_SEQUENCE",
    "NUMERIC_VALUE",
    "PERSON_NAME",
    "RELATIONSHIP_TYPE",
    "SCT",
    "TEXT_VALUE",
    "UID",
    "VALUE_TYPE",
    "ContentBuilder",
    "Element",
    "Encoder",
    "Item",
    "code_item",
    "codes_by_meaning",
    "content_item",
    "dataset",
    "ds_string",
    "dt_string",
    "encoder",
    "file_bytes",
    "file_meta",
    "mark_undefined_lengths",
    "measured_value",
    "name_uid",
    "to_dataset",
    "to_sequence",
    "value_element",
]

Value: TypeAlias = "str | tuple[Item, ...]"
Element: TypeAlias = "tuple[int, str, Value]"
"""A data element: tag (``0xGGGGEEEE``), VR, and its text or the items of a sequence."""
Item: TypeAlias = "tuple[Element, ...]"
"""A data set (an item of a sequence): its elements in ascending tag order."""

# Code Sequence Macro (PS3.3 table 8.8-1) and SR content items (PS3.3 C.17.3, C.18).
CODE_VALUE = 0x00080100  # SH
CODING_SCHEME_DESIGNATOR = 0x00080102  # SH
CODE_MEANING = 0x00080104  # LO
MEASUREMENT_UNITS_CODE_SEQUENCE = 0x004008EA
RELATIONSHIP_TYPE = 0x0040A010  # CS
VALUE_TYPE = 0x0040A040  # CS
CONCEPT_NAME_CODE_SEQUENCE = 0x0040A043
CONTINUITY_OF_CONTENT = 0x0040A050  # CS
DATE_TIME = 0x0040A120  # DT
PERSON_NAME = 0x0040A123  # PN
UID = 0x0040A124  # UI
TEXT_VALUE = 0x0040A160  # UT
CONCEPT_CODE_SEQUENCE = 0x0040A168
MEASURED_VALUE_SEQUENCE = 0x0040A300
NUMERIC_VALUE = 0x0040A30A  # DS
CONTENT_SEQUENCE = 0x0040A730
_CODE_SEQUENCES = frozenset(
    {CONCEPT_NAME_CODE_SEQUENCE, CONCEPT_CODE_SEQUENCE, MEASUREMENT_UNITS_CODE_SEQUENCE}
)
# The value element of each value type that has a text value (PS3.3 C.17.3.2, C.18.5-C.18.7).
_TEXT_ELEMENTS = {
    "TEXT": (TEXT_VALUE, "UT"),
    "UIDREF": (UID, "UI"),
    "DATETIME": (DATE_TIME, "DT"),
    "PNAME": (PERSON_NAME, "PN"),
}

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
_LONG_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)  # PS3.5 table 7.1-1: 4-byte length
_CHARSET_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT", "PN"})  # PS3.5 6.1.2.3
_SINGLE_VALUED = frozenset({"ST", "LT", "UT"})  # a backslash is text (PS3.5 6.2)
_UNDEFINED = 0xFFFFFFFF
_ITEM = b"\xfe\xff\x00\xe0"  # (FFFE,E000) Item
_ITEM_DELIMITATION = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"  # (FFFE,E00D), length 0
_SEQUENCE_DELIMITATION = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"  # (FFFE,E0DD), length 0
_US = struct.Struct("<H").pack
_UL = struct.Struct("<L").pack
_TAG = struct.Struct("<HH").pack


# -- values (PS3.5 6.2) -------------------------------------------------------------------------


def ds_string(value: float) -> str:
    """``value`` as a Decimal String of at most 16 characters (PS3.5 table 6.2-1).

    The shortest text that reads back as the same float (``repr``) where it fits, otherwise the
    most significant digits that fit. ``ValueError`` for NaN and infinities.
    """
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be written as a Decimal String")
    text, digits = repr(float(value)), 16
    while len(text) > 16:
        text, digits = f"{value:.{digits}g}", digits - 1
    return text


def dt_string(value: datetime) -> str:
    """``value`` as a Date Time (DT, PS3.5 table 6.2-1), with microseconds if it has any."""
    return value.strftime("%Y%m%d%H%M%S.%f" if value.microsecond else "%Y%m%d%H%M%S")


def name_uid(*names: str) -> str:
    """A UID made of ``names``: ``2.25`` and a name-based UUID (PS3.5 B.2; RFC 4122 v5)."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, chr(31).join(names)).int}"


# -- content items (PS3.3 C.17.3) ----------------------------------------------------------------


def code_item(value: str, scheme: str, meaning: str) -> Item:
    """An item of a code sequence: Code Value, Coding Scheme Designator, Code Meaning."""
    return (
        (CODE_VALUE, "SH", value),
        (CODING_SCHEME_DESIGNATOR, "SH", scheme),
        (CODE_MEANING, "LO", meaning),
    )


def content_item(relationship: str, value_type: str, concept: Item, *rest: Element) -> Item:
    """A content item (PS3.3 C.17.3) of concept name ``concept`` (a :func:`code_item`).

    ``rest``: its other elements, in tag order (Continuity Of Content, the value, Content
    Sequence).
    """
    return (
        (RELATIONSHIP_TYPE, "CS", relationship),
        (VALUE_TYPE, "CS", value_type),
        (CONCEPT_NAME_CODE_SEQUENCE, "SQ", (concept,)),
        *rest,
    )


def value_element(value_type: str, text: str) -> Element:
    """The value of a TEXT, UIDREF, DATETIME or PNAME content item."""
    tag, vr = _TEXT_ELEMENTS[value_type]
    return (tag, vr, text)


def measured_value(number: str, unit: Item) -> Element:
    """Measured Value Sequence of a NUM item: the Decimal String ``number`` in ``unit``."""
    return (
        MEASURED_VALUE_SEQUENCE,
        "SQ",
        (((MEASUREMENT_UNITS_CODE_SEQUENCE, "SQ", (unit,)), (NUMERIC_VALUE, "DS", number)),),
    )


class _Codes:
    """A code collection of :mod:`pydicom.sr.codedict` whose codes are looked up once (a
    lookup of pydicom's takes microseconds, and a report makes thousands)."""

    def __init__(self, collection: Collection) -> None:
        self._collection = collection

    def __getattr__(self, keyword: str) -> Code:
        code: Code = getattr(self._collection, keyword)
        setattr(self, keyword, code)
        return code


def codes_by_meaning(*cids: int) -> dict[str, Code]:
    """Codes of the context groups ``cids`` (PS3.16) by lower-case meaning (first group
    first)."""
    found = [
        getattr(Collection(scheme), keyword)
        for cid in reversed(cids)
        for scheme, keywords in cid_concepts[cid].items()
        for keyword in keywords
    ]
    return {code.meaning.lower(): code for code in found}


DCM = _Codes(codes.DCM)
SCT = _Codes(codes.SCT)
_SCT_TO_SRT: dict[str, str] = _snomed_mapping["SCT"]  # PS3.16 Annex O
_UNIT_MEANINGS = {"1": "no units", "%": "Percent", "{pulse}/s": "pulse/s"}


class ContentBuilder:
    """Makes content items (PS3.3 C.17.3) as :data:`Item` trees; ``None`` for an item without
    a value, and a child that is ``None`` is left out.

    Parameters
    ----------
    legacy_snomed
        SNOMED-RT codes (``SRT``) for the SNOMED CT codes that PS3.16 Annex O maps.

    Notes
    -----
    Each code is made into one item object, shared by every sequence that holds it.
    """

    def __init__(self, *, legacy_snomed: bool = False) -> None:
        self.legacy_snomed = legacy_snomed
        self.codes: dict[tuple[str, str, str], Item] = {}

    def code(self, code: Code) -> Item:
        """The item of ``code`` (in a code sequence)."""
        key = (code.value, code.scheme_designator, code.meaning)
        if (item := self.codes.get(key)) is None:
            if self.legacy_snomed and code.scheme_designator == "SCT":
                legacy = _SCT_TO_SRT.get(code.value)
                code = code if legacy is None else Code(legacy, "SRT", code.meaning)
            item = self.codes[key] = code_item(code.value, code.scheme_designator, code.meaning)
        return item

    def container(self, concept: Code, children: Iterable[Item | None]) -> Item:
        """A CONTAINER (continuity SEPARATE) of ``children``."""
        kept = tuple(child for child in children if child is not None)
        return content_item(
            "CONTAINS",
            "CONTAINER",
            self.code(concept),
            (CONTINUITY_OF_CONTENT, "CS", "SEPARATE"),
            (CONTENT_SEQUENCE, "SQ", kept),
        )

    def coded(
        self,
        concept: Code,
        value: Code | None,
        relationship: str = "CONTAINS",
        children: Iterable[Item | None] = (),
    ) -> Item | None:
        """A CODE item, with its ``children`` (a Content Sequence) if it has any."""
        if value is None:
            return None
        kept = tuple(child for child in children if child is not None)
        return content_item(
            relationship,
            "CODE",
            self.code(concept),
            (CONCEPT_CODE_SEQUENCE, "SQ", (self.code(value),)),
            *([(CONTENT_SEQUENCE, "SQ", kept)] if kept else []),
        )

    def text(
        self,
        concept: Code,
        value: str | None,
        relationship: str = "CONTAINS",
        value_type: str = "TEXT",
    ) -> Item | None:
        """A TEXT, UIDREF, DATETIME or PNAME item."""
        if value is None:
            return None
        return content_item(
            relationship, value_type, self.code(concept), value_element(value_type, value)
        )

    def when(
        self, concept: Code, value: datetime | None, relationship: str = "CONTAINS"
    ) -> Item | None:
        """A DATETIME item."""
        return (
            None
            if value is None
            else self.text(concept, dt_string(value), relationship, "DATETIME")
        )

    def num(self, concept: Code, value: float | None, unit: str) -> Item | None:
        """A NUM item of ``value`` (a :func:`ds_string`) in the UCUM unit ``unit``."""
        if value is None:
            return None
        unit_code = self.code(Code(unit, "UCUM", _UNIT_MEANINGS.get(unit, unit)))
        return content_item(
            "CONTAINS", "NUM", self.code(concept), measured_value(ds_string(value), unit_code)
        )


# -- encoding (PS3.5 7) --------------------------------------------------------------------------


class Encoder:
    """Encodes :data:`Element` trees in one transfer syntax and character set.

    Parameters
    ----------
    transfer_syntax
        Explicit or implicit VR little endian (UIDs 1.2.840.10008.1.2.1, 1.2.840.10008.1.2).
    undefined_length
        Sequences and items of undefined length, with delimitation items (PS3.5 7.5.1, 7.5.2).
    character_set
        Specific Character Set (0008,0005) of the data set, values separated by backslashes.

    Notes
    -----
    The bytes of each distinct code sequence (Concept Name, Concept, Measurement Units) and CS
    element (Relationship Type, Value Type, ...) are kept and reused: the same few hundred codes
    and enumerated values make most of a dose report.
    """

    def __init__(
        self, transfer_syntax: str, *, undefined_length: bool = False, character_set: str = ""
    ) -> None:
        if transfer_syntax not in (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN):
            raise ValueError(
                f"transfer syntax {transfer_syntax!r}: explicit or implicit VR little endian only"
            )
        self.implicit_vr = transfer_syntax == IMPLICIT_VR_LITTLE_ENDIAN
        self.undefined_length = undefined_length
        # pydicom's reading of (0008,0005): its Python codecs, ISO 8859-1 where it is empty.
        self.encodings = convert_encodings(character_set.split("\\") if character_set else None)
        self._heads: dict[tuple[int, str], bytes] = {}
        self._known: dict[Element, bytes] = {}  # code sequences and CS elements

    def element(self, element: Element) -> bytes:
        """The bytes of ``element``: tag, (VR,) length and value (PS3.5 7.1)."""
        tag, vr, _ = element
        if vr == "CS" or tag in _CODE_SEQUENCES:
            if (known := self._known.get(element)) is None:
                if len(self._known) >= 65536:  # arbitrary meanings: keep the memory bounded
                    self._known.clear()
                known = self._known[element] = self._encode(element)
            return known
        return self._encode(element)

    def _encode(self, element: Element) -> bytes:
        tag, vr, value = element
        if isinstance(value, str):
            data = self.value(vr, value)
            return self._head(tag, vr, len(data)) + data
        return self._sequence(tag, value)

    def item(self, item: Item) -> bytes:
        """``item`` as an item of a sequence (PS3.5 7.5)."""
        body = b"".join([self.element(element) for element in item])
        if self.undefined_length:
            return _ITEM + _UL(_UNDEFINED) + body + _ITEM_DELIMITATION
        return _ITEM + _UL(len(body)) + body

    def value(self, vr: str, text: str) -> bytes:
        """The value field of a string VR, padded to an even length (PS3.5 6.2); binary VRs
        (OB, OW, ...) are not written by this encoder."""
        if vr not in _CHARSET_VRS:
            data = text.encode("latin_1")
        elif "\\" in text and vr not in _SINGLE_VALUED:
            data = b"\\".join([self._text(vr, part) for part in text.split("\\")])
        else:
            data = self._text(vr, text)
        if len(data) % 2:
            data += b"\x00" if vr == "UI" else b" "
        return data

    def _text(self, vr: str, text: str) -> bytes:
        if vr == "PN":  # component groups encoded separately (PS3.5 6.2.1.1)
            return PersonName(text).encode(self.encodings)
        return encode_string(text, self.encodings)

    def _sequence(self, tag: int, items: tuple[Item, ...]) -> bytes:
        body = b"".join([self.item(item) for item in items])
        if self.undefined_length:
            return self._head(tag, "SQ", _UNDEFINED) + body + _SEQUENCE_DELIMITATION
        return self._head(tag, "SQ", len(body)) + body

    def _head(self, tag: int, vr: str, length: int) -> bytes:
        """Tag, VR and length of an element (PS3.5 7.1.2, 7.1.3)."""
        start = self._heads.get((tag, vr))
        if start is None:
            start = _TAG(tag >> 16, tag & 0xFFFF)
            if not self.implicit_vr:
                start += vr.encode("ascii") + (b"\x00\x00" if vr in _LONG_VRS else b"")
            self._heads[(tag, vr)] = start
        if self.implicit_vr or vr in _LONG_VRS:
            return start + _UL(length)
        if length > 0xFFFF:
            raise ValueError(
                f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {vr}: a value of {length} "
                "bytes does not fit a 2-byte length (PS3.5 7.1.2)"
            )
        return start + _US(length)


# -- files and pydicom data sets -----------------------------------------------------------------


@lru_cache(maxsize=32)
def encoder(transfer_syntax: str, undefined_length: bool, character_set: str) -> Encoder:
    """A shared :class:`Encoder` of these parameters (its code memory serves every report)."""
    return Encoder(transfer_syntax, undefined_length=undefined_length, character_set=character_set)


def file_bytes(header: Dataset, content: Element, *, undefined_length: bool) -> bytes:
    """A DICOM file (PS3.10) of ``header`` and the top-level element ``content``.

    ``header`` (with its file meta) is written by pydicom, ``content`` by an :class:`Encoder`
    and put in its place in tag order: the elements of ``header`` after it are written after
    it. Sequences of ``header`` are written as they are marked; ``undefined_length`` is for
    ``content``.
    """
    tag = content[0]
    if tag in header:
        raise ValueError(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) is in the header already")
    before, after = Dataset(), Dataset()
    for element in header:
        (before if element.tag < tag else after).add(element)
    before.file_meta = header.file_meta
    buffer = io.BytesIO()
    dcmwrite(buffer, before, enforce_file_format=True)
    syntax = str(header.file_meta.TransferSyntaxUID)
    charset = header.get("SpecificCharacterSet", "")
    charset = charset if isinstance(charset, str) else "\\".join(charset)
    buffer.write(encoder(syntax, undefined_length, charset).element(content))
    if len(after):
        rest = DicomBytesIO()
        rest.is_little_endian, rest.is_implicit_VR = True, syntax == IMPLICIT_VR_LITTLE_ENDIAN
        write_dataset(rest, after, parent_encoding=charset.split("\\"))
        buffer.write(rest.getvalue())
    return buffer.getvalue()


def dataset(**values: object) -> Dataset:
    """A pydicom data set of the attributes ``values`` (by DICOM keyword)."""
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def file_meta(ds: Dataset, transfer_syntax: str, version_name: str) -> FileMetaDataset:
    """File meta information (PS3.10 7.1) of ``ds``, written by pydicom."""
    return FileMetaDataset(
        dataset(
            MediaStorageSOPClassUID=ds.SOPClassUID,
            MediaStorageSOPInstanceUID=ds.SOPInstanceUID,
            TransferSyntaxUID=pydicom.uid.UID(transfer_syntax),
            ImplementationClassUID=PYDICOM_IMPLEMENTATION_UID,
            ImplementationVersionName=version_name,
        )
    )


def mark_undefined_lengths(ds: Dataset, undefined: bool = True) -> Dataset:
    """``ds`` with every sequence and item in it of undefined length (PS3.5 7.5) if
    ``undefined``, as pydicom is to write them."""
    for element in ds.iterall() if undefined else ():
        if element.VR == "SQ":  # iterall walks into the items of sequences too
            element.is_undefined_length = True
            for item in element.value:
                item.is_undefined_length_sequence_item = True
    return ds


def to_dataset(item: Item, shared: dict[int, tuple[Item, Dataset]] | None = None) -> Dataset:
    """``item`` as a pydicom data set (the reference encoding: pydicom writes it).

    ``shared``: the data sets made so far by item object; an item object met again (a code)
    gives the same data set.
    """
    shared = {} if shared is None else shared
    if (known := shared.get(id(item))) is not None:
        return known[1]
    ds = Dataset()
    for tag, vr, value in item:
        ds.add(
            DataElement(tag, vr, value if isinstance(value, str) else to_sequence(value, shared))
        )
    shared[id(item)] = (item, ds)  # the item is kept, so that its id is not reused
    return ds


def to_sequence(
    items: Iterable[Item], shared: dict[int, tuple[Item, Dataset]] | None = None
) -> Sequence:
    """A pydicom sequence of ``items`` (see :func:`to_dataset`)."""
    shared = {} if shared is None else shared
    return Sequence([to_dataset(item, shared) for item in items])
