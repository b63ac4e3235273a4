"""Audit the registry for protected health information (``doseline audit-phi``).

Three checks, each reported as findings (table, column, what was found; never the value):

1. **schema**: no column is named for a direct identifier (name, address, birth date, patient
   or accession number ...), the identifiers of DICOM PS3.15 Annex E table E.1-1;
2. **patterns**: no text value looks like a person name in DICOM PN form, a full date, an
   e-mail address, a telephone number, or a DICOM UID that was not replaced by a ``2.25.``
   pseudonym;
3. **sources** (optional): no text value contains an identifier read from the source files
   themselves (patient name and ID, other IDs, birth date, accession number, physician and
   operator names, study, series, SOP instance and irradiation event UIDs, person names in
   the SR content). This is the decisive check: it knows the real identifiers.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pydicom
from pydicom.charset import convert_encodings
from pydicom.filereader import read_partial
from pydicom.uid import ImplicitVRLittleEndian
from sqlalchemy import JSON, String, Table, Text, cast, select

from doseline.dicom.content import Code, ValueTypeValues, content_tree_from_bytes
from doseline.dicom.header import CONTENT_SEQUENCE_TAG
from doseline.ingest.files import discover_files
from doseline.registry.base import Base
from doseline.registry.database import Registry

__all__ = ["PhiFinding", "audit_phi", "source_identifiers"]

_IDENTIFIER_COLUMN = re.compile(
    r"(^|_)(name|surname|address|phone|email|birth_?date|date_of_birth|dob|patient_id|"
    r"accession|mrn|ssn|national_id)($|_)"
)
# Columns whose names match the pattern but hold no identifier.
_ALLOWED_COLUMNS = frozenset({("centre", "name")})

_PATTERNS = {
    "person name in DICOM PN form": re.compile(
        r"^[A-Za-z\u00c0-\u024f'\-]{2,}\^[A-Za-z\u00c0-\u024f'\-]{2,}(?:\^[^^]*){0,3}$"
    ),
    "full date": re.compile(
        r"\b(?:18|19|20)\d\d[-/.]?(?:0[1-9]|1[0-2])[-/.]?(?:0[1-9]|[12]\d|3[01])\b"
    ),
    "e-mail address": re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"),
    "telephone number": re.compile(r"\+?\d[\d ()-]{8,}\d"),
    "DICOM UID not pseudonymised": re.compile(r"^(?!2\.25\.)[0-2](?:\.(?:0|[1-9]\d*)){3,}$"),
}
# Values of these columns are codes or hashes, not free text.
_CODE_COLUMNS = frozenset({"pseudonym", "device_key", "content_hash", "key_fingerprint"})

_SOURCE_KEYWORDS = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "PatientBirthDate",
    "AccessionNumber",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "NameOfPhysiciansReadingStudy",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "StudyID",
    "PatientAddress",
    "PatientTelephoneNumbers",
)
_MIN_SEARCH_LENGTH = 4  # shorter values (such as "M", "1") match everywhere by chance


@dataclass(frozen=True, slots=True)
class PhiFinding:
    """One finding: where, which check, and how many values (the values are not repeated)."""

    table: str
    column: str
    check: str
    what: str
    count: int


def _text_tables() -> list[Table]:
    import doseline.registry.schema  # noqa: F401  (registers every table)

    return list(Base.metadata.sorted_tables)


def _text_columns(table: Table) -> list[str]:
    return [
        c.name
        for c in table.columns
        if isinstance(c.type, String | Text | JSON) and c.name not in _CODE_COLUMNS
    ]


def source_identifiers(paths: Iterable[str | os.PathLike[str]]) -> set[str]:
    """Identifier values found in the DICOM files under ``paths`` (files that are not DICOM
    are skipped): header identifiers, and the person names and UIDs of the SR content."""
    found: set[str] = set()
    for path in discover_files(paths):
        data = path.read_bytes()
        try:
            stream = io.BytesIO(data)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                header = read_partial(
                    stream, stop_when=lambda tag, vr, n: tag == CONTENT_SEQUENCE_TAG
                )
                _collect_header(header, found)
                transfer_syntax = header.file_meta.get("TransferSyntaxUID", "")
                tree = content_tree_from_bytes(
                    data,
                    stream.tell(),
                    implicit_vr=transfer_syntax == ImplicitVRLittleEndian,
                    encodings=convert_encodings(header.get("SpecificCharacterSet") or ""),
                    root_concept=Code("", "", ""),
                )
        except Exception:  # not DICOM or not SR: nothing more to collect
            continue
        texts = np.isin(tree.value_type, [ValueTypeValues.PNAME, ValueTypeValues.UIDREF])
        found.update(t for i in np.flatnonzero(texts) if (t := tree.text(int(i))))
    return {value for value in found if len(value) >= _MIN_SEARCH_LENGTH}


def _collect_header(header: pydicom.Dataset, found: set[str]) -> None:
    for keyword in _SOURCE_KEYWORDS:
        value = header.get(keyword)
        for item in value if isinstance(value, pydicom.multival.MultiValue) else [value]:
            text = str(item or "").strip()
            if not text:
                continue
            found.add(text)
            if keyword == "PatientBirthDate" and len(text) == 8:
                found.add(f"{text[:4]}-{text[4:6]}-{text[6:]}")
            if "^" in text:
                found.update(part for part in text.split("^") if part)


def audit_phi(
    registry: Registry, *, sources: Iterable[str | os.PathLike[str]] = ()
) -> list[PhiFinding]:
    """Run the checks of the module docstring; an empty list means nothing was found."""
    identifiers = source_identifiers(sources) if sources else set()
    # Whole-word matches: a name component "Test" must not flag the word "testing".
    alternatives = "|".join(re.escape(v) for v in sorted(identifiers, key=len, reverse=True))
    source_pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)") if identifiers else None
    findings: list[PhiFinding] = []
    with registry.engine.connect() as connection:
        for table in _text_tables():
            for column in table.columns:
                if (
                    isinstance(column.type, String | Text)
                    and _IDENTIFIER_COLUMN.search(column.name)
                    and (table.name, column.name) not in _ALLOWED_COLUMNS
                ):
                    findings.append(
                        PhiFinding(table.name, column.name, "schema", "identifier column", 1)
                    )
            columns = _text_columns(table)
            if not columns:
                continue
            frame = pd.read_sql_query(
                select(*(cast(table.c[name], Text).label(name) for name in columns)), connection
            )
            for name in columns:
                values = frame[name].dropna().astype(str)
                if values.empty:
                    continue
                findings.extend(_scan_values(table.name, name, values, source_pattern))
    return findings


def _scan_values(
    table: str, column: str, values: pd.Series, source_pattern: re.Pattern[str] | None
) -> list[PhiFinding]:
    findings = []
    uid_shaped = values.str.fullmatch(r"[0-9.]+")
    for what, pattern in _PATTERNS.items():
        candidates = values if what == "DICOM UID not pseudonymised" else values[~uid_shaped]
        hits = int(candidates.str.contains(pattern, regex=True).sum())
        if hits:
            findings.append(PhiFinding(table, column, "patterns", what, hits))
    if source_pattern is not None:
        hits = int(values.str.contains(source_pattern, regex=True).sum())
        if hits:
            findings.append(
                PhiFinding(table, column, "sources", "identifier from the source files", hits)
            )
    return findings
