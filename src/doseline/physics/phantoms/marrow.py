"""Active (red) bone marrow of the stylised phantoms: how much, and in which skeletal region.

The ORNL skeleton is one homogeneous medium, so red-marrow dose is scored from the dose to
each skeletal region weighted by the region's red-marrow mass fraction. The total is the ICRP 89
reference active-marrow mass of the age (Table 2.8); the split over the regions is

- adult and 15 years: the adult distribution of Cristy (1981), Phys. Med. Biol. 26:389, by
  bone, mapped to the phantom's regions in ``data/physics/phantoms/red_marrow_sites.csv``;
- newborn: Cristy (1981, abstract): 27.8 % of the active marrow in the skull and 20.7 % in the
  lower limbs, the remaining 51.5 % over the other regions in proportion to their mass (at
  birth all marrow is active);
- 1, 5 and 10 years: linear interpolation in age between the newborn and the 15-year
  distribution (an approximation standing in for Cristy's age columns, which were not
  available to us; see docs/phantoms.md).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from functools import lru_cache

from doseline.physics.phantoms.reference import DATA_DIR, icrp89_value, reference_sex

__all__ = ["marrow_site_shares", "red_marrow_fractions"]

#: Cristy (1981), abstract: share of the newborn's active marrow in the skull and lower limbs.
NEWBORN_SKULL_SHARE = 0.278
NEWBORN_LOWER_LIMB_SHARE = 0.207
_SKULL = ("skeleton_cranium", "skeleton_mandible")
_LOWER_LIMBS = ("skeleton_legs",)
_AGE_YEARS = {"newborn": 0.0, "1y": 1.0, "5y": 5.0, "10y": 10.0}
_ADULT_FROM_YEARS = 15.0


@lru_cache(maxsize=1)
def _adult_shares() -> dict[str, float]:
    with (DATA_DIR / "red_marrow_sites.csv").open(newline="") as handle:
        percent = {
            row["region"]: float(row["adult_active_marrow_percent"])
            for row in csv.DictReader(handle)
        }
    total = sum(percent.values())  # 96.8: the sternum (3.1 %) is not modelled; renormalised
    return {name: value / total for name, value in percent.items()}


def _newborn_shares(masses_g: Mapping[str, float]) -> dict[str, float]:
    def spread(names: list[str], share: float) -> dict[str, float]:
        total = sum(masses_g[n] for n in names)
        return {n: share * masses_g[n] / total for n in names}

    skull = [n for n in _SKULL if n in masses_g]
    legs = [n for n in _LOWER_LIMBS if n in masses_g]
    rest = [n for n in masses_g if n not in skull and n not in legs]
    rest_share = 1.0 - NEWBORN_SKULL_SHARE - NEWBORN_LOWER_LIMB_SHARE
    return {
        **spread(skull, NEWBORN_SKULL_SHARE),
        **spread(legs, NEWBORN_LOWER_LIMB_SHARE),
        **spread(rest, rest_share),
    }


def marrow_site_shares(age: str, masses_g: Mapping[str, float]) -> dict[str, float]:
    """Share of the body's active marrow in each skeletal region (sums to 1).

    Parameters
    ----------
    age
        Phantom age.
    masses_g
        Mass of each skeletal region (``skeleton_*``) of the phantom.
    """
    adult = _adult_shares()
    missing = sorted(set(masses_g) - set(adult))
    if missing:
        raise ValueError(f"no marrow share for skeletal regions {missing}")
    if age not in _AGE_YEARS:
        return {name: adult[name] for name in masses_g}
    w = _AGE_YEARS[age] / _ADULT_FROM_YEARS
    newborn = _newborn_shares(masses_g)
    return {name: (1.0 - w) * newborn[name] + w * adult[name] for name in masses_g}


def red_marrow_fractions(
    age: str, masses_g: Mapping[str, float], mass_factor: float = 1.0
) -> dict[str, float]:
    """Red-marrow mass fraction of each skeletal region of a phantom of ``age``.

    Parameters
    ----------
    age
        Phantom age (its ICRP 89 active-marrow mass is distributed).
    masses_g
        Region name -> mass; regions whose name starts with ``skeleton`` are used.
    mass_factor
        Factor by which the phantom was scaled in volume (e.g. to a patient), applied to the
        reference marrow mass so that the fractions are those of the unscaled phantom.
    """
    total = icrp89_value("red_bone_marrow", age, reference_sex(age))
    if total is None:
        raise ValueError(f"no ICRP 89 red marrow mass for {age}")
    skeletal = {n: m for n, m in masses_g.items() if n.startswith("skeleton") and m > 0}
    shares = marrow_site_shares(age, skeletal)
    fractions = {n: total * mass_factor * shares[n] / m for n, m in skeletal.items()}
    too_high = {n: f for n, f in fractions.items() if f > 1.0}
    if too_high:
        raise ValueError(f"{age}: red marrow would exceed the mass of {sorted(too_high)}")
    return fractions
