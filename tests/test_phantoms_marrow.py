"""Red bone marrow of the stylised phantoms.

References: Cristy (1981), Phys. Med. Biol. 26:389, abstract: in the newborn 27.8 % of the
active marrow is in the skull and 20.7 % in the lower limbs; Cristy's adult distribution by
bone (red_marrow_sites.csv, the unmodelled sternum renormalised away, sacrum split); ICRP 89
Table 2.8 total active marrow by age. Given region masses, the fractions must reproduce these
to rounding (1e-9). In a voxelised phantom the marrow mass is fraction x voxelised mass, so it
differs from ICRP 89 by the voxelisation error of the thin skeletal shells (2 % at 2 mm).
"""

from __future__ import annotations

import pytest

from doseline.physics.phantoms import AGES, build_phantom, icrp89_value, organ_masses_g
from doseline.physics.phantoms.marrow import marrow_site_shares, red_marrow_fractions
from doseline.physics.phantoms.reference import reference_sex

_NAMES = [
    "scapulae",
    "cranium",
    "mandible",
    "clavicles",
    "ribs",
    "spine_cervical",
    "spine_thoracic",
    "spine_lumbar",
    "pelvis",
    "legs",
    "arms",
]
_MASSES = {f"skeleton_{n}": 1000.0 + 100 * i for i, n in enumerate(_NAMES)}


def _marrow(age: str) -> dict[str, float]:
    fractions = red_marrow_fractions(age, _MASSES)
    return {name: f * _MASSES[name] for name, f in fractions.items()}


def test_newborn_skull_and_lower_limb_shares_follow_cristy_1981() -> None:
    marrow = _marrow("newborn")
    total = sum(marrow.values())
    assert total == pytest.approx(50.0, rel=1e-9)  # ICRP 89 newborn active marrow
    skull = marrow["skeleton_cranium"] + marrow["skeleton_mandible"]
    assert skull / total == pytest.approx(0.278, rel=1e-9)
    assert marrow["skeleton_legs"] / total == pytest.approx(0.207, rel=1e-9)


def test_adult_distribution_is_cristys_renormalised() -> None:
    marrow = _marrow("adult")
    total = sum(marrow.values())
    assert total == pytest.approx(1170.0, rel=1e-9)
    assert marrow["skeleton_ribs"] / total == pytest.approx(16.1 / 96.8, rel=1e-9)
    # os coxae 17.5 % plus half of the sacrum's 9.9 % (the other half with the lumbar spine)
    assert marrow["skeleton_pelvis"] / total == pytest.approx(22.45 / 96.8, rel=1e-9)


@pytest.mark.parametrize("age", AGES)
def test_every_age_carries_its_icrp89_marrow(age: str) -> None:
    expected = icrp89_value("red_bone_marrow", age, reference_sex(age))
    assert sum(_marrow(age).values()) == pytest.approx(expected, rel=1e-9)


def test_shares_move_from_newborn_to_adult_with_age() -> None:
    legs = [marrow_site_shares(age, _MASSES)["skeleton_legs"] for age in AGES[:5]]
    assert legs == sorted(legs, reverse=True)  # the limbs lose active marrow with age
    for age in AGES:
        assert sum(marrow_site_shares(age, _MASSES).values()) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="no marrow share"):
        marrow_site_shares("5y", {"skeleton_tail": 1.0})
    with pytest.raises(ValueError, match="exceed"):
        red_marrow_fractions("adult", {n: 1.0 for n in _MASSES})


def test_voxelised_newborn_marrow_mass() -> None:
    masses = organ_masses_g(build_phantom("newborn", 2.0))
    assert masses["red_bone_marrow"] == pytest.approx(50.0, rel=0.02)
