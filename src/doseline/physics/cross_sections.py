"""Photon interaction coefficients of materials, from xraylib, on documented grids.

Data source: xraylib 4 (Schoonjans et al., Spectrochim. Acta B 66 (2011) 776-784):
``CS_Photo`` (photoelectric), ``CS_Compt`` (incoherent, integrated over the Klein-Nishina
cross section times the incoherent scattering function S(x, Z)), ``CS_Rayl`` (coherent, Thomson
times the squared atomic form factor F(x, Z)), ``SF_Compt`` (S) and ``FF_Rayl`` (F), with the
momentum transfer ``x = sin(theta / 2) / lambda`` in 1/Angstrom (``xraylib.MomentTransf``).

xraylib's ``CS_Energy`` (mass energy-absorption coefficient) is NOT used: it disagrees with
NIST by tens of per cent at low energy (xraylib issues #176 and #255; e.g. 0.355 instead of
0.539 cm2/g for air at 20 keV). The energy-absorption coefficient is computed here instead
(Attix, *Introduction to Radiological Physics and Radiation Dosimetry*, 1986, ch. 3;
Hubbell, Int. J. Appl. Radiat. Isot. 33 (1982) 1269), bremsstrahlung losses neglected (g < 0.1 %
below 200 keV in tissues):
``mu_en/rho = tau (1 - P_K omega_K E_K / E) + sigma_C <E - E'>/E``, where ``P_K`` is the K-shell
share of photoabsorption, ``omega_K`` the K fluorescence yield and ``E_K`` the K-alpha energy
(L-shell fluorescence neglected), and ``<E - E'>/E`` is the mean fraction of energy transferred
in incoherent scattering, integrated numerically over the Klein-Nishina times S(x, Z) angular
distribution. A test compares the result with the NIST tables of Hubbell and Seltzer for air
and water within 1 % (10-150 keV).

Mixing rules (independent-atom approximation; ``w_i`` mass fraction, ``A_i`` atomic weight):

* attenuation and energy-absorption coefficients per unit mass add by mass fraction:
  ``(mu/rho)_mix = sum_i w_i (mu/rho)_i`` (Hubbell, Int. J. Appl. Radiat. Isot. 33 (1982) 1269);
* angular factors add per atom: the number of atoms of element ``i`` per gram is
  ``N_A w_i / A_i``, so ``S_mix(x) = sum_i (w_i / A_i) S_i(x)`` with its large-x limit
  ``Z_mix = sum_i (w_i / A_i) Z_i``, and ``F2_mix(x) = sum_i (w_i / A_i) F_i(x)^2``
  (PENELOPE-2014 manual, NEA/NEA-DATA-BANK 2015, sections 2.1 and 2.3 for the molecular
  additivity approximation). Passing mass fractions as atom counts is the classic error this
  avoids; a test checks the per-atom weights against a stoichiometric formula.

Energy grid: ``ENERGY_GRID_KEV``, 2048 points uniform in ln(E) from 1 keV to 200 keV
(step 0.26 %); transport interpolates linearly in ln(E). Absorption edges inside the grid are
smeared over one step (the only ones in body tissues, Ca K at 4.04 keV and Fe K at 7.11 keV,
lie far below the energies that matter for organ dose).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
import xraylib
import xraylib_np

from doseline.physics.materials import Material

__all__ = [
    "ELECTRON_REST_KEV",
    "ENERGY_GRID_KEV",
    "HC_KEV_ANGSTROM",
    "MOMENTUM_GRID_PER_ANGSTROM",
    "MaterialCoefficients",
    "coefficients",
    "form_factor_squared",
    "incoherent_scattering_ratio",
    "rayleigh_cumulative",
]

F64 = npt.NDArray[np.float64]

ENERGY_MIN_KEV = 1.0
ENERGY_MAX_KEV = 200.0
ENERGY_GRID_KEV: F64 = np.geomspace(ENERGY_MIN_KEV, ENERGY_MAX_KEV, 2048)
"""Transport energy grid (keV), uniform in ln(E)."""

MOMENTUM_GRID_PER_ANGSTROM: F64 = np.geomspace(1e-3, 20.0, 1024)
"""Momentum-transfer grid x (1/Angstrom) for S and F tables: xraylib's S(x) starts at 1e-3,
and x <= E / 12.398 keV Angstrom = 16.1 at 200 keV."""


@dataclass(frozen=True)
class MaterialCoefficients:
    """Mass interaction coefficients (cm2/g) of one material on an energy grid (keV)."""

    energy_kev: F64
    photoelectric_cm2_g: F64
    compton_cm2_g: F64
    rayleigh_cm2_g: F64
    energy_absorption_cm2_g: F64

    @property
    def total_cm2_g(self) -> F64:
        """Total mass attenuation coefficient (with coherent scattering)."""
        total: F64 = self.photoelectric_cm2_g + self.compton_cm2_g + self.rayleigh_cm2_g
        return total


def _mix(weights: Sequence[float], table: F64) -> F64:
    """Weighted sum over the element rows of ``table`` (mass fractions or relative atoms)."""
    mixed: F64 = np.asarray(weights, dtype=np.float64) @ table
    return mixed


def coefficients(
    material: Material, energy_kev: npt.ArrayLike | None = None
) -> MaterialCoefficients:
    """Mass interaction coefficients of ``material`` (mass-fraction mixing).

    Parameters
    ----------
    material
        The material.
    energy_kev
        Photon energies; default ``ENERGY_GRID_KEV``.
    """
    energy = np.atleast_1d(np.asarray(ENERGY_GRID_KEV if energy_kev is None else energy_kev,
                                      dtype=np.float64))  # fmt: skip
    z = np.asarray(material.atomic_numbers, dtype=np.int64)
    photo = xraylib_np.CS_Photo(z, energy)
    compton = xraylib_np.CS_Compt(z, energy)
    return MaterialCoefficients(
        energy_kev=energy,
        photoelectric_cm2_g=_mix(material.mass_fractions, photo),
        compton_cm2_g=_mix(material.mass_fractions, compton),
        rayleigh_cm2_g=_mix(material.mass_fractions, xraylib_np.CS_Rayl(z, energy)),
        energy_absorption_cm2_g=_mix(
            material.mass_fractions, _energy_absorption(z, energy, photo, compton)
        ),
    )


ELECTRON_REST_KEV = 510.99895
"""Electron rest energy m_e c^2 (keV), CODATA 2018 (Tiesinga et al., Rev. Mod. Phys. 93 (2021)
025010)."""
HC_KEV_ANGSTROM = 12.398419843320026
"""h c in keV Angstrom, exact from the SI 2019 values of h, c and e (CODATA 2018)."""


@cache
def _gauss_legendre_256() -> tuple[F64, F64]:
    nodes, weights = np.polynomial.legendre.leggauss(256)
    return nodes, weights


def _compton_energy_transfer_fraction(z: npt.NDArray[np.int64], energy_kev: F64) -> F64:
    """Mean ``(E - E')/E`` of bound Compton scattering, per element (rows) and energy."""
    nodes, weights = _gauss_legendre_256()
    cos_t = nodes  # Gauss-Legendre over cos(theta) in [-1, 1]
    kappa = energy_kev[:, None] / ELECTRON_REST_KEV
    ratio = 1.0 / (1.0 + kappa * (1.0 - cos_t[None, :]))  # E'/E
    kn = ratio**2 * (ratio + 1.0 / ratio - (1.0 - cos_t[None, :] ** 2))
    x = energy_kev[:, None] / HC_KEV_ANGSTROM * np.sqrt((1.0 - cos_t[None, :]) / 2.0)
    out = np.empty((z.size, energy_kev.size))
    for row, zi in enumerate(z):  # a handful of elements
        s = np.zeros(x.size)
        inside = x.ravel() >= 1e-3
        s[inside] = xraylib_np.SF_Compt(np.array([zi]), x.ravel()[inside])[0]
        dsigma = kn * s.reshape(x.shape) * weights[None, :]
        out[row] = (dsigma * (1.0 - ratio)).sum(axis=1) / dsigma.sum(axis=1)
    return out


def _energy_absorption(z: npt.NDArray[np.int64], energy_kev: F64, photo: F64, compton: F64) -> F64:
    """Per-element ``mu_en/rho`` from the element rows of ``CS_Photo`` and ``CS_Compt``."""
    escape = np.zeros_like(photo)
    for row, zi in enumerate(z):
        if zi < 11:
            continue  # K fluorescence yield < 2 % and K-alpha < 1 keV: deposited locally
        edge = xraylib.EdgeEnergy(int(zi), xraylib.K_SHELL)
        yield_k = xraylib.FluorYield(int(zi), xraylib.K_SHELL)
        line = xraylib.LineEnergy(int(zi), xraylib.KL3_LINE)
        jump = xraylib.JumpFactor(int(zi), xraylib.K_SHELL)
        share_k = np.where(energy_kev > edge, 1.0 - 1.0 / jump, 0.0)
        escape[row] = share_k * yield_k * line / energy_kev
    transfer = _compton_energy_transfer_fraction(z, energy_kev)
    absorbed: F64 = photo * (1.0 - escape) + compton * transfer
    return absorbed


def incoherent_scattering_ratio(
    material: Material, x_per_angstrom: npt.ArrayLike | None = None
) -> F64:
    """``S_mix(x) / Z_mix`` in [0, 1]: the rejection function of bound Compton sampling.

    Below x = 1e-3 (outside xraylib's table) the ratio is taken as 0.
    """
    x = np.asarray(MOMENTUM_GRID_PER_ANGSTROM if x_per_angstrom is None else x_per_angstrom,
                   dtype=np.float64)  # fmt: skip
    z = np.asarray(material.atomic_numbers, dtype=np.int64)
    inside = x >= 1e-3
    s = np.zeros((z.size, x.size))
    if inside.any():
        s[:, inside] = xraylib_np.SF_Compt(z, x[inside])
    ratio: F64 = _mix(material.atoms_per_gram_relative, s) / material.electrons_per_gram_relative
    return np.clip(ratio, 0.0, 1.0)


def form_factor_squared(material: Material, x_per_angstrom: npt.ArrayLike) -> F64:
    """``F2_mix(x) = sum_i (w_i/A_i) F_i(x)^2`` (per-atom mixing, arbitrary scale)."""
    x = np.maximum(np.asarray(x_per_angstrom, dtype=np.float64), 0.0)
    z = np.asarray(material.atomic_numbers, dtype=np.int64)
    f = xraylib_np.FF_Rayl(z, x)
    return _mix(material.atoms_per_gram_relative, f * f)


def rayleigh_cumulative(
    material: Material, x_per_angstrom: npt.ArrayLike | None = None
) -> tuple[F64, F64]:
    """Cumulative integral of ``F2_mix`` over ``x**2`` for Rayleigh angle sampling.

    Returns ``(x2, cumulative)`` with ``x2[0] = 0``. Between nodes the cumulative is linear in
    x2 (F2 evaluated at the interval midpoint in x2), so it is inverted exactly by linear
    interpolation in the transport kernel. Since ``x2 = (E / hc)^2 (1 - cos theta) / 2``, the
    Thomson-times-F2 angular distribution is sampled as x2 from this cumulative (up to the
    kinematic limit at theta = pi) followed by rejection with ``(1 + cos^2 theta) / 2``
    (PENELOPE-2014 manual, section 2.1).
    """
    x = np.asarray(MOMENTUM_GRID_PER_ANGSTROM if x_per_angstrom is None else x_per_angstrom,
                   dtype=np.float64)  # fmt: skip
    x2 = np.concatenate(([0.0], x * x))
    mid = np.sqrt(0.5 * (x2[1:] + x2[:-1]))
    f2 = form_factor_squared(material, mid)
    cumulative = np.concatenate(([0.0], np.cumsum(f2 * np.diff(x2))))
    return x2, cumulative
