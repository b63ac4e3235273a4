"""Quadric-surface solids and their combinations, evaluated on coordinate arrays.

The stylised (MIRD/ORNL) phantoms describe every organ by inequalities in quadric and planar
surfaces (Snyder et al. 1978, MIRD Pamphlet 5 revised; Cristy and Eckerman 1987,
ORNL/TM-8381 Vol. I, Appendix A). Here each inequality family is a small solid with a
vectorised ``contains(x, y, z)`` test, and organs are built from them by union, intersection and
difference (the constructive solid geometry that Geant4's ``human_phantom`` example uses for
the same organs).

All lengths are millimetres in the phantom frame (DICOM LPS orientation: +x the patient's left,
+y posterior, +z towards the head). A solid's local frame is placed by a centre and a rotation:
``p_local = R.T @ (p - centre)``, with ``R`` built from rotations about the frame axes applied in
the order given (right-handed, angles in degrees).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "Box",
    "Cone",
    "Difference",
    "Ellipsoid",
    "EllipticCylinder",
    "HalfSpace",
    "Intersection",
    "Solid",
    "Torus",
    "Translated",
    "Union",
    "rotation_matrix",
    "solid_from_dict",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Bounds = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]


class Solid(Protocol):
    """A region of space with a vectorised membership test and a bounding box."""

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        """Whether each point (x, y, z) in mm lies inside the solid."""
        ...

    def bounds(self) -> Bounds:
        """Axis-aligned bounding box ((xmin, xmax), (ymin, ymax), (zmin, zmax)) in mm."""
        ...

    def scaled(self, sx: float, sy: float, sz: float) -> Solid:
        """The solid mapped by (x, y, z) -> (sx x, sy y, sz z) about the frame origin."""
        ...


def rotation_matrix(rotations: Sequence[tuple[str, float]]) -> FloatArray:
    """Rotation matrix of successive right-handed rotations about the frame axes (degrees)."""
    matrix = np.eye(3)
    for axis, angle_deg in rotations:
        c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
        if axis == "x":
            step = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
        elif axis == "y":
            step = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
        elif axis == "z":
            step = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        else:
            raise ValueError(f"rotation axis must be x, y or z, got {axis!r}")
        matrix = step @ matrix
    return matrix


@dataclass(frozen=True)
class _Placed:
    """Common placement (centre, rotation) of a primitive solid."""

    centre_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotations: tuple[tuple[str, float], ...] = ()
    _matrix: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_matrix", rotation_matrix(self.rotations))

    def _local(
        self, x: FloatArray, y: FloatArray, z: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        dx, dy, dz = x - self.centre_mm[0], y - self.centre_mm[1], z - self.centre_mm[2]
        if not self.rotations:
            return dx, dy, dz
        m = self._matrix  # local = m.T @ d
        return (
            m[0, 0] * dx + m[1, 0] * dy + m[2, 0] * dz,
            m[0, 1] * dx + m[1, 1] * dy + m[2, 1] * dz,
            m[0, 2] * dx + m[1, 2] * dy + m[2, 2] * dz,
        )

    def _box_bounds(self, half_extent: tuple[float, float, float]) -> Bounds:
        """Bounds of the rotated local box [-h, h]^3 (conservative)."""
        half = np.abs(self._matrix) @ np.asarray(half_extent, dtype=np.float64)
        c = self.centre_mm
        return (
            (c[0] - half[0], c[0] + half[0]),
            (c[1] - half[1], c[1] + half[1]),
            (c[2] - half[2], c[2] + half[2]),
        )

    def _scaled_placement(self, sx: float, sy: float, sz: float) -> dict[str, Any]:
        c = self.centre_mm
        return {"centre_mm": (c[0] * sx, c[1] * sy, c[2] * sz), "rotations": self.rotations}


def _scale_semi_axes(
    rotations: tuple[tuple[str, float], ...],
    matrix: FloatArray,
    axes: tuple[float, float, float],
    factors: tuple[float, float, float],
) -> tuple[float, float, float]:
    """Scale local semi-axes by the frame factors they (mostly) align with.

    For unrotated solids this is exact. For rotated ones each local axis takes the factor of
    the frame axis it projects onto most (squared direction cosines as weights), which is the
    approximation of a similitude applied to a tilted organ (documented in docs/phantoms.md).
    """
    if not rotations:
        return (axes[0] * factors[0], axes[1] * factors[1], axes[2] * factors[2])
    weights = matrix**2  # column j: squared direction cosines of local axis j
    f = np.asarray(factors, dtype=np.float64)
    scaled = [axes[j] * float(weights[:, j] @ f) for j in range(3)]
    return (scaled[0], scaled[1], scaled[2])


@dataclass(frozen=True)
class Ellipsoid(_Placed):
    """``(x/a)^2 + (y/b)^2 + (z/c)^2 <= 1`` in the local frame, optionally cut to
    ``z_min <= z <= z_max`` (local)."""

    semi_axes_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    z_cut_mm: tuple[float, float] | None = None

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        lx, ly, lz = self._local(x, y, z)
        a, b, c = self.semi_axes_mm
        inside: BoolArray = (lx / a) ** 2 + (ly / b) ** 2 + (lz / c) ** 2 <= 1.0
        if self.z_cut_mm is not None:
            inside &= (lz >= self.z_cut_mm[0]) & (lz <= self.z_cut_mm[1])
        return inside

    def bounds(self) -> Bounds:
        return self._box_bounds(self.semi_axes_mm)

    def scaled(self, sx: float, sy: float, sz: float) -> Ellipsoid:
        axes = _scale_semi_axes(self.rotations, self._matrix, self.semi_axes_mm, (sx, sy, sz))
        cut = None
        if self.z_cut_mm is not None:
            k = axes[2] / self.semi_axes_mm[2]
            cut = (self.z_cut_mm[0] * k, self.z_cut_mm[1] * k)
        return Ellipsoid(**self._scaled_placement(sx, sy, sz), semi_axes_mm=axes, z_cut_mm=cut)

    def volume_mm3(self) -> float:
        """Exact volume (closed form for the whole ellipsoid or a z-slab of it)."""
        a, b, c = self.semi_axes_mm
        lo, hi = (-c, c) if self.z_cut_mm is None else self.z_cut_mm
        lo, hi = max(lo, -c), min(hi, c)
        return math.pi * a * b * ((hi - lo) - (hi**3 - lo**3) / (3 * c * c))


@dataclass(frozen=True)
class EllipticCylinder(_Placed):
    """``(x/a)^2 + (y/b)^2 <= 1`` and ``|z| <= h`` (local)."""

    semi_axes_mm: tuple[float, float] = (1.0, 1.0)
    half_height_mm: float = 1.0

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        lx, ly, lz = self._local(x, y, z)
        a, b = self.semi_axes_mm
        inside: BoolArray = ((lx / a) ** 2 + (ly / b) ** 2 <= 1.0) & (
            np.abs(lz) <= self.half_height_mm
        )
        return inside

    def bounds(self) -> Bounds:
        a, b = self.semi_axes_mm
        return self._box_bounds((a, b, self.half_height_mm))

    def scaled(self, sx: float, sy: float, sz: float) -> EllipticCylinder:
        a, b = self.semi_axes_mm
        axes = _scale_semi_axes(
            self.rotations, self._matrix, (a, b, self.half_height_mm), (sx, sy, sz)
        )
        return EllipticCylinder(
            **self._scaled_placement(sx, sy, sz),
            semi_axes_mm=(axes[0], axes[1]),
            half_height_mm=axes[2],
        )

    def volume_mm3(self) -> float:
        """Exact volume ``pi a b 2h``."""
        a, b = self.semi_axes_mm
        return math.pi * a * b * 2.0 * self.half_height_mm


@dataclass(frozen=True)
class Cone(_Placed):
    """Truncated elliptic cone: ``(x/a(z))^2 + (y/b(z))^2 <= 1``, ``|z| <= h`` (local), with
    the semi-axes varying linearly from ``bottom`` (z = -h) to ``top`` (z = +h)."""

    bottom_semi_axes_mm: tuple[float, float] = (1.0, 1.0)
    top_semi_axes_mm: tuple[float, float] = (1.0, 1.0)
    half_height_mm: float = 1.0

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        lx, ly, lz = self._local(x, y, z)
        t = (lz + self.half_height_mm) / (2.0 * self.half_height_mm)
        (a0, b0), (a1, b1) = self.bottom_semi_axes_mm, self.top_semi_axes_mm
        a = a0 + (a1 - a0) * t
        b = b0 + (b1 - b0) * t
        inside: BoolArray = (np.abs(lz) <= self.half_height_mm) & (
            (lx / a) ** 2 + (ly / b) ** 2 <= 1.0
        )
        return inside

    def bounds(self) -> Bounds:
        a = max(self.bottom_semi_axes_mm[0], self.top_semi_axes_mm[0])
        b = max(self.bottom_semi_axes_mm[1], self.top_semi_axes_mm[1])
        return self._box_bounds((a, b, self.half_height_mm))

    def scaled(self, sx: float, sy: float, sz: float) -> Cone:
        f = (sx, sy, sz)
        bot = _scale_semi_axes(
            self.rotations, self._matrix, (*self.bottom_semi_axes_mm, self.half_height_mm), f
        )
        top = _scale_semi_axes(
            self.rotations, self._matrix, (*self.top_semi_axes_mm, self.half_height_mm), f
        )
        return Cone(
            **self._scaled_placement(sx, sy, sz),
            bottom_semi_axes_mm=(bot[0], bot[1]),
            top_semi_axes_mm=(top[0], top[1]),
            half_height_mm=bot[2],
        )


@dataclass(frozen=True)
class Box(_Placed):
    """``|x| <= hx, |y| <= hy, |z| <= hz`` (local)."""

    half_sizes_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        lx, ly, lz = self._local(x, y, z)
        hx, hy, hz = self.half_sizes_mm
        inside: BoolArray = (np.abs(lx) <= hx) & (np.abs(ly) <= hy) & (np.abs(lz) <= hz)
        return inside

    def bounds(self) -> Bounds:
        return self._box_bounds(self.half_sizes_mm)

    def scaled(self, sx: float, sy: float, sz: float) -> Box:
        half = _scale_semi_axes(self.rotations, self._matrix, self.half_sizes_mm, (sx, sy, sz))
        return Box(**self._scaled_placement(sx, sy, sz), half_sizes_mm=half)


@dataclass(frozen=True)
class HalfSpace:
    """``n . p <= offset`` with ``n`` the outward normal (need not be unit length)."""

    normal: tuple[float, float, float]
    offset_mm: float

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        n = self.normal
        inside: BoolArray = n[0] * x + n[1] * y + n[2] * z <= self.offset_mm
        return inside

    def bounds(self) -> Bounds:
        inf = math.inf
        return ((-inf, inf), (-inf, inf), (-inf, inf))

    def scaled(self, sx: float, sy: float, sz: float) -> HalfSpace:
        n = self.normal
        # n . (S^-1 p') <= d  <=>  (S^-1 n) . p' <= d
        return HalfSpace(normal=(n[0] / sx, n[1] / sy, n[2] / sz), offset_mm=self.offset_mm)


@dataclass(frozen=True)
class Torus(_Placed):
    """Torus of major radius R and circular tube radius r about the local z axis, limited to
    azimuths ``phi_start <= phi <= phi_start + phi_delta`` (degrees, from +x towards +y)."""

    major_radius_mm: float = 1.0
    minor_radius_mm: float = 1.0
    phi_start_deg: float = 0.0
    phi_delta_deg: float = 360.0

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        lx, ly, lz = self._local(x, y, z)
        rho = np.hypot(lx, ly)
        inside: BoolArray = (rho - self.major_radius_mm) ** 2 + lz**2 <= self.minor_radius_mm**2
        if self.phi_delta_deg < 360.0:
            phi = np.degrees(np.arctan2(ly, lx))
            offset = np.mod(phi - self.phi_start_deg, 360.0)
            inside &= offset <= self.phi_delta_deg
        return inside

    def bounds(self) -> Bounds:
        r = self.major_radius_mm + self.minor_radius_mm
        return self._box_bounds((r, r, self.minor_radius_mm))

    def scaled(self, sx: float, sy: float, sz: float) -> Torus:
        # factors along the local axes (exact when the torus axis is a frame axis)
        fx, fy, fz = _scale_semi_axes(self.rotations, self._matrix, (1.0, 1.0, 1.0), (sx, sy, sz))
        radial = math.sqrt(fx * fy)
        return Torus(
            **self._scaled_placement(sx, sy, sz),
            major_radius_mm=self.major_radius_mm * radial,
            minor_radius_mm=self.minor_radius_mm * math.sqrt(radial * fz),
            phi_start_deg=self.phi_start_deg,
            phi_delta_deg=self.phi_delta_deg,
        )


def _intersect_bounds(boxes: Sequence[Bounds]) -> Bounds:
    lo = np.max([[b[i][0] for i in range(3)] for b in boxes], axis=0)
    hi = np.min([[b[i][1] for i in range(3)] for b in boxes], axis=0)
    return ((lo[0], hi[0]), (lo[1], hi[1]), (lo[2], hi[2]))


@dataclass(frozen=True)
class Union:
    """Points inside any of the parts."""

    parts: tuple[Solid, ...]

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        inside = self.parts[0].contains(x, y, z)
        for part in self.parts[1:]:
            inside = inside | part.contains(x, y, z)
        return inside

    def bounds(self) -> Bounds:
        boxes = [p.bounds() for p in self.parts]
        lo = np.min([[b[i][0] for i in range(3)] for b in boxes], axis=0)
        hi = np.max([[b[i][1] for i in range(3)] for b in boxes], axis=0)
        return ((lo[0], hi[0]), (lo[1], hi[1]), (lo[2], hi[2]))

    def scaled(self, sx: float, sy: float, sz: float) -> Union:
        return Union(tuple(p.scaled(sx, sy, sz) for p in self.parts))


@dataclass(frozen=True)
class Intersection:
    """Points inside all of the parts."""

    parts: tuple[Solid, ...]

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        inside = self.parts[0].contains(x, y, z)
        for part in self.parts[1:]:
            inside = inside & part.contains(x, y, z)
        return inside

    def bounds(self) -> Bounds:
        return _intersect_bounds([p.bounds() for p in self.parts])

    def scaled(self, sx: float, sy: float, sz: float) -> Intersection:
        return Intersection(tuple(p.scaled(sx, sy, sz) for p in self.parts))


@dataclass(frozen=True)
class Difference:
    """Points inside ``base`` and inside none of ``removed``."""

    base: Solid
    removed: tuple[Solid, ...]

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        inside = self.base.contains(x, y, z)
        for part in self.removed:
            inside = inside & ~part.contains(x, y, z)
        return inside

    def bounds(self) -> Bounds:
        return self.base.bounds()

    def scaled(self, sx: float, sy: float, sz: float) -> Difference:
        return Difference(
            self.base.scaled(sx, sy, sz), tuple(p.scaled(sx, sy, sz) for p in self.removed)
        )


@dataclass(frozen=True)
class Translated:
    """``solid`` moved by ``offset_mm``."""

    solid: Solid
    offset_mm: tuple[float, float, float]

    def contains(self, x: FloatArray, y: FloatArray, z: FloatArray) -> BoolArray:
        o = self.offset_mm
        return self.solid.contains(x - o[0], y - o[1], z - o[2])

    def bounds(self) -> Bounds:
        b, o = self.solid.bounds(), self.offset_mm
        return (
            (b[0][0] + o[0], b[0][1] + o[0]),
            (b[1][0] + o[1], b[1][1] + o[1]),
            (b[2][0] + o[2], b[2][1] + o[2]),
        )

    def scaled(self, sx: float, sy: float, sz: float) -> Translated:
        o = self.offset_mm
        return Translated(self.solid.scaled(sx, sy, sz), (o[0] * sx, o[1] * sy, o[2] * sz))


def _triple(value: Any, what: str) -> tuple[float, float, float]:
    items = [float(v) for v in value]
    if len(items) != 3:
        raise ValueError(f"{what} needs 3 numbers, got {value!r}")
    return (items[0], items[1], items[2])


def _pair(value: Any, what: str) -> tuple[float, float]:
    items = [float(v) for v in value]
    if len(items) != 2:
        raise ValueError(f"{what} needs 2 numbers, got {value!r}")
    return (items[0], items[1])


def _placement(spec: Mapping[str, Any]) -> dict[str, Any]:
    rotations = tuple((str(axis), float(angle)) for axis, angle in spec.get("rotations", []))
    return {
        "centre_mm": _triple(spec.get("centre_mm", (0, 0, 0)), "centre_mm"),
        "rotations": rotations,
    }


def solid_from_dict(spec: Mapping[str, Any]) -> Solid:
    """Build a solid from its data-file description.

    A description is a mapping with one key naming the solid kind (``ellipsoid``,
    ``elliptic_cylinder``, ``cone``, ``box``, ``half_space``, ``torus``, ``union``,
    ``intersection``, ``difference``) whose value holds the parameters (see
    ``src/doseline/data/physics/phantoms/ornl_15y_base.yaml`` for examples).
    """
    if len(spec) != 1:
        raise ValueError(f"a solid needs exactly one kind key, got {sorted(spec)}")
    ((kind, p),) = spec.items()
    if kind == "union":
        return Union(tuple(solid_from_dict(s) for s in p))
    if kind == "intersection":
        return Intersection(tuple(solid_from_dict(s) for s in p))
    if kind == "difference":
        return Difference(
            solid_from_dict(p["base"]), tuple(solid_from_dict(s) for s in p["removed"])
        )
    if kind == "half_space":
        return HalfSpace(_triple(p["normal"], "normal"), float(p["offset_mm"]))
    if kind == "ellipsoid":
        cut = p.get("z_cut_mm")
        return Ellipsoid(
            **_placement(p),
            semi_axes_mm=_triple(p["semi_axes_mm"], "semi_axes"),
            z_cut_mm=None if cut is None else _pair(cut, "z_cut_mm"),
        )
    if kind == "elliptic_cylinder":
        return EllipticCylinder(
            **_placement(p),
            semi_axes_mm=_pair(p["semi_axes_mm"], "semi_axes_mm"),
            half_height_mm=float(p["half_height_mm"]),
        )
    if kind == "cone":
        return Cone(
            **_placement(p),
            bottom_semi_axes_mm=_pair(p["bottom_semi_axes_mm"], "bottom_semi_axes_mm"),
            top_semi_axes_mm=_pair(p["top_semi_axes_mm"], "top_semi_axes_mm"),
            half_height_mm=float(p["half_height_mm"]),
        )
    if kind == "box":
        return Box(**_placement(p), half_sizes_mm=_triple(p["half_sizes_mm"], "half_sizes_mm"))
    if kind == "torus":
        return Torus(
            **_placement(p),
            major_radius_mm=float(p["major_radius_mm"]),
            minor_radius_mm=float(p["minor_radius_mm"]),
            phi_start_deg=float(p.get("phi_start_deg", 0.0)),
            phi_delta_deg=float(p.get("phi_delta_deg", 360.0)),
        )
    raise ValueError(f"unknown solid kind {kind!r}")
