"""Transport problem: the arrays every backend consumes, built from a phantom and a source.

Media are the phantom's labels (index = label) plus the world medium outside the voxel grid
(last index). Each medium has linear attenuation coefficients (cm^-1) per process on the
energy grid of :mod:`doseline.physics.cross_sections`, stored cumulatively
(photoelectric, + Compton, + Rayleigh = total) in float64; the Woodcock majorant is the
maximum total over the grid's labels at each grid energy (linear interpolation of the maxima
bounds every interpolated label value, so the majorant is never undercut).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from doseline.errors import InvalidInputError
from doseline.physics.alias import build_alias_table
from doseline.physics.cross_sections import (
    ENERGY_GRID_KEV,
    MOMENTUM_GRID_PER_ANGSTROM,
    coefficients,
    incoherent_scattering_ratio,
    rayleigh_cumulative,
)
from doseline.physics.materials import material, material_names
from doseline.physics.phantoms.voxel import VoxelPhantom
from doseline.physics.source import PointSource
from doseline.physics.spectra import Spectrum

__all__ = [
    "ENDOSTEUM_MATERIAL",
    "RED_MARROW_MATERIAL",
    "ScoringDisc",
    "TransportProblem",
    "build_problem",
]  # fmt: skip

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

RED_MARROW_MATERIAL = "red_marrow"
ENDOSTEUM_MATERIAL = "soft_tissue"


@dataclass(frozen=True)
class ScoringDisc:
    """Disc that scores air kerma from the photons crossing it (e.g. TG-195 Case 1 detector)."""

    centre_mm: tuple[float, float, float]
    normal: tuple[float, float, float]
    radius_mm: float


@dataclass(frozen=True)
class TransportProblem:
    """Arrays of one transport problem (lengths in cm, energies in keV)."""

    labels: npt.NDArray[np.integer]  # flattened C order (i, j, k), smallest dtype that fits
    shape: I64
    origin_cm: F64
    voxel_cm: F64
    world_lo_cm: F64
    world_hi_cm: F64
    log_e0: float
    inv_dlog_e: float
    mu: F64  # [medium, energy, 3] cumulative photo, +compton, +rayleigh (cm^-1)
    majorant: F64  # [energy]
    medium_material: I64  # [medium] -> material row
    compton_s: F64  # [material, x]
    rayleigh_x2: F64  # [material, x + 1]
    rayleigh_cum: F64  # [material, x + 1]
    log_x0: float
    inv_dlog_x: float
    skeletal_ratio: F64  # [medium, energy, 2]: mu_en ratios RM/medium, BS/medium (0 if none)
    air_mu_en: F64  # [energy] (cm2/g) for disc scoring
    source_frame: F64  # [4, 3]
    source_limits: F64  # [4]
    alias_bins: I64
    alias_threshold: F64
    alias_alias: I64
    spectrum_edges: F64
    disc: F64  # [7]: centre_cm(3), normal(3), radius_cm; radius <= 0: no disc
    n_labels: int


def _label_dtype(n_regions: int) -> type[np.integer]:
    """Smallest label type: a smaller grid keeps more of it in cache during tracking."""
    if n_regions <= 256:
        return np.uint8
    return np.uint16 if n_regions <= 65536 else np.int32


@cache
def _material_tables(name: str) -> tuple[F64, F64, F64, F64, F64]:
    mat = material(name)
    c = coefficients(mat)
    cumulative = np.stack(
        [c.photoelectric_cm2_g, c.photoelectric_cm2_g + c.compton_cm2_g, c.total_cm2_g], axis=1
    )
    x2, cum = rayleigh_cumulative(mat)
    return cumulative, c.energy_absorption_cm2_g, incoherent_scattering_ratio(mat), x2, cum


def _check_materials(phantom: VoxelPhantom, spectrum: Spectrum, world_name: str) -> None:
    """Energies inside the grid (the kernels interpolate between grid points i and i + 1) and
    every material known to the database."""
    if spectrum.max_energy_kev >= ENERGY_GRID_KEV[-1] or spectrum.energy_bin_edges_kev[0] < 1.0:
        raise ValueError(
            f"spectrum {spectrum.description!r} must lie within [1, 200) keV, the energy grid"
        )
    known = set(material_names())
    for region in phantom.regions:
        if region.material not in known:
            raise InvalidInputError(
                f"unknown material {region.material!r}",
                source=phantom.name, record=f"label {region.name}", field="material",
            )  # fmt: skip
    if world_name not in known:
        raise InvalidInputError(f"unknown world material {world_name!r}", field="world_material")


def _media_arrays(
    phantom: VoxelPhantom,
    tables: dict[str, tuple[F64, F64, F64, F64, F64]],
    world_name: str,
    world_density_g_cm3: float,
) -> tuple[F64, F64, F64]:
    """Linear coefficients per medium (labels, then the world), their majorant over the labels
    present, and the skeletal mu_en ratios (red marrow, endosteum) of each label."""
    n_e = ENERGY_GRID_KEV.size
    n_media = len(phantom.regions) + 1
    mu = np.empty((n_media, n_e, 3))
    for index, region in enumerate(phantom.regions):
        mu[index] = tables[region.material][0] * region.density_g_cm3
    mu[-1] = tables[world_name][0] * world_density_g_cm3
    present = np.unique(phantom.labels)
    majorant: F64 = mu[present, :, 2].max(axis=0) * (1.0 + 1e-9)
    skeletal = np.zeros((n_media, n_e, 2))
    for index, region in enumerate(phantom.regions):
        mu_en = tables[region.material][1]
        if region.red_marrow_mass_fraction > 0:
            skeletal[index, :, 0] = tables[RED_MARROW_MATERIAL][1] / mu_en
        if region.endosteum_mass_fraction > 0:
            skeletal[index, :, 1] = tables[ENDOSTEUM_MATERIAL][1] / mu_en
    return mu, majorant, skeletal


def _world_box_cm(
    grid_lo_cm: F64,
    grid_hi_cm: F64,
    source_cm: F64,
    margin_mm: float,
    bounds_mm: tuple[tuple[float, float, float], tuple[float, float, float]] | None,
) -> tuple[F64, F64]:
    """The world box: ``bounds_mm`` or the box of grid and source widened by ``margin_mm``."""
    if bounds_mm is None:
        lo = np.minimum(grid_lo_cm, source_cm) - margin_mm / 10.0
        hi = np.maximum(grid_hi_cm, source_cm) + margin_mm / 10.0
    else:
        lo = np.asarray(bounds_mm[0], dtype=np.float64) / 10.0
        hi = np.asarray(bounds_mm[1], dtype=np.float64) / 10.0
    if np.any(lo > grid_lo_cm) or np.any(hi < grid_hi_cm):
        raise ValueError("the world box must contain the voxel grid")
    if np.any(lo > source_cm) or np.any(hi < source_cm):
        raise ValueError("the world box must contain the source")
    return lo, hi


def _disc_array(disc: ScoringDisc | None) -> F64:
    """The scoring disc as (centre cm, unit normal, radius cm); zeros without a disc."""
    disc_arr = np.zeros(7)
    if disc is not None:
        disc_arr[:3] = np.asarray(disc.centre_mm) / 10.0
        disc_arr[3:6] = np.asarray(disc.normal) / np.linalg.norm(disc.normal)
        disc_arr[6] = disc.radius_mm / 10.0
    return disc_arr


def build_problem(
    phantom: VoxelPhantom,
    source: PointSource,
    spectrum: Spectrum,
    *,
    world_material: str | None = "air",
    world_margin_mm: float = 100.0,
    world_bounds_mm: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None,
    disc: ScoringDisc | None = None,
) -> TransportProblem:
    """Assemble the arrays for the backends.

    Parameters
    ----------
    phantom
        Labelled voxel geometry; label materials must be known to the material database.
    source, spectrum
        The beam.
    world_material
        Material filling the world outside the voxel grid (``None``: vacuum), at its nominal
        density.
    world_margin_mm
        The world is the bounding box of the grid and the source, widened by this margin.
    world_bounds_mm
        Explicit world box ``(low, high)``; overrides the margin rule.
    disc
        Optional air-kerma scoring disc (photons leaving the world are tested against it).
    """
    world_name = world_material or "air"
    _check_materials(phantom, spectrum, world_name)
    names = [r.material for r in phantom.regions]
    unique = sorted(set(names) | {world_name, RED_MARROW_MATERIAL, ENDOSTEUM_MATERIAL})
    tables = {n: _material_tables(n) for n in unique}
    world_density = material(world_name).nominal_density_g_cm3 if world_material else 0.0
    mu, majorant, skeletal = _media_arrays(phantom, tables, world_name, world_density)
    material_index = {n: i for i, n in enumerate(unique)}
    medium_material = np.array([material_index[n] for n in names] + [material_index[world_name]])
    shape = np.asarray(phantom.labels.shape, dtype=np.int64)
    origin = np.asarray(phantom.origin_mm, dtype=np.float64) / 10.0
    voxel = np.asarray(phantom.voxel_size_mm, dtype=np.float64) / 10.0
    frame, limits = source.as_arrays()
    lo, hi = _world_box_cm(
        origin, origin + shape * voxel, frame[0], world_margin_mm, world_bounds_mm
    )
    table = build_alias_table(spectrum.photons_per_bin)
    disc_arr = _disc_array(disc)
    x = MOMENTUM_GRID_PER_ANGSTROM
    return TransportProblem(
        labels=np.ascontiguousarray(
            phantom.labels, dtype=_label_dtype(len(phantom.regions))
        ).ravel(),
        shape=shape,
        origin_cm=origin,
        voxel_cm=voxel,
        world_lo_cm=lo,
        world_hi_cm=hi,
        log_e0=float(np.log(ENERGY_GRID_KEV[0])),
        inv_dlog_e=float(1.0 / np.log(ENERGY_GRID_KEV[1] / ENERGY_GRID_KEV[0])),
        mu=mu,
        majorant=majorant,
        medium_material=medium_material.astype(np.int64),
        compton_s=np.stack([tables[n][2] for n in unique]),
        rayleigh_x2=np.stack([tables[n][3] for n in unique]),
        rayleigh_cum=np.stack([tables[n][4] for n in unique]),
        log_x0=float(np.log(x[0])),
        inv_dlog_x=float(1.0 / np.log(x[1] / x[0])),
        skeletal_ratio=skeletal,
        air_mu_en=tables["air"][1],
        source_frame=frame,
        source_limits=limits,
        alias_bins=table.bins,
        alias_threshold=table.threshold,
        alias_alias=table.alias,
        spectrum_edges=spectrum.energy_bin_edges_kev,
        disc=disc_arr,
        n_labels=len(phantom.regions),
    )
