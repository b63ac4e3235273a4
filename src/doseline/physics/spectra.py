"""X-ray spectra: SpekPy tube spectra, HVL matching, monoenergetic and tabulated spectra.

SpekPy (Poludniowski et al., Med. Phys. 48 (2021) 3630-3637 and 3643-3652; MIT licence)
models the tube output for a kVp, anode angle and filtration. Its spectrum is a histogram:
``get_spectrum(edges=False)`` gives bin mid-points ``k`` of width ``dk`` and fluence per keV,
constant within ``[k - dk/2, k + dk/2]``. :class:`Spectrum` keeps exactly those bins (edges and
photons per bin), and the transport samples a bin with the alias method and then an energy
uniformly within it, which is the same histogram.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq

from doseline.errors import InvalidInputError
from doseline.physics.cross_sections import coefficients
from doseline.physics.materials import material

__all__ = ["Spectrum", "from_spekpy", "match_hvl", "monoenergetic", "read_spectrum_csv"]

F64 = npt.NDArray[np.float64]

_SPEKPY_FILTERS = {"Al": "Al", "Cu": "Cu", "Be": "Be", "Mo": "Mo", "Rh": "Rh", "Ag": "Ag"}


@dataclass(frozen=True)
class Spectrum:
    """A photon spectrum as a histogram of photon numbers; valid on construction.

    Parameters
    ----------
    energy_bin_edges_kev
        ``n + 1`` non-decreasing edges; a zero-width bin is a line (monoenergetic).
    photons_per_bin
        Relative number of photons in each of the ``n`` bins (non-negative, some positive).
    description
        Human-readable origin, e.g. ``"SpekPy 70 kVp, 12 deg W, 2.5 mm Al"``.
    """

    energy_bin_edges_kev: F64
    photons_per_bin: F64
    description: str = ""

    def __post_init__(self) -> None:
        edges, counts = self.energy_bin_edges_kev, self.photons_per_bin
        if edges.ndim != 1 or counts.ndim != 1 or edges.size != counts.size + 1:
            raise ValueError("a spectrum needs n + 1 edges for n bins")
        if np.any(np.diff(edges) < 0) or edges[0] <= 0:
            raise ValueError("spectrum edges must be positive and non-decreasing")
        if not np.all(np.isfinite(counts)) or np.any(counts < 0) or not counts.sum() > 0:
            raise ValueError("photons_per_bin must be non-negative with a positive sum")

    @property
    def probabilities(self) -> F64:
        """Photon probability of each bin."""
        p: F64 = self.photons_per_bin / self.photons_per_bin.sum()
        return p

    @property
    def bin_mid_kev(self) -> F64:
        mids: F64 = 0.5 * (self.energy_bin_edges_kev[1:] + self.energy_bin_edges_kev[:-1])
        return mids

    @property
    def max_energy_kev(self) -> float:
        return float(self.energy_bin_edges_kev[-1])

    def mean_energy_kev(self) -> float:
        """Photon-number-weighted mean energy."""
        return float(self.probabilities @ self.bin_mid_kev)

    def air_kerma_weighted(self, transmission: F64 | None = None) -> float:
        """``sum_bins p E (mu_en/rho)_air`` (keV cm2/g per photon) at bin mid-points."""
        t = 1.0 if transmission is None else transmission
        return float(np.sum(self._kerma_terms() * t))

    def _kerma_terms(self) -> F64:
        cached = self.__dict__.get("_kerma_cache")
        if cached is None:
            mu_en = coefficients(material("air"), self.bin_mid_kev).energy_absorption_cm2_g
            cached = self.probabilities * self.bin_mid_kev * mu_en
            object.__setattr__(self, "_kerma_cache", cached)
        terms: F64 = cached
        return terms

    def hvl_mm(self, filter_material: str = "aluminium", fraction: float = 0.5) -> float:
        """Narrow-beam air-kerma half-value layer (``fraction=0.25``: quarter-value layer).

        Computed with this package's coefficients (xraylib), for comparison with SpekPy's own
        ``get_hvl1`` which uses its own attenuation data.
        """
        mat = material(filter_material)
        mu_cm = coefficients(mat, self.bin_mid_kev).total_cm2_g * mat.nominal_density_g_cm3
        k0 = self.air_kerma_weighted()

        def excess(t_mm: float) -> float:
            return self.air_kerma_weighted(np.exp(-mu_cm * t_mm / 10.0)) - fraction * k0

        return float(brentq(excess, 0.0, 500.0, xtol=1e-7))


def monoenergetic(energy_kev: float) -> Spectrum:
    """A single line at ``energy_kev``."""
    if not 1.0 <= energy_kev < 200.0:
        raise ValueError(f"energy {energy_kev} keV outside [1, 200) keV")
    return Spectrum(np.array([energy_kev, energy_kev]), np.array([1.0]), f"{energy_kev:g} keV")


def _spek(kvp: float, anode_angle_deg: float, filters_mm: Mapping[str, float], bin_kev: float):  # type: ignore[no-untyped-def]
    import spekpy

    spek = spekpy.Spek(kvp=kvp, th=anode_angle_deg, dk=bin_kev)
    for symbol, thickness in filters_mm.items():
        if symbol not in _SPEKPY_FILTERS:
            raise ValueError(
                f"filter {symbol!r} not supported; use one of {sorted(_SPEKPY_FILTERS)}"
            )
        if thickness < 0:
            raise ValueError(f"filter {symbol} thickness must be >= 0")
        if thickness > 0:
            spek.filter(_SPEKPY_FILTERS[symbol], thickness)
    return spek


def from_spekpy(
    kvp: float,
    anode_angle_deg: float = 12.0,
    filters_mm: Mapping[str, float] | None = None,
    bin_kev: float = 0.5,
) -> Spectrum:
    """Tungsten-anode spectrum from SpekPy (default physics model ``spekpy-v2-casim``).

    Parameters
    ----------
    kvp
        Tube voltage (kV), 20-150.
    anode_angle_deg
        Anode (target) angle.
    filters_mm
        Total filtration by element symbol, e.g. ``{"Al": 2.5, "Cu": 0.1}`` (inherent + added).
    bin_kev
        SpekPy energy bin width.
    """
    if not 20.0 <= kvp <= 150.0:
        raise ValueError(f"kVp {kvp} outside 20-150")
    filters = dict(filters_mm or {})
    spek = _spek(kvp, anode_angle_deg, filters, bin_kev)
    k, fluence_per_kev = spek.get_spectrum(edges=False, flu=True, diff=True)
    k = np.asarray(k, dtype=np.float64)
    width = np.full(k.size, bin_kev)
    edges = np.concatenate((k - width / 2, [k[-1] + bin_kev / 2]))
    counts = np.clip(np.asarray(fluence_per_kev, dtype=np.float64) * width, 0.0, None)
    text = ", ".join(f"{v:g} mm {s}" for s, v in filters.items()) or "no filtration"
    return Spectrum(edges, counts, f"SpekPy {kvp:g} kVp, {anode_angle_deg:g} deg W, {text}")


def spekpy_hvl_mm_al(
    kvp: float, anode_angle_deg: float = 12.0, filters_mm: Mapping[str, float] | None = None
) -> float:
    """SpekPy's own first HVL (mm Al) of a tube setting."""
    return float(_spek(kvp, anode_angle_deg, dict(filters_mm or {}), 0.5).get_hvl1())


