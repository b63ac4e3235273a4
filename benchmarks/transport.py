"""Transport speed: histories/s per core in the 5-year stylised phantom at 70 kVp.

Full physics (bound Compton, Rayleigh, photoelectric, air world), PA cardiac projection
(isocentre at the heart centroid, 700/1000 mm, 100 x 100 mm field at the detector). Prints
the numba kernel's rate on one thread (per core; robust on a shared machine) and on all
threads, the ratio against the vectorised numpy backend run in the
same command on the same problem, and the efficiency 1/(sigma^2 t) of the heart and red-marrow
tallies. Run: ``.venv/bin/python benchmarks/transport.py [--histories N]``.
"""

from __future__ import annotations

import argparse
import time

import numba

from doseline.physics.phantoms.stylised import build_phantom
from doseline.physics.source import c_arm_source
from doseline.physics.spectra import from_spekpy
from doseline.physics.transport.api import _result
from doseline.physics.transport.cpu import NumbaCpuBackend
from doseline.physics.transport.numpy_backend import NumpyBackend
from doseline.physics.transport.problem import build_problem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--histories", type=int, default=4_000_000)
    parser.add_argument("--numpy-histories", type=int, default=100_000)
    args = parser.parse_args()
    phantom = build_phantom("5y", 2.0)
    spectrum = from_spekpy(70.0, 12.0, {"Al": 2.5, "Cu": 0.1})
    source = c_arm_source(
        phantom.centroid_mm("heart"), 0.0, 0.0, distance_source_to_isocentre_mm=700.0,
        distance_source_to_detector_mm=1000.0, field_size_mm=(100.0, 100.0),
    )  # fmt: skip
    problem = build_problem(phantom, source, spectrum)
    cpu = NumbaCpuBackend()
    cpu.run(problem, 20_000, 10, seed=99)  # compile
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    t0 = time.perf_counter()
    cpu.run(problem, args.histories // 4, 20, seed=2)
    rate_one = args.histories // 4 / (time.perf_counter() - t0)
    numba.set_num_threads(threads)
    t0 = time.perf_counter()
    raw = cpu.run(problem, args.histories, 20, seed=1)
    t_cpu = time.perf_counter() - t0
    t0 = time.perf_counter()
    NumpyBackend().run(problem, args.numpy_histories, 10, seed=1)
    t_np = time.perf_counter() - t0
    rate_cpu = args.histories / t_cpu
    rate_np = args.numpy_histories / t_np
    result = _result(raw, phantom, source, spectrum, cpu.name)
    heart = result.labels.index("heart")
    sd_heart = float(result.energy_rel_sd[heart])
    sd_rm = result.red_marrow_rel_sd
    print(f"phantom {phantom.name}, shape {phantom.shape}, 70 kVp, PA, {threads} threads")
    print(f"numba, 1 thread: {rate_one:.3e} histories/s per core")
    print(f"numba, {threads} threads: {rate_cpu:.3e} histories/s total")
    print(f"numpy, 1 thread: {rate_np:.3e} histories/s")
    print(f"ratio numba / numpy, one core each: {rate_one / rate_np:.1f}")
    print(f"heart rel SD {sd_heart:.4f}, efficiency 1/(s^2 t) = {1 / (sd_heart**2 * t_cpu):.3e} /s")
    print(f"red marrow rel SD {sd_rm:.4f}, efficiency 1/(s^2 t) = {1 / (sd_rm**2 * t_cpu):.3e} /s")


if __name__ == "__main__":
    main()
