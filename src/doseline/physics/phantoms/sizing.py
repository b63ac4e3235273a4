"""Resizing the organs of a stylised phantom to target masses (ORNL phantom or ICRP 89).

The derived children (newborn, 1, 5 and 10 years) are meant to reproduce the ORNL stylised
phantoms of Cristy (1980, NUREG/CR-1159) and Cristy and Eckerman (1987, ORNL/TM-8381), whose
age-specific organ equations were not available to us. Their organ masses are (DCAL
``REGMASS`` files, :func:`doseline.physics.phantoms.reference.ornl_phantom_mass_g`), so each
organ of a derived child is resized to the ORNL phantom's mass of that age, and to the ICRP 89
reference mass (Table 2.8) where the ORNL phantoms have no such organ (oesophagus, salivary
glands, prostate). The 15-year base and the adult keep the ICRP 89 sizing of the solid organs
(:data:`ICRP89_SIZED_ORGANS`).

Rule (:func:`resize_to_masses`)
-------------------------------
- Each organ is scaled isotropically by one factor ``k`` (a similarity: aspect ratios kept)
  about its own centre: a union of separate bodies (paired organs: lungs, kidneys, breasts,
  ovaries, ...) part by part about each part's centre, any other solid as a whole about the
  centre of its bounding box; a difference scales its base only (the cut solids stay).
  Organ centroids therefore stay where they are, except where the body surface or a later
  region clips the organ.
- The resized organ is clipped to its body segment (trunk, head or legs).
- Overlaps are resolved by the painting order of ``ornl_15y_base.yaml`` (a later region
  overwrites an earlier one; the skeleton is painted last), and the mass that is matched is
  the *painted* mass, i.e. the organ's volume not overwritten by later regions
  (:func:`doseline.physics.phantoms.voxelise.analytic_volumes_mm3`), times its density. All
  factors are found together by a fixed-point iteration ``k <- k (M_target / M) ** (1/p)``
  (``p = 3`` for a free organ, estimated from the previous step where clipping makes the
  mass grow more slowly), since one organ's growth takes volume from the organs painted
  before it; the step that came closest to the targets is kept. Where the body surface or
  the organs painted later stop an organ from growing (the newborn liver in its slim trunk),
  the target is not reached: ``doseline phantom info`` shows the masses reached.

The ORNL child breast is a small organ on the anterior chest surface (0.1 g in the newborn,
2.6 g at 10 years): the breast ellipsoids of the 15-year base, whose centres lie on the trunk
surface, are shrunk about those centres and only their part inside the trunk is kept, a
shallow lens under the skin of the chest (:func:`prepubertal_breast`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from doseline.physics.phantoms.reference import (
    icrp89_value,
    material_densities_g_cm3,
    ornl_phantom_mass_g,
    reference_sex,
)
from doseline.physics.phantoms.shapes import (
    Difference,
    Intersection,
    Solid,
    Translated,
    Union,
)
from doseline.physics.phantoms.voxelise import analytic_volumes_mm3

if TYPE_CHECKING:
    from doseline.physics.phantoms.stylised import RegionSpec

__all__ = [
    "ICRP89_SIZED_ORGANS",
    "ORNL_SIZED_AGES",
    "ORNL_SIZED_ORGANS",
    "organ_target_masses_g",
    "painted_masses_g",
    "prepubertal_breast",
    "resize_to_masses",
    "resized",
]

#: Ages whose organs are sized to the ORNL phantom of the same age: the children derived from
#: the 15-year base. The 15-year-old is the base geometry itself, the adult has no ORNL
#: phantom masses here (DCAL's adult files hold ICRP 23 values).
ORNL_SIZED_AGES: tuple[str, ...] = ("newborn", "1y", "5y", "10y")

#: Organs resized to the ORNL phantom mass in the derived children (doseline regions; hollow
#: organs with their contents, the heart with its blood, lung tissue), and, where the ORNL
#: phantoms lack them, to ICRP 89 (oesophagus, salivary glands, prostate). Not resized: the
#: brain (the head is scaled to its mass instead), skin (the outer voxel layer), red marrow
#: (a mass fraction of the skeleton) and the extrathoracic airways (no reference mass).
ORNL_SIZED_ORGANS: tuple[str, ...] = (
    "adrenals",
    "bladder",
    "breast",
    "colon",
    "gallbladder",
    "heart",
    "kidneys",
    "liver",
    "lung",
    "oesophagus",
    "ovaries",
    "pancreas",
    "prostate",
    "salivary_glands",
    "small_intestine",
    "spleen",
    "stomach",
    "testes",
    "thymus",
    "thyroid",
    "uterus",
)

#: Organs resized to their ICRP 89 reference mass at 15 years and in the adult: solid organs
#: whose phantom region is the whole organ, and the regions doseline adds as surrogates;
#: hollow organs with contents, the heart with its blood and the lungs (ICRP 89 lung mass
#: includes blood) are left alone.
ICRP89_SIZED_ORGANS: tuple[str, ...] = (
    "liver",
    "kidneys",
    "spleen",
    "pancreas",
    "thymus",
    "thyroid",
    "adrenals",
    "testes",
    "ovaries",
    "uterus",
    "salivary_glands",
    "oesophagus",
    "prostate",
)

_ITERATIONS = 14
_POINTS_LOG2 = 14


def organ_target_masses_g(age: str) -> dict[str, tuple[float, str]]:
    """Organ -> (target mass g, source) for the phantom of ``age``.

    Source ``ornl`` (:func:`~doseline.physics.phantoms.reference.ornl_phantom_mass_g`, the
    derived children) or ``icrp89`` (:func:`~doseline.physics.phantoms.reference.icrp89_value`
    with the phantom's reference sex).
    """
    out: dict[str, tuple[float, str]] = {}
    children = age in ORNL_SIZED_AGES
    for organ in ORNL_SIZED_ORGANS if children else ICRP89_SIZED_ORGANS:
        ornl = ornl_phantom_mass_g(organ, age) if children else None
        if ornl is not None:
            out[organ] = (ornl, "ornl")
            continue
        icrp = icrp89_value(organ, age, reference_sex(age, organ))
        if icrp is not None:
            out[organ] = (icrp, "icrp89")
    return out


def painted_masses_g(regions: Sequence[RegionSpec], n_points_log2: int = 17) -> list[float]:
    """Painted mass of each region, g: its solid's volume not overwritten by later regions
    (:func:`~doseline.physics.phantoms.voxelise.analytic_volumes_mm3`) times its density."""
    densities = material_densities_g_cm3()
    volumes = analytic_volumes_mm3([r.solid for r in regions], n_points_log2)
    return [v / 1000.0 * densities[r.material] for r, v in zip(regions, volumes, strict=True)]


def _centre(solid: Solid) -> tuple[float, float, float]:
    b = solid.bounds()
    return ((b[0][0] + b[0][1]) / 2, (b[1][0] + b[1][1]) / 2, (b[2][0] + b[2][1]) / 2)


def _about_centre(solid: Solid, k: float) -> Solid:
    c = _centre(solid)
    return Translated(Translated(solid, (-c[0], -c[1], -c[2])).scaled(k, k, k), c)


def _separate(parts: Sequence[Solid]) -> bool:
    """Whether the bounding boxes of ``parts`` are pairwise disjoint (separate bodies)."""
    boxes = [p.bounds() for p in parts]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if all(a[axis][0] < b[axis][1] and b[axis][0] < a[axis][1] for axis in range(3)):
                return False
    return True


def resized(solid: Solid, k: float) -> Solid:
    """``solid`` scaled by ``k`` about its own centre (see the module docstring): separate
    parts of a union each about its own centre, a difference by its base only."""
    if isinstance(solid, Union) and _separate(solid.parts):
        return Union(tuple(resized(part, k) for part in solid.parts))
    if isinstance(solid, Difference):
        return Difference(resized(solid.base, k), solid.removed)
    return _about_centre(solid, k)


def prepubertal_breast(solid: Solid, k: float) -> Solid:
    """Child breast: the base breast ellipsoids (centred on the trunk surface) scaled by ``k``
    about their centres, and only their part inside the trunk kept (a shallow lens at the
    anterior chest surface) instead of the adult breasts outside it."""
    if not isinstance(solid, Difference):
        raise TypeError("the base breast must be ellipsoids minus the trunk")
    return Intersection((resized(solid.base, k), *solid.removed))


def resize_to_masses(
    regions: tuple[RegionSpec, ...],
    targets_g: Mapping[str, float],
    containers: Mapping[str, Solid],
    special: Mapping[str, Callable[[Solid, float], Solid]] | None = None,
) -> tuple[RegionSpec, ...]:
    """Resize the organs of ``targets_g`` so that their painted masses meet the targets.

    Parameters
    ----------
    regions
        Regions in painting order (:func:`doseline.physics.phantoms.stylised.phantom_regions`).
    targets_g
        Organ -> target mass, g (the summed painted mass of the organ's regions).
    containers
        Body segment -> the segment's outer solid, to which resized organs are clipped.
    special
        Region name -> ``f(solid, k)`` replacing the default resize-and-clip (the child breast).

    Returns
    -------
    tuple of RegionSpec
        The regions with the resized solids (others unchanged), after a fixed number of
        fixed-point steps (see the module docstring); :func:`analytic_volumes_mm3` of the
        result gives the masses reached.
    """
    special = special or {}
    factors = {organ: 1.0 for organ in targets_g}

    def build(k: Mapping[str, float]) -> tuple[RegionSpec, ...]:
        out = []
        for r in regions:
            factor = k.get(r.organ) if r.organ is not None else None
            if factor is None:
                out.append(r)
            elif r.name in special:
                out.append(replace(r, solid=special[r.name](r.solid, factor)))
            else:
                clipped = Intersection((resized(r.solid, factor), containers[r.segment]))
                out.append(replace(r, solid=clipped))
        return tuple(out)

    previous: dict[str, tuple[float, float]] = {}
    best: tuple[float, dict[str, float]] = (math.inf, dict(factors))
    for _ in range(_ITERATIONS):
        current = build(factors)
        masses = dict.fromkeys(targets_g, 0.0)
        for region, mass in zip(current, painted_masses_g(current, _POINTS_LOG2), strict=True):
            if region.organ in masses:
                masses[region.organ] += mass
        score = sum(
            min(abs(math.log(t / max(masses[o], 1e-6 * t))), 1.0) for o, t in targets_g.items()
        )
        if score < best[0]:
            best = (score, dict(factors))
        for organ, target in targets_g.items():
            mass, k = max(masses[organ], 1e-6 * target), factors[organ]
            factors[organ] = k * _step(target / mass, _exponent(previous.get(organ), k, mass))
            previous[organ] = (k, mass)
    # the step that came closest (sum of |log(M_target / M)|, each capped at 1): where clipping
    # by the body surface or by later regions stops an organ from growing, the iteration
    # cannot reach every target and must not diverge
    return build(best[1])


def _exponent(previous: tuple[float, float] | None, k: float, mass: float) -> float:
    """Local exponent ``p`` of ``mass ~ k**p``: 3 for a free organ, less where the body
    surface or later regions clip it; estimated from the last two steps (secant), in
    [0.5, 3]."""
    if previous is None or abs(math.log(k / previous[0])) < 1e-4 or mass <= 0:
        return 3.0
    p = math.log(mass / previous[1]) / math.log(k / previous[0])
    return min(max(p, 0.5), 3.0) if p > 0.1 else math.inf  # inf: saturated, k stays


def _step(ratio: float, exponent: float) -> float:
    """Factor by which ``k`` changes: ``ratio ** (1 / p)``, limited to [1/2, 2] per step (1
    where the mass no longer responds to ``k``, ``p`` infinite)."""
    return float(min(max(ratio ** (1.0 / exponent), 0.5), 2.0))
