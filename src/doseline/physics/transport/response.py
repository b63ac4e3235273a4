"""Energy response of organ doses: one transport run, any X-ray spectrum afterwards.

Photon transport is linear in the source: the dose that a spectrum ``p(E)`` gives is the
``p``-weighted sum of the doses of monoenergetic sources. A response run draws source photons
uniformly over ``K`` energy bins and tallies each history's deposits in the bin its photon was
born in, so that ``R_k``, the organ dose per photon born in bin ``k``, is estimated for all
bins at once (tally / (N / K), unbiased). For a spectrum with photon fractions ``p_k`` in those
bins the dose per emitted photon is ``sum_k p_k R_k`` and, with the in-air KAP per photon of the
same spectrum (:mod:`doseline.physics.transport.api`), the organ dose per KAP follows.

This is how PCXMC and similar tools tabulate conversion coefficients by energy (Tapiovaara &
Siiskonen, STUK-A231, 2008, section 2.4: "monoenergetic photon energies ... the dose for an
X-ray spectrum is obtained as a weighted sum"). The approximation is the energy distribution
within a bin (uniform in the run, the spectrum's own shape in use); with 4 keV bins the error is
second order in the bin width, and it is measured against full-spectrum runs in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from doseline.physics.organ_dose import organ_doses_with_rel_sd
from doseline.physics.phantoms.voxel import VoxelPhantom
from doseline.physics.source import PointSource
from doseline.physics.spectra import Spectrum
from doseline.physics.transport.api import _KEV_CM2_PER_G_TO_GY_CM2, _result
from doseline.physics.transport.cpu import NumbaCpuBackend
from doseline.physics.transport.problem import build_problem

__all__ = ["EnergyResponse", "kap_gycm2_per_photon", "rebin_photons", "simulate_response"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EnergyResponse:
    """Organ dose per source photon, by source energy bin.

    Attributes
    ----------
    energy_bin_edges_kev
        ``K + 1`` edges of the response bins.
    organs
        Organ names (columns of the arrays).
    dose_gy_per_photon
        ``(K, n_organs)``: organ dose per photon born in bin ``k``.
    rel_sd
        ``(K, n_organs)``: relative standard deviation of each entry (batch method).
    mean_inverse_cosine
        The source's ``<1/cos>`` factor of in-air KAP (:meth:`PointSource.mean_inverse_cosine`).
    n_histories
        Histories of the run.
    """

    energy_bin_edges_kev: F64
    organs: tuple[str, ...]
    dose_gy_per_photon: F64
    rel_sd: F64
    mean_inverse_cosine: float
    n_histories: int

    def fold(self, spectrum: Spectrum) -> tuple[F64, F64]:
        """Organ dose per unit in-air KAP (Gy per Gy cm2) for ``spectrum``, and its relative SD.

        The relative SD combines the bins' SDs as independent (they come from disjoint sets of
        histories).
        """
        p = rebin_photons(spectrum, self.energy_bin_edges_kev)
        per_photon = p @ self.dose_gy_per_photon
        sd = np.sqrt((p**2) @ (np.nan_to_num(self.rel_sd) * self.dose_gy_per_photon) ** 2)
        kap = kap_gycm2_per_photon(spectrum, self.mean_inverse_cosine)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(per_photon > 0, sd / per_photon, np.nan)
        return per_photon / kap, rel


def kap_gycm2_per_photon(spectrum: Spectrum, mean_inverse_cosine: float) -> float:
    """In-air KAP per emitted photon (Gy cm2) of ``spectrum`` (see the transport API)."""
    return spectrum.air_kerma_weighted() * mean_inverse_cosine * _KEV_CM2_PER_G_TO_GY_CM2


def rebin_photons(spectrum: Spectrum, edges_kev: F64, tolerance: float = 1e-3) -> F64:
    """Fractions of the spectrum's photons in each bin of ``edges_kev``.

    Photons are taken as uniform within the spectrum's own bins (lines at their energy).
    Raises ``ValueError`` if more than ``tolerance`` of the photons fall outside the edges.
    """
    src = spectrum.energy_bin_edges_kev
    counts = spectrum.probabilities
    cumulative = np.concatenate([[0.0], np.cumsum(counts)])
    if np.any(np.diff(src) == 0):  # lines: shift by a hair so interpolation is well defined
        src = src + np.arange(src.size) * 1e-12
    at_edges = np.interp(edges_kev, src, cumulative)
    fractions: F64 = np.diff(at_edges)
    outside = 1.0 - float(fractions.sum())
    if outside > tolerance:
        raise ValueError(
            f"{outside:.2%} of the photons of {spectrum.description or 'the spectrum'} lie "
            f"outside the response range {edges_kev[0]:g}-{edges_kev[-1]:g} keV"
        )
    return fractions


def simulate_response(
    phantom: VoxelPhantom,
    source: PointSource,
    energy_bin_edges_kev: F64,
    n_histories: int,
    region_organs: Mapping[str, str],
    *,
    surrogates: Mapping[str, Sequence[str]] | None = None,
    seed: int = 1,
    n_batches: int = 10,
    world_material: str | None = "air",
) -> EnergyResponse:
    """Organ dose per photon by source energy bin, from one run of the numba CPU backend.

    Source photons are uniform over the bins (equal numbers per bin, uniform energy within).
    ``region_organs`` and ``surrogates`` group the phantom's regions into organs as in
    :func:`doseline.physics.organ_dose.organ_doses_with_rel_sd`.
    """
    edges = np.asarray(energy_bin_edges_kev, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 3 or np.any(np.diff(edges) <= 0):
        raise ValueError("response bins need at least 3 increasing edges")
    n_bins = edges.size - 1
    flat = Spectrum(edges, np.ones(n_bins), description="flat response source")
    problem = build_problem(phantom, source, flat, world_material=world_material)
    raw = NumbaCpuBackend().run_response(problem, n_histories, n_batches, seed)
    doses = np.zeros((n_bins, 0))
    rels = np.zeros((n_bins, 0))
    organs: tuple[str, ...] = ()
    for k in range(n_bins):
        # histories born in bin k are N / K of all: scale the bin's tallies to "per photon in k"
        per_bin = replace(
            raw,
            energy_kev=raw.energy_kev[:, :, k] * n_bins,
            red_marrow_kev=raw.red_marrow_kev[:, :, k] * n_bins,
            endosteum_kev=raw.endosteum_kev[:, :, k] * n_bins,
        )
        result = _result(per_bin, phantom, source, flat, "numba-cpu")
        by_organ = organ_doses_with_rel_sd(result, phantom, region_organs, surrogates)
        if k == 0:
            organs = tuple(sorted(by_organ))
            doses = np.zeros((n_bins, len(organs)))
            rels = np.zeros((n_bins, len(organs)))
        doses[k] = [by_organ[o][0] for o in organs]
        rels[k] = [by_organ[o][1] for o in organs]
    return EnergyResponse(
        energy_bin_edges_kev=edges,
        organs=organs,
        dose_gy_per_photon=doses,
        rel_sd=np.where(np.isfinite(rels), rels, math.nan),
        mean_inverse_cosine=source.mean_inverse_cosine(),
        n_histories=n_histories,
    )
