"""The Parquet store of organ-dose realisations, its readers and its registry rows.

Layout (``docs/registry.md``, "Dose realisations"): columns ``exposure_id`` (int64), ``organ``
(string, dictionary-encoded), ``realisation`` (int32, 0..K-1), ``dose_gy`` (float32), sorted
by ``exposure_id, organ, realisation``; one row group per block of
:func:`~doseline.dosimetry.fluoro.uncertainty.iter_realisations`. Realisation ``k`` of every
organ dose belongs to the same draw of the shared errors, so sums over exposures taken within
one ``k`` (a person's cumulative dose) keep the shared-error structure that the cohort
estimators of :mod:`doseline.cohort.uncertainty` need (an array subjects x K).

A :class:`~doseline.registry.doses.DoseRealisationSet` row points to the store
(:func:`register_realisation_set`); :func:`update_organ_doses` writes the summary of every
organ dose (mean, median, 5th and 95th percentiles, geometric SD) into its ``organ_dose`` row.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import sparse
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from doseline.dosimetry.fluoro.uncertainty import (
    METHOD,
    METHOD_VERSION,
    ErrorModel,
    RealisationBlock,
    iter_realisations,
)
from doseline.errors import InvalidInputError
from doseline.registry.doses import DoseRealisationSet, OrganDose

__all__ = [
    "SCHEMA",
    "SUMMARY_COLUMNS",
    "read_realisation_matrix",
    "register_realisation_set",
    "subject_realisations",
    "summarise",
    "update_organ_doses",
    "write_blocks",
    "write_realisations",
]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

#: Arrow schema of the store (docs/registry.md).
SCHEMA = pa.schema([
    pa.field("exposure_id", pa.int64(), nullable=False),
    pa.field("organ", pa.dictionary(pa.int32(), pa.string()), nullable=False),
    pa.field("realisation", pa.int32(), nullable=False),
    pa.field("dose_gy", pa.float32(), nullable=False),
])  # fmt: skip

#: Summary columns written to ``organ_dose`` rows.
SUMMARY_COLUMNS = ("dose_gy", "dose_median_gy", "dose_p05_gy", "dose_p95_gy", "geometric_sd")


def _row_summary(values: F32) -> F64:
    """Per row: mean, median, 5th and 95th percentile (numpy's default linear
    interpolation) and geometric SD (exp of the SD of the logs, ddof 1; NaN unless all > 0)."""
    n_rows, n_real = values.shape
    out = np.full((n_rows, 5), np.nan)
    ordered = np.sort(values, axis=1).astype(np.float64)
    out[:, 0] = values.mean(axis=1, dtype=np.float64)
    for j, q in enumerate((0.5, 0.05, 0.95)):
        position = q * (n_real - 1)
        low = math.floor(position)
        high = min(low + 1, n_real - 1)
        out[:, 1 + j] = ordered[:, low] + (position - low) * (ordered[:, high] - ordered[:, low])
    positive = ordered[:, 0] > 0
    if n_real > 1 and positive.any():
        logs = np.log(ordered[positive])
        out[positive, 4] = np.exp(logs.std(axis=1, ddof=1))
    return out


def summarise(block: RealisationBlock) -> pd.DataFrame:
    """Per (exposure, organ): the central dose and the summary of its realisations, named as
    the ``organ_dose`` columns (``dose_gy`` is the mean of the realisations, as
    :class:`~doseline.registry.doses.OrganDose` documents; ``central_dose_gy`` the input)."""
    stats = _row_summary(block.dose_gy)
    frame = pd.DataFrame({"exposure_id": block.exposure_id, "organ": block.organ,
                          "central_dose_gy": block.central_dose_gy})  # fmt: skip
    for j, column in enumerate(SUMMARY_COLUMNS):
        frame[column] = stats[:, j]
    return frame


def _block_table(block: RealisationBlock) -> pa.Table:
    n_rows, k = block.dose_gy.shape
    organ = pa.DictionaryArray.from_arrays(
        pa.array(np.repeat(block.organ_code, k), type=pa.int32()),
        pa.array(block.organs, type=pa.string()),
        safe=False,  # codes come from the engine's categorical
    )
    columns = [
        pa.array(np.repeat(block.exposure_id, k), type=pa.int64()),
        organ,
        pa.array(np.tile(np.arange(k, dtype=np.int32), n_rows), type=pa.int32()),
        pa.array(block.dose_gy.reshape(-1), type=pa.float32()),
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


def write_blocks(blocks: Iterable[RealisationBlock], path: str | Path) -> pd.DataFrame:
    """Write realisation blocks to one Parquet file (one row group per block); return the
    summary (:func:`summarise`) of every organ dose.

    Block ``i`` is encoded and written in a background thread while block ``i + 1`` is drawn
    (Arrow releases the GIL), so at most two blocks are held in memory.
    """
    summaries = []
    # dictionary pages for the repetitive columns only: float doses do not repeat
    dictionary = ["exposure_id", "organ", "realisation"]
    with (
        pq.ParquetWriter(str(path), SCHEMA, use_dictionary=dictionary) as writer,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        pending: Future[None] | None = None
        for block in blocks:
            table = _block_table(block)
            if pending is not None:
                pending.result()
            pending = pool.submit(writer.write_table, table, row_group_size=table.num_rows)
            summaries.append(summarise(block))
        if pending is not None:
            pending.result()
    return pd.concat(summaries, ignore_index=True)


def write_realisations(
    doses: pd.DataFrame,
    path: str | Path,
    n_realisations: int,
    *,
    seed: int,
    model: ErrorModel | None = None,
    chunk_rows: int | None = None,
    kap_draws: pd.DataFrame | None = None,
    mean_one: bool = False,
) -> pd.DataFrame:
    """Draw K realisations of every organ dose and write them to ``path`` (Parquet).

    The parameters are those of :func:`~doseline.dosimetry.fluoro.uncertainty.iter_realisations`;
    the result is the summary per (exposure, organ), :func:`summarise`.
    """
    blocks = iter_realisations(
        doses, n_realisations, seed=seed, model=model, chunk_rows=chunk_rows,
        kap_draws=kap_draws, mean_one=mean_one,
    )  # fmt: skip
    return write_blocks(blocks, path)


def read_realisation_matrix(
    uri: str | Path, organ: str, exposure_ids: Sequence[int] | I64 | None = None
) -> tuple[I64, F64]:
    """The realisations of one organ: exposure ids and an array exposures x K.

    With ``exposure_ids`` the rows follow that order; an exposure missing from the store is an
    error. The store's layout (K realisations 0..K-1 per exposure) is checked.
    """
    source = str(uri)
    table = pq.read_table(source, columns=["exposure_id", "realisation", "dose_gy"],
                          filters=[("organ", "==", organ)])  # fmt: skip
    if table.num_rows == 0:
        raise InvalidInputError(f"no realisations of organ {organ!r}", source=source)
    ids = table.column("exposure_id").to_numpy()
    real = table.column("realisation").to_numpy()
    dose = table.column("dose_gy").to_numpy()
    if np.any(np.diff(ids) < 0) or np.any((np.diff(ids) == 0) & (np.diff(real) <= 0)):
        order = np.lexsort((real, ids))
        ids, real, dose = ids[order], real[order], dose[order]
    k = int(real.max()) + 1
    n = ids.size // k
    if ids.size != n * k or not np.array_equal(real, np.tile(np.arange(k), n)):
        raise InvalidInputError("not K realisations 0..K-1 per exposure", source=source,
                                record=f"organ {organ}", field="realisation")  # fmt: skip
    ids = ids[::k]
    matrix = dose.reshape(n, k).astype(np.float64)
    if exposure_ids is None:
        return ids.astype(np.int64), matrix
    wanted = np.asarray(exposure_ids, dtype=np.int64)
    rows = pd.Index(ids).get_indexer(pd.Index(wanted))
    if np.any(rows < 0):
        raise InvalidInputError(f"no realisations of organ {organ!r}", source=source,
                                record=f"exposure {wanted[rows < 0][0]}")  # fmt: skip
    return wanted, matrix[rows]


def subject_realisations(
    uri: str | Path,
    organ: str,
    exposure_subject: pd.Series,
    subjects: Sequence[Hashable] | pd.Index,
) -> F64:
    """Cumulative organ dose per subject and realisation: an array subjects x K.

    Parameters
    ----------
    uri
        The Parquet store.
    organ
        The organ (ICRP name, as stored).
    exposure_subject
        The exposures to add up (index ``exposure_id``; e.g. only those before a lag), and
        the subject each belongs to (values).
    subjects
        The subject order of the result (the rows of the cohort table); a subject without
        exposures gets zero dose. Row ``i`` of the result is ready for
        :func:`doseline.cohort.uncertainty.fma` and its siblings when the cohort table has
        one cell per subject; sum rows over a subject's cells otherwise.
    """
    order = subjects if isinstance(subjects, pd.Index) else pd.Index(list(subjects))
    if not order.is_unique:
        raise InvalidInputError("subjects must be unique", field="subjects")
    if not exposure_subject.index.is_unique:
        raise InvalidInputError("exposure ids must be unique", field="exposure_subject")
    rows = order.get_indexer(pd.Index(exposure_subject.to_numpy()))
    if np.any(rows < 0):
        first = exposure_subject.index[int(np.flatnonzero(rows < 0)[0])]
        raise InvalidInputError("its subject is not in subjects", record=f"exposure {first}",
                                field="exposure_subject")  # fmt: skip
    _, matrix = read_realisation_matrix(uri, organ, exposure_subject.index.to_numpy(np.int64))
    adder = sparse.csr_matrix((np.ones(rows.size), (rows, np.arange(rows.size))),
                              shape=(len(order), rows.size))  # fmt: skip
    return np.asarray(adder @ matrix, dtype=np.float64)


def register_realisation_set(
    session: Session,
    *,
    uri: str,
    n_realisations: int,
    method: str = METHOD,
    method_version: str = METHOD_VERSION,
    description: str | None = None,
) -> DoseRealisationSet:
    """Add the ``dose_realisation_set`` row that points to a store (flushed, so it has an id)."""
    if n_realisations < 1:
        raise InvalidInputError(f"{n_realisations} must be >= 1", field="n_realisations")
    row = DoseRealisationSet(method=method, method_version=method_version, uri=uri,
                             n_realisations=n_realisations, description=description)  # fmt: skip
    session.add(row)
    session.flush()
    return row


def update_organ_doses(
    session: Session,
    summary: pd.DataFrame,
    *,
    method: str,
    method_version: str,
    realisation_set: DoseRealisationSet,
) -> int:
    """Write the summary into the ``organ_dose`` rows of ``method``/``method_version`` and link
    them to ``realisation_set``; returns the number of rows updated.

    Every (exposure, organ) of the summary must already have its row (written by the organ-dose
    computation); a missing one is an error and nothing is updated.
    """
    query = select(OrganDose.id, OrganDose.exposure_id, OrganDose.organ).where(
        OrganDose.method == method, OrganDose.method_version == method_version
    )
    existing = pd.DataFrame(session.execute(query).all(), columns=["id", "exposure_id", "organ"])
    merged = summary.merge(existing, on=["exposure_id", "organ"], how="left")
    if merged["id"].isna().any():
        first = merged.loc[merged["id"].isna()].iloc[0]
        raise InvalidInputError(
            f"no organ_dose row for method {method} {method_version}",
            source="organ_dose", record=f"exposure {first['exposure_id']} organ {first['organ']}",
        )  # fmt: skip
    values = merged[["id", *SUMMARY_COLUMNS]].astype({"id": np.int64}).astype(object)
    values = values.where(values.notna(), None)
    values["realisation_set_id"] = realisation_set.id
    records = [{str(key): value for key, value in row.items()} for row in values.to_dict("records")]
    if records:
        session.execute(update(OrganDose), records)
    return len(records)
