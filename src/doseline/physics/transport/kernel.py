"""The compiled CPU transport kernel (numba, ``parallel=True``).

Per history: a source photon (alias-sampled spectrum bin, uniform energy in the bin, isotropic
direction in the collimated pyramid), then a loop that alternates two modes:

* in the world outside the voxel grid, analogue exponential free paths in the homogeneous world
  medium (none in vacuum), with exact ray-box intersections with the grid and the world box;
* inside the grid, Woodcock (delta) tracking against the energy's majorant (Woodcock et al.,
  ANL-7050, 1965): a tentative collision at a real-to-majorant ratio decides real or virtual.

Real collisions: photoelectric absorption deposits the photon energy on the spot (kerma
approximation, no fluorescence transport); Compton deposits ``E - E'``; Rayleigh deposits
nothing. Photons below 1 keV deposit locally. Tallies go to per-chunk rows; a chunk is a fixed
range of history indices, so results are identical for any number of threads. The energy
tallies have a last axis of source-spectrum bins: of length 1 for an ordinary run, or one entry
per bin in response mode, which scores the deposit of every history in the bin its source
photon was drawn from (the energy response used by :mod:`doseline.physics.transport.response`).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from doseline.physics.alias import alias_draw
from doseline.physics.interactions import rotate, sample_compton, sample_rayleigh
from doseline.physics.rng import new_state, seed_history, uniform

__all__ = ["run_chunks"]

F64 = npt.NDArray[np.float64]
E_CUT_KEV = 1.0
_EPS_CM = 1e-7
_INF = 1e300


@numba.njit(cache=True, inline="always")
def _interp(table: F64, m: int, ie: int, fe: float, k: int) -> float:
    a = table[m, ie, k]
    return float(a + fe * (table[m, ie + 1, k] - a))


@numba.njit(cache=True, inline="always")
def _box_hit(px, py, pz, u, v, w, lo, hi):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    """Ray-box entry and exit distances (slab method); entry > exit means a miss."""
    t0 = -_INF
    t1 = _INF
    for axis in range(3):
        p = px if axis == 0 else (py if axis == 1 else pz)
        d = u if axis == 0 else (v if axis == 1 else w)
        if d != 0.0:
            a = (lo[axis] - p) / d
            b = (hi[axis] - p) / d
            if a > b:
                a, b = b, a
            t0 = max(t0, a)
            t1 = min(t1, b)
        elif p < lo[axis] or p > hi[axis]:
            return _INF, -_INF
    return t0, t1


@numba.njit(cache=True, inline="always")
def _energy_index(e: float, log_e0: float, inv_dle: float) -> tuple[int, float]:
    """Index and fraction of ``e`` on the logarithmic energy grid."""
    fe_raw = (math.log(e) - log_e0) * inv_dle
    ie = int(fe_raw)
    return ie, fe_raw - ie


@numba.njit(cache=True, inline="always")
def _source_photon(spectrum, frame, limits, state, buffer):  # type: ignore[no-untyped-def]
    """Spectrum bin, energy and unit direction of a source photon: spectrum bin by the alias
    method (Walker 1977), energy uniform in the bin; direction isotropic in the collimated
    pyramid, by rejection of points on the plane at unit distance with acceptance ``cos^3``."""
    abins, athr, aali, edges = spectrum
    b = alias_draw(abins, athr, aali, uniform(state, buffer), uniform(state, buffer))
    e = edges[b] + (edges[b + 1] - edges[b]) * uniform(state, buffer)
    while True:
        a = limits[0] + (limits[1] - limits[0]) * uniform(state, buffer)
        c = limits[2] + (limits[3] - limits[2]) * uniform(state, buffer)
        inv_len = 1.0 / math.sqrt(1.0 + a * a + c * c)
        if uniform(state, buffer) < inv_len * inv_len * inv_len:
            break
    u = (frame[1, 0] + a * frame[2, 0] + c * frame[3, 0]) * inv_len
    v = (frame[1, 1] + a * frame[2, 1] + c * frame[3, 1]) * inv_len
    w = (frame[1, 2] + a * frame[2, 2] + c * frame[3, 2]) * inv_len
    return b, e, u, v, w


@numba.njit(cache=True, inline="always")
def _disc_crossing(x, y, z, u, v, w, disc):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    """``|cos|`` of the angle between the ray and the scoring disc's normal where the ray (on or
    ahead of its start) crosses the disc; 0 where it misses or there is no disc."""
    if disc[6] <= 0.0:
        return 0.0
    dn = u * disc[3] + v * disc[4] + w * disc[5]
    if dn == 0.0:
        return 0.0
    t = ((disc[0] - x) * disc[3] + (disc[1] - y) * disc[4] + (disc[2] - z) * disc[5]) / dn
    if t < -1e-6:
        return 0.0
    qx = x + t * u - disc[0]
    qy = y + t * v - disc[1]
    qz = z + t * w - disc[2]
    if qx * qx + qy * qy + qz * qz > disc[6] * disc[6]:
        return 0.0
    return abs(dn)


@numba.njit(cache=True, inline="always")
def _interact(photon, medium_at, tables, state, buffer):  # type: ignore[no-untyped-def]
    """A real collision: photoelectric absorption, bound Compton or Rayleigh scattering, chosen
    by the partial linear coefficients of ``medium_at`` = (mu, medium, ie, fe). Returns the
    energy deposited and the photon's new energy and direction."""
    e, u, v, w = photon
    mu, medium, ie, fe = medium_at
    cs, rx2, rcum, log_x0, inv_dlx = tables
    r = uniform(state, buffer) * _interp(mu, medium, ie, fe, 2)
    if r < _interp(mu, medium, ie, fe, 0):
        return e, 0.0, u, v, w
    if r < _interp(mu, medium, ie, fe, 1):
        cos_t, e_new = sample_compton(e, cs, log_x0, inv_dlx, state, buffer)
        u, v, w = rotate(u, v, w, cos_t, 2.0 * math.pi * uniform(state, buffer))
        return e - e_new, e_new, u, v, w
    cos_t = sample_rayleigh(e, rx2, rcum, log_x0, inv_dlx, state, buffer)
    u, v, w = rotate(u, v, w, cos_t, 2.0 * math.pi * uniform(state, buffer))
    return 0.0, e, u, v, w


