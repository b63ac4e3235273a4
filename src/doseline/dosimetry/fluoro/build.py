"""Building conversion-coefficient tables with the Monte Carlo engine, on a Dask cluster.

One task per (phantom age, primary angle) runs the energy-response transport
(:func:`doseline.physics.transport.response.simulate_response`) at every secondary angle and
field size of the grid; the phantom is built once per worker process and age. The cluster is a
``LocalCluster`` by default, or the scheduler at ``scheduler_address``. Seeds are derived from
the node's grid indices, so a table is reproducible whatever the cluster.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import metadata
from typing import Any

import numpy as np
import numpy.typing as npt

from doseline.dosimetry.fluoro.body_size import PHANTOM_AGE_Y
from doseline.dosimetry.fluoro.events import DEFAULT_SID_MM, DEFAULT_SOD_MM
from doseline.dosimetry.fluoro.geometry import table_source
from doseline.dosimetry.fluoro.spectral import SpectralGrid
from doseline.dosimetry.fluoro.table import ConversionTable
from doseline.organs import ORGANS
from doseline.physics.phantoms.voxel import VoxelPhantom

__all__ = ["TableSpec", "build_table"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TableSpec:
    """The grid and statistics of a table; defaults are those of the shipped table.

    Primary angles -90 to 90 deg in 15 deg steps cover RAO 90 to LAO 90 (frontal and lateral
    planes of paediatric cardiac biplane systems; 30 deg steps gave interpolation errors up to
    50 % in effective dose near the lateral, scripts/table_interpolation_error.py), secondary
    angles +/-40 deg the cranial/caudal range, field sides 5-16 cm at the isocentre the
    collimated fields of infants to adolescents.
    Energy bins of 4 keV from 10 to 130 keV cover tube voltages up to 125 kV.
    """

    ages: tuple[str, ...] = ("newborn", "1y", "5y", "10y", "15y", "adult")
    primary_angles_deg: tuple[float, ...] = tuple(float(a) for a in range(-90, 91, 15))
    secondary_angles_deg: tuple[float, ...] = (-40.0, -20.0, 0.0, 20.0, 40.0)
    field_sides_cm: tuple[float, ...] = (5.0, 6.5, 8.0, 10.0, 12.0, 14.0, 16.0)
    energy_bin_edges_kev: tuple[float, ...] = tuple(float(e) for e in np.arange(10.0, 130.1, 4.0))
    histories_per_node: int = 400_000
    voxel_size_mm: float = 2.0
    seed: int = 20261126
    distance_source_to_isocenter_mm: float = DEFAULT_SOD_MM
    distance_source_to_detector_mm: float = DEFAULT_SID_MM
    extra: dict[str, Any] = field(default_factory=dict)

    def node_seed(self, age: int, primary: int, secondary: int, side: int) -> int:
        """Seed of one node, from its grid indices."""
        return self.seed + 1_000_000 * age + 10_000 * primary + 100 * secondary + side


@cache
def _phantom(age: str, voxel_size_mm: float) -> VoxelPhantom:
    from doseline.physics.phantoms.stylised import build_phantom

    return build_phantom(age, voxel_size_mm)


def _task(spec: TableSpec, age_index: int, primary_index: int, threads: int) -> dict[str, Any]:
    """Responses of every (secondary, field) node at one age and primary angle."""
    import numba

    from doseline.physics.phantoms import stylised
    from doseline.physics.transport.response import simulate_response

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    age = spec.ages[age_index]
    phantom = _phantom(age, spec.voxel_size_mm)
    edges = np.asarray(spec.energy_bin_edges_kev)
    n_s, n_f = len(spec.secondary_angles_deg), len(spec.field_sides_cm)
    doses: list[list[F64]] = [[np.empty(0)] * n_f for _ in range(n_s)]
    rels: list[list[F64]] = [[np.empty(0)] * n_f for _ in range(n_s)]
    inv_cos = np.zeros((n_s, n_f))
    organs: tuple[str, ...] = ()
    for s, secondary in enumerate(spec.secondary_angles_deg):
        for f, side in enumerate(spec.field_sides_cm):
            source = table_source(
                phantom,
                spec.primary_angles_deg[primary_index],
                secondary,
                side,
                distance_source_to_isocenter_mm=spec.distance_source_to_isocenter_mm,
                distance_source_to_detector_mm=spec.distance_source_to_detector_mm,
            )
            response = simulate_response(
                phantom, source, edges, spec.histories_per_node, stylised.region_organs(),
                surrogates=stylised.ORGAN_SURROGATES,
                seed=spec.node_seed(age_index, primary_index, s, f),
            )  # fmt: skip
            keep = [i for i, o in enumerate(response.organs) if o in ORGANS]
            organs = tuple(response.organs[i] for i in keep)
            doses[s][f] = response.dose_gy_per_photon[:, keep]
            rels[s][f] = response.rel_sd[:, keep]
            inv_cos[s, f] = response.mean_inverse_cosine
    return {
        "age_index": age_index,
        "primary_index": primary_index,
        "organs": organs,
        "dose": np.array(doses),
        "rel_sd": np.array(rels),
        "inv_cos": inv_cos,
    }


def build_table(
    spec: TableSpec,
    *,
    scheduler_address: str | None = None,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> ConversionTable:
    """Run every node of ``spec`` on a Dask cluster and assemble the table.

    Parameters
    ----------
    scheduler_address
        A running scheduler; ``None`` starts a ``LocalCluster`` of ``n_workers`` processes.
    threads_per_worker
        numba threads per task (results do not depend on it).
    progress
        Called with (tasks done, tasks total) as tasks finish.
    """
    from dask.distributed import as_completed

    from doseline.cohort.distributed import dask_client

    started = time.time()
    spectral = SpectralGrid.compute(np.asarray(spec.energy_bin_edges_kev))
    options = {"n_workers": n_workers, "threads_per_worker": 1, "dashboard_address": None}
    with dask_client(scheduler_address, **options) as client:
        futures = [
            client.submit(_task, spec, a, p, threads_per_worker, pure=False)  # type: ignore[attr-defined]
            for a in range(len(spec.ages))
            for p in range(len(spec.primary_angles_deg))
        ]
        results = []
        finished = as_completed(futures)  # type: ignore[no-untyped-call]
        for done, future in enumerate(finished, start=1):
            results.append(future.result())
            if progress is not None:
                progress(done, len(futures))
    return _assemble(spec, spectral, results, time.time() - started)


def _assemble(
    spec: TableSpec, spectral: SpectralGrid, results: Sequence[dict[str, Any]], seconds: float
) -> ConversionTable:
    organs = results[0]["organs"]
    if any(r["organs"] != organs for r in results):
        raise RuntimeError("phantoms of the family report different organ sets")
    n_a, n_p = len(spec.ages), len(spec.primary_angles_deg)
    n_s, n_f = len(spec.secondary_angles_deg), len(spec.field_sides_cm)
    n_k = len(spec.energy_bin_edges_kev) - 1
    response = np.zeros((n_a, n_p, n_s, n_f, n_k, len(organs)))
    rel_sd = np.zeros_like(response)
    inv_cos = np.zeros((n_a, n_p, n_s, n_f))
    for r in results:
        a, p = r["age_index"], r["primary_index"]
        response[a, p], rel_sd[a, p], inv_cos[a, p] = r["dose"], r["rel_sd"], r["inv_cos"]
    return ConversionTable(
        age_axis_y=np.array([PHANTOM_AGE_Y[a] for a in spec.ages]),
        primary_axis_deg=np.asarray(spec.primary_angles_deg),
        secondary_axis_deg=np.asarray(spec.secondary_angles_deg),
        field_axis_cm=np.asarray(spec.field_sides_cm),
        organs=organs,
        response=response,
        rel_sd=rel_sd,
        mean_inverse_cosine=inv_cos,
        spectral=spectral,
        metadata=_metadata(spec, seconds),
    )


def _metadata(spec: TableSpec, seconds: float) -> dict[str, Any]:
    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "unknown"

    described = asdict(spec)
    described["energy_bin_edges_kev"] = [
        spec.energy_bin_edges_kev[0],
        spec.energy_bin_edges_kev[-1],
    ]
    return {
        "spec": described,
        "engine": {
            "doseline": version("doseline"),
            "backend": "numba-cpu energy response (doseline.physics.transport.response)",
            "numba": version("numba"),
            "spekpy": version("spekpy"),
            "xraylib": version("xraylib"),
            "python": sys.version.split()[0],
            "platform": platform.platform(terse=True),
        },
        "phantoms": "doseline stylised family (docs/phantoms.md), isocentre at the heart centroid",
        "build_seconds": round(seconds, 1),
        "built_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
