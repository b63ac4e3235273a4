"""Bias and 95 % interval coverage of the linear-ERR fit on known-truth cohorts.

For each replicate a HARMONIC-like cohort is drawn with a chosen true ERR per Gy
(:func:`doseline.cohort.harmonic.simulate_harmonic`), tabulated
(:func:`doseline.cohort.persontime.person_time_table`: lung cancer, lung dose lagged 5 years,
strata sex x attained age x Down syndrome) and fitted with the grouped Poisson linear-ERR model
(:class:`doseline.cohort.poisson.PoissonModel`, profile-likelihood 95 % interval). The
closed-form stratified profile fit
(:func:`doseline.cohort.err_likelihood.fit_stratified_linear_err`) is run on the same table as
a cross-check of the estimate.

Prints, per scenario: mean and median estimate, relative bias, coverage of the true value by
the 95 % profile interval (with its binomial standard error), the share of intervals without
an upper limit, and the largest difference between the two fits.

Run: ``.venv/bin/python benchmarks/cohort_truth.py [--replicates 200] [--children 20000]``
(about 0.5 s per replicate on one core).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np

from doseline.cohort.err_likelihood import fit_stratified_linear_err
from doseline.cohort.harmonic import HarmonicConfig, simulate_harmonic
from doseline.cohort.persontime import PersonTimeSpec, person_time_table
from doseline.cohort.poisson import PoissonModel

STRATA = ("sex", "age_band", "down_syndrome")
SPEC = PersonTimeSpec(
    "lung",
    ("lung_gy",),
    age_bands_y=tuple(float(a) for a in range(0, 55, 5)),
    dose_bands=(0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2),
    strata=("sex", "down_syndrome"),
)


def replicate(true_err: float, seed: int, children: int, multiplier: float) -> dict[str, float]:
    config = HarmonicConfig(n_children=children, seed=seed, background_multiplier=multiplier)
    table = person_time_table(simulate_harmonic(config.with_err(true_err)), SPEC)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-convergence is counted below, not printed
        results = PoissonModel.linear_err(table, dose="lung_gy", strata=list(STRATA)).fit()
    name = results.params.index[-1]
    interval = results.conf_int(names=[name]).loc[name]
    check = fit_stratified_linear_err(table, dose="lung_gy", strata=STRATA)
    return {
        "beta": float(results.params[name]),
        "lower": float(interval["lower"]),
        "upper": float(interval["upper"]),
        "closed_form": check.beta,
        "cases": float(table["cases"].sum()),
        "converged": float(results.converged),
    }


def scenario(true_err: float, replicates: int, children: int, multiplier: float) -> None:
    start = time.perf_counter()
    rows = [replicate(true_err, seed, children, multiplier) for seed in range(replicates)]
    elapsed = time.perf_counter() - start
    beta = np.array([r["beta"] for r in rows])
    lower = np.array([r["lower"] for r in rows])
    upper = np.array([r["upper"] for r in rows])
    # a missing lower limit (boundary) is below the truth; a missing upper limit is above it
    covered = (np.nan_to_num(lower, nan=-np.inf) <= true_err) & (
        np.nan_to_num(upper, nan=np.inf) >= true_err
    )
    coverage = covered.mean()
    se = math.sqrt(coverage * (1 - coverage) / replicates)
    agreement = max(
        abs(r["beta"] - r["closed_form"]) / max(abs(r["closed_form"]), 1.0) for r in rows
    )
    print(
        f"true ERR/Gy {true_err:g}: {replicates} replicates of {children} children, "
        f"background x{multiplier:g}, mean {np.mean([r['cases'] for r in rows]):.0f} cases"
    )
    print(
        f"  mean estimate {beta.mean():.3f}, median {np.median(beta):.3f}, "
        + (
            f"relative bias of the mean {(beta.mean() - true_err) / true_err:+.3f}"
            if true_err
            else f"bias of the mean {beta.mean():+.3f} per Gy"
        )
    )
    print(
        f"  95% profile-interval coverage {coverage:.3f} (binomial SE {se:.3f}); "
        f"no upper limit in {np.isnan(upper).mean():.3f}, no lower limit in "
        f"{np.isnan(lower).mean():.3f}"
    )
    print(
        "  largest difference PoissonModel vs closed-form fit (relative; absolute below 1/Gy): "
        f"{agreement:.1e}; "
        f"PoissonModel not converged in {sum(1 - r['converged'] for r in rows):.0f}"
    )
    print(f"  {elapsed:.1f} s ({elapsed / replicates:.2f} s per replicate)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--children", type=int, default=20_000)
    parser.add_argument("--multiplier", type=float, default=50.0)
    parser.add_argument("--true-err", default="50,0", help="comma-separated true ERR per Gy")
    args = parser.parse_args()
    for true_err in (float(v) for v in args.true_err.split(",")):
        scenario(true_err, args.replicates, args.children, args.multiplier)


if __name__ == "__main__":
    main()
