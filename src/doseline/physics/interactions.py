"""Photon interaction samplers (numba): bound Compton, Rayleigh, direction rotation.

* Compton: the Klein-Nishina distribution of ``tau = E'/E`` is sampled by the two-term
  composition of the PENELOPE-2014 manual (section 2.3.1, eqs. 2.50-2.55: ``1/tau`` with weight
  ``a1 = ln(1 + 2 kappa)``, ``tau`` with weight ``a2 = 2 kappa (1 + kappa) / (1 + 2 kappa)^2``,
  accepted with ``1 - tau sin^2 theta / (1 + tau^2)``), and binding is included by a further
  rejection with ``S_mix(x) / Z_mix`` (the incoherent scattering function approximation, as in
  EGSnrc's ``ibcmp = 2`` option, Kawrakow et al., NRCC Report PIRS-701, section 2.2.3).
  ``E' = E tau`` (free-electron kinematics; Doppler broadening is neglected).
* Rayleigh: ``x^2`` is sampled from the cumulative of ``F2_mix(x)`` up to ``(E/hc)^2`` and
  accepted with ``(1 + cos^2 theta) / 2`` (PENELOPE-2014 manual, section 2.1.1).

Tables come from :mod:`doseline.physics.cross_sections`; the functions take the table rows of one
material. ``*_batch`` wrappers draw many samples for tests.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from doseline.physics.cross_sections import ELECTRON_REST_KEV, HC_KEV_ANGSTROM
from doseline.physics.rng import new_state, seed_history, uniform

__all__ = [
    "ELECTRON_REST_KEV",
    "HC_KEV_ANGSTROM",
    "compton_batch",
    "rayleigh_batch",
    "rotate",
    "sample_compton",
    "sample_rayleigh",
]

F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]


@numba.njit(cache=True, inline="always")
def _s_ratio(s_row: F64, log_x0: float, inv_dlog_x: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    f = (math.log(x) - log_x0) * inv_dlog_x
    if f < 0.0:
        return 0.0
    i = int(f)
    n = s_row.size
    if i >= n - 1:
        return float(s_row[n - 1])
    t = f - i
    return float(s_row[i] + t * (s_row[i + 1] - s_row[i]))


@numba.njit(cache=True)
def sample_compton(  # noqa: PLR0917
    energy_kev: float,
    s_row: F64,
    log_x0: float,
    inv_dlog_x: float,
    state: U64,
    buffer: F64,
) -> tuple[float, float]:
    """Sample bound Compton scattering: returns ``(cos_theta, scattered_energy_kev)``."""
    kappa = energy_kev / ELECTRON_REST_KEV
    tau_min = 1.0 / (1.0 + 2.0 * kappa)
    a1 = math.log(1.0 + 2.0 * kappa)
    a2 = 2.0 * kappa * (1.0 + kappa) * tau_min * tau_min
    p1 = a1 / (a1 + a2)
    k_x = energy_kev / HC_KEV_ANGSTROM
    while True:
        if uniform(state, buffer) < p1:
            tau = tau_min ** uniform(state, buffer)
        else:
            tau = math.sqrt(tau_min * tau_min + uniform(state, buffer) * (1.0 - tau_min * tau_min))
        cos_t = 1.0 - (1.0 - tau) / (kappa * tau)
        sin2 = 1.0 - cos_t * cos_t
        accept_kn = 1.0 - tau * sin2 / (1.0 + tau * tau)
        x = k_x * math.sqrt(max(0.5 * (1.0 - cos_t), 0.0))
        if uniform(state, buffer) < accept_kn * _s_ratio(s_row, log_x0, inv_dlog_x, x):
            return cos_t, energy_kev * tau


@numba.njit(cache=True)
def sample_rayleigh(  # noqa: PLR0917
    energy_kev: float,
    x2_row: F64,
    cum_row: F64,
    log_x0: float,
    inv_dlog_x: float,
    state: U64,
    buffer: F64,
) -> float:
    """Sample the Rayleigh scattering angle: returns ``cos_theta``."""
    x_max = energy_kev / HC_KEV_ANGSTROM
    x2_max = x_max * x_max
    # nodes: x2_row[0] = 0, x2_row[j] = x_grid[j - 1]^2
    f = (math.log(x_max) - log_x0) * inv_dlog_x
    hi = int(f) + 1 if f >= 0.0 else 0
    n = x2_row.size
    if hi >= n - 1:
        hi = n - 2
    # cumulative at x2_max by linear interpolation in x2 within node interval [hi, hi+1]
    while hi > 0 and x2_row[hi] > x2_max:
        hi -= 1
    while hi < n - 2 and x2_row[hi + 1] < x2_max:
        hi += 1
    slope = (cum_row[hi + 1] - cum_row[hi]) / (x2_row[hi + 1] - x2_row[hi])
    g_max = cum_row[hi] + slope * (x2_max - x2_row[hi])
    while True:
        g = uniform(state, buffer) * g_max
        lo, up = 0, hi + 1
        while up - lo > 1:
            mid = (lo + up) // 2
            if cum_row[mid] > g:
                up = mid
            else:
                lo = mid
        dc = cum_row[lo + 1] - cum_row[lo]
        if dc > 0.0:
            x2 = x2_row[lo] + (g - cum_row[lo]) / dc * (x2_row[lo + 1] - x2_row[lo])
        else:
            x2 = x2_row[lo]
        cos_t = 1.0 - 2.0 * min(x2 / x2_max, 1.0)
        if uniform(state, buffer) * 2.0 < 1.0 + cos_t * cos_t:
            return float(cos_t)


@numba.njit(cache=True, inline="always")
def rotate(u: float, v: float, w: float, cos_t: float, phi: float) -> tuple[float, float, float]:
    """Direction after scattering by polar cosine ``cos_t`` and azimuth ``phi``."""
    sin_t = math.sqrt(max(1.0 - cos_t * cos_t, 0.0))
    cp = math.cos(phi)
    sp = math.sin(phi)
    if abs(w) > 0.99999:
        sign = 1.0 if w > 0.0 else -1.0
        return sin_t * cp, sin_t * sp, sign * cos_t
    tmp = math.sqrt(1.0 - w * w)
    nu = u * cos_t + sin_t * (u * w * cp - v * sp) / tmp
    nv = v * cos_t + sin_t * (v * w * cp + u * sp) / tmp
    nw = w * cos_t - tmp * sin_t * cp
    norm = 1.0 / math.sqrt(nu * nu + nv * nv + nw * nw)
    return nu * norm, nv * norm, nw * norm


@numba.njit(cache=True)
def compton_batch(  # noqa: PLR0917
    energy_kev: float, s_row: F64, log_x0: float, inv_dlog_x: float, n: int, seed: int
) -> tuple[F64, F64]:
    """``n`` Compton samples (cos_theta, E') for tests."""
    state, buffer = new_state()
    seed_history(state, np.uint64(seed), np.uint64(0), np.uint64(1))
    cos_out = np.empty(n)
    e_out = np.empty(n)
    for i in range(n):
        cos_out[i], e_out[i] = sample_compton(energy_kev, s_row, log_x0, inv_dlog_x, state, buffer)
    return cos_out, e_out


@numba.njit(cache=True)
def rayleigh_batch(  # noqa: PLR0917
    energy_kev: float, x2_row: F64, cum_row: F64, log_x0: float, inv_dlog_x: float, n: int,
    seed: int,
) -> F64:  # fmt: skip
    """``n`` Rayleigh samples of cos_theta for tests."""
    state, buffer = new_state()
    seed_history(state, np.uint64(seed), np.uint64(0), np.uint64(2))
    out = np.empty(n)
    for i in range(n):
        out[i] = sample_rayleigh(energy_kev, x2_row, cum_row, log_x0, inv_dlog_x, state, buffer)
    return out
