"""A labelled voxel phantom: the geometry that photon transport runs in.

Coordinates follow the DICOM patient coordinate system (PS3.3 C.7.6.2.1.1, "LPS"): +x towards
the patient's left, +y towards the posterior, +z towards the head. ``labels[i, j, k]`` is the
voxel whose lower corner is ``origin_mm + (i, j, k) * voxel_size_mm``. Label 0 is outside the
body (air).

Each label names one organ or tissue region and one material; skeletal labels also carry the
mass fractions of active (red) bone marrow and of endosteum (the 50-um layer that ICRP 103
calls bone surface) in that region, which the transport uses to score red-marrow and
bone-surface dose (see :mod:`doseline.physics` documentation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["Label", "VoxelPhantom"]


@dataclass(frozen=True)
class Label:
    """One region of a voxel phantom.

    Parameters
    ----------
    name
        Region name; organs use the vocabulary of :mod:`doseline.organs` where one applies
        (e.g. ``"heart"``), skeletal regions a site name (e.g. ``"skeleton_spine"``).
    material
        Name of a material known to :mod:`doseline.physics.materials`.
    density_g_cm3
        Mass density of the region.
    red_marrow_mass_fraction, endosteum_mass_fraction
        Fractions of the region's mass that are active marrow and endosteum (0 outside the
        skeleton).
    """

    name: str
    material: str
    density_g_cm3: float
    red_marrow_mass_fraction: float = 0.0
    endosteum_mass_fraction: float = 0.0

    def __post_init__(self) -> None:
        if not self.density_g_cm3 > 0:
            raise ValueError(f"label {self.name!r}: density_g_cm3 must be > 0")
        for attr in ("red_marrow_mass_fraction", "endosteum_mass_fraction"):
            value = getattr(self, attr)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"label {self.name!r}: {attr} = {value} is not in [0, 1]")


@dataclass(frozen=True)
class VoxelPhantom:
    """A labelled voxel grid; valid on construction.

    Parameters
    ----------
    labels
        Integer array (nx, ny, nz) of indices into ``regions``; 0 is air outside the body.
    voxel_size_mm
        Voxel edge lengths along x, y, z.
    regions
        ``regions[i]`` describes label ``i``; ``regions[0]`` must be the outside air.
    origin_mm
        Position of the lower corner of voxel (0, 0, 0) in patient coordinates.
    name
        Human-readable phantom name, e.g. ``"ORNL 5-year (Cristy and Eckerman 1987)"``.
    """

    labels: npt.NDArray[np.integer]
    voxel_size_mm: tuple[float, float, float]
    regions: tuple[Label, ...]
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    name: str = "voxel phantom"
    _masses_g: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.labels.ndim != 3:
            raise ValueError(f"{self.name}: labels must be 3-D, got shape {self.labels.shape}")
        if not np.issubdtype(self.labels.dtype, np.integer):
            raise ValueError(f"{self.name}: labels must be integers, got {self.labels.dtype}")
        if len(self.voxel_size_mm) != 3 or min(self.voxel_size_mm) <= 0:
            raise ValueError(f"{self.name}: voxel_size_mm {self.voxel_size_mm} is not valid")
        if not self.regions or self.regions[0].material != "air":
            raise ValueError(f"{self.name}: regions[0] must be the outside air")
        if self.labels.size and (self.labels.min() < 0 or self.labels.max() >= len(self.regions)):
            raise ValueError(
                f"{self.name}: labels range {self.labels.min()}..{self.labels.max()} "
                f"outside the {len(self.regions)} regions"
            )
        names = [region.name for region in self.regions]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: region names are not unique")

    @property
    def shape(self) -> tuple[int, int, int]:
        nx, ny, nz = self.labels.shape
        return int(nx), int(ny), int(nz)

    @property
    def voxel_volume_cm3(self) -> float:
        dx, dy, dz = self.voxel_size_mm
        return dx * dy * dz / 1000.0

    def label_of(self, name: str) -> int:
        """Index of the region called ``name``."""
        for index, region in enumerate(self.regions):
            if region.name == name:
                return index
        raise KeyError(f"{self.name}: no region named {name!r}")

    def region_masses_g(self) -> dict[str, float]:
        """Mass of every region (voxel count x voxel volume x density), air excluded."""
        if not self._masses_g:
            counts = np.bincount(self.labels.ravel(), minlength=len(self.regions))
            for index, region in enumerate(self.regions[1:], start=1):
                self._masses_g[region.name] = (
                    float(counts[index]) * self.voxel_volume_cm3 * region.density_g_cm3
                )
        return dict(self._masses_g)

    def centroid_mm(self, names: str | Sequence[str]) -> npt.NDArray[np.float64]:
        """Volume centroid of one region or of several together, in patient coordinates."""
        wanted = [names] if isinstance(names, str) else list(names)
        mask = np.isin(self.labels, [self.label_of(n) for n in wanted])
        if not mask.any():
            raise ValueError(f"{self.name}: regions {wanted} have no voxels")
        index_mean = np.array([axis.mean() for axis in np.nonzero(mask)], dtype=np.float64)
        centroid: npt.NDArray[np.float64] = np.asarray(self.origin_mm, dtype=np.float64) + (
            index_mean + 0.5
        ) * np.asarray(self.voxel_size_mm, dtype=np.float64)
        return centroid
