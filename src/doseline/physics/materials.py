"""Material database: elemental compositions by mass fraction and nominal densities.

Every CSV file in ``doseline/data/physics/materials/`` is read. The files are in long format,
one row per element, with the header
``material,nominal_density_g_cm3,element_symbol,mass_fraction,source_id``; each ``source_id``
is cited in ``doseline/data/physics/PROVENANCE.md``. Material names are lowercase snake_case.
A material defined in two files is an error.

Mass fractions of a material must add up to 1 within 0.2 %; they are then renormalised to sum
to exactly 1 (tables are printed to 0.1 % by weight, so their rounding is absorbed here).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import xraylib

from doseline.errors import InvalidInputError

__all__ = ["Material", "load_materials", "material", "material_names"]

_HEADER = ("material", "nominal_density_g_cm3", "element_symbol", "mass_fraction", "source_id")
_SUM_TOLERANCE = 2e-3


@dataclass(frozen=True)
class Material:
    """A homogeneous material, valid on construction.

    Parameters
    ----------
    name
        Lowercase snake_case name, e.g. ``"soft_tissue"``.
    nominal_density_g_cm3
        Density from the source; a voxel label may override it.
    atomic_numbers
        Atomic number of each constituent element, ascending.
    mass_fractions
        Mass fraction of each element, summing to 1.
    source_id
        Key of the citation in ``PROVENANCE.md``.
    """

    name: str
    nominal_density_g_cm3: float
    atomic_numbers: tuple[int, ...]
    mass_fractions: tuple[float, ...]
    source_id: str

    def __post_init__(self) -> None:
        if not self.atomic_numbers or len(self.atomic_numbers) != len(self.mass_fractions):
            raise ValueError(f"material {self.name!r}: elements and fractions do not match")
        if len(set(self.atomic_numbers)) != len(self.atomic_numbers):
            raise ValueError(f"material {self.name!r}: an element is listed twice")
        if min(self.mass_fractions) <= 0 or not math.isclose(sum(self.mass_fractions), 1.0):
            raise ValueError(f"material {self.name!r}: mass fractions must be > 0 and sum to 1")
        if not self.nominal_density_g_cm3 > 0:
            raise ValueError(f"material {self.name!r}: density must be > 0")

    @property
    def atoms_per_gram_relative(self) -> tuple[float, ...]:
        """``w_i / A_i`` per element (mol of atoms per gram): the per-atom mixing weights."""
        return tuple(
            w / xraylib.AtomicWeight(z)
            for z, w in zip(self.atomic_numbers, self.mass_fractions, strict=True)
        )

    @property
    def electrons_per_gram_relative(self) -> float:
        """``sum_i w_i Z_i / A_i`` (mol of electrons per gram)."""
        return sum(
            z * n for z, n in zip(self.atomic_numbers, self.atoms_per_gram_relative, strict=True)
        )


def _data_dir() -> Path:
    return Path(str(resources.files("doseline") / "data" / "physics" / "materials"))


def _parse_file(path: Path) -> dict[str, Material]:
    rows: dict[str, list[tuple[int, float, float, str]]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != _HEADER:
            raise InvalidInputError(
                f"header must be {','.join(_HEADER)}", source=str(path), record="header"
            )
        for line, row in enumerate(reader, start=2):
            record = f"line {line}"
            name = row["material"].strip()
            if not name or name != name.lower() or " " in name:
                raise InvalidInputError(
                    f"material name {name!r} is not lowercase snake_case",
                    source=str(path), record=record, field="material",
                )  # fmt: skip
            try:
                z = int(xraylib.SymbolToAtomicNumber(row["element_symbol"].strip()))
            except ValueError:
                z = 0
            if z <= 0:
                raise InvalidInputError(
                    f"unknown element {row['element_symbol']!r}",
                    source=str(path), record=record, field="element_symbol",
                )  # fmt: skip
            values = []
            for field in ("nominal_density_g_cm3", "mass_fraction"):
                try:
                    value = float(row[field])
                except ValueError:
                    value = math.nan
                if not value > 0:
                    raise InvalidInputError(
                        f"{field} must be a positive number, got {row[field]!r}",
                        source=str(path), record=record, field=field,
                    )  # fmt: skip
                values.append(value)
            rows.setdefault(name, []).append((z, values[0], values[1], row["source_id"].strip()))
    return {name: _build(name, entries, path) for name, entries in rows.items()}


def _build(name: str, entries: list[tuple[int, float, float, str]], path: Path) -> Material:
    densities = {e[1] for e in entries}
    sources = {e[3] for e in entries}
    if len(densities) != 1 or len(sources) != 1:
        raise InvalidInputError(
            "rows of one material disagree on density or source_id",
            source=str(path), record=name, field="nominal_density_g_cm3",
        )  # fmt: skip
    total = sum(e[2] for e in entries)
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise InvalidInputError(
            f"mass fractions sum to {total:.5f}, not 1",
            source=str(path), record=name, field="mass_fraction",
        )  # fmt: skip
    ordered = sorted(entries)
    try:
        return Material(
            name=name,
            nominal_density_g_cm3=densities.pop(),
            atomic_numbers=tuple(e[0] for e in ordered),
            mass_fractions=tuple(e[2] / total for e in ordered),
            source_id=sources.pop(),
        )
    except ValueError as error:
        raise InvalidInputError(str(error), source=str(path), record=name) from error


def load_materials(directory: Path | None = None) -> dict[str, Material]:
    """Read every ``*.csv`` material file of ``directory`` (default: the package data).

    Raises
    ------
    InvalidInputError
        On a malformed file, naming the file, the line or material and the field.
    """
    folder = directory if directory is not None else _data_dir()
    materials: dict[str, Material] = {}
    for path in sorted(folder.glob("*.csv")):
        for name, mat in _parse_file(path).items():
            if name in materials:
                raise InvalidInputError(
                    "material is defined in two files", source=str(path), record=name
                )
            materials[name] = mat
    return materials


@cache
def _package_materials() -> dict[str, Material]:
    return load_materials()


def material(name: str) -> Material:
    """The packaged material called ``name``."""
    try:
        return _package_materials()[name]
    except KeyError:
        known = ", ".join(sorted(_package_materials()))
        raise KeyError(f"unknown material {name!r}; known: {known}") from None


def material_names() -> tuple[str, ...]:
    """Names of all packaged materials, sorted."""
    return tuple(sorted(_package_materials()))