#: What a flight in the world ends in (:func:`_world_flight`).
_ENTER = 0
_ESCAPE = 1
_COLLIDE = 2


@numba.njit(cache=True, inline="always")
def _woodcock_flight(x, y, z, u, v, w, ie, fe, labels, shape, origin, geo, mu, maj, state, buffer):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    """Woodcock steps inside the grid until a real collision or the photon leaves the grid.

    Returns the new position, the voxel indices and the label collided in, or label -1 with
    the position just outside the grid where the photon left it.
    """
    glo, ghi, inv_vox = geo
    nx, ny, nz = shape[0], shape[1], shape[2]
    m_maj = maj[ie] + fe * (maj[ie + 1] - maj[ie])
    while True:
        s = -math.log(uniform(state, buffer)) / m_maj
        nxp = x + s * u
        nyp = y + s * v
        nzp = z + s * w
        ix = math.floor((nxp - origin[0]) * inv_vox[0])
        iy = math.floor((nyp - origin[1]) * inv_vox[1])
        iz = math.floor((nzp - origin[2]) * inv_vox[2])
        if ix < 0 or iy < 0 or iz < 0 or ix >= nx or iy >= ny or iz >= nz:
            t_out = _box_hit(x, y, z, u, v, w, glo, ghi)[1]
            t_out = max(t_out, 0.0) + _EPS_CM
            return x + t_out * u, y + t_out * v, z + t_out * w, ix, iy, iz, -1
        x, y, z = nxp, nyp, nzp
        lab = labels[(ix * ny + iy) * nz + iz]
        if uniform(state, buffer) * m_maj < _interp(mu, lab, ie, fe, 2):
            return x, y, z, ix, iy, iz, lab


@numba.njit(cache=True, inline="always")
def _world_flight(ray, energy_at, world_at, geo, state, buffer):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    """One analogue free flight in the world medium outside the grid.

    ``world_at`` = (mu, world box low and high corners, world medium index). Returns
    ``(step, t)``: ``_ENTER`` the grid after moving ``t`` (0 when already inside its box),
    ``_ESCAPE`` the world after ``t``, or ``_COLLIDE`` in the world medium at ``t``.
    """
    x, y, z, u, v, w = ray
    ie, fe = energy_at
    mu, wlo, whi, world = world_at
    glo, ghi, _ = geo
    t_in, t_out = _box_hit(x, y, z, u, v, w, glo, ghi)
    if t_in < 0.0 < t_out:
        return _ENTER, 0.0
    t_grid = t_in if (t_in <= t_out and t_in >= -_EPS_CM) else _INF
    t_world = _box_hit(x, y, z, u, v, w, wlo, whi)[1]
    mu_w = _interp(mu, world, ie, fe, 2)
    s = -math.log(uniform(state, buffer)) / mu_w if mu_w > 0.0 else _INF
    if t_grid < s and t_grid < t_world:
        return _ENTER, max(t_grid, 0.0) + _EPS_CM
    if s >= t_world:
        return _ESCAPE, max(t_world, 0.0)
    return _COLLIDE, s


