"""Scaling a phantom to a patient's height and mass.

Method of PCXMC (Tapiovaara and Siiskonen 2008, STUK-A231, section 2.2; also the PCXMC 2.0
User's Guide, STUK-TR 7): take the reference phantom of the chosen age and multiply every
z coordinate by ``s_z = H / H_ref`` and every x and y coordinate by
``s_xy = sqrt((W / W_ref) / (H / H_ref))``, so that the phantom's height is the patient's and its
mass (volume x density) scales by ``s_xy^2 s_z = W / W_ref``. Organ masses scale by the same
factor and organ depths in x, y by ``s_xy``.
"""

from __future__ import annotations

import math

from doseline.physics.phantoms.reference import AGES
from doseline.physics.phantoms.stylised import age_scaling, build_phantom
from doseline.physics.phantoms.voxel import VoxelPhantom

__all__ = ["nearest_age", "patient_phantom", "patient_scale", "scale_voxel_phantom"]


def nearest_age(height_cm: float) -> str:
    """The phantom age whose reference height is closest to ``height_cm``."""
    if not height_cm > 0:
        raise ValueError(f"height_cm must be > 0, got {height_cm}")
    return min(AGES, key=lambda age: abs(age_scaling(age).height_cm - height_cm))


def patient_scale(height_cm: float, mass_kg: float, age: str) -> tuple[float, float, float]:
    """(s_x, s_y, s_z) that scale the phantom of ``age`` to a patient (PCXMC method)."""
    if not height_cm > 0 or not mass_kg > 0:
        raise ValueError(f"height_cm and mass_kg must be > 0, got {height_cm}, {mass_kg}")
    reference = age_scaling(age)
    s_z = height_cm / reference.height_cm
    s_xy = math.sqrt(mass_kg * 1000.0 / reference.body_mass_g / s_z)
    return (s_xy, s_xy, s_z)


def patient_phantom(
    height_cm: float,
    mass_kg: float,
    voxel_size_mm: float = 2.0,
    *,
    age: str | None = None,
    supersample: int = 3,
) -> VoxelPhantom:
    """Stylised phantom scaled to a patient; the age defaults to :func:`nearest_age`."""
    chosen = nearest_age(height_cm) if age is None else age
    scale = patient_scale(height_cm, mass_kg, chosen)
    return build_phantom(chosen, voxel_size_mm, supersample=supersample, scale=scale)


def scale_voxel_phantom(phantom: VoxelPhantom, sx: float, sy: float, sz: float) -> VoxelPhantom:
    """The same voxel phantom with voxel sizes (and origin) multiplied by (sx, sy, sz).

    Exact for any voxel phantom (e.g. one read by
    :func:`doseline.physics.phantoms.icrp110.read_icrp110_phantom`): every region's mass
    scales by ``sx sy sz``; voxels become non-cubic when the factors differ.
    """
    if min(sx, sy, sz) <= 0:
        raise ValueError(f"scale factors must be > 0, got {(sx, sy, sz)}")
    dx, dy, dz = phantom.voxel_size_mm
    ox, oy, oz = phantom.origin_mm
    return VoxelPhantom(
        phantom.labels,
        (dx * sx, dy * sy, dz * sz),
        phantom.regions,
        (ox * sx, oy * sy, oz * sz),
        name=f"{phantom.name} (scaled)",
    )
