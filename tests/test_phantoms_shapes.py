"""Quadric solids and their voxelisation against closed-form volumes (synthetic truth).

References: the volume of an ellipsoid (4/3 pi abc), of a slab of it (integral of the elliptic
cross-section pi ab (1 - z^2/c^2)), of an elliptic cylinder (pi ab 2h) and of a torus
(2 pi^2 R r^2), all exact. Tolerances: the quasi-Monte Carlo integral with 2^17 Sobol points
converges faster than 1/sqrt(N) ~ 0.3 % for a fill fraction near 1/2 -> 0.5 %; a voxelised
convex solid of a few hundred voxels across with a 3 x 3 x 3 majority vote is within about
(surface x voxel / 20) / volume -> 1 % for the sizes below.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from doseline.physics.phantoms.shapes import (
    Box,
    Difference,
    Ellipsoid,
    EllipticCylinder,
    HalfSpace,
    Intersection,
    Torus,
    Translated,
    Union,
    rotation_matrix,
    solid_from_dict,
)
from doseline.physics.phantoms.voxelise import analytic_volumes_mm3, grid_bounds, voxelise


def _voxel_volume(solid: object, voxel_mm: float, supersample: int = 3) -> float:
    bounds = grid_bounds([solid], voxel_mm)  # type: ignore[list-item]
    labels = voxelise([solid], bounds, voxel_mm, supersample)  # type: ignore[list-item]
    return float(np.count_nonzero(labels)) * voxel_mm**3


def test_ellipsoid_closed_form_qmc_and_voxels() -> None:
    solid = Ellipsoid(centre_mm=(3.0, -7.0, 40.0), semi_axes_mm=(40.0, 25.0, 60.0))
    exact = 4.0 / 3.0 * math.pi * 40 * 25 * 60
    assert solid.volume_mm3() == pytest.approx(exact, rel=1e-12)
    assert analytic_volumes_mm3([solid])[0] == pytest.approx(exact, rel=5e-3)
    assert _voxel_volume(solid, 2.0) == pytest.approx(exact, rel=1e-2)


def test_half_ellipsoid_slab_volume() -> None:
    solid = Ellipsoid(semi_axes_mm=(30.0, 20.0, 50.0), z_cut_mm=(0.0, 50.0))
    exact = 2.0 / 3.0 * math.pi * 30 * 20 * 50
    assert solid.volume_mm3() == pytest.approx(exact, rel=1e-12)
    assert analytic_volumes_mm3([solid])[0] == pytest.approx(exact, rel=5e-3)


def test_rotated_ellipsoid_keeps_volume_and_points_apex() -> None:
    # rotation about y by -25 degrees sends the local -z apex towards +x (the heart's apex
    # to the phantom's left), as the data file relies on
    solid = Ellipsoid(semi_axes_mm=(10.0, 10.0, 70.0), rotations=(("y", -25.0),))
    apex = rotation_matrix([("y", -25.0)]) @ np.array([0.0, 0.0, -69.0])
    assert apex[0] > 0 and apex[2] < 0
    assert solid.contains(*(np.array([v]) for v in apex))[0]
    exact = 4.0 / 3.0 * math.pi * 10 * 10 * 70
    assert analytic_volumes_mm3([solid])[0] == pytest.approx(exact, rel=5e-3)


def test_elliptic_cylinder_and_torus_volumes() -> None:
    cylinder = EllipticCylinder(semi_axes_mm=(20.0, 12.0), half_height_mm=30.0)
    assert analytic_volumes_mm3([cylinder])[0] == pytest.approx(math.pi * 20 * 12 * 60, rel=5e-3)
    torus = Torus(major_radius_mm=50.0, minor_radius_mm=10.0)
    full = 2 * math.pi**2 * 50 * 100
    assert analytic_volumes_mm3([torus])[0] == pytest.approx(full, rel=5e-3)
    quarter = Torus(major_radius_mm=50.0, minor_radius_mm=10.0, phi_start_deg=270, phi_delta_deg=90)
    assert analytic_volumes_mm3([quarter])[0] == pytest.approx(full / 4, rel=1e-2)


def test_csg_painting_order_and_scaling() -> None:
    big = Box(half_sizes_mm=(20.0, 20.0, 20.0))
    small = Ellipsoid(semi_axes_mm=(10.0, 10.0, 10.0))
    sphere = 4.0 / 3.0 * math.pi * 1000
    volumes = analytic_volumes_mm3([big, small])
    assert volumes[0] == pytest.approx(40**3 - sphere, rel=5e-3)
    assert volumes[1] == pytest.approx(sphere, rel=5e-3)
    # scaling multiplies volumes by the product of the factors
    scaled = Difference(big, (small,)).scaled(1.5, 0.5, 2.0)
    assert analytic_volumes_mm3([scaled])[0] == pytest.approx((40**3 - sphere) * 1.5, rel=5e-3)
    # a half-space scaled stays the image of the original plane
    plane = HalfSpace((1.0, 1.0, 0.0), 10.0).scaled(2.0, 1.0, 1.0)
    assert plane.contains(np.array([19.0]), np.array([0.4]), np.array([0.0]))[0]
    assert not plane.contains(np.array([21.0]), np.array([0.0]), np.array([0.0]))[0]


def test_translated_and_union_bounds() -> None:
    moved = Translated(Ellipsoid(semi_axes_mm=(1.0, 2.0, 3.0)), (10.0, 0.0, -5.0))
    assert moved.bounds()[0] == pytest.approx((9.0, 11.0))
    union = Union((moved, Box(half_sizes_mm=(1.0, 1.0, 1.0))))
    assert union.bounds()[0] == pytest.approx((-1.0, 11.0))
    inter = Intersection((Box(half_sizes_mm=(5.0, 5.0, 5.0)), HalfSpace((1.0, 0, 0), 0.0)))
    assert analytic_volumes_mm3([inter])[0] == pytest.approx(500.0, rel=5e-3)


def test_solid_from_dict_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown solid kind"):
        solid_from_dict({"sphere": {"radius_mm": 1}})
    with pytest.raises(ValueError, match="exactly one kind"):
        solid_from_dict({"box": {}, "ellipsoid": {}})
