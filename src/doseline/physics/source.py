"""X-ray sources: a point source collimated to a rectangle, and C-arm geometry from DICOM.

Coordinates are DICOM patient coordinates (LPS: +x patient left, +y posterior, +z head) in mm,
for a supine, head-first patient.

Beam direction from the DICOM positioner angles (PS3.3 C.8.7.5.1.2, "Positioner Primary Angle"
and "Positioner Secondary Angle", X-Ray Acquisition / Irradiation Event attributes): both
describe the direction from the isocentre to the detector (image receptor). At 0/0 the
detector is above the chest (anterior) and the source under the table, so the beam travels
posterior-to-anterior: ``d = (0, -1, 0)``. The primary angle is positive towards the patient's
left (LAO), the secondary angle positive towards the head (cranial). The unit vector from the
isocentre to the detector is therefore
``d = (sin(a) cos(b), -cos(a) cos(b), sin(b))`` for primary angle ``a`` and secondary ``b``; the
source sits at ``isocentre - d * distance_source_to_isocentre``.

The emission is isotropic within the rectangular pyramid: directions are drawn uniformly in
the tangent plane and accepted with probability ``cos^3`` of the angle to the central axis,
which turns a uniform density on the plane into a uniform density per solid angle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["PointSource", "beam_direction", "beam_directions", "c_arm_source"]

F64 = npt.NDArray[np.float64]


def beam_direction(primary_angle_deg: float, secondary_angle_deg: float) -> F64:
    """Unit vector isocentre -> detector (= beam direction) from DICOM positioner angles."""
    directions = beam_directions(np.array([primary_angle_deg]), np.array([secondary_angle_deg]))
    out: F64 = directions[0]
    return out


def beam_directions(primary_angle_deg: F64, secondary_angle_deg: F64) -> F64:
    """``(n, 3)`` beam directions of :func:`beam_direction` for arrays of angles."""
    a = np.radians(np.asarray(primary_angle_deg, dtype=np.float64))
    b = np.radians(np.asarray(secondary_angle_deg, dtype=np.float64))
    out: F64 = np.stack([np.sin(a) * np.cos(b), -np.cos(a) * np.cos(b), np.sin(b)], axis=-1)
    return out


def _field_axes(direction: F64) -> tuple[F64, F64]:
    """Field axes u (patient left-right side) and v (towards the head) perpendicular to the beam."""
    z = np.array([0.0, 0.0, 1.0])
    u = np.cross(z, direction)
    if np.linalg.norm(u) < 1e-9:  # beam along the body axis
        u = np.array([1.0, 0.0, 0.0])
    u = u / np.linalg.norm(u)
    v = np.cross(direction, u)
    return u, v / np.linalg.norm(v)


@dataclass(frozen=True)
class PointSource:
    """Point source emitting isotropically into a rectangular pyramid; valid on construction.

    Parameters
    ----------
    position_mm
        Focal spot position.
    direction
        Central axis (unit vector; normalised on construction).
    u_axis
        Unit vector of the field's first side (perpendicular to ``direction``); ``v`` completes
        a right-handed frame ``v = direction x u``.
    tan_u, tan_v
        Field limits as tangents (dimensionless) of the angles from the central axis:
        ``(low, high)`` along u and v (asymmetric fields allowed).
    """

    position_mm: tuple[float, float, float]
    direction: tuple[float, float, float]
    u_axis: tuple[float, float, float]
    tan_u: tuple[float, float]
    tan_v: tuple[float, float]

    def __post_init__(self) -> None:
        d = np.asarray(self.direction, dtype=np.float64)
        u = np.asarray(self.u_axis, dtype=np.float64)
        if not math.isclose(float(np.linalg.norm(d)), 1.0, rel_tol=1e-9):
            raise ValueError("direction must be a unit vector")
        if abs(float(d @ u)) > 1e-9 or not math.isclose(float(np.linalg.norm(u)), 1.0):
            raise ValueError("u_axis must be a unit vector perpendicular to direction")
        for low, high in (self.tan_u, self.tan_v):
            if not low < high:
                raise ValueError("field limits must satisfy low < high")

    @property
    def v_axis(self) -> F64:
        v: F64 = np.cross(np.asarray(self.direction), np.asarray(self.u_axis))
        return v

    def solid_angle_sr(self) -> float:
        """Solid angle of the rectangular pyramid (exact, by corner formula)."""

        def corner(a: float, b: float) -> float:
            return math.atan(a * b / math.sqrt(1.0 + a * a + b * b))

        (u0, u1), (v0, v1) = self.tan_u, self.tan_v
        return corner(u1, v1) - corner(u0, v1) - corner(u1, v0) + corner(u0, v0)

    def mean_inverse_cosine(self) -> float:
        """Mean of ``1 / cos`` of the angle to the axis over the emitted photons.

        A photon crossing a plane perpendicular to the axis at angle theta adds ``1/cos theta``
        to the fluence integrated over that plane, so in-air KAP per photon is
        ``E (mu_en/rho)_air`` times this factor (1.001-1.01 for clinical fields).
        Computed by Gauss-Legendre quadrature of ``da db / (1 + a^2 + b^2)`` over the field in
        tangent coordinates, divided by the solid angle.
        """
        nodes, weights = np.polynomial.legendre.leggauss(64)
        (u0, u1), (v0, v1) = self.tan_u, self.tan_v
        a = (u1 - u0) / 2 * nodes + (u1 + u0) / 2
        b = (v1 - v0) / 2 * nodes + (v1 + v0) / 2
        integrand = 1.0 / (1.0 + a[:, None] ** 2 + b[None, :] ** 2)
        integral = float(weights @ integrand @ weights) * (u1 - u0) * (v1 - v0) / 4
        return integral / self.solid_angle_sr()

    def field_area_cm2(self, distance_mm: float) -> float:
        """Field area in the plane perpendicular to the axis at ``distance_mm``."""
        (u0, u1), (v0, v1) = self.tan_u, self.tan_v
        return (u1 - u0) * (v1 - v0) * (distance_mm / 10.0) ** 2

    def as_arrays(self) -> tuple[F64, F64]:
        """``(frame[4, 3] = position_cm, w, u, v; limits[4] = u0, u1, v0, v1)`` for kernels."""
        frame = np.array(
            [np.asarray(self.position_mm) / 10.0, self.direction, self.u_axis, self.v_axis]
        )
        limits = np.array([*self.tan_u, *self.tan_v], dtype=np.float64)
        return frame, limits

    @classmethod
    def rectangular(
        cls,
        position_mm: F64 | tuple[float, float, float],
        direction: F64 | tuple[float, float, float],
        field_size_mm: tuple[float, float],
        at_distance_mm: float,
        u_axis: F64 | None = None,
    ) -> PointSource:
        """Symmetric field ``field_size_mm`` (along u, v) at ``at_distance_mm`` from the focus."""
        d = np.asarray(direction, dtype=np.float64)
        d = d / np.linalg.norm(d)
        u = _field_axes(d)[0] if u_axis is None else np.asarray(u_axis, dtype=np.float64)
        half_u = field_size_mm[0] / 2.0 / at_distance_mm
        half_v = field_size_mm[1] / 2.0 / at_distance_mm
        p = np.asarray(position_mm, dtype=np.float64)
        return cls(
            position_mm=(float(p[0]), float(p[1]), float(p[2])),
            direction=(float(d[0]), float(d[1]), float(d[2])),
            u_axis=(float(u[0]), float(u[1]), float(u[2])),
            tan_u=(-half_u, half_u),
            tan_v=(-half_v, half_v),
        )


def c_arm_source(
    isocentre_mm: F64 | tuple[float, float, float],
    primary_angle_deg: float,
    secondary_angle_deg: float,
    *,
    distance_source_to_isocentre_mm: float,
    distance_source_to_detector_mm: float,
    field_size_mm: tuple[float, float],
    field_at: str = "detector",
) -> PointSource:
    """Point source of a C-arm projection (DICOM angles; field at the detector or isocentre).

    Parameters
    ----------
    field_at
        ``"detector"`` (field size in the detector plane, at ``distance_source_to_detector_mm``)
        or ``"isocentre"``.
    """
    if not 0 < distance_source_to_isocentre_mm < distance_source_to_detector_mm:
        raise ValueError("need 0 < source-to-isocentre < source-to-detector distance")
    if field_at not in ("detector", "isocentre"):
        raise ValueError("field_at must be 'detector' or 'isocentre'")
    d = beam_direction(primary_angle_deg, secondary_angle_deg)
    source = np.asarray(isocentre_mm, dtype=np.float64) - d * distance_source_to_isocentre_mm
    distance = (
        distance_source_to_detector_mm
        if field_at == "detector"
        else distance_source_to_isocentre_mm
    )
    return PointSource.rectangular(source, d, field_size_mm, distance)
