"""Person-time tabulation and linear-ERR fitting speed on synthetic cohorts of 1e5 and 1e6.

For each size the script draws a HARMONIC-like cohort (:mod:`doseline.cohort.harmonic`),
then times:

1. building the person-time table in memory (:func:`doseline.cohort.persontime.person_time_table`:
   leukaemia, red-marrow dose lagged 2 years, split by sex, Down syndrome, transplant,
   5-year attained age, 5-year calendar period, time since first exposure and 11 dose
   categories);
2. the same on a Dask ``LocalCluster`` (2 worker processes) from partitioned Parquet files
   (:func:`doseline.cohort.distributed.tabulate_partitioned`), after checking both tables
   are equal;
3. fitting a stratified linear-ERR model with a profile-likelihood 95 % interval on that table
   (:class:`doseline.cohort.poisson.PoissonModel`, strata sex x age x period x Down syndrome x
   transplant);
4. the baseline: a statsmodels GLM Poisson log-linear fit (same strata as dummies, dose as a
   log-linear covariate, log person-years offset) on the same table in the same run.

It prints the times, the person-years, cells and the ratios (ERR fit / GLM fit; Dask / in
memory). Last, the issue's fitting target on a table of ``--cells`` cells (default 1e5: 20 ages x
2 sexes x 10 periods x 250 dose groups, cases drawn from a known linear ERR): a stratified
linear-ERR fit with its profile interval, against the statsmodels GLM on the same table.
Run: ``.venv/bin/python benchmarks/cohort.py [--sizes 100000,1000000] [--cells 100000]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm

from doseline.cohort.distributed import dask_client, tabulate_partitioned, write_partitioned
from doseline.cohort.harmonic import HarmonicConfig, simulate_harmonic
from doseline.cohort.persontime import PersonTimeSpec, person_time_table
from doseline.cohort.poisson import PoissonModel

SPEC = PersonTimeSpec(
    "leukaemia",
    ("red_bone_marrow_gy", "brain_gy"),
    age_bands_y=tuple(float(a) for a in range(0, 55, 5)),
    period_bands_year=tuple(float(y) for y in range(1985, 2040, 5)),
    tsfe_bands_y=(0.0, 5.0, 10.0, 20.0),
    strata=("sex", "down_syndrome"),
    covariates=("transplant",),
)
STRATA = ["sex", "age_band", "period_band", "down_syndrome", "transplant"]


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def glm_fit(table: pd.DataFrame) -> Any:
    used = table[table["pyr"] > 0]
    design = pd.get_dummies(used[STRATA].astype(str), drop_first=True, dtype=float)
    design["dose"] = used["red_bone_marrow_gy"].to_numpy()
    design = sm.add_constant(design)
    model = sm.GLM(
        used["cases"].to_numpy(float),
        design,
        family=sm.families.Poisson(),
        offset=np.log(used["pyr"].to_numpy()),
    )
    return model.fit()


def err_fit(table: pd.DataFrame) -> tuple[float, Any]:
    model = PoissonModel.linear_err(table, dose="red_bone_marrow_gy", strata=STRATA)
    results = model.fit()
    name = results.params.index[-1]
    return float(results.params[name]), results.conf_int(names=[name]).loc[name]


def run(children: int) -> None:
    config = HarmonicConfig(n_children=children, seed=1)
    frames, t_sim = timed(lambda: simulate_harmonic(config))
    table, t_tab = timed(lambda: person_time_table(frames, SPEC, chunk_persons=250_000))
    print(
        f"\n{children:,} children: {len(frames.exposures):,} procedures, "
        f"{table['pyr'].sum():,.0f} person-years, {int(table['cases'].sum())} leukaemias, "
        f"{len(table):,} cells"
    )
    print(f"  simulate cohort           {t_sim:8.2f} s")
    print(f"  tabulate (in memory)      {t_tab:8.2f} s")
    with tempfile.TemporaryDirectory() as folder:
        write_partitioned(frames, folder, partition_persons=125_000)
        with dask_client(n_workers=2, threads_per_worker=1) as client:
            dask_table, t_dask = timed(lambda: tabulate_partitioned(folder, SPEC, client))
    pd.testing.assert_frame_equal(
        dask_table.reset_index(drop=True), table.reset_index(drop=True), rtol=1e-9
    )
    print(
        f"  tabulate (Dask, 2 procs)  {t_dask:8.2f} s   ratio Dask/in-memory "
        f"{t_dask / t_tab:.2f} (tables equal)"
    )
    glm, t_glm = timed(lambda: glm_fit(table))
    (beta, interval), t_err = timed(lambda: err_fit(table))
    print(
        f"  GLM Poisson log-linear    {t_glm:8.2f} s   (statsmodels, dose coef "
        f"{glm.params['dose']:.3g})"
    )
    print(
        f"  linear-ERR fit + profile  {t_err:8.2f} s   ERR/Gy {beta:.3g} "
        f"({interval['lower']:.3g}, {interval['upper']:.3g}) [{interval['lower_status']}, "
        f"{interval['upper_status']}]"
    )
    print(f"  ratio ERR fit / GLM fit   {t_err / t_glm:8.2f}")


def large_table(n_cells: int, seed: int = 1) -> pd.DataFrame:
    """Synthetic truth: cells of age x sex x period strata, rate 1e-3 exp(0.05 age) (1 + 0.5 d)."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "age_band": rng.integers(0, 20, n_cells),
            "sex": rng.integers(1, 3, n_cells),
            "period_band": rng.integers(0, 10, n_cells),
            "dose": rng.gamma(0.5, 0.2, n_cells),
            "pyr": rng.uniform(5.0, 50.0, n_cells),
        }
    )
    rate = 1e-3 * np.exp(0.05 * table["age_band"]) * (1.0 + 0.5 * table["dose"])
    table["cases"] = rng.poisson(table["pyr"] * rate)
    return table


def run_large_table(n_cells: int) -> None:
    table = large_table(n_cells)
    strata = ["age_band", "sex", "period_band"]

    def err() -> Any:
        results = PoissonModel.linear_err(table, strata=strata).fit()
        return results, results.conf_int(names=[results.params.index[-1]])

    def glm() -> Any:
        design = pd.get_dummies(table[strata].astype(str), drop_first=True, dtype=float)
        design["dose"] = table["dose"].to_numpy()
        return sm.GLM(
            table["cases"].to_numpy(float),
            sm.add_constant(design),
            family=sm.families.Poisson(),
            offset=np.log(table["pyr"].to_numpy()),
        ).fit()

    (results, interval), t_err = timed(err)
    _, t_glm = timed(glm)
    row = interval.iloc[0]
    print(f"\n{n_cells:,}-cell table, 400 strata, true ERR 0.5 per unit dose")
    print(
        f"  linear-ERR fit + profile  {t_err:8.2f} s   ERR {results.params.iloc[-1]:.3g} "
        f"({row['lower']:.3g}, {row['upper']:.3g})"
    )
    print(f"  GLM Poisson log-linear    {t_glm:8.2f} s   (statsmodels, strata as dummies)")
    print(f"  ratio ERR fit / GLM fit   {t_err / t_glm:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--cells", type=int, default=100_000)
    args = parser.parse_args()
    for size in args.sizes.split(","):
        run(int(float(size)))
    run_large_table(args.cells)


if __name__ == "__main__":
    main()
