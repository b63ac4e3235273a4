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
range of history indices, so results are identical for any number of threads.
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
def _history(h, seed, state, buffer, p, geo, tallies, dose_map, tid):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    (labels, shape, origin, _voxel, wlo, whi, log_e0, inv_dle, mu, maj, med_mat, cs, rx2, rcum,
     log_x0, inv_dlx, skel, air_mu_en, frame, limits, abins, athr, aali, edges, disc,
     n_labels) = p  # fmt: skip
    energy, rm, bs, extra = tallies
    world = n_labels
    nx, ny, nz = shape[0], shape[1], shape[2]
    glo, ghi, inv_vox = geo
    seed_history(state, np.uint64(seed), np.uint64(h), np.uint64(0))
    # --- source
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
    x, y, z = frame[0, 0], frame[0, 1], frame[0, 2]
    extra[0] += e
    in_grid = False
    ix = 0
    iy = 0
    iz = 0
    fe_raw = (math.log(e) - log_e0) * inv_dle
    ie = int(fe_raw)
    fe = fe_raw - ie
    while True:
        medium = world
        if in_grid:
            m_maj = maj[ie] + fe * (maj[ie + 1] - maj[ie])
            collided = False
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
                    x += t_out * u
                    y += t_out * v
                    z += t_out * w
                    in_grid = False
                    break
                x, y, z = nxp, nyp, nzp
                lab = labels[(ix * ny + iy) * nz + iz]
                if uniform(state, buffer) * m_maj < _interp(mu, lab, ie, fe, 2):
                    medium = lab
                    collided = True
                    break
            if not collided:
                continue
        else:
            t_in, t_out = _box_hit(x, y, z, u, v, w, glo, ghi)
            if t_in < 0.0 < t_out:
                in_grid = True
                continue
            t_grid = t_in if (t_in <= t_out and t_in >= -_EPS_CM) else _INF
            t_world = _box_hit(x, y, z, u, v, w, wlo, whi)[1]
            mu_w = _interp(mu, world, ie, fe, 2)
            s = -math.log(uniform(state, buffer)) / mu_w if mu_w > 0.0 else _INF
            if t_grid < s and t_grid < t_world:
                t_grid = max(t_grid, 0.0) + _EPS_CM
                x += t_grid * u
                y += t_grid * v
                z += t_grid * w
                in_grid = True
                continue
            if s >= t_world:
                t_world = max(t_world, 0.0)
                x += t_world * u
                y += t_world * v
                z += t_world * w
                extra[1] += e
                if disc[6] > 0.0:
                    dn = u * disc[3] + v * disc[4] + w * disc[5]
                    if dn != 0.0:
                        t = ((disc[0] - x) * disc[3] + (disc[1] - y) * disc[4]
                             + (disc[2] - z) * disc[5]) / dn  # fmt: skip
                        if t >= -1e-6:
                            qx = x + t * u - disc[0]
                            qy = y + t * v - disc[1]
                            qz = z + t * w - disc[2]
                            if qx * qx + qy * qy + qz * qz <= disc[6] * disc[6]:
                                mu_en = air_mu_en[ie] + fe * (air_mu_en[ie + 1] - air_mu_en[ie])
                                extra[2] += e * mu_en / abs(dn)
                return
            x += s * u
            y += s * v
            z += s * w
        # --- real collision in `medium` at energy e
        mat = med_mat[medium]
        r = uniform(state, buffer) * _interp(mu, medium, ie, fe, 2)
        if skel[medium, ie, 0] > 0.0 or skel[medium, ie, 1] > 0.0:
            ratio_rm = _interp(skel, medium, ie, fe, 0)
            ratio_bs = _interp(skel, medium, ie, fe, 1)
        else:
            ratio_rm = 0.0
            ratio_bs = 0.0
        if r < _interp(mu, medium, ie, fe, 0):
            deposit = e
            e = 0.0
        elif r < _interp(mu, medium, ie, fe, 1):
            cos_t, e_new = sample_compton(e, cs[mat], log_x0, inv_dlx, state, buffer)
            deposit = e - e_new
            e = e_new
            u, v, w = rotate(u, v, w, cos_t, 2.0 * math.pi * uniform(state, buffer))
        else:
            cos_t = sample_rayleigh(e, rx2[mat], rcum[mat], log_x0, inv_dlx, state, buffer)
            deposit = 0.0
            u, v, w = rotate(u, v, w, cos_t, 2.0 * math.pi * uniform(state, buffer))
        if 0.0 < e < E_CUT_KEV:
            deposit += e
            e = 0.0
        energy[medium] += deposit
        rm[medium] += deposit * ratio_rm
        bs[medium] += deposit * ratio_bs
        if dose_map.shape[1] > 1 and medium != world:
            dose_map[tid, (ix * ny + iy) * nz + iz] += deposit
        if e <= 0.0:
            return
        fe_raw = (math.log(e) - log_e0) * inv_dle
        ie = int(fe_raw)
        fe = fe_raw - ie


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
