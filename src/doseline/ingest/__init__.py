"""Ingest: dose reports (DICOM files and folders) and tables (CSV, XLSX) into the registry."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from doseline.ingest.files import discover_files, ingest_paths
from doseline.ingest.options import IngestOptions
from doseline.ingest.summary import IngestSummary, Rejection
from doseline.registry.database import Registry

__all__ = [
    "TABLE_SUFFIXES",
    "IngestOptions",
    "IngestSummary",
    "Rejection",
    "ingest",
    "ingest_paths",
]

TABLE_SUFFIXES = frozenset({".csv", ".xlsx"})


def ingest(
    registry: Registry,
    paths: Iterable[str | os.PathLike[str]],
    *,
    centre: str,
    jobs: int = 1,
    options: IngestOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestSummary:
    """Ingest every file under ``paths``: tables (.csv, .xlsx) by the data dictionary, all
    other files as dose reports. See :func:`ingest_paths` and
    :func:`doseline.ingest.tables.ingest_table`.
    """
    from doseline.ingest.tables import ingest_table

    files = discover_files(paths)
    tables = [f for f in files if f.suffix.lower() in TABLE_SUFFIXES]
    reports = [f for f in files if f.suffix.lower() not in TABLE_SUFFIXES]
    summary = ingest_paths(
        registry, reports, centre=centre, jobs=jobs, options=options, progress=progress
    )
    for table in tables:
        summary.absorb(ingest_table(registry, Path(table), centre=centre, options=options))
    return summary
