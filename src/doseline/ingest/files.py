"""Ingest dose-report files and folders into the registry, on one core or several.

Files are read and pseudonymised by worker processes (``jobs``), and written by this process
in batches, one savepoint per file: a file is imported whole or not at all, a rejected file
leaves nothing behind, and the rest of the batch goes on. At most a few batches are in flight
at once, so memory stays flat however many files there are.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from doseline.dicom.rdsr import read_rdsr_bytes
from doseline.errors import InvalidInputError, NotADoseReportError
from doseline.ingest.options import IngestOptions
from doseline.ingest.prepare import PreparedReport, prepare_report
from doseline.ingest.rt import PreparedRTObject, parse_rt_bytes
from doseline.ingest.rt_store import store_rt_file
from doseline.ingest.store import get_or_create_centre, store_report
from doseline.ingest.summary import IngestSummary
from doseline.registry.database import Registry
from doseline.registry.pseudonym import Pseudonymiser

__all__ = ["FileResult", "discover_files", "ingest_paths", "parse_file"]

BATCH_SIZE = 64


@dataclass
class FileResult:
    """What a worker made of one file: rows to store, or the reason for rejecting it."""

    source: str
    size_bytes: int
    prepared: PreparedReport | None = None
    category: str | None = None
    prepared_rt: PreparedRTObject | None = None  # a DICOM-RT object (doseline.ingest.rt)
    reason: str | None = None


@dataclass(frozen=True)
class _Options:
    """What a worker needs: the deployment's pseudonymiser (it pickles with its key) and the
    run's options."""

    pseudonymiser: Pseudonymiser
    run: IngestOptions


def discover_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Every file named, and every file below every folder named, in a stable order.

    Hidden files and folders (name starting with '.') are skipped.
    """
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for root, folders, names in os.walk(path):
                folders[:] = sorted(f for f in folders if not f.startswith("."))
                found.extend(Path(root) / n for n in sorted(names) if not n.startswith("."))
        else:
            found.append(path)
    return found


def parse_file(path: Path, options: _Options) -> FileResult:
    """Read, check and pseudonymise one file (runs in a worker)."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        return FileResult(source, 0, category="unreadable", reason=f"{source}: {error.strerror}")
    try:
        report = read_rdsr_bytes(data, source=source, strict=options.run.strict)
        prepared = prepare_report(report, options.pseudonymiser, options=options.run)
    except NotADoseReportError as error:
        return _parse_rt(source, data, options, error)
    except InvalidInputError as error:
        return FileResult(source, len(data), category=error.code, reason=str(error))
    return FileResult(source, len(data), prepared=prepared)


def _parse_rt(source: str, data: bytes, options: _Options, error: InvalidInputError) -> FileResult:
    """Not a dose report: a DICOM-RT object (plan, dose, structure set, planning CT)?"""
    try:
        rt = parse_rt_bytes(data, source, options.pseudonymiser, options.run)
    except InvalidInputError as rt_error:
        return FileResult(source, len(data), category=rt_error.code, reason=str(rt_error))
    if rt is None:
        return FileResult(source, len(data), category=error.code, reason=str(error))
    return FileResult(source, len(data), prepared_rt=rt)


_worker_options: _Options | None = None


def _init_worker(options: _Options) -> None:
    """Give a worker process its options once (the key is not sent with every batch)."""
    global _worker_options  # noqa: PLW0603 (per-process state of a pool initializer)
    _worker_options = options


def _parse_batch(paths: Sequence[Path]) -> list[FileResult]:
    assert _worker_options is not None
    return [parse_file(path, _worker_options) for path in paths]


def _results(files: list[Path], options: _Options, jobs: int) -> Iterator[FileResult]:
    """Results in file order; with ``jobs`` > 1, from a bounded window of worker batches."""
    if jobs <= 1:
        yield from (parse_file(path, options) for path in files)
        return
    batches = [files[i : i + BATCH_SIZE] for i in range(0, len(files), BATCH_SIZE)]
    with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(options,)) as pool:
        window: deque[Future[list[FileResult]]] = deque()
        pending = iter(batches)
        for batch in pending:
            window.append(pool.submit(_parse_batch, batch))
            if len(window) >= 2 * jobs:
                break
        while window:
            results = window.popleft().result()
            next_batch = next(pending, None)
            if next_batch is not None:
                window.append(pool.submit(_parse_batch, next_batch))
            yield from results


def ingest_paths(
    registry: Registry,
    paths: Iterable[str | os.PathLike[str]],
    *,
    centre: str,
    jobs: int = 1,
    options: IngestOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestSummary:
    """Ingest the dose reports in ``paths`` (files and folders) for ``centre``.

    Parameters
    ----------
    registry
        An open registry with a deployment key.
    paths
        Files and folders (searched recursively).
    centre
        Name of the centre the reports come from (created if new).
    jobs
        Worker processes that read and pseudonymise files.
    options
        Strictness and the deployment's pseudonymisation choices (defaults: strict).
    progress
        Called as ``progress(done, total)`` after each batch of files is stored.
    """
    if registry.pseudonymiser is None:
        raise InvalidInputError("the registry was opened without a deployment key")
    started = time.perf_counter()
    files = discover_files(paths)
    summary = IngestSummary(files=len(files))
    worker_options = _Options(registry.pseudonymiser, options or IngestOptions())
    with registry.connect() as connection:
        centre_id = get_or_create_centre(connection, centre)
    done = 0
    results = _results(files, worker_options, jobs)
    pending: list[PreparedRTObject] = []  # planning CT images that came before their RTSTRUCT
    while True:
        batch = list(islice(results, BATCH_SIZE))
        if not batch:
            break
        _write_batch(registry, batch, centre_id, summary, pending)
        done += len(batch)
        if progress is not None:
            progress(done, len(files))
    with registry.connect() as connection:
        for image in pending:
            store_rt_file(connection, image, centre_id, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _write_batch(
    registry: Registry,
    batch: list[FileResult],
    centre_id: int,
    summary: IngestSummary,
    pending: list[PreparedRTObject],
) -> None:
    """One transaction per batch, one savepoint per file."""
    with registry.connect() as connection:
        for result in batch:
            summary.bytes_read += result.size_bytes
            if result.prepared_rt is not None:
                store_rt_file(connection, result.prepared_rt, centre_id, summary, pending)
                continue
            if result.prepared is None:
                summary.reject(result.source, result.category or "rejected", result.reason or "")
                continue
            prepared = result.prepared
            savepoint = connection.begin_nested()
            try:
                outcome = store_report(connection, prepared, centre_id)
            except InvalidInputError as error:
                savepoint.rollback()
                summary.reject(prepared.source, error.code, str(error))
                continue
            except IntegrityError as error:
                savepoint.rollback()
                summary.reject(
                    prepared.source,
                    "conflict",
                    f"{prepared.source}: the registry refused the report ({error.orig})",
                )
                continue
            savepoint.commit()
            summary.count(outcome.value)
            summary.count(f"{outcome.value}:dose reports")
            summary.warnings.extend(prepared.warnings)
