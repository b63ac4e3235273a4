"""Speed of the 2DMC organ-dose realisations (issue 4: 100 realisations for 1e5 patients).

A synthetic cohort (``--patients`` patients, one exposure each, ``--organs`` organs, 20
centres, 3 eras; the legacy, body-size and imputation log-SDs set on every row so that every
documented error source of ``error_sources.csv`` is drawn) gets ``--realisations`` realisations
of every organ dose with :func:`doseline.dosimetry.fluoro.uncertainty.iter_realisations`.
The script times, in the same run:

1. the engine alone (all blocks drawn, float32, nothing kept);
2. the engine plus the summary per organ dose (mean, median, 5/95 %, GSD);
3. the baseline floor: one independent float32 normal and one exp per value with numpy's
   Generator, on the same chunks (what even a model without any sharing structure costs);
4. with ``--write``: the engine, summary and the Parquet store in a temporary folder, against
   the I/O floor of writing the same float32 values with ``numpy.save``.

It prints the times, values per second and the ratios to the baseline. Run:

    .venv/bin/python benchmarks/fluoro_uncertainty.py [--patients 100000] [--organs 20]
        [--realisations 100] [--write]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from doseline.dosimetry.fluoro.realisations import summarise, write_realisations
from doseline.dosimetry.fluoro.uncertainty import ErrorModel, iter_realisations


def cohort(patients: int, organs: int, seed: int = 0) -> pd.DataFrame:
    """One exposure per patient, every organ, every per-row log-SD column set."""
    rng = np.random.default_rng(seed)
    names = [f"organ_{i:02d}" for i in range(organs)]
    frame = pd.DataFrame({
        "exposure_id": np.repeat(np.arange(patients, dtype=np.int64), organs),
        "organ": np.tile(names, patients),
    })  # fmt: skip
    frame["patient_id"] = frame["exposure_id"] + 10_000_000
    frame["centre_id"] = frame["exposure_id"] % 20
    frame["era"] = np.array(["1990-1999", "2000-2009", "2010-2019"])[frame["exposure_id"] % 3]
    frame["dose_gy"] = rng.lognormal(np.log(5e-3), 1.0, len(frame))
    frame["legacy_log_sd"] = 0.3
    frame["body_size_log_sd"] = 0.2
    frame["imputation_log_sd"] = 0.25
    return frame


def timed(label: str, action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    print(f"{label:<48} {seconds:8.2f} s")
    return seconds


def main() -> None:
    """Parse options, run, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--organs", type=int, default=20)
    parser.add_argument("--realisations", type=int, default=100)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    doses = cohort(args.patients, args.organs)
    k = args.realisations
    organs = sorted(set(doses["organ"]))
    model = ErrorModel.from_csv().with_coefficient_rel_sd(dict.fromkeys(organs, 0.05))
    values = len(doses) * k
    print(f"{args.patients} patients x {args.organs} organs x {k} realisations = {values:.3g}")
    list(iter_realisations(doses.iloc[: 10 * args.organs], k, seed=1, model=model))  # compile

    def engine() -> None:
        for _ in iter_realisations(doses, k, seed=1, model=model):
            pass

    def engine_summary() -> None:
        for block in iter_realisations(doses, k, seed=1, model=model):
            summarise(block)

    def floor() -> None:
        rng = np.random.default_rng(1)
        step = max(1, 2**23 // k)
        for start in range(0, len(doses), step):
            n = min(step, len(doses) - start)
            z = rng.standard_normal((n, k), dtype=np.float32)
            np.exp(z, out=z)

    t_engine = timed("engine (all sources, float32)", engine)
    t_summary = timed("engine + summary per organ dose", engine_summary)
    t_floor = timed("floor: numpy normal + exp per value", floor)
    print(f"{'values per second (engine)':<48} {values / t_engine:8.3g}")
    print(f"{'ratio engine / floor':<48} {t_engine / t_floor:8.2f}")
    print(f"{'ratio engine + summary / floor':<48} {t_summary / t_floor:8.2f}")
    if args.write:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "realisations.parquet"
            t_write = timed(
                "engine + summary + Parquet store",
                lambda: write_realisations(doses, path, k, seed=1, model=model),
            )
            size = path.stat().st_size
            blob = np.zeros((len(doses), k), dtype=np.float32)
            t_io = timed("I/O floor: numpy.save of the float32 values",
                         lambda: np.save(Path(folder) / "raw.npy", blob))  # fmt: skip
            print(f"{'Parquet size (MB)':<48} {size / 1e6:8.1f}")
            print(f"{'ratio store / (engine + summary + I/O floor)':<48} "
                  f"{t_write / (t_summary + t_io):8.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
