"""The numba CPU backend."""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from doseline.physics.transport.backend import RawTallies
from doseline.physics.transport.kernel import run_chunks
from doseline.physics.transport.problem import TransportProblem

__all__ = ["NumbaCpuBackend", "problem_tuple"]

_CHUNKS_PER_BATCH = 16
F64 = npt.NDArray[np.float64]


def problem_tuple(p: TransportProblem) -> tuple[object, ...]:
    """The problem as the positional tuple the kernel unpacks."""
    return (
        p.labels, p.shape, p.origin_cm, p.voxel_cm, p.world_lo_cm, p.world_hi_cm, p.log_e0,
        p.inv_dlog_e, p.mu, p.majorant, p.medium_material, p.compton_s, p.rayleigh_x2,
        p.rayleigh_cum, p.log_x0, p.inv_dlog_x, p.skeletal_ratio, p.air_mu_en, p.source_frame,
        p.source_limits, p.alias_bins, p.alias_threshold, p.alias_alias, p.spectrum_edges,
        p.disc, p.n_labels,
    )  # fmt: skip


class NumbaCpuBackend:
    """Compiled kernel on all CPU cores (``numba.set_num_threads`` limits them)."""

    name = "numba-cpu"

    def run(
        self,
        problem: TransportProblem,
        n_histories: int,
        n_batches: int,
        seed: int,
        dose_map: bool = False,
    ) -> RawTallies:
        return self._run(problem, n_histories, n_batches, seed, dose_map=dose_map, n_tally_bins=1)

    def run_response(
        self, problem: TransportProblem, n_histories: int, n_batches: int, seed: int
    ) -> RawTallies:
        """Like :meth:`run`, with the energy tallies split by the source photon's spectrum bin:
        ``energy_kev[b, m, k]`` is the deposit in medium ``m`` of histories born in bin ``k``."""
        n_bins = problem.spectrum_edges.size - 1
        if n_bins < 2:
            raise ValueError("a response run needs a spectrum of at least two bins")
        return self._run(problem, n_histories, n_batches, seed, dose_map=False, n_tally_bins=n_bins)

    def _run(
        self,
        problem: TransportProblem,
        n_histories: int,
        n_batches: int,
        seed: int,
        *,
        dose_map: bool,
        n_tally_bins: int,
    ) -> RawTallies:
        if n_histories < n_batches or n_batches < 1:
            raise ValueError("need at least one history per batch")
        n_chunks = n_batches * _CHUNKS_PER_BATCH
        n_media = problem.n_labels + 1
        energy = np.zeros((n_chunks, n_media, n_tally_bins))
        rm = np.zeros((n_chunks, n_media, n_tally_bins))
        bs = np.zeros((n_chunks, n_media, n_tally_bins))
        extra = np.zeros((n_chunks, 3))
        if dose_map:
            dmap = np.zeros((numba.get_num_threads(), problem.labels.size))
        else:
            dmap = np.zeros((1, 1))
        run_chunks(
            np.int64(n_histories), np.int64(n_chunks), np.uint64(seed), problem_tuple(problem),
            energy, rm, bs, extra, dmap,
        )  # fmt: skip

        def per_batch(a: F64) -> F64:
            summed: F64 = a.reshape(n_batches, _CHUNKS_PER_BATCH, *a.shape[1:]).sum(axis=1)
            if summed.ndim == 3 and n_tally_bins == 1:
                return summed[:, :, 0]
            return summed

        return RawTallies(
            energy_kev=per_batch(energy),
            red_marrow_kev=per_batch(rm),
            endosteum_kev=per_batch(bs),
            emitted_kev=per_batch(extra[:, 0]),
            escaped_kev=per_batch(extra[:, 1]),
            disc_kerma=per_batch(extra[:, 2]),
            dose_map_kev=dmap.sum(axis=0) if dose_map else None,
            n_histories=n_histories,
        )
