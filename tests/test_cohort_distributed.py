"""Dask scale-out gives the results of the in-memory path.

References: the in-memory path of this package (identical partial tables added in the same
order: tables must be equal exactly); the in-memory log-likelihood and gradient (equal to
1e-12 relative: only the order of summation differs); and the closed-form profile-likelihood
fit with stratum intercepts (an independent optimiser and parametrisation: the slope must
agree to 1e-5 relative).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from doseline.cohort.distributed import (
    DaskClient,
    PartitionedLinearERR,
    dask_client,
    partition_count,
    tabulate_frames,
    tabulate_partitioned,
    write_partitioned,
)
from doseline.cohort.err_likelihood import fit_stratified_linear_err, poisson_err_loglik
from doseline.cohort.frames import CohortFrames
from doseline.cohort.harmonic import HarmonicConfig, simulate_harmonic
from doseline.cohort.persontime import PersonTimeSpec, person_time_table

STRATA = ("sex", "age_band", "down_syndrome")


@pytest.fixture(scope="module")
def client() -> Iterator[DaskClient]:
    with dask_client(processes=False, n_workers=1, threads_per_worker=2) as opened:
        yield opened


@pytest.fixture(scope="module")
def cohort() -> CohortFrames:
    config = HarmonicConfig(n_children=12_000, seed=2, background_multiplier=50.0)
    return simulate_harmonic(config.with_err(50.0))


def _spec() -> PersonTimeSpec:
    return PersonTimeSpec(
        "lung",
        ("lung_gy", "red_bone_marrow_gy"),
        age_bands_y=tuple(range(0, 55, 5)),
        period_bands_year=(1990, 2000, 2010, 2020, 2030),
        tsfe_bands_y=(0, 5, 10, 20),
        dose_bands=(0, 0.005, 0.01, 0.02, 0.05, 0.1),
        strata=("sex", "down_syndrome"),
        covariates=("transplant",),
    )


def test_partitioned_tabulation_equals_in_memory(
    client: DaskClient, cohort: CohortFrames, tmp_path: Path
) -> None:
    n = write_partitioned(cohort, tmp_path / "cohort", partition_persons=2_500)
    assert n == 5 == partition_count(tmp_path / "cohort")
    spec = _spec()
    distributed = tabulate_partitioned(tmp_path / "cohort", spec, client)
    in_memory = person_time_table(cohort, spec, chunk_persons=2_500)
    pd.testing.assert_frame_equal(distributed, in_memory, check_exact=True)
    assert distributed.attrs["counts"] == in_memory.attrs["counts"]
    scattered = tabulate_frames(cohort, spec, client, chunk_persons=2_500)
    pd.testing.assert_frame_equal(scattered, in_memory, check_exact=True)
    # any chunking gives the same table up to summation order
    one_chunk = person_time_table(cohort, spec)
    pd.testing.assert_frame_equal(distributed, one_chunk, rtol=1e-12)


@pytest.mark.slow
def test_partitioned_likelihood_equals_in_memory(client: DaskClient, cohort: CohortFrames) -> None:
    table = person_time_table(cohort, _spec())
    parts = [table.iloc[i::3] for i in range(3)]
    model = PartitionedLinearERR(client, parts, dose="lung_gy", strata=STRATA)
    rng = np.random.default_rng(0)
    params = np.append(rng.normal(-8.0, 1.0, len(model.levels)), 12.5)
    value, gradient = model.loglik(params)
    code = model.levels.get_indexer(pd.MultiIndex.from_frame(table[list(STRATA)]))
    design = np.eye(len(model.levels))[code]
    want_value, want_gradient = poisson_err_loglik(
        params,
        design,
        table["lung_gy"].to_numpy(),
        table["cases"].to_numpy(float),
        table["pyr"].to_numpy(),
    )
    assert value == pytest.approx(want_value, rel=1e-12)
    np.testing.assert_allclose(gradient, want_gradient, rtol=1e-10, atol=1e-12)
    fit = model.fit()
    reference = fit_stratified_linear_err(table, dose="lung_gy", strata=STRATA)
    assert fit.converged
    assert fit.beta == pytest.approx(reference.beta, rel=1e-5)


def test_err_loglik_matches_the_written_model() -> None:
    """poisson_err_loglik against its defining formula (Epicure AMFIT linear ERR,
    mu = PY exp(X alpha) (1 + beta d), log L = sum y log mu - mu) written out here, and its
    gradient against central differences (step 1e-6: truncation error ~1e-12 relative, so
    rtol 1e-6 leaves room for rounding); outside 1 + beta d > 0 it reports -inf."""
    rng = np.random.default_rng(7)
    n_cells, n_strata = 40, 3
    design = np.eye(n_strata)[rng.integers(0, n_strata, n_cells)]
    dose = rng.uniform(0.0, 2.0, n_cells)
    pyr = rng.uniform(10.0, 500.0, n_cells)
    cases = rng.poisson(3.0, n_cells).astype(float)
    params = np.array([-4.0, -3.5, -5.0, 0.7])

    def written(p: np.ndarray) -> float:
        mu = pyr * np.exp(design @ p[:-1]) * (1.0 + p[-1] * dose)
        return float(np.sum(cases * np.log(mu) - mu))

    value, gradient = poisson_err_loglik(params, design, dose, cases, pyr)
    assert value == pytest.approx(written(params), rel=1e-13)
    step = 1e-6
    numeric = [
        (written(params + step * e) - written(params - step * e)) / (2 * step)
        for e in np.eye(params.size)
    ]
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-6)
    outside, _ = poisson_err_loglik(np.append(params[:-1], -1.0), design, dose, cases, pyr)
    assert outside == -np.inf
