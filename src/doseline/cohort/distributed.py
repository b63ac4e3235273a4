"""Person-time splitting and likelihood evaluation on Dask, for cohorts larger than memory.

Partitioned layout
------------------
A partitioned cohort is a folder with one sub-folder per table (``persons``, ``exposures``,
``outcomes``, ``covariates``), each holding ``part-00000.parquet``, ``part-00001.parquet``, ...;
partition ``k`` of every table holds the rows of the same persons (contiguous blocks of the
persons table, :func:`write_partitioned`). Each Dask task reads one partition, splits its
follow-up and returns the cell sums (:func:`doseline.cohort.persontime.partial_table`); the
client adds the small partial tables up. Nothing but the partial tables passes through the
client, so the cohort never has to fit in one machine's memory.

The in-memory path (:func:`~doseline.cohort.persontime.person_time_table` with
``chunk_persons`` equal to the partition size) adds the same partial tables in the same order,
so both give identical tables.

The likelihood of a linear ERR with a stratified log-linear background
(:func:`doseline.cohort.err_likelihood.poisson_err_loglik`) is likewise evaluated per partition
of a grouped table and summed (:class:`PartitionedLinearERR`).

Schedulers: a ``dask.distributed.LocalCluster`` by default, or a scheduler address
(``tcp://host:8786``) for a real cluster (:func:`dask_client`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
from distributed import Client, LocalCluster
from scipy import optimize

from doseline.cohort.err_likelihood import poisson_err_loglik
from doseline.cohort.frames import CohortFrames
from doseline.cohort.persontime import (
    PersonTimeSpec,
    chunk_frames,
    combine_partials,
    finish_table,
    partial_table,
)

__all__ = [
    "TABLES",
    "DaskClient",
    "PartitionedLinearERR",
    "dask_client",
    "partition_count",
    "read_partition",
    "tabulate_frames",
    "tabulate_partitioned",
    "write_partitioned",
]

FloatArray = npt.NDArray[np.float64]


class DaskClient(Protocol):
    """The methods of ``distributed.Client`` used here (the library is not typed)."""

    def map(self, func: Any, *iterables: Any, **kwargs: Any) -> Any: ...

    def gather(self, futures: Any, *args: Any, **kwargs: Any) -> Any: ...

    def scatter(self, data: Any, *args: Any, **kwargs: Any) -> Any: ...


TABLES = ("persons", "exposures", "outcomes", "covariates")


@contextmanager
def dask_client(scheduler: str | None = None, **cluster_options: Any) -> Iterator[DaskClient]:
    """A Dask client: of the scheduler at ``scheduler``, else of a new ``LocalCluster``."""
    if scheduler:
        with Client(scheduler) as client:  # type: ignore[no-untyped-call]
            yield client
        return
    with (
        LocalCluster(**cluster_options) as cluster,  # type: ignore[no-untyped-call]
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client


def write_partitioned(frames: CohortFrames, directory: str | Path, partition_persons: int) -> int:
    """Write ``frames`` in the partitioned layout; returns the number of partitions."""
    root = Path(directory)
    for name in TABLES:
        (root / name).mkdir(parents=True, exist_ok=True)
    count = 0
    for k, chunk in enumerate(chunk_frames(frames, partition_persons)):
        for name in TABLES:
            getattr(chunk, name).to_parquet(root / name / f"part-{k:05d}.parquet", index=False)
        count = k + 1
    return count


def partition_count(directory: str | Path) -> int:
    """Number of partitions of a partitioned cohort (checked to be the same for every table)."""
    root = Path(directory)
    counts = {name: len(list((root / name).glob("part-*.parquet"))) for name in TABLES}
    if len(set(counts.values())) != 1 or counts["persons"] == 0:
        raise ValueError(f"{root}: not a partitioned cohort (parts per table: {counts})")
    return counts["persons"]


def read_partition(directory: str | Path, k: int) -> CohortFrames:
    """Partition ``k`` of a partitioned cohort."""
    root = Path(directory)
    persons, exposures, outcomes, covariates = (
        pd.read_parquet(root / name / f"part-{k:05d}.parquet") for name in TABLES
    )
    return CohortFrames(persons, exposures, outcomes, covariates, source=f"{root} part {k}")


def _partial_from_files(directory: str, k: int, spec: PersonTimeSpec) -> pd.DataFrame:
    return partial_table(read_partition(directory, k), spec)


def tabulate_partitioned(
    directory: str | Path, spec: PersonTimeSpec, client: DaskClient
) -> pd.DataFrame:
    """The person-time table of a partitioned cohort, one Dask task per partition."""
    n = partition_count(directory)
    futures = client.map(_partial_from_files, [str(directory)] * n, range(n), spec=spec, pure=False)
    partials: list[pd.DataFrame] = client.gather(futures)
    return finish_table(combine_partials(partials, spec), spec)


# -- likelihood -------------------------------------------------------------------------------


def _stratum_levels(part: pd.DataFrame, strata: Sequence[str]) -> pd.DataFrame:
    return part[list(strata)].drop_duplicates()


def _part_arrays(
    part: pd.DataFrame, strata: Sequence[str], levels: pd.MultiIndex, columns: tuple[str, str, str]
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    dose, cases, pyr = columns
    code = levels.get_indexer(pd.MultiIndex.from_frame(part[list(strata)]))
    design = np.zeros((len(part), len(levels)))
    design[np.arange(len(part)), code] = 1.0
    return (
        design,
        part[dose].to_numpy(float),
        part[cases].to_numpy(float),
        part[pyr].to_numpy(float),
    )


def _part_loglik(
    part: pd.DataFrame,
    params: FloatArray,
    strata: Sequence[str],
    levels: pd.MultiIndex,
    columns: tuple[str, str, str],
) -> tuple[float, FloatArray]:
    return poisson_err_loglik(params, *_part_arrays(part, strata, levels, columns))


def _part_summary(
    part: pd.DataFrame, strata: Sequence[str], levels: pd.MultiIndex, columns: tuple[str, str, str]
) -> tuple[float, FloatArray, FloatArray]:
    """Largest dose with person-time, and cases and person-years per stratum."""
    design, dose, cases, pyr = _part_arrays(part, strata, levels, columns)
    used = (pyr > 0) | (cases > 0)
    return float(dose[used].max()) if used.any() else 0.0, design.T @ cases, design.T @ pyr


@dataclass(frozen=True)
class PartitionedFit:
    """Maximum-likelihood estimates: stratum log-rates ``alpha`` and the ERR slope ``beta``."""

    alpha: pd.Series
    beta: float
    loglik: float
    converged: bool


class PartitionedLinearERR:
    """Linear-ERR Poisson likelihood ``PY exp(alpha_stratum) (1 + beta d)`` summed over the
    partitions of a grouped table held on a Dask cluster.

    Parameters
    ----------
    client
        Dask client; the partitions are scattered to its workers once.
    parts
        The grouped table in pieces (cells may be split across pieces in any way).
    dose, strata, cases, pyr
        Column names.
    """

    def __init__(
        self,
        client: DaskClient,
        parts: Sequence[pd.DataFrame],
        *,
        dose: str,
        strata: Sequence[str],
        cases: str = "cases",
        pyr: str = "pyr",
    ) -> None:
        if not strata:
            raise ValueError("strata: at least one column is needed")
        self.client = client
        self.strata = tuple(strata)
        self.columns = (dose, cases, pyr)
        self.parts = client.scatter(list(parts))
        found = client.gather(client.map(_stratum_levels, self.parts, strata=self.strata))
        unique = pd.concat(found).drop_duplicates().sort_values(list(self.strata))
        self.levels = pd.MultiIndex.from_frame(unique.reset_index(drop=True))
        summaries = client.gather(
            client.map(
                _part_summary,
                self.parts,
                strata=self.strata,
                levels=self.levels,
                columns=self.columns,
            )
        )
        self.max_dose = max(s[0] for s in summaries)
        stratum_cases = np.sum([s[1] for s in summaries], axis=0)
        stratum_pyr = np.sum([s[2] for s in summaries], axis=0)
        # start at the stratum rates (half a case where there is none)
        self.start_alpha = np.log(np.maximum(stratum_cases, 0.5) / np.maximum(stratum_pyr, 1e-300))

    def loglik(self, params: FloatArray) -> tuple[float, FloatArray]:
        """Log-likelihood and gradient at ``params = (alpha..., beta)``, summed on the cluster."""
        results = self.client.gather(
            self.client.map(
                _part_loglik,
                self.parts,
                params=np.asarray(params, float),
                strata=self.strata,
                levels=self.levels,
                columns=self.columns,
                pure=False,
            )
        )
        value = float(sum(r[0] for r in results))
        gradient = np.sum([r[1] for r in results], axis=0)
        return value, gradient

    def fit(self, start_beta: float = 0.0) -> PartitionedFit:
        """Maximise the likelihood (L-BFGS-B with the analytic gradient, beta > -1/max dose)."""
        n_alpha = len(self.levels)
        start = np.append(self.start_alpha, start_beta)
        lower = -1.0 / self.max_dose * (1 - 1e-9) if self.max_dose > 0 else None

        def objective(params: FloatArray) -> tuple[float, FloatArray]:
            value, gradient = self.loglik(params)
            if not np.isfinite(value):
                return 1e300, np.zeros_like(params)
            return -value, -gradient

        bounds = [(None, None)] * n_alpha + [(lower, None)]
        found = optimize.minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-9},
        )
        alpha = pd.Series(found.x[:-1], index=self.levels, name="alpha")
        return PartitionedFit(alpha, float(found.x[-1]), -float(found.fun), bool(found.success))


def tabulate_frames(
    frames: CohortFrames, spec: PersonTimeSpec, client: DaskClient, *, chunk_persons: int = 100_000
) -> pd.DataFrame:
    """The person-time table of in-memory frames, chunks sent to the cluster's workers."""
    chunks = client.scatter(list(chunk_frames(frames, chunk_persons)))
    partials: list[pd.DataFrame] = client.gather(client.map(partial_table, chunks, spec=spec))
    return finish_table(combine_partials(partials, spec), spec)
