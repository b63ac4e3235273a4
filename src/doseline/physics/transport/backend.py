"""Backend interface: how a transport implementation is plugged in and compared.

A backend takes a :class:`~doseline.physics.transport.problem.TransportProblem`, a number of
histories, batches and a seed, and returns :class:`RawTallies`. The numba CPU backend is the
production path; the numpy backend is a straightforward vectorised implementation of the same
physics, used as the benchmark baseline and as an independent cross-check within statistics.
A GPU backend only has to implement this protocol to be checked against the CPU one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from doseline.physics.transport.problem import TransportProblem

__all__ = ["RawTallies", "TransportBackend"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RawTallies:
    """Energy tallies per batch, in keV.

    ``energy_kev[b, m]``: deposited in medium ``m`` (labels, then the world) in batch ``b``;
    ``red_marrow_kev`` / ``endosteum_kev``: the mu_en-ratio-weighted deposits of skeletal labels;
    ``emitted_kev``, ``escaped_kev``: per batch; ``disc_kerma``: sum of ``E mu_en/rho / cos`` of
    photons crossing the scoring disc (keV cm2/g); ``dose_map_kev``: per voxel or ``None``.
    """

    energy_kev: F64
    red_marrow_kev: F64
    endosteum_kev: F64
    emitted_kev: F64
    escaped_kev: F64
    disc_kerma: F64
    dose_map_kev: F64 | None
    n_histories: int


class TransportBackend(Protocol):
    """A photon transport implementation."""

    name: str

    def run(
        self,
        problem: TransportProblem,
        n_histories: int,
        n_batches: int,
        seed: int,
        dose_map: bool = False,
    ) -> RawTallies:
        """Transport ``n_histories`` photons split into ``n_batches`` independent batches."""
        ...
