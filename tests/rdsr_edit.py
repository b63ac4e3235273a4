"""Make variants of a real dose report for tests (cumulative updates, partial reports, bad
units), by editing it with pydicom. The truth of each variant is known by construction."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

EVENT = "113706"
DAP = "122130"
ACCUMULATED = "113702"
DAP_TOTAL = "113722"
FLUORO_DAP_TOTAL = "113726"


def _concept(item: Dataset) -> str:
    return str(item.ConceptNameCodeSequence[0].CodeValue)


def events(dataset: Dataset) -> list[Dataset]:
    return [item for item in dataset.ContentSequence if _concept(item) == EVENT]


def walk(items: list[Dataset]) -> Iterator[Dataset]:
    for item in items:
        yield item
        if "ContentSequence" in item:
            yield from walk(item.ContentSequence)


def numeric(container: Dataset, concept: str) -> Dataset:
    for item in container.ContentSequence:
        if _concept(item) == concept:
            return item.MeasuredValueSequence[0]  # type: ignore[no-any-return]
    raise KeyError(concept)


def variant(
    source: Path,
    *,
    keep_events: slice | None = None,
    new_sop: bool = True,
    content_time: str | None = None,
    consistent_totals: bool = False,
) -> Dataset:
    """A copy of ``source`` keeping only ``keep_events``.

    ``consistent_totals`` rewrites the accumulated dose-area product totals as the sum of the
    kept events (as a genuine partial report would have them).
    """
    dataset = pydicom.dcmread(source)
    if keep_events is not None:
        kept = events(dataset)[keep_events]
        dataset.ContentSequence = [
            item for item in dataset.ContentSequence if _concept(item) != EVENT or item in kept
        ]
    if consistent_totals:
        total = sum(Decimal(str(numeric(e, DAP).NumericValue)) for e in events(dataset))
        for item in dataset.ContentSequence:
            if _concept(item) == ACCUMULATED:
                numeric(item, DAP_TOTAL).NumericValue = str(total)
                numeric(item, FLUORO_DAP_TOTAL).NumericValue = str(total)
    if new_sop:
        dataset.SOPInstanceUID = generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    if content_time is not None:
        dataset.ContentTime = content_time
    return dataset


def save(dataset: Dataset, path: Path) -> Path:
    dataset.save_as(path, enforce_file_format=True)
    return path


def to_bytes(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
