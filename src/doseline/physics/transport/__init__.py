"""Photon transport (10-150 keV) in labelled voxel geometry.

- :func:`simulate` / :class:`TransportResult`: the generic API (doses per label, uncertainty,
  KAP and air-kerma normalisation, red marrow and endosteum, optional dose map);
- :class:`TransportBackend`: the backend protocol; :class:`NumbaCpuBackend` (compiled, all
  cores) and :class:`NumpyBackend` (vectorised baseline and cross-check).
"""

from doseline.physics.transport.api import TransportResult, simulate
from doseline.physics.transport.backend import RawTallies, TransportBackend
from doseline.physics.transport.cpu import NumbaCpuBackend
from doseline.physics.transport.numpy_backend import NumpyBackend
from doseline.physics.transport.problem import ScoringDisc, TransportProblem, build_problem

__all__ = [
    "NumbaCpuBackend",
    "NumpyBackend",
    "RawTallies",
    "ScoringDisc",
    "TransportBackend",
    "TransportProblem",
    "TransportResult",
    "build_problem",
    "simulate",
]
