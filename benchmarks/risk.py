"""Benchmark: LAR with Monte Carlo uncertainty for a synthetic cohort.

10,000 children (half female), 3 exposures each at ages 0-18 y, organ doses lognormal around
a few mGy, 1,000 draws (parameters, DDREF, lognormal organ-dose GSD 1.5). Baseline: a
straightforward per-patient loop (``doseline.risk.lar`` called once per patient, as a user
would write it) timed on a subset and extrapolated linearly to the cohort; the ratio is
printed. Run from the repository root (needs the open baselines, see docs/risk.md)::

    .venv/bin/python benchmarks/risk.py [--persons 10000] [--draws 1000] [--loop-persons 20]
"""

from __future__ import annotations

import os

# One core, as the target says: single-threaded BLAS (threads oversubscribe a shared machine).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from doseline.risk import (  # noqa: E402
    BEIR7Model,
    Exposure,
    RadRATModel,
    lar,
    lar_cohort,
    load_baseline,
)
from doseline.risk.sites import BEIR7_SITES, SITE_ORGAN  # noqa: E402

#: The organs that drive the BEIR VII sites (remainder tissues: whole_body), in site order.
ORGANS = (*(SITE_ORGAN[s] for s in BEIR7_SITES if s in SITE_ORGAN), "whole_body")


def cohort(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Synthetic sexes, ages at exposure (years) and organ doses (Gy)."""
    rng = np.random.default_rng(seed)
    sex = np.where(rng.random(n) < 0.5, "female", "male")
    ages = np.sort(rng.uniform(0.0, 18.0, (n, k)), axis=1)
    scale = rng.lognormal(np.log(0.003), 1.0, (n, k))
    doses = {o: scale * rng.lognormal(0.0, 0.3, (n, k)) for o in ORGANS}
    return sex, ages, doses


def main() -> None:
    """Time the vectorised cohort LAR and the per-patient loop; print both and the ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=10_000)
    parser.add_argument("--exposures", type=int, default=3)
    parser.add_argument("--draws", type=int, default=1_000)
    parser.add_argument("--loop-persons", type=int, default=20)
    parser.add_argument("--model", choices=("beir7", "radrat"), default="beir7")
    args = parser.parse_args()
    model = BEIR7Model() if args.model == "beir7" else RadRATModel()
    baseline = load_baseline()
    sex, ages, doses = cohort(args.persons, args.exposures, seed=7)

    start, cpu = time.perf_counter(), time.process_time()
    result = lar_cohort(
        sex, ages, doses, model=model, baseline=baseline, draws=args.draws, seed=1, dose_gsd=1.5
    )
    vectorised_s = time.perf_counter() - start
    vectorised_cpu_s = time.process_time() - cpu

    m = args.loop_persons
    start = time.perf_counter()
    for i in range(m):
        exposures = [
            Exposure(float(ages[i, j]), {o: float(doses[o][i, j]) for o in ORGANS})
            for j in range(args.exposures)
        ]
        lar(
            exposures,
            sex=str(sex[i]),
            model=model,
            baseline=baseline,
            draws=args.draws,
            seed=i,
            dose_gsd=1.5,
        )
    loop_s = (time.perf_counter() - start) / m * args.persons

    total = result.central["all_cancer"]
    print(
        f"model {args.model}: {args.persons} persons x {args.exposures} exposures x "
        f"{args.draws} draws"
    )
    print(f"vectorised lar_cohort: {vectorised_s:.2f} s wall, {vectorised_cpu_s:.2f} s CPU")
    print(f"per-patient loop (lar() per patient; {m} patients timed, extrapolated): {loop_s:.1f} s")
    print(f"speed-up: {loop_s / vectorised_s:.1f}x")
    print(f"median all-cancer LAR per 100,000 across persons: {np.median(total):.1f}")


if __name__ == "__main__":
    main()
