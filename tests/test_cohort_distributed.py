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
from distributed import Client

from doseline.cohort.distributed import (
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
def client() -> Iterator[Client]:
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
    client: Client, cohort: CohortFrames, tmp_path: Path
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
def test_partitioned_likelihood_equals_in_memory(client: Client, cohort: CohortFrames) -> None:
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
