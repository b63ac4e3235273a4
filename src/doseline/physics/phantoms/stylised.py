"""The stylised (ORNL-type) paediatric phantom family: newborn, 1, 5, 10, 15 years, adult.

Geometry
--------
The base is the ORNL 15-year-old (= adult female) phantom of Cristy and Eckerman (1987,
ORNL/TM-8381 Vol. I) in the quadric-surface form implemented by Geant4's ``human_phantom``
example (``data/physics/phantoms/ornl_15y_base.yaml``, sources per region in PROVENANCE.md).
The other ages are **derived** from it, because the age-specific parameter tables of TM-8381
were not available to us in readable form:

- head (with brain, skull, thyroid, cervical spine): scaled isotropically about the base of the
  head by ``s_h = (M_brain,ICRP89 / M_brain,base) ** (1/3)``, so the brain has its ICRP 89
  reference mass (a child's head is relatively large; a single body-wide scale would give a
  newborn brain of about 70 g instead of 380 g);
- trunk and legs: z scaled to the ORNL trunk height and leg length of the age
  (``ornl_dimensions.csv``, Cristy and Eckerman 1987 Table A-1 as recalled, flagged unverified
  in PROVENANCE.md), x and y by one factor ``s_xy`` chosen so that the total body mass is the
  ICRP 89 reference mass (the x-y rule of PCXMC, Tapiovaara and Siiskonen 2008, STUK-A231);
- the organs are then resized isotropically about their own centres to target masses and
  clipped to the body (:mod:`doseline.physics.phantoms.sizing`; ``organ_masses="similitude"``
  keeps the plain similitude instead): in the derived children (newborn to 10 years) every
  organ for which the ORNL phantom of that age has a mass (DCAL ``REGMASS``,
  ``ornl_phantom_masses.csv``) to that mass, the oesophagus, salivary glands and prostate to
  ICRP 89; at 15 years and in the adult the solid organs of :data:`MATCHED_ORGANS` to ICRP 89;
- under 15 years the breast region is the small ORNL pre-pubertal breast: the breast
  ellipsoids shrunk about their centres on the chest surface, only their part inside the
  trunk kept.

Origin and axes: the origin is the centre of the base of the trunk (MIRD convention, z = 0 at
the top of the legs); +x the phantom's left, +y posterior, +z towards the head (DICOM LPS).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from doseline.errors import InvalidInputError
from doseline.organs import check_organ
from doseline.physics.phantoms.marrow import red_marrow_fractions
from doseline.physics.phantoms.reference import (
    AGES,
    DATA_DIR,
    check_age,
    icrp89_value,
    material_densities_g_cm3,
    ornl_phantom_mass_g,
    reference_sex,
)
from doseline.physics.phantoms.shapes import Solid, Translated, solid_from_dict
from doseline.physics.phantoms.sizing import (
    ICRP89_SIZED_ORGANS,
    ORNL_SIZED_AGES,
    organ_target_masses_g,
    painted_masses_g,
    prepubertal_breast,
    resize_to_masses,
)
from doseline.physics.phantoms.voxel import Label, VoxelPhantom
from doseline.physics.phantoms.voxelise import grid_bounds, voxelise

__all__ = [
    "MATCHED_ORGANS",
    "ORGAN_SURROGATES",
    "AgeScaling",
    "RegionSpec",
    "age_scaling",
    "analytic_region_masses_g",
    "build_phantom",
    "organ_centroids_mm",
    "organ_masses_g",
    "phantom_regions",
    "region_organs",
]

_SEGMENTS = ("legs", "trunk", "head")
_SKIN = "skin"
_CONTAINERS = ("soft_tissue_legs", "soft_tissue_trunk", "soft_tissue_head")

#: Organs of ICRP 103 that the ORNL phantoms do not model, and the regions that stand in for
#: them when organ doses are reported (documented in docs/phantoms.md): muscle and lymphatic
#: nodes take the residual soft tissue (as PCXMC does for muscle), oral mucosa the salivary
#: glands region. (Bone surface: the endosteum fractions are 0, and
#: :mod:`doseline.physics.organ_dose` then takes the mean skeletal dose.)
ORGAN_SURROGATES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "muscle": _CONTAINERS,
        "lymphatic_nodes": ("soft_tissue_trunk",),
        "oral_mucosa": ("salivary_glands",),
    }
)


@dataclass(frozen=True)
class RegionSpec:
    """One region of the stylised phantom: a solid, its medium and the organ it belongs to."""

    name: str
    organ: str | None
    material: str
    segment: str
    source: str
    solid: Solid


@dataclass(frozen=True)
class AgeScaling:
    """Scale factors that turn the 15-year-old base into the phantom of ``age``.

    ``head`` is isotropic about the base of the head; ``trunk_z``, ``legs_z`` and ``body_xy``
    apply to the trunk and the legs about the origin. ``height_cm`` is the resulting phantom
    height, ``body_mass_g`` the target mass (ICRP 89; for the 15-year-old base its own mass).
    """

    age: str
    head: float
    trunk_z: float
    legs_z: float
    body_xy: float
    height_cm: float
    body_mass_g: float


#: Organs resized to their ICRP 89 reference mass at 15 years and in the adult (the derived
#: children are sized to the ORNL phantoms instead: :mod:`doseline.physics.phantoms.sizing`).
MATCHED_ORGANS: tuple[str, ...] = ICRP89_SIZED_ORGANS


@lru_cache(maxsize=1)
def _base_regions() -> tuple[RegionSpec, ...]:
    path = DATA_DIR / "ornl_15y_base.yaml"
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    densities = material_densities_g_cm3()
    regions: list[RegionSpec] = []
    for entry in document["regions"]:
        name = str(entry["name"])
        organ = entry.get("organ")
        if organ is not None:
            check_organ(str(organ))
        for key, known in (("segment", _SEGMENTS), ("material", densities)):
            if entry[key] not in known:
                raise InvalidInputError(
                    f"unknown {key} {entry[key]!r}",
                    source=path.name,
                    record=f"region {name}",
                    field=key,
                )
        regions.append(
            RegionSpec(
                name,
                None if organ is None else str(organ),
                str(entry["material"]),
                str(entry["segment"]),
                str(entry["source"]),
                solid_from_dict(entry["solid"]),
            )
        )
    skeletal = [i for i, r in enumerate(regions) if r.name.startswith("skeleton")]
    if skeletal != list(range(len(regions) - len(skeletal), len(regions))):
        raise InvalidInputError(
            "the skeletal regions must be painted last", source=path.name, field="regions"
        )
    return tuple(regions)


def region_organs() -> dict[str, str]:
    """Region name -> organ name (doseline.organs vocabulary), including ``skin`` and the
    skeletal regions (organ ``skeleton``: red bone marrow and bone surface are scored from
    them with their mass fractions)."""
    mapping = {r.name: r.organ for r in _base_regions() if r.organ is not None}
    mapping.update({r.name: "skeleton" for r in _base_regions() if r.name.startswith("skeleton")})
    mapping[_SKIN] = "skin"
    return mapping


def _head_base_z_mm() -> float:
    trunk = next(r for r in _base_regions() if r.name == "soft_tissue_trunk")
    return float(trunk.solid.bounds()[2][1])


def _extent_z_mm(regions: tuple[RegionSpec, ...]) -> tuple[float, float]:
    boxes = [r.solid.bounds()[2] for r in regions if r.name in _CONTAINERS]
    return min(b[0] for b in boxes), max(b[1] for b in boxes)


@lru_cache(maxsize=1)
def _base_segment_masses_g() -> dict[str, float]:
    regions = _base_regions()
    by_name = dict(zip([r.name for r in regions], painted_masses_g(regions), strict=True))
    masses = dict.fromkeys(_SEGMENTS, 0.0)
    for region in regions:
        masses[region.segment] += by_name[region.name]
    for organ in ("brain", "lung"):
        masses[organ] = by_name[organ]
    return masses


@lru_cache(maxsize=1)
def _ornl_dimensions_mm() -> dict[str, tuple[float, float]]:
    with (DATA_DIR / "ornl_dimensions.csv").open(newline="") as handle:
        return {
            row["age"]: (10.0 * float(row["trunk_height_cm"]), 10.0 * float(row["leg_length_cm"]))
            for row in csv.DictReader(handle)
        }


@lru_cache(maxsize=len(AGES))
def age_scaling(age: str) -> AgeScaling:
    """Scale factors of the phantom of ``age`` (see the module docstring for the method).

    The 15-year-old is the base itself (factors 1). The adult takes the ICRP 89 adult male
    values (the ORNL adult phantom represents Reference Man); the children the body masses
    common to both sexes. The head of the derived children (newborn to 10 years) is scaled to
    the ORNL phantom's brain mass (:func:`ornl_phantom_mass_g`), and ``body_xy`` allows for
    their lungs being resized to the ORNL lung mass (lung tissue, 0.296 g/cm3, replacing
    soft tissue, 1.04 g/cm3, or the reverse), so that the body mass stays the ICRP 89 one.
    """
    check_age(age)
    base = _base_segment_masses_g()
    z_lo, z_hi = _extent_z_mm(_base_regions())
    z_head = _head_base_z_mm()
    if age == "15y":
        mass = base["legs"] + base["trunk"] + base["head"]
        return AgeScaling(age, 1.0, 1.0, 1.0, 1.0, float(z_hi - z_lo) / 10.0, mass)
    sex = reference_sex(age)
    mass_g = icrp89_value("body_mass_g", age, sex)
    ornl = age in ORNL_SIZED_AGES
    brain_g = ornl_phantom_mass_g("brain", age) if ornl else icrp89_value("brain", age, sex)
    lung_g = ornl_phantom_mass_g("lung", age) if ornl else None
    if mass_g is None or brain_g is None:
        raise ValueError(f"ICRP 89 mass or brain mass missing for {age}")
    trunk_mm, legs_mm = _ornl_dimensions_mm()[age]
    head = (brain_g / base["brain"]) ** (1.0 / 3.0)
    trunk_z, legs_z = trunk_mm / z_head, float(legs_mm / -z_lo)
    body_mass = mass_g - head**3 * base["head"]
    segments = base["legs"] * legs_z + base["trunk"] * trunk_z
    if lung_g is not None:  # lung resized from base["lung"] * body_xy**2 * trunk_z to lung_g
        densities = material_densities_g_cm3()
        c = densities["ornl_soft_tissue"] / densities["ornl_lung"] - 1.0
        body_mass += c * lung_g
        segments += c * base["lung"] * trunk_z
    body_xy = math.sqrt(body_mass / segments)
    height_cm = float(trunk_mm + legs_mm + head * (z_hi - z_head)) / 10.0
    return AgeScaling(age, head, trunk_z, legs_z, body_xy, height_cm, mass_g)


def _sized(regions: tuple[RegionSpec, ...], age: str) -> tuple[RegionSpec, ...]:
    """Resize the organs to their target masses (:mod:`doseline.physics.phantoms.sizing`):
    the ORNL phantom masses in the derived children, ICRP 89 at 15 years and in the adult."""
    containers = {r.segment: r.solid for r in regions if r.name in _CONTAINERS}
    targets = {organ: mass for organ, (mass, _) in organ_target_masses_g(age).items()}
    special = {"breast": prepubertal_breast} if age in ORNL_SIZED_AGES else None
    return resize_to_masses(regions, targets, containers, special)


@lru_cache(maxsize=16)
def phantom_regions(
    age: str,
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0),
    organ_masses: str = "icrp89",
) -> tuple[RegionSpec, ...]:
    """The regions of the phantom of ``age``.

    Parameters
    ----------
    age
        Phantom age.
    scale
        Extra (x, y, z) factors about the origin, e.g. to a patient's size.
    organ_masses
        ``icrp89``: solid organs resized to ICRP 89 masses (:data:`MATCHED_ORGANS`);
        ``similitude``: plain scaled 15-year-old organs.
    """
    if organ_masses not in ("icrp89", "similitude"):
        raise ValueError(f"organ_masses must be 'icrp89' or 'similitude', got {organ_masses!r}")
    factors = age_scaling(age)
    z_head = _head_base_z_mm()
    xy = factors.body_xy
    out: list[RegionSpec] = []
    for region in _base_regions():
        solid = region.solid
        if region.segment == "head":
            h = factors.head
            solid = Translated(
                Translated(solid, (0.0, 0.0, -z_head)).scaled(h, h, h),
                (0.0, 0.0, z_head * factors.trunk_z),
            )
        elif region.segment == "trunk":
            solid = solid.scaled(xy, xy, factors.trunk_z)
        else:
            solid = solid.scaled(xy, xy, factors.legs_z)
        if region.name == "breast" and age in ORNL_SIZED_AGES and organ_masses != "icrp89":
            solid = prepubertal_breast(solid, 1.0)
        out.append(replace(region, solid=solid))
    regions = tuple(out)
    if organ_masses == "icrp89":
        regions = _sized(regions, age)
    if scale != (1.0, 1.0, 1.0):
        regions = tuple(replace(r, solid=r.solid.scaled(*scale)) for r in regions)
    return regions


def analytic_region_masses_g(
    age: str,
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0),
    organ_masses: str = "icrp89",
    n_points_log2: int = 17,
) -> dict[str, float]:
    """Mass of every region from the solids themselves (no voxels): the volume of its solid
    not overwritten by later regions, times its density (quasi-Monte Carlo integration)."""
    regions = phantom_regions(age, scale, organ_masses)
    masses = painted_masses_g(regions, n_points_log2)
    return {r.name: m for r, m in zip(regions, masses, strict=True)}


def _skin_layer(labels: npt.NDArray[np.uint8], container_labels: list[int], skin: int) -> None:
    """Relabel, in place, the container voxels on the body surface (6-neighbour) as skin."""
    body = labels > 0
    interior = body.copy()
    for axis in range(3):
        for shift in (1, -1):
            neighbour = np.roll(body, shift, axis=axis)
            edge = [slice(None)] * 3
            edge[axis] = slice(0, 1) if shift == 1 else slice(-1, None)
            neighbour[tuple(edge)] = False
            interior &= neighbour
    surface = body & ~interior & np.isin(labels, container_labels)
    labels[surface] = skin


def build_phantom(
    age: str,
    voxel_size_mm: float = 2.0,
    *,
    supersample: int = 3,
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0),
    organ_masses: str = "icrp89",
) -> VoxelPhantom:
    """Voxelised stylised phantom of ``age`` (``newborn``, ``1y``, ``5y``, ``10y``, ``15y``,
    ``adult``).

    Parameters
    ----------
    age
        Phantom age.
    voxel_size_mm
        Edge of the cubic voxels.
    supersample
        Sub-voxels per edge for the partial-volume majority vote (see
        :func:`doseline.physics.phantoms.voxelise.voxelise`).
    scale
        Extra (x, y, z) factors, e.g. from :func:`doseline.physics.phantoms.scaling.patient_scale`.
    organ_masses
        ``icrp89`` (solid organs resized to ICRP 89 masses) or ``similitude``.

    Returns
    -------
    VoxelPhantom
        Labels in LPS orientation with the origin at the centre of the base of the trunk;
        regions named as in ``ornl_15y_base.yaml`` plus ``skin`` (the outer voxel layer of the
        body), skeletal regions with red-marrow mass fractions.
    """
    if voxel_size_mm <= 0:
        raise ValueError(f"voxel_size_mm must be > 0, got {voxel_size_mm}")
    regions = phantom_regions(age, scale, organ_masses)
    solids = [r.solid for r in regions]
    bounds = grid_bounds(solids, voxel_size_mm)
    labels = voxelise(solids, bounds, voxel_size_mm, supersample)
    densities = material_densities_g_cm3()
    skin = len(regions) + 1
    _skin_layer(labels, [1 + i for i, r in enumerate(regions) if r.name in _CONTAINERS], skin)
    # Marrow fractions from the analytic skeletal masses, so that a bone's marrow fraction does
    # not depend on the voxel size (thin shells lose or gain voxels at coarse grids). The
    # skeleton is painted last, so its regions' analytic volumes need only the skeleton.
    skeletal = [r for r in regions if r.name.startswith("skeleton")]
    masses = {r.name: m for r, m in zip(skeletal, painted_masses_g(skeletal, 15), strict=True)}
    marrow = red_marrow_fractions(age, masses, scale[0] * scale[1] * scale[2])
    labels_out = [Label("air", "air", densities["air"])]
    for region in regions:
        labels_out.append(
            Label(
                region.name,
                region.material,
                densities[region.material],
                red_marrow_mass_fraction=marrow.get(region.name, 0.0),
            )
        )
    labels_out.append(Label(_SKIN, "ornl_soft_tissue", densities["ornl_soft_tissue"]))
    origin = (bounds[0][0], bounds[1][0], bounds[2][0])
    name = f"doseline stylised {age} (ORNL 15-year base, Cristy & Eckerman 1987)"
    if scale != (1.0, 1.0, 1.0):
        name += " scaled by ({:.3f}, {:.3f}, {:.3f})".format(*scale)
    return VoxelPhantom(labels, (voxel_size_mm,) * 3, tuple(labels_out), origin, name=name)


def organ_masses_g(phantom: VoxelPhantom) -> dict[str, float]:
    """Organ masses of a stylised phantom: regions summed by organ, plus ``red_bone_marrow``
    (from the marrow fractions), ``skeleton`` (all skeletal regions) and ``whole_body``."""
    organs = region_organs()
    out: dict[str, float] = {}
    marrow = 0.0
    region_masses = phantom.region_masses_g()
    for label in phantom.regions[1:]:
        mass = region_masses[label.name]
        organ = organs.get(label.name)
        if organ is not None:
            out[organ] = out.get(organ, 0.0) + mass
        marrow += mass * label.red_marrow_mass_fraction
    out["red_bone_marrow"] = marrow
    out["whole_body"] = sum(region_masses.values())
    return out


def organ_centroids_mm(age: str, voxel_size_mm: float = 2.0) -> dict[str, npt.NDArray[np.float64]]:
    """Volume centroid of every organ of the phantom of ``age`` (LPS mm, origin at the centre
    of the base of the trunk); ``red_bone_marrow`` is the marrow-mass-weighted centroid."""
    phantom = build_phantom(age, voxel_size_mm)
    by_organ: dict[str, list[str]] = {}
    for name, organ in region_organs().items():
        by_organ.setdefault(organ, []).append(name)
    out = {organ: phantom.centroid_mm(names) for organ, names in by_organ.items()}
    weights = np.array([r.red_marrow_mass_fraction * r.density_g_cm3 for r in phantom.regions])
    w = weights[phantom.labels]
    idx = np.nonzero(w)
    centre = np.array([np.average(i, weights=w[idx]) for i in idx])
    out["red_bone_marrow"] = np.asarray(phantom.origin_mm) + (centre + 0.5) * np.asarray(
        phantom.voxel_size_mm
    )
    return out
