"""Structure names: local ROI names -> AAPM TG-263 standard names -> doseline organs.

The mapping is an editable CSV table (``doseline/data/rt/tg263_names.csv``; columns
``pattern, tg263_name, organ, parent_organ, tg263_checked``). A pattern is a Python regular
expression matched in full, ignoring case, against the ROI name with runs of spaces,
underscores, hyphens and dots made one space ("Lt_Lung" -> "lt lung"). The first matching row
wins; a deployment adds its own rows with a CSV of the same columns, read before the shipped
table (setting ``DOSELINE_RT_NAME_MAP`` or ``--names`` on the command line).

``organ`` is a name of :data:`doseline.organs.ORGANS` (or empty: a body outline, a
substructure); ``parent_organ`` names the organ a substructure belongs to (heart chambers and
coronary arteries). Targets (RT ROI Interpreted Type PTV, CTV, GTV, ...) are not organs and are
not looked up. A non-target name no row matches gets an :class:`UnknownStructureNameWarning`
and is kept, unmapped.

References
----------
Mayo CS, Moran JM, Bosch W, et al. American Association of Physicists in Medicine Task Group 263:
Standardizing Nomenclatures in Radiation Oncology. Int J Radiat Oncol Biol Phys 100(4):1057-1066
(2018). The standard names are TG-263's; the local spellings are examples of what centres use.
"""

from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from doseline.config import get_settings
from doseline.errors import DoselineWarning, InvalidInputError
from doseline.organs import ORGANS

__all__ = [
    "TARGET_TYPES",
    "NameMapping",
    "StructureName",
    "UnknownStructureNameWarning",
    "load_name_mapping",
]

#: RT ROI Interpreted Types (DICOM PS3.3 C.8.8.8) that denote targets, not organs.
TARGET_TYPES = frozenset({"PTV", "CTV", "GTV", "TREATED_VOLUME", "IRRAD_VOLUME", "BOLUS"})
_COLUMNS = ("pattern", "tg263_name", "organ", "parent_organ", "tg263_checked")
_SEPARATORS = re.compile(r"[\s_\-.]+")


class UnknownStructureNameWarning(DoselineWarning):
    """A structure name that the TG-263 mapping table does not know (kept unmapped)."""


@dataclass(frozen=True, slots=True)
class StructureName:
    """What a local ROI name stands for."""

    roi_name: str
    tg263_name: str | None
    organ: str | None
    parent_organ: str | None
    is_target: bool

    @property
    def dose_organ(self) -> str | None:
        """The name the organ dose is filed under: the organ, or ``parent:TG263`` for a
        substructure (``heart:Ventricle_L``)."""
        if self.organ:
            return self.organ
        if self.parent_organ and self.tg263_name:
            return f"{self.parent_organ}:{self.tg263_name}"
        return None


@dataclass(frozen=True, slots=True)
class _Row:
    pattern: re.Pattern[str]
    tg263_name: str
    organ: str | None
    parent_organ: str | None


@dataclass(frozen=True)
class NameMapping:
    """An ordered list of mapping rows; see the module docstring."""

    rows: tuple[_Row, ...]

    def lookup(self, roi_name: str, interpreted_type: str | None = None) -> StructureName:
        """Map one ROI name (warns with :class:`UnknownStructureNameWarning` if unknown)."""
        is_target = (interpreted_type or "").upper() in TARGET_TYPES
        key = _SEPARATORS.sub(" ", roi_name.strip()).strip().lower()
        if not is_target:
            for row in self.rows:
                if row.pattern.fullmatch(key):
                    return StructureName(
                        roi_name, row.tg263_name, row.organ, row.parent_organ, False
                    )
            warnings.warn(
                f"structure {roi_name!r}: no TG-263 name in the mapping table; kept unmapped "
                "(add a row to a site mapping CSV to map it)",
                UnknownStructureNameWarning,
                stacklevel=2,
            )
        return StructureName(roi_name, None, None, None, is_target)


def _read_rows(path: Path | str, text: str) -> list[_Row]:
    rows: list[_Row] = []
    reader = csv.DictReader(text.splitlines())
    missing = set(_COLUMNS[:3]) - set(reader.fieldnames or ())
    if missing:
        raise InvalidInputError(
            f"missing column(s) {', '.join(sorted(missing))}", source=str(path), field="header"
        )
    for number, record in enumerate(reader, start=2):
        where = f"line {number}"
        organ = (record.get("organ") or "").strip() or None
        parent = (record.get("parent_organ") or "").strip() or None
        for name, value in (("organ", organ), ("parent_organ", parent)):
            if value is not None and value not in ORGANS:
                raise InvalidInputError(
                    f"{value!r} is not a doseline organ name (doseline.organs.ORGANS)",
                    source=str(path),
                    record=where,
                    field=name,
                )
        try:
            pattern = re.compile(record["pattern"].strip(), re.IGNORECASE)
        except re.error as error:
            raise InvalidInputError(
                f"not a regular expression ({error})",
                source=str(path),
                record=where,
                field="pattern",
            ) from error
        tg263 = (record.get("tg263_name") or "").strip()
        if not tg263:
            raise InvalidInputError("empty", source=str(path), record=where, field="tg263_name")
        rows.append(_Row(pattern, tg263, organ, parent))
    return rows


def load_name_mapping(extra: Path | str | None = None) -> NameMapping:
    """The shipped TG-263 table, preceded by the rows of ``extra`` (or of the CSV named by
    ``DOSELINE_RT_NAME_MAP``) where given.

    Raises
    ------
    InvalidInputError
        If a CSV lacks a column, has a bad pattern or names an unknown organ (naming the line).
    """
    shipped = files("doseline.data") / "rt" / "tg263_names.csv"
    rows = _read_rows("doseline/data/rt/tg263_names.csv", shipped.read_text(encoding="utf-8"))
    extra = extra or get_settings().rt_name_map
    if extra is not None:
        path = Path(extra)
        if not path.is_file():
            raise InvalidInputError("no such mapping file", source=str(path))
        rows = _read_rows(path, path.read_text(encoding="utf-8")) + rows
    return NameMapping(tuple(rows))
