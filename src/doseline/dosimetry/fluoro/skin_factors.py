"""Factors that turn air kerma at the reference point into skin dose, per event and cell.

``D_skin = K_IRP * k_isq * k_bs * k_med * k_tab`` (the method of PySkinDose, Hellström et al.,
and of Jones and Pasciak, J. Appl. Clin. Med. Phys. 12 (2011) 3670):

``k_isq``
    Inverse square from the reference point to the cell along the ray from the focal spot
    (point source): ``(d_IRP / |r|)^2``. Computed in :mod:`doseline.dosimetry.fluoro.skin`.
``k_bs``
    Backscatter factor of a water phantom, :func:`backscatter_factor`: the polynomial in kVp
    and first HVL fitted by Benmakhlouf et al. to their Monte Carlo factors, at field sides
    5, 10, 20, 25 and 35 cm, interpolated in field side with a not-a-knot cubic spline (as
    PySkinDose does). Ma and Seuntjens (Phys. Med. Biol. 44 (1999) 131) found the
    backscatter factors of soft tissue and water to differ by well under 1 %, so the water
    factor is used for skin.
``k_med``
    Ratio of mass energy-absorption coefficients medium/air averaged over the air-kerma
    spectrum of the primary beam free in air, :func:`beam_quality` (the definition of Ma and
    Seuntjens 1999: integration over the in-air primary spectrum).
``k_tab``
    Transmission of the table and pad for rays that cross the table from below,
    :func:`table_transmission` (narrow beam through a PMMA-equivalent thickness along the
    oblique path) or a constant.

Spectra: SpekPy (:func:`doseline.physics.spectra.from_spekpy`) for the kVp and total
filtration (inherent aluminium of the device + added Al and Cu of the event), cached per
beam quality; coefficients from xraylib through :mod:`doseline.physics.cross_sections`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.interpolate import CubicSpline
from scipy.optimize import brentq

from doseline.physics.cross_sections import ENERGY_GRID_KEV, coefficients
from doseline.physics.materials import material
from doseline.physics.spectra import from_spekpy

__all__ = [
    "BACKSCATTER_FIELD_SIDES_CM",
    "MEDIA",
    "BeamQuality",
    "TableTransmission",
    "backscatter_factor",
    "backscatter_nodes",
    "beam_quality",
    "table_transmission",
]

F64 = npt.NDArray[np.float64]

#: Field sides (cm, square field at the phantom surface) of the Benmakhlouf fit.
BACKSCATTER_FIELD_SIDES_CM: F64 = np.array([5.0, 10.0, 20.0, 25.0, 35.0])

#: Media for ``k_med`` -> packaged material (ICRU 46 compositions, see
#: ``doseline/data/physics/PROVENANCE.md``). ``None`` in the settings means air kerma.
MEDIA = {"skin": "skin", "water": "water", "soft_tissue": "soft_tissue"}

#: PMMA-equivalent thickness (mm) of table + pad, narrow beam: least-squares fit to the
#: transmission of table and pad that the PySkinDose authors measured on a Siemens AXIOM-Artis
#: (lab 106, 2018-04; pyskindose 25.1.1 ``table_data/correction_table_and_pad_attenuation.csv``,
#: MIT licence; 48 points, 60-120 kVp in 10 kV steps, 0-0.9 mm Cu), with SpekPy spectra of
#: an 8 degree anode and 3.1 mm Al inherent filtration. Residuals: rms 1.0 %, max 2.2 %; the
#: test ``test_table_pmma_equivalent_reproduces_measured_transmission`` redoes the check
#: with the copy in ``tests/data/``. It stands for one installation; other tables differ.
DEFAULT_TABLE_PMMA_EQUIVALENT_MM = 12.5


def _data_path(name: str) -> Path:
    return Path(str(resources.files("doseline") / "data" / "dosimetry" / name))


@cache
def _backscatter_coefficients() -> F64:
    """``(9, 5)`` coefficients, rows c0..c8, columns :data:`BACKSCATTER_FIELD_SIDES_CM`."""
    path = _data_path("benmakhlouf_backscatter_coefficients.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    sides = np.array([float(r["field_side_cm"]) for r in rows])
    if not np.array_equal(sides, BACKSCATTER_FIELD_SIDES_CM):
        raise ValueError(f"{path}: field sides must be {BACKSCATTER_FIELD_SIDES_CM.tolist()}")
    return np.array([[float(r[f"c{k}"]) for r in rows] for k in range(9)])


def backscatter_nodes(kvp: npt.ArrayLike, hvl_mm_al: npt.ArrayLike) -> F64:
    """Backscatter factor at the five tabulated field sides, ``(n, 5)`` for ``n`` beams.

    ``B = (c0 + c1 U + c2 U^2) + (c3 + c4 U + c5 U^2) H + (c6 + c7 U + c8 U^2) H^2`` with
    ``U`` the kVp and ``H`` the first HVL in mm Al; coefficients as shipped by PySkinDose
    (``corrections.calculate_k_bs``, which attributes them to eq. 8 of Benmakhlouf, Fransson
    and Andreo, Phys. Med. Biol. 58 (2013) 247; the tabulated factors are those of
    Benmakhlouf et al., Phys. Med. Biol. 56 (2011) 7179). The fit reproduces the tabulated
    factors (``benmakhlouf_backscatter_muen_table.csv``) within 0.4 % (tested).
    """
    u = np.atleast_1d(np.asarray(kvp, dtype=np.float64))[:, None]
    h = np.atleast_1d(np.asarray(hvl_mm_al, dtype=np.float64))[:, None]
    c = _backscatter_coefficients()
    nodes: F64 = (
        (c[0] + c[1] * u + c[2] * u**2)
        + (c[3] + c[4] * u + c[5] * u**2) * h
        + (c[6] + c[7] * u + c[8] * u**2) * h**2
    )
    return nodes


def backscatter_factor(nodes: F64, beam_index: npt.ArrayLike, field_side_cm: npt.ArrayLike) -> F64:
    """Backscatter factor of beam ``beam_index`` (row of ``nodes``) at ``field_side_cm``.

    Not-a-knot cubic spline through the five nodes (scipy ``CubicSpline``, as PySkinDose);
    field sides outside 5-35 cm are clamped to the range instead of extrapolated.
    Vectorised: ``beam_index`` and ``field_side_cm`` broadcast together.
    """
    index, side = np.broadcast_arrays(
        np.asarray(beam_index, dtype=np.intp), np.asarray(field_side_cm, dtype=np.float64)
    )
    x = BACKSCATTER_FIELD_SIDES_CM
    coef = CubicSpline(x, nodes.T, axis=0).c  # (4, 4 intervals, n beams)
    side = np.clip(side, x[0], x[-1])
    interval = np.clip(np.searchsorted(x, side, side="right") - 1, 0, x.size - 2)
    dx = side - x[interval]
    c = coef[:, interval, index]
    value: F64 = ((c[0] * dx + c[1]) * dx + c[2]) * dx + c[3]
    return value


@dataclass(frozen=True)
class BeamQuality:
    """What the skin-dose factors need of one spectrum.

    Attributes
    ----------
    hvl_mm_al
        First half-value layer (narrow beam, air kerma) in mm Al, from xraylib coefficients
        (as ``Spectrum.hvl_mm``).
    k_med
        ``(mu_en/rho)_medium / (mu_en/rho)_air`` averaged over the air-kerma spectrum (1.0
        when the medium is air).
    kerma_weights
        Air-kerma share of each spectrum bin (sums to 1).
    mu_pmma_per_mm
        Linear attenuation coefficient of PMMA (with coherent scattering) at each bin.
    """

    kvp: float
    filters_mm: tuple[tuple[str, float], ...]
    hvl_mm_al: float
    k_med: float
    kerma_weights: F64
    mu_pmma_per_mm: F64


@cache
def _coefficient_table(name: str) -> tuple[F64, F64]:
    """``ln mu_en/rho`` and ``ln mu/rho`` (cm2/g) of a material on ``ENERGY_GRID_KEV``."""
    c = coefficients(material(name), ENERGY_GRID_KEV)
    return np.log(c.energy_absorption_cm2_g), np.log(c.total_cm2_g)


def _on_bins(name: str, energy_kev: F64) -> tuple[F64, F64]:
    """``(mu_en/rho, mu/rho)`` at ``energy_kev``: log-log interpolation on the 2048-point grid
    of :mod:`doseline.physics.cross_sections` (step 0.26 %, so the interpolation error is far
    below the 1 % accuracy of the coefficients themselves)."""
    log_en, log_tot = _coefficient_table(name)
    x, log_e = np.log(ENERGY_GRID_KEV), np.log(energy_kev)
    return np.exp(np.interp(log_e, x, log_en)), np.exp(np.interp(log_e, x, log_tot))


def _hvl_mm(weights: F64, mu_per_mm: F64) -> float:
    """Thickness that halves the air kerma, ``sum w exp(-mu t) = 1/2`` (Brent, 1e-6 mm)."""
    return float(brentq(lambda t: float(weights @ np.exp(-mu_per_mm * t)) - 0.5, 0.0, 500.0,
                        xtol=1e-6))  # fmt: skip


@lru_cache(maxsize=512)
def beam_quality(
    kvp: float, al_mm: float, cu_mm: float, anode_angle_deg: float, medium: str | None
) -> BeamQuality:
    """SpekPy spectrum of a beam and its HVL, ``k_med`` and PMMA attenuation (cached).

    Parameters
    ----------
    al_mm, cu_mm
        Total aluminium (inherent + added) and copper filtration.
    medium
        Key of :data:`MEDIA`, or ``None`` for air kerma (``k_med = 1``).
    """
    if medium is not None and medium not in MEDIA:
        raise ValueError(f"unknown medium {medium!r}; use one of {sorted(MEDIA)} or None")
    filters = {"Al": al_mm, "Cu": cu_mm}
    spectrum = from_spekpy(kvp, anode_angle_deg, {k: v for k, v in filters.items() if v > 0})
    energy = spectrum.bin_mid_kev
    mu_en_air = _on_bins("air", energy)[0]
    kerma = spectrum.probabilities * energy * mu_en_air
    weights = kerma / kerma.sum()
    k_med = 1.0
    if medium is not None:
        k_med = float(np.sum(weights * _on_bins(MEDIA[medium], energy)[0] / mu_en_air))
    pmma, aluminium = material("pmma"), material("aluminium")
    mu_pmma = _on_bins("pmma", energy)[1] * pmma.nominal_density_g_cm3 / 10.0
    mu_al = _on_bins("aluminium", energy)[1] * aluminium.nominal_density_g_cm3 / 10.0
    return BeamQuality(
        kvp=kvp,
        filters_mm=tuple(sorted(filters.items())),
        hvl_mm_al=_hvl_mm(weights, mu_al),
        k_med=k_med,
        kerma_weights=weights,
        mu_pmma_per_mm=mu_pmma,
    )


@dataclass(frozen=True)
class TableTransmission:
    """Table and pad transmission for rays that cross the table from below.

    Parameters
    ----------
    constant
        A fixed transmission in (0, 1] (PySkinDose's ``estimate_k_tab`` mode; its example
        settings use 0.8); when given, the PMMA model is not used.
    pmma_equivalent_mm
        Narrow-beam PMMA-equivalent thickness of table + pad at normal incidence; a ray at
        angle ``theta`` to the vertical crosses ``thickness / cos(theta)``. The default is
        :data:`DEFAULT_TABLE_PMMA_EQUIVALENT_MM`.
    """

    constant: float | None = None
    pmma_equivalent_mm: float = DEFAULT_TABLE_PMMA_EQUIVALENT_MM

    def __post_init__(self) -> None:
        if self.constant is not None and not 0.0 < self.constant <= 1.0:
            raise ValueError(f"table transmission {self.constant} is not in (0, 1]")
        if not self.pmma_equivalent_mm >= 0.0:
            raise ValueError("pmma_equivalent_mm must be >= 0")

    def describe(self) -> str:
        if self.constant is not None:
            return f"constant {self.constant:g}"
        return f"narrow beam through {self.pmma_equivalent_mm:g} mm PMMA / cos(theta)"


def table_transmission(
    model: TableTransmission, quality: BeamQuality, cos_theta: npt.ArrayLike
) -> F64:
    """Air-kerma transmission of table + pad for rays at ``cos_theta`` to the vertical.

    ``sum_i w_i exp(-mu_i t / cos theta)`` over the kerma weights ``w_i`` of the spectrum bins
    (narrow beam: scatter from the table is not counted, so this is a lower bound of the
    broad-beam transmission unless ``t`` was fitted to broad-beam measurements, as the
    default was).
    """
    cos = np.abs(np.asarray(cos_theta, dtype=np.float64))
    if model.constant is not None:
        return np.full(cos.shape, model.constant)
    path_mm = model.pmma_equivalent_mm / np.maximum(cos, 1e-6)
    transmitted: F64 = np.exp(-np.multiply.outer(path_mm, quality.mu_pmma_per_mm)) @ (
        quality.kerma_weights
    )
    return transmitted