def _hvl_with_extra(base: Any, symbol: str, extra_mm: float) -> float:
    import spekpy

    trial = spekpy.Spek.clone(base)
    if extra_mm > 0:
        trial.filter(_SPEKPY_FILTERS[symbol], extra_mm)
    return float(trial.get_hvl1())


def match_hvl(
    kvp: float,
    hvl_mm_al: float,
    anode_angle_deg: float = 12.0,
    fixed_filters_mm: Mapping[str, float] | None = None,
    adjust: str = "Al",
) -> tuple[Spectrum, float]:
    """Find the thickness of ``adjust`` filtration that gives a measured first HVL.

    The HVL is SpekPy's (``get_hvl1``); the root is found with Brent's method to 1 um.
    Returns the spectrum and the adjusted thickness (mm, added to ``fixed_filters_mm``).

    Raises
    ------
    ValueError
        If the HVL cannot be reached with 0-30 mm of ``adjust``.
    """
    fixed = dict(fixed_filters_mm or {})
    if adjust not in _SPEKPY_FILTERS:
        raise ValueError(f"cannot adjust filter {adjust!r}")
    base = _spek(kvp, anode_angle_deg, fixed, 0.5)

    def excess(t_mm: float) -> float:
        return _hvl_with_extra(base, adjust, t_mm) - hvl_mm_al

    upper = 30.0 if adjust == "Al" else 3.0
    if excess(0.0) > 0 or excess(upper) < 0:
        raise ValueError(
            f"HVL {hvl_mm_al} mm Al is not reachable at {kvp} kVp with 0-{upper} mm {adjust}"
        )
    t = float(brentq(excess, 0.0, upper, xtol=1e-3))
    filters = dict(fixed)
    filters[adjust] = filters.get(adjust, 0.0) + t
    return from_spekpy(kvp, anode_angle_deg, filters), t


def read_spectrum_csv(path: Path) -> Spectrum:
    """Read a two-column CSV ``energy_kev,photons`` of equally spaced bin mid-points.

    Used for user-supplied spectra (e.g. the TG-195 spectra, which AAPM distributes and this
    package does not copy). The bins are taken as contiguous, centred on the given energies.
    """
    energies: list[float] = []
    counts: list[float] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].strip().startswith("#"):
                continue
            try:
                energies.append(float(row[0]))
                counts.append(float(row[1]))
            except (ValueError, IndexError):
                if line == 1:
                    continue  # header
                raise InvalidInputError(
                    "expected two numbers", source=str(path), record=f"line {line}"
                ) from None
    e = np.asarray(energies)
    if e.size < 2 or np.any(np.diff(e) <= 0):
        raise InvalidInputError("energies must increase", source=str(path), field="energy_kev")
    step = np.diff(e)
    if not np.allclose(step, step[0], rtol=1e-3):
        raise InvalidInputError("energies must be equally spaced", source=str(path))
    edges = np.concatenate((e - step[0] / 2, [e[-1] + step[0] / 2]))
    return Spectrum(edges, np.asarray(counts), f"spectrum file {path.name}")
