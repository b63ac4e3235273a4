"""Organ doses and ICRP 103 effective dose from a transport result.

An organ's absorbed dose is the mass-weighted mean over the regions that form it:
``D_T = sum_r E_r / sum_r m_r``. Red bone marrow is the transport's red-marrow target dose
(see :mod:`doseline.physics.transport.api`); bone surface is the endosteum target dose when
the phantom has endosteum fractions, otherwise the mean dose of the skeletal regions given
as its surrogate. Organs a phantom does not model are taken from the surrogate regions the
phantom declares (e.g. ``ORGAN_SURROGATES`` of the stylised phantoms). For X-rays the
radiation weighting factor is 1, so organ doses in Gy are equivalent doses in Sv and
:func:`doseline.organs.effective_dose` gives the sex-averaged ICRP 103 effective dose.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from doseline.organs import effective_dose
from doseline.physics.phantoms.voxel import VoxelPhantom
from doseline.physics.transport.api import KEV_TO_J, TransportResult

__all__ = [
    "effective_dose_sv_per_history",
    "organ_doses_gy_per_history",
    "organ_doses_with_rel_sd",
]


def _organ_groups(
    phantom: VoxelPhantom,
    region_organs: Mapping[str, str],
    surrogates: Mapping[str, Sequence[str]] | None,
) -> dict[str, list[str]]:
    masses = phantom.region_masses_g()
    groups: dict[str, list[str]] = {}
    for region, organ in region_organs.items():
        if region in masses:
            groups.setdefault(organ, []).append(region)
    for organ, regions in (surrogates or {}).items():
        groups.setdefault(organ, [r for r in regions if r in masses])
    return groups


def organ_doses_gy_per_history(
    result: TransportResult,
    phantom: VoxelPhantom,
    region_organs: Mapping[str, str],
    surrogates: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, float]:
    """Absorbed dose per history of every organ named in ``region_organs`` or ``surrogates``.

    Parameters
    ----------
    result, phantom
        The transport result and the phantom it ran in.
    region_organs
        Region name -> organ name; regions of organ ``"skeleton"`` are the skeleton.
    surrogates
        Organ name -> region names standing in for an organ the phantom does not model.
    """
    return {
        organ: dose
        for organ, (dose, _) in organ_doses_with_rel_sd(
            result, phantom, region_organs, surrogates
        ).items()
    }


def organ_doses_with_rel_sd(
    result: TransportResult,
    phantom: VoxelPhantom,
    region_organs: Mapping[str, str],
    surrogates: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, tuple[float, float]]:
    """``organ -> (dose Gy per history, relative SD)``; the SD of a multi-region organ
    combines its regions' batch SDs as independent (regions are disjoint; the covariance
    between regions hit by the same photons is neglected, a small under-estimate)."""
    masses = phantom.region_masses_g()
    index = {name: i for i, name in enumerate(result.labels)}
    energy_j = result.energy_ev_per_history / 1000.0 * KEV_TO_J
    sd_j = np.nan_to_num(result.energy_rel_sd) * energy_j
    out: dict[str, tuple[float, float]] = {}
    for organ, regions in _organ_groups(phantom, region_organs, surrogates).items():
        mass_kg = sum(masses[r] for r in regions) / 1000.0
        rows = [index[r] for r in regions]
        total = float(energy_j[rows].sum())
        if mass_kg > 0:
            rel = math.sqrt(float((sd_j[rows] ** 2).sum())) / total if total > 0 else math.nan
            out[organ] = (total / mass_kg, rel)
    if not math.isnan(result.red_marrow_dose_gy_per_history):
        out["red_bone_marrow"] = (result.red_marrow_dose_gy_per_history, result.red_marrow_rel_sd)
    if not math.isnan(result.endosteum_dose_gy_per_history):
        out["bone_surface"] = (result.endosteum_dose_gy_per_history, result.endosteum_rel_sd)
    elif "skeleton" in out:
        out.setdefault("bone_surface", out["skeleton"])
    return out


def effective_dose_sv_per_history(organ_doses_gy: Mapping[str, float]) -> float:
    """ICRP 103 sex-averaged effective dose (Sv per history) from organ doses (Gy)."""
    return float(effective_dose(organ_doses_gy))