@numba.njit(cache=True, inline="always")
def _history(h, seed, state, buffer, p, geo, tallies, dose_map, tid):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    (labels, shape, origin, _voxel, wlo, whi, log_e0, inv_dle, mu, maj, med_mat, cs, rx2, rcum,
     log_x0, inv_dlx, skel, air_mu_en, frame, limits, abins, athr, aali, edges, disc,
     n_labels) = p  # fmt: skip
    energy, rm, bs, extra = tallies
    world = n_labels
    ny, nz = shape[1], shape[2]
    seed_history(state, np.uint64(seed), np.uint64(h), np.uint64(0))
    b, e, u, v, w = _source_photon((abins, athr, aali, edges), frame, limits, state, buffer)
    tb = b if energy.shape[1] > 1 else 0  # tally by source bin in response mode
    x, y, z = frame[0, 0], frame[0, 1], frame[0, 2]
    extra[0] += e
    in_grid = False
    ix = 0
    iy = 0
    iz = 0
    ie, fe = _energy_index(e, log_e0, inv_dle)
    while True:
        medium = world
        if in_grid:
            x, y, z, ix, iy, iz, medium = _woodcock_flight(
                x, y, z, u, v, w, ie, fe, labels, shape, origin, geo, mu, maj, state, buffer
            )
            if medium < 0:
                in_grid = False
                continue
        else:
            step, t = _world_flight(
                (x, y, z, u, v, w), (ie, fe), (mu, wlo, whi, world), geo, state, buffer
            )
            x += t * u
            y += t * v
            z += t * w
            if step == _ENTER:
                in_grid = True
                continue
            if step == _ESCAPE:
                extra[1] += e
                cos_disc = _disc_crossing(x, y, z, u, v, w, disc)
                if cos_disc > 0.0:
                    mu_en = air_mu_en[ie] + fe * (air_mu_en[ie + 1] - air_mu_en[ie])
                    extra[2] += e * mu_en / cos_disc
                return
        # --- real collision in `medium` at energy e
        mat = med_mat[medium]
        if skel[medium, ie, 0] > 0.0 or skel[medium, ie, 1] > 0.0:
            ratio_rm = _interp(skel, medium, ie, fe, 0)
            ratio_bs = _interp(skel, medium, ie, fe, 1)
        else:
            ratio_rm = 0.0
            ratio_bs = 0.0
        deposit, e, u, v, w = _interact(
            (e, u, v, w), (mu, medium, ie, fe),
            (cs[mat], rx2[mat], rcum[mat], log_x0, inv_dlx), state, buffer,
        )  # fmt: skip
        if 0.0 < e < E_CUT_KEV:
            deposit += e
            e = 0.0
        energy[medium, tb] += deposit
        rm[medium, tb] += deposit * ratio_rm
        bs[medium, tb] += deposit * ratio_bs
        if dose_map.shape[1] > 1 and medium != world:
            dose_map[tid, (ix * ny + iy) * nz + iz] += deposit
        if e <= 0.0:
            return
        ie, fe = _energy_index(e, log_e0, inv_dle)


@numba.njit(cache=True, parallel=True)
def run_chunks(n_histories, n_chunks, seed, p, energy, rm, bs, extra, dose_map):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    """Run ``n_histories`` split into ``n_chunks`` fixed chunks; tallies per chunk row."""
    for chunk in numba.prange(n_chunks):
        state, buffer = new_state()
        geo = (p[2], p[2] + p[1] * p[3], 1.0 / p[3])
        tid = numba.get_thread_id()  # type: ignore[attr-defined]
        start = chunk * n_histories // n_chunks
        stop = (chunk + 1) * n_histories // n_chunks
        tallies = (energy[chunk], rm[chunk], bs[chunk], extra[chunk])
        for h in range(start, stop):
            _history(h, seed, state, buffer, p, geo, tallies, dose_map, tid)
