"""A straightforward vectorised numpy backend (event-based, all photons of a batch at once).

The same physics and tables as the numba kernel (:mod:`doseline.physics.transport.kernel`),
written with array operations over the live photons and numpy's Philox generator. It is the
benchmark baseline and an independent cross-check: tallies agree with the CPU kernel within
statistics, not bit for bit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from doseline.physics.cross_sections import ELECTRON_REST_KEV, HC_KEV_ANGSTROM
from doseline.physics.transport.backend import RawTallies
from doseline.physics.transport.problem import TransportProblem

__all__ = ["NumpyBackend"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_EPS = 1e-7
_E_CUT = 1.0


def _slab(p: F64, d: F64, lo: F64, hi: F64) -> tuple[F64, F64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (lo - p) / d
        b = (hi - p) / d
    a = np.where(d == 0, np.where((p >= lo) & (p <= hi), -np.inf, np.inf), a)
    b = np.where(d == 0, np.where((p >= lo) & (p <= hi), np.inf, -np.inf), b)
    return np.minimum(a, b).max(axis=1), np.maximum(a, b).min(axis=1)


class _Batch:
    def __init__(self, prob: TransportProblem, rng: np.random.Generator) -> None:
        self.p = prob
        self.rng = rng
        self.glo = prob.origin_cm
        self.ghi = prob.origin_cm + prob.shape * prob.voxel_cm

    def interp(self, table: F64, m: I64, e: F64, k: int) -> F64:
        f = (np.log(e) - self.p.log_e0) * self.p.inv_dlog_e
        i = f.astype(np.int64)
        t = f - i
        if table.ndim == 1:
            flat: F64 = table[i] + t * (table[i + 1] - table[i])
            return flat
        value: F64 = table[m, i, k] + t * (table[m, i + 1, k] - table[m, i, k])
        return value

    def source(self, n: int) -> tuple[F64, F64, F64]:
        p = self.p
        u = self.rng.random((2, n))
        col = np.minimum((u[0] * p.alias_bins.size).astype(np.int64), p.alias_bins.size - 1)
        col = np.where(u[1] < p.alias_threshold[col], col, p.alias_alias[col])
        b = p.alias_bins[col]
        e = p.spectrum_edges[b] + (p.spectrum_edges[b + 1] - p.spectrum_edges[b]) * self.rng.random(
            n
        )
        ab = np.empty((n, 2))
        todo = np.arange(n)
        lim = p.source_limits
        while todo.size:
            r = self.rng.random((todo.size, 3))
            a = lim[0] + (lim[1] - lim[0]) * r[:, 0]
            c = lim[2] + (lim[3] - lim[2]) * r[:, 1]
            ok = r[:, 2] < (1 + a * a + c * c) ** -1.5
            ab[todo[ok]] = np.c_[a[ok], c[ok]]
            todo = todo[~ok]
        f = p.source_frame
        d = f[1] + ab[:, :1] * f[2] + ab[:, 1:] * f[3]
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        return np.repeat(f[0][None, :], n, axis=0), d, e

    def compton(self, e: F64, mat: I64) -> tuple[F64, F64]:
        cos_t = np.empty(e.size)
        todo = np.arange(e.size)
        p = self.p
        while todo.size:
            ee = e[todo]
            k = ee / ELECTRON_REST_KEV
            tmin = 1 / (1 + 2 * k)
            a1 = np.log(1 + 2 * k)
            a2 = 2 * k * (1 + k) * tmin * tmin
            r = self.rng.random((todo.size, 3))
            tau = np.where(r[:, 0] < a1 / (a1 + a2), tmin ** r[:, 1],
                           np.sqrt(tmin * tmin + r[:, 1] * (1 - tmin * tmin)))  # fmt: skip
            c = 1 - (1 - tau) / (k * tau)
            kn = 1 - tau * (1 - c * c) / (1 + tau * tau)
            x = ee / HC_KEV_ANGSTROM * np.sqrt(np.maximum((1 - c) / 2, 0))
            fx = (np.log(np.maximum(x, 1e-300)) - p.log_x0) * p.inv_dlog_x
            i = np.clip(fx.astype(np.int64), 0, p.compton_s.shape[1] - 2)
            t = np.clip(fx - i, 0, 1)
            rows = mat[todo]
            s = p.compton_s[rows, i] * (1 - t) + p.compton_s[rows, i + 1] * t
            s = np.where(fx < 0, 0.0, s)
            ok = self.rng.random(todo.size) < kn * s
            cos_t[todo[ok]] = c[ok]
            todo = todo[~ok]
        k = e / ELECTRON_REST_KEV
        return cos_t, e / (1 + k * (1 - cos_t))

    def rayleigh(self, e: F64, mat: I64) -> F64:
        p = self.p
        cos_t = np.empty(e.size)
        todo = np.arange(e.size)
        while todo.size:
            x2max = (e[todo] / HC_KEV_ANGSTROM) ** 2
            rows = mat[todo]
            gmax = np.empty(todo.size)
            x2 = np.empty(todo.size)
            u = self.rng.random(todo.size)
            for m in np.unique(rows):  # one vectorised inversion per material (a handful)
                sel = rows == m
                gmax[sel] = np.interp(x2max[sel], p.rayleigh_x2[m], p.rayleigh_cum[m])
                x2[sel] = np.interp(u[sel] * gmax[sel], p.rayleigh_cum[m], p.rayleigh_x2[m])
            c = 1 - 2 * np.minimum(x2 / x2max, 1)
            ok = self.rng.random(todo.size) * 2 < 1 + c * c
            cos_t[todo[ok]] = c[ok]
            todo = todo[~ok]
        return cos_t


def _rotate(d: F64, cos_t: F64, phi: F64) -> F64:
    u, v, w = d[:, 0], d[:, 1], d[:, 2]
    sin_t = np.sqrt(np.maximum(1 - cos_t * cos_t, 0))
    cp, sp = np.cos(phi), np.sin(phi)
    polar = np.abs(w) > 0.99999
    tmp = np.sqrt(np.maximum(1 - w * w, 1e-300))
    nu = np.where(polar, sin_t * cp, u * cos_t + sin_t * (u * w * cp - v * sp) / tmp)
    nv = np.where(polar, sin_t * sp, v * cos_t + sin_t * (v * w * cp + u * sp) / tmp)
    nw = np.where(polar, np.sign(w) * cos_t, w * cos_t - tmp * sin_t * cp)
    out: F64 = np.c_[nu, nv, nw]
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


class NumpyBackend:
    """Vectorised numpy implementation (single thread; no dose map, no scoring disc)."""

    name = "numpy"

    def run(
        self, problem: TransportProblem, n_histories: int, n_batches: int, seed: int,
        dose_map: bool = False,
    ) -> RawTallies:  # fmt: skip
        if dose_map or problem.disc[6] > 0:
            raise ValueError(
                "the numpy reference backend scores label tallies only: use the numba backend "
                "for a dose map or a scoring disc"
            )
        n_media = problem.n_labels + 1
        energy = np.zeros((n_batches, n_media))
        rm = np.zeros((n_batches, n_media))
        bs = np.zeros((n_batches, n_media))
        emitted = np.zeros(n_batches)
        escaped = np.zeros(n_batches)
        rng = np.random.Generator(np.random.Philox(seed))
        for b in range(n_batches):
            n = (b + 1) * n_histories // n_batches - b * n_histories // n_batches
            batch = _Batch(problem, rng)
            tallies = (energy[b], rm[b], bs[b])
            emitted[b], escaped[b] = _transport(batch, n, tallies)
        return RawTallies(energy, rm, bs, emitted, escaped, np.zeros(n_batches), None,
                          n_histories)  # fmt: skip


def _transport(bt: _Batch, n: int, tallies: tuple[F64, F64, F64]) -> tuple[float, float]:
    """Transport ``n`` source photons to absorption or escape, all photons one step at a time:
    free flight in the world, one Woodcock step in the grid, then the real collisions."""
    pos, d, e = bt.source(n)
    emitted = float(e.sum())
    escaped = 0.0
    while e.size:
        lo_t, hi_t = _slab(pos, d, bt.glo, bt.ghi)
        inside = (lo_t < 0) & (hi_t > 0)
        medium = np.full(e.size, -1, dtype=np.int64)
        wi = np.flatnonzero(~inside)
        if wi.size:
            escaped += _world_step(bt, (pos, d, e), medium, wi, (lo_t[wi], hi_t[wi]))
        gi = np.flatnonzero(inside)
        if gi.size:
            _grid_step(bt, (pos, d, e), medium, gi)
        ci = np.flatnonzero(medium >= 0)
        if ci.size:
            _collide(bt, (d, e), medium, ci, tallies)
        alive = e > 0
        pos, d, e = pos[alive], d[alive], e[alive]
    return emitted, escaped


def _world_step(
    bt: _Batch,
    photons: tuple[F64, F64, F64],
    medium: npt.NDArray[np.int64],
    wi: npt.NDArray[np.int64],
    grid_t: tuple[F64, F64],
) -> float:
    """Photons ``wi`` outside the grid (``grid_t``: their distances to the grid box planes):
    enter the grid, leave the world (energy set to 0, returned as escaped) or collide in the
    world medium (``medium`` set)."""
    p = bt.p
    lo_t, hi_t = grid_t
    pos, d, e = photons
    world = p.n_labels
    t_grid = np.where((lo_t <= hi_t) & (lo_t >= -_EPS), lo_t, np.inf)
    t_world = _slab(pos[wi], d[wi], p.world_lo_cm, p.world_hi_cm)[1]
    mu_w = bt.interp(p.mu, np.full(wi.size, world), e[wi], 2)
    with np.errstate(divide="ignore"):
        s = np.where(mu_w > 0, -np.log(bt.rng.random(wi.size)) / mu_w, np.inf)
    enter = (t_grid < s) & (t_grid < t_world)
    leave = ~enter & (s >= t_world)
    hit = ~enter & ~leave
    step = np.where(enter, np.maximum(t_grid, 0) + _EPS, np.where(leave, 0.0, s))
    pos[wi] += step[:, None] * d[wi]
    escaped = float(e[wi[leave]].sum())
    e[wi[leave]] = 0.0
    medium[wi[hit]] = world
    return escaped


def _grid_step(
    bt: _Batch,
    photons: tuple[F64, F64, F64],
    medium: npt.NDArray[np.int64],
    gi: npt.NDArray[np.int64],
) -> None:
    """Photons ``gi`` inside the grid: one Woodcock step; a real collision sets ``medium``,
    a step out of the grid moves the photon just outside it."""
    p = bt.p
    pos, d, e = photons
    shape = p.shape
    maj = bt.interp(p.majorant, medium[gi], e[gi], 0)
    s = -np.log(bt.rng.random(gi.size)) / maj
    new = pos[gi] + s[:, None] * d[gi]
    idx = np.floor((new - p.origin_cm) / p.voxel_cm).astype(np.int64)
    out = np.any((idx < 0) | (idx >= shape), axis=1)
    t_out = _slab(pos[gi[out]], d[gi[out]], bt.glo, bt.ghi)[1]
    pos[gi[out]] += (np.maximum(t_out, 0) + _EPS)[:, None] * d[gi[out]]
    keep = gi[~out]
    pos[keep] = new[~out]
    ijk = idx[~out]
    lab = p.labels[(ijk[:, 0] * shape[1] + ijk[:, 1]) * shape[2] + ijk[:, 2]]
    real = bt.rng.random(keep.size) * maj[~out] < bt.interp(p.mu, lab, e[keep], 2)
    medium[keep[real]] = lab[real]


def _collide(
    bt: _Batch,
    photons: tuple[F64, F64],
    medium: npt.NDArray[np.int64],
    ci: npt.NDArray[np.int64],
    tallies: tuple[F64, F64, F64],
) -> None:
    """Real collisions of photons ``ci``: photoelectric absorption, bound Compton or Rayleigh
    scattering; deposits (and photons below the cut-off) go to the tallies."""
    p = bt.p
    d, e = photons
    energy, rm, bs = tallies
    m = medium[ci]
    ec = e[ci]
    r = bt.rng.random(ci.size) * bt.interp(p.mu, m, ec, 2)
    photo = r < bt.interp(p.mu, m, ec, 0)
    compt = ~photo & (r < bt.interp(p.mu, m, ec, 1))
    rayl = ~photo & ~compt
    deposit = np.where(photo, ec, 0.0)
    new_e = np.where(photo, 0.0, ec)
    mats = p.medium_material[m]
    dirs = d[ci]
    if compt.any():
        c, e2 = bt.compton(ec[compt], mats[compt])
        deposit[compt] = ec[compt] - e2
        new_e[compt] = e2
        dirs[compt] = _rotate(dirs[compt], c, 2 * np.pi * bt.rng.random(c.size))
    if rayl.any():
        c = bt.rayleigh(ec[rayl], mats[rayl])
        dirs[rayl] = _rotate(dirs[rayl], c, 2 * np.pi * bt.rng.random(c.size))
    low = (new_e > 0) & (new_e < _E_CUT)
    deposit[low] += new_e[low]
    new_e[low] = 0.0
    np.add.at(energy, m, deposit)
    np.add.at(rm, m, deposit * bt.interp(p.skeletal_ratio, m, ec, 0))
    np.add.at(bs, m, deposit * bt.interp(p.skeletal_ratio, m, ec, 1))
    d[ci] = dirs
    e[ci] = new_e
