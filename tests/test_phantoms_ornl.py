"""The ORNL phantoms' own organ masses, and what they say about doseline's stylised family.

Reference: the region masses that DCAL (Eckerman and Leggett, ORNL/TM-2001/190) distributes
with the specific absorbed fractions of the Cristy and Eckerman (1987, ORNL/TM-8381) phantoms,
``REGMASS.A00`` ... ``A15``, read from their JSON transcription in ``kvotab/kvotab.github.io``
(``resources/data/dose/icrp60/saf.json``); ``data/physics/phantoms/ornl_phantom_masses.csv``,
PROVENANCE.md.

doseline's 15-year-old base geometry is the Geant4 ``human_phantom`` model, said to be the ORNL
15-year-old (= adult female) phantom. Where Geant4 kept the ORNL organ, the base organ mass
(``organ_masses="similitude"``: no resizing) must equal the ORNL 15-year-old mass to the
accuracy of the quasi-Monte Carlo volume integration (0.5 %, test_phantoms_shapes.py) and of
DCAL's three significant figures (0.5 %): 2 % for organs of 60 g and more; liver, brain and
colon, whose Geant4 versions are reconstructed or painted over by later organs in doseline
(PROVENANCE.md: liver cut plane scaled from the MIRD adult, colon painted over the small
intestine), within 5 %. The organs Geant4 changed (its simplified heart, its adult testes and
adrenals) are compared in docs/phantoms.md, not here.

The derived children (newborn to 10 years) are sized to the ORNL masses of their age
(``doseline.physics.phantoms.sizing``). Their voxelised organ masses at 2 mm (3 x 3 x 3
sub-voxels) must reproduce the ORNL masses for organs of 10 g and more within 7 %: the
voxelisation error of such organs at 2 mm (voxel vs analytic mass within 5 %,
test_phantoms_stylised.py) plus the convergence of the sizing iteration and its Sobol volume
estimate (2^14 points, about 1 %) and DCAL's three significant figures (0.5 %). Known
exceptions, asserted as such: in the newborn the liver, heart and lungs cannot all reach their
ORNL masses in the slim derived trunk (semi-axes 58 x 33 mm) and stop at 0.85-0.95 of them.
"""

from __future__ import annotations

import numpy as np
import pytest

from doseline.physics.phantoms import (
    analytic_region_masses_g,
    build_phantom,
    organ_masses_g,
    region_organs,
)
from doseline.physics.phantoms.reference import ORNL_PHANTOM_REGIONS, ornl_phantom_mass_g


@pytest.fixture(scope="module")
def base_organ_masses_g() -> dict[str, float]:
    organs = region_organs()
    out: dict[str, float] = {}
    for region, mass in analytic_region_masses_g("15y", organ_masses="similitude").items():
        organ = organs.get(region)
        if organ is not None:
            out[organ] = out.get(organ, 0.0) + mass
    return out


@pytest.mark.parametrize(
    ("organ", "tolerance"),
    [
        ("kidneys", 0.02),
        ("spleen", 0.02),
        ("pancreas", 0.02),
        ("stomach", 0.02),
        ("uterus", 0.02),
        ("liver", 0.05),
        ("brain", 0.05),
        ("colon", 0.05),
        ("ovaries", 0.05),
    ],
)
def test_base_geometry_is_the_ornl_15_year_old(
    base_organ_masses_g: dict[str, float], organ: str, tolerance: float
) -> None:
    ornl = ornl_phantom_mass_g(organ, "15y")
    assert ornl is not None
    assert base_organ_masses_g[organ] == pytest.approx(ornl, rel=tolerance)


def test_every_child_has_every_mapped_organ() -> None:
    for age in ("newborn", "1y", "5y", "10y", "15y"):
        for organ in ORNL_PHANTOM_REGIONS:
            mass = ornl_phantom_mass_g(organ, age)
            assert mass is not None and mass > 0, (organ, age)
    # the ORNL children grow monotonically in body mass (DCAL Body_Tis)
    totals = [ornl_phantom_mass_g("whole_body", a) for a in ("newborn", "1y", "5y", "10y", "15y")]
    assert totals == sorted(totals)  # type: ignore[type-var]


def test_adults_and_unknown_organs_are_not_tabulated() -> None:
    # DCAL's adult files hold ICRP 23 reference masses, not the phantom's: left out
    assert ornl_phantom_mass_g("liver", "adult") is None
    assert ornl_phantom_mass_g("oesophagus", "5y") is None
    with pytest.raises(ValueError, match="unknown age"):
        ornl_phantom_mass_g("liver", "7y")


_NEWBORN_SHORTFALL = {"liver", "heart", "lung"}  # crowded slim trunk: see the module docstring


@pytest.mark.slow
@pytest.mark.parametrize("age", ["newborn", "1y", "5y", "10y"])
def test_derived_children_have_the_ornl_organ_masses(age: str) -> None:
    masses = organ_masses_g(build_phantom(age, 2.0))
    checked = 0
    for organ in ORNL_PHANTOM_REGIONS:
        ornl = ornl_phantom_mass_g(organ, age)
        if ornl is None or ornl < 10.0 or organ in ("skin", "red_bone_marrow", "whole_body"):
            continue
        if age == "newborn" and organ in _NEWBORN_SHORTFALL:
            assert 0.80 < masses[organ] / ornl < 1.0, (organ, masses[organ], ornl)
        else:
            assert masses[organ] == pytest.approx(ornl, rel=0.07), (age, organ)
        checked += 1
    assert checked >= 8


def test_child_breast_is_a_small_lens_at_the_chest_surface() -> None:
    # ORNL 5-year breasts: 1.51 g (DCAL REGMASS.A05); the analytic (painted) mass must match
    # it to the Sobol accuracy of a small region (5 %), and the region must lie in the front
    # 15 mm of the trunk (anterior chest surface)
    masses = analytic_region_masses_g("5y")
    ornl = ornl_phantom_mass_g("breast", "5y")
    assert ornl is not None
    assert masses["breast"] == pytest.approx(ornl, rel=0.05)
    phantom = build_phantom("5y", 2.0)
    index = [r.name for r in phantom.regions].index("breast")
    xs, ys, zs = np.nonzero(phantom.labels == index)
    front = np.argmax(phantom.labels > 0, axis=1)  # most anterior body voxel of each (x, z)
    depth_mm = (ys - front[xs, zs] + 1) * 2.0
    assert ys.size > 0 and depth_mm.max() <= 15.0
