"""Beam geometry of a cardiac projection, and the patient support's transmission.

Both dosimetry paths (table and direct Monte Carlo) put the isocentre at the centroid of the
phantom's heart: in cardiac catheterisation the heart is centred in the field in both planes
(HARMONIC cardiac dosimetry; PCXMC users do the same, e.g. Karambatsakidou et al., Br. J.
Radiol. 82 (2009) 748). The beam direction follows the DICOM positioner angles
(:func:`doseline.physics.source.beam_direction`).

The patient support (table top and mattress) is not in the transport geometry: both paths
attenuate the beam's spectrum, bin by bin, by the support before it reaches the patient, so that
its hardening is counted too (the KAP is measured at the tube, before the support). The support
is a narrow-beam PMMA-equivalent thickness, by default
:data:`~doseline.dosimetry.fluoro.skin_factors.DEFAULT_TABLE_PMMA_EQUIVALENT_MM` (fitted to the
transmissions measured on a cardiac table by the PySkinDose authors; the skin-dose module uses
the same model), set per deployment (``DOSELINE_FLUORO_TABLE_PMMA_MM``). A beam whose focal spot
is below the table (beam direction with an anterior component, ``d_y < 0`` in DICOM LPS) crosses
it along ``t / |d_y|``; beams within 15 degrees of horizontal (``|d_y| < sin 15 deg``), which pass
beside the table edge rather than through it, are taken as unattenuated. The support's
uncertainty is one of the shared error sources of :mod:`doseline.dosimetry.fluoro.uncertainty`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.dosimetry.fluoro.skin_factors import DEFAULT_TABLE_PMMA_EQUIVALENT_MM
from doseline.physics.cross_sections import coefficients
from doseline.physics.materials import material
from doseline.physics.phantoms.voxel import VoxelPhantom
from doseline.physics.source import PointSource, beam_directions, c_arm_source

__all__ = [
    "DEFAULT_TABLE_PMMA_EQUIVALENT_MM",
    "event_source",
    "pmma_attenuation_per_mm",
    "support_path_mm",
    "table_source",
]

F64 = npt.NDArray[np.float64]

_EDGE_SIN = math.sin(math.radians(15.0))


def table_source(
    phantom: VoxelPhantom,
    primary_angle_deg: float,
    secondary_angle_deg: float,
    field_side_at_isocentre_cm: float,
    *,
    distance_source_to_isocenter_mm: float,
    distance_source_to_detector_mm: float,
) -> PointSource:
    """Source of a table node: square field of the given side in the isocentre plane."""
    side_mm = field_side_at_isocentre_cm * 10.0
    return c_arm_source(
        phantom.centroid_mm("heart"),
        primary_angle_deg,
        secondary_angle_deg,
        distance_source_to_isocentre_mm=distance_source_to_isocenter_mm,
        distance_source_to_detector_mm=distance_source_to_detector_mm,
        field_size_mm=(side_mm, side_mm),
        field_at="isocentre",
    )


def event_source(phantom: VoxelPhantom, event: pd.Series) -> PointSource:
    """Source of one event (a row of a checked event frame): its field at the detector."""
    return c_arm_source(
        phantom.centroid_mm("heart"),
        float(event["primary_angle_deg"]),
        float(event["secondary_angle_deg"]),
        distance_source_to_isocentre_mm=float(event["distance_source_to_isocenter_mm"]),
        distance_source_to_detector_mm=float(event["distance_source_to_detector_mm"]),
        field_size_mm=(float(event["field_width_mm"]), float(event["field_height_mm"])),
        field_at="detector",
    )


def support_path_mm(events: pd.DataFrame, pmma_equivalent_mm: float) -> F64:
    """PMMA-equivalent thickness (mm) the central ray crosses in the support (0 if none)."""
    if not pmma_equivalent_mm >= 0.0:
        raise ValueError(f"support thickness must be >= 0 mm, got {pmma_equivalent_mm}")
    primary = events["primary_angle_deg"].to_numpy(np.float64)
    secondary = events["secondary_angle_deg"].to_numpy(np.float64)
    d_y = beam_directions(primary, secondary)[:, 1]
    crosses = d_y < -_EDGE_SIN
    with np.errstate(divide="ignore"):
        path: F64 = np.where(crosses, pmma_equivalent_mm / np.abs(d_y), 0.0)
    return path


def pmma_attenuation_per_mm(energy_kev: F64) -> F64:
    """Linear attenuation coefficient of PMMA (1/mm, with coherent scattering), xraylib."""
    return _pmma_attenuation(tuple(float(e) for e in np.asarray(energy_kev).ravel())).copy()


@lru_cache(maxsize=64)
def _pmma_attenuation(energy_kev: tuple[float, ...]) -> F64:
    pmma = material("pmma")
    energies = np.array(energy_kev)
    mu: F64 = coefficients(pmma, energies).total_cm2_g * pmma.nominal_density_g_cm3 / 10.0
    return mu
