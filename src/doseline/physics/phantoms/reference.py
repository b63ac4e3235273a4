"""ICRP Publication 89 reference values by age, and the phantom data files' locations.

Reference organ masses (ICRP 89 Table 2.8), heights and body masses (Table 2.9) for the newborn,
1, 5, 10 and 15 years and the adult, from ``data/physics/phantoms/icrp89_reference_values.csv``
(see PROVENANCE.md beside it). Each row says whether it was checked against an independent
reproduction of the table (``checked_against_source``, ``check_source_id``):
:func:`icrp89_checked`. The stylised phantoms are hermaphrodites, so a sex-averaged value is
offered where the reference differs by sex.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from doseline.errors import InvalidInputError
from doseline.physics.materials import material, material_names

__all__ = [
    "AGES",
    "DATA_DIR",
    "ORNL_PHANTOM_REGIONS",
    "check_age",
    "icrp89_checked",
    "icrp89_value",
    "material_densities_g_cm3",
    "ornl_phantom_mass_g",
    "reference_sex",
]

#: The ages of the ORNL phantom family (Cristy and Eckerman 1987).
AGES: tuple[str, ...] = ("newborn", "1y", "5y", "10y", "15y", "adult")

#: Package data of the phantoms.
DATA_DIR = Path(str(resources.files("doseline") / "data" / "physics" / "phantoms"))

SexChoice = Literal["male", "female", "mean"]


def check_age(age: str) -> None:
    """Raise ValueError unless ``age`` is one of :data:`AGES`."""
    if age not in AGES:
        raise ValueError(f"unknown age {age!r}; ages: {', '.join(AGES)}")


_FEMALE_ORGANS = frozenset({"breast", "ovaries", "uterus"})
_MALE_ORGANS = frozenset({"testes", "prostate"})


def reference_sex(age: str, organ: str | None = None) -> SexChoice:
    """Which ICRP 89 values a hermaphrodite phantom of ``age`` represents.

    Sex-specific organs take their own sex (breast, ovaries, uterus: female; testes, prostate:
    male); otherwise the adult ORNL phantom is Reference Man (male) and the younger phantoms
    take the mean of the sexes.
    """
    if organ in _FEMALE_ORGANS:
        return "female"
    if organ in _MALE_ORGANS:
        return "male"
    return "male" if age == "adult" else "mean"


_Key = tuple[str, str, str]


@lru_cache(maxsize=1)
def _icrp89_rows() -> tuple[dict[_Key, float], dict[_Key, bool]]:
    path = DATA_DIR / "icrp89_reference_values.csv"
    values: dict[_Key, float] = {}
    checked: dict[_Key, bool] = {}
    with path.open(newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            key = (row["quantity"], row["age"], row["sex"])
            flag = row["checked_against_source"]
            if flag not in ("yes", "no") or (flag == "yes") != bool(row["check_source_id"]):
                raise InvalidInputError(
                    f"must be yes (with a check_source_id) or no (without), got {flag!r}",
                    source=path.name,
                    record=f"line {line}",
                    field="checked_against_source",
                )
            values[key] = float(row["value"])
            checked[key] = flag == "yes"
    return values, checked


def _icrp89_table() -> dict[_Key, float]:
    return _icrp89_rows()[0]


def _contributing_keys(quantity: str, age: str, sex: SexChoice) -> list[_Key]:
    """Rows of the table that :func:`icrp89_value` combines for these arguments."""
    table = _icrp89_table()
    if (quantity, age, "both") in table:
        return [(quantity, age, "both")]
    wanted = ("male", "female") if sex == "mean" else (sex,)
    return [(quantity, age, s) for s in wanted if (quantity, age, s) in table]


def icrp89_value(quantity: str, age: str, sex: SexChoice = "mean") -> float | None:
    """ICRP 89 reference value of ``quantity`` (organ name, ``height_cm``, ``body_mass_g``).

    Parameters
    ----------
    quantity
        Organ name of :mod:`doseline.organs` (mass in g), ``height_cm`` or ``body_mass_g``.
    age
        One of :data:`AGES`.
    sex
        ``male``, ``female`` or ``mean`` (the mean of the two where both exist, else the one
        that exists: e.g. testes for the male, ovaries for the female).

    Returns
    -------
    float or None
        None where ICRP 89 gives no value (e.g. breast before 15 years in this table).
    """
    check_age(age)
    table = _icrp89_table()
    present = [table[key] for key in _contributing_keys(quantity, age, sex)]
    return sum(present) / len(present) if present else None


def icrp89_checked(quantity: str, age: str, sex: SexChoice = "mean") -> bool:
    """Whether :func:`icrp89_value` of the same arguments rests only on rows checked against an
    independent reproduction of ICRP 89 (PROVENANCE.md lists the checks); False where some row
    is still unverified or there is no value."""
    check_age(age)
    keys = _contributing_keys(quantity, age, sex)
    checked = _icrp89_rows()[1]
    return bool(keys) and all(checked[key] for key in keys)


#: Organ (doseline vocabulary) -> the regions of DCAL's ``REGMASS`` files whose masses add up
#: to the ORNL phantom's organ as doseline models it (hollow organs with their contents, as the
#: phantom regions are; lung without blood; ``whole_body`` the phantom's total mass).
ORNL_PHANTOM_REGIONS: dict[str, tuple[str, ...]] = {
    "adrenals": ("Adrenals",),
    "brain": ("Brain",),
    "breast": ("Breasts",),
    "gallbladder": ("GB_Wall", "GB_Cont"),
    "heart": ("Ht_Wall", "Ht_Cont"),
    "kidneys": ("Kidneys",),
    "liver": ("Liver",),
    "lung": ("Lng_Tiss",),
    "colon": ("ULI_Wall", "ULI_Cont", "LLI_Wall", "LLI_Cont"),
    "ovaries": ("Ovaries",),
    "pancreas": ("Pancreas",),
    "red_bone_marrow": ("R_Marrow",),
    "small_intestine": ("SI_Wall", "SI_Cont"),
    "skin": ("Skin",),
    "spleen": ("Spleen",),
    "stomach": ("St_Wall", "St_Cont"),
    "testes": ("Testes",),
    "thymus": ("Thymus",),
    "thyroid": ("Thyroid",),
    "bladder": ("UB_Wall", "UB_Cont"),
    "uterus": ("Uterus",),
    "whole_body": ("Body_Tis",),
}


@lru_cache(maxsize=1)
def _ornl_masses() -> dict[tuple[str, str], float]:
    with (DATA_DIR / "ornl_phantom_masses.csv").open(newline="") as handle:
        return {(r["age"], r["dcal_region"]): float(r["mass_g"]) for r in csv.DictReader(handle)}


def ornl_phantom_mass_g(organ: str, age: str) -> float | None:
    """Mass of ``organ`` in the ORNL phantom of ``age`` (Cristy and Eckerman 1987), g.

    From the region masses that DCAL (Eckerman and Leggett, ORNL/TM-2001/190) distributes with
    the Cristy-Eckerman specific absorbed fractions (``REGMASS.A00`` ... ``A15``); see
    PROVENANCE.md. Only the children (newborn to 15 years) are tabulated: DCAL's adult files
    hold ICRP 23 reference masses, not phantom masses. None where the organ or age is not
    tabulated (e.g. the adult, or organs the ORNL phantoms lack).
    """
    check_age(age)
    masses = _ornl_masses()
    regions = ORNL_PHANTOM_REGIONS.get(organ, ())
    if not regions or any((age, r) not in masses for r in regions):
        return None
    return sum(masses[(age, r)] for r in regions)


@lru_cache(maxsize=1)
def material_densities_g_cm3() -> dict[str, float]:
    """Nominal density of every packaged material (:mod:`doseline.physics.materials`, which
    reads the ORNL phantom media from ``materials/ornl_phantoms.csv``), g/cm3."""
    return {name: material(name).nominal_density_g_cm3 for name in material_names()}
