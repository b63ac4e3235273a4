"""Patient-support geometry: table and mattress slabs added to a voxel phantom.

The patient lies supine, so the mattress touches the posterior (+y, DICOM LPS) surface of the
body and the table lies under it. Each slab spans the whole grid in x and z and is made of
whole voxel layers; its density is scaled so that the mass thickness (g/cm2) is exactly the
requested ``thickness_mm x density`` (attenuation of a uniform slab depends on mass thickness
only). The grid is extended along +y when needed; the origin is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from doseline.physics.materials import material
from doseline.physics.phantoms.voxel import Label, VoxelPhantom

__all__ = ["Slab", "add_patient_support"]


@dataclass(frozen=True)
class Slab:
    """One support layer (mattress, table top); valid on construction.

    Parameters
    ----------
    name
        Region name, e.g. ``"mattress"``.
    material
        Material name from :mod:`doseline.physics.materials`.
    thickness_mm
        Physical thickness.
    density_g_cm3
        Density; default the material's nominal density.
    """

    name: str
    material: str
    thickness_mm: float
    density_g_cm3: float | None = None

    def __post_init__(self) -> None:
        material(self.material)  # raises KeyError for an unknown material
        if not self.thickness_mm > 0:
            raise ValueError(f"slab {self.name!r}: thickness_mm must be > 0")
        if self.density_g_cm3 is not None and not self.density_g_cm3 > 0:
            raise ValueError(f"slab {self.name!r}: density_g_cm3 must be > 0")


def add_patient_support(phantom: VoxelPhantom, slabs: Sequence[Slab]) -> VoxelPhantom:
    """Phantom with ``slabs`` stacked posterior to the body, first slab against the body."""
    if not slabs:
        return phantom
    body_j = np.flatnonzero(np.any(phantom.labels != 0, axis=(0, 2)))
    if body_j.size == 0:
        raise ValueError(f"{phantom.name}: no body voxels to put on the table")
    dy = phantom.voxel_size_mm[1]
    layers = [max(1, math.ceil(s.thickness_mm / dy - 1e-9)) for s in slabs]
    start = int(body_j[-1]) + 1
    needed = start + sum(layers)
    nx, ny, nz = phantom.shape
    labels = phantom.labels
    if needed > ny:
        pad = np.zeros((nx, needed - ny, nz), dtype=labels.dtype)
        labels = np.concatenate([labels, pad], axis=1)
    else:
        labels = labels.copy()
    regions = list(phantom.regions)
    j = start
    for slab, n in zip(slabs, layers, strict=True):
        nominal = slab.density_g_cm3 or material(slab.material).nominal_density_g_cm3
        density = nominal * slab.thickness_mm / (n * dy)
        index = len(regions)
        labels[:, j : j + n, :] = index
        regions.append(Label(slab.name, slab.material, density))
        j += n
    return VoxelPhantom(
        labels=labels,
        voxel_size_mm=phantom.voxel_size_mm,
        regions=tuple(regions),
        origin_mm=phantom.origin_mm,
        name=f"{phantom.name} + " + " + ".join(s.name for s in slabs),
    )
