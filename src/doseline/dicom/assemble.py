"""Assemble report objects from record tables, column by column.

The readers of :mod:`doseline.dicom.records` give one array per field over all records;
this module derives the fields that come from several records or from vendor conventions
(filter thickness per material, Philips collimation, Siemens comments) with array operations,
and only at the end makes one object per event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from doseline.dicom import templates as tpl
from doseline.dicom.dates import parse_dt
from doseline.dicom.records import RecordTable
from doseline.dicom.report import (
    AccumulatedProjectionDose,
    CTEvent,
    CTSource,
    ProjectionEvent,
    XRayFilter,
    field_names,
)
from doseline.dicom.vendor import philips_collimated_field_mm, siemens_comment_fields

__all__ = ["accumulated_doses", "ct_events", "projection_events"]

ColumnCheck = Callable[[RecordTable, str, np.ndarray], None]


def _python(column: np.ndarray) -> list[Any]:
    """A column as Python values, with ``None`` for NaN."""
    if column.dtype.kind == "f":
        values = column.astype(object)
        values[np.isnan(column)] = None
        return list(values.tolist())
    return list(column.tolist())


def _objects(cls: type, columns: dict[str, Any], n: int) -> tuple[Any, ...]:
    """``n`` instances of ``cls`` from columns named after its fields (in field order)."""
    ordered = [columns[name] if name in columns else [None] * n for name in field_names(cls)]
    return tuple(cls(*row) for row in zip(*ordered, strict=True))


def _event_ordinal(sub: RecordTable, events: RecordTable) -> np.ndarray:
    """For each sub-record, the position of its event in ``events`` (``-1`` if none)."""
    if len(events) == 0 or len(sub) == 0:
        return np.full(len(sub), -1, dtype=np.int64)
    position = np.searchsorted(events.rows, sub.event)
    position = np.clip(position, 0, len(events) - 1)
    found = events.rows[position] == sub.event
    return np.where(found, position, -1)


def _filters(
    table: RecordTable, events: RecordTable
) -> tuple[list[tuple[XRayFilter, ...]], dict[str, np.ndarray]]:
    """Each event's filters, and the total thickness of copper and aluminium per event.

    Filters of one material add up (they are in series in the beam). An event with filters but
    none of a material has 0 mm of it; an event without any filter record has no value.
    """
    n = len(events)
    ordinal = _event_ordinal(table, events)
    materials = np.array(
        [tpl.filter_material_symbol(m) for m in table.columns["material"].tolist()], dtype=object
    )
    low, high = table.columns["thickness_min_mm"], table.columns["thickness_max_mm"]
    with np.errstate(invalid="ignore"):
        thickness = np.where(np.isnan(low), high, np.where(np.isnan(high), low, (low + high) / 2))
    inside = ordinal >= 0
    has_filter = np.bincount(ordinal[inside], minlength=n) > 0
    totals = {}
    for symbol, name in (("Cu", "filter_cu_mm"), ("Al", "filter_al_mm")):
        of_material = inside & (materials == symbol)
        known = of_material & ~np.isnan(thickness)
        total = np.bincount(ordinal[known], weights=thickness[known], minlength=n)
        n_known = np.bincount(ordinal[known], minlength=n)
        listed = np.bincount(ordinal[of_material], minlength=n) > 0
        totals[name] = np.where(n_known > 0, total, np.where(has_filter & ~listed, 0.0, np.nan))
    per_event: list[list[XRayFilter]] = [[] for _ in range(n)]
    rows = zip(
        ordinal.tolist(),
        materials.tolist(),
        _python(table.columns["filter_type"]),
        _python(low),
        _python(high),
        strict=True,
    )
    for event, material, kind, minimum, maximum in rows:
        if event >= 0:
            per_event[event].append(XRayFilter(material, kind, minimum, maximum))
    return [tuple(f) for f in per_event], totals


def _philips_collimation(
    shutters: RecordTable, events: RecordTable, columns: dict[str, np.ndarray]
) -> None:
    """Collimated field from Philips shutters where the standard field is missing."""
    if len(shutters) == 0:
        return
    n = len(events)
    ordinal = _event_ordinal(shutters, events)
    first = np.full(n, -1, dtype=np.int64)
    inside = np.flatnonzero(ordinal >= 0)[::-1]  # the first shutter record of an event wins
    first[ordinal[inside]] = inside
    has = first >= 0

    def shutter(name: str) -> np.ndarray:
        values = np.full(n, np.nan)
        values[has] = shutters.columns[name][first[has]]
        return values

    height, width = philips_collimated_field_mm(
        shutter("top_mm"),
        shutter("bottom_mm"),
        shutter("left_mm"),
        shutter("right_mm"),
        columns["distance_source_to_detector_mm"],
    )
    missing = np.isnan(columns["collimated_field_height_mm"])
    columns["collimated_field_height_mm"] = np.where(
        missing, height, columns["collimated_field_height_mm"]
    )
    columns["collimated_field_width_mm"] = np.where(
        missing, width, columns["collimated_field_width_mm"]
    )
    area = columns["collimated_field_area_cm2"]
    columns["collimated_field_area_cm2"] = np.where(
        np.isnan(area),
        columns["collimated_field_height_mm"] * columns["collimated_field_width_mm"] / 100.0,
        area,
    )


def _siemens_comments(
    values: dict[str, list[Any]], comments: list[Any], document_comment: str | None
) -> None:
    """Fields from the Siemens XML comments; an event's own comment takes precedence."""
    document = siemens_comment_fields(document_comment)
    for i, comment in enumerate(comments):
        found = {**document, **siemens_comment_fields(comment)} if comment else document
        for name, value in found.items():
            if values[name][i] is None:
                values[name][i] = value


def projection_events(
    events: RecordTable,
    filters: RecordTable,
    shutters: RecordTable,
    *,
    document_comment: str | None,
    check: ColumnCheck,
) -> tuple[ProjectionEvent, ...]:
    """The irradiation events (TID 10003) of a projection report."""
    n = len(events)
    columns = dict(events.columns)
    event_filters, totals = _filters(filters, events)
    columns.update(totals)
    frames = columns.pop("philips_number_of_frames")
    columns["number_of_pulses"] = np.where(
        np.isnan(columns["number_of_pulses"]), frames, columns["number_of_pulses"]
    )
    _philips_collimation(shutters, events, columns)
    for name in (
        "filter_cu_mm",
        "filter_al_mm",
        "collimated_field_area_cm2",
        "collimated_field_height_mm",
        "collimated_field_width_mm",
    ):
        check(events, name, columns[name])
    comments = _python(columns.pop("comment"))
    values = {name: _python(column) for name, column in columns.items()}
    values["ii_field_size_mm"] = [None] * n
    _siemens_comments(values, comments, document_comment)
    values["datetime_started"] = [parse_dt(v) for v in values["datetime_started"]]
    values["filters"] = event_filters
    return _objects(ProjectionEvent, values, n)


def ct_events(events: RecordTable, sources: RecordTable) -> tuple[CTEvent, ...]:
    """The CT acquisitions (TID 10013), each with its X-ray sources."""
    n = len(events)
    ordinal = _event_ordinal(sources, events)
    source_objects = _objects(
        CTSource, {name: _python(c) for name, c in sources.columns.items()}, len(sources)
    )
    per_event: list[list[CTSource]] = [[] for _ in range(n)]
    for event, source in zip(ordinal.tolist(), source_objects, strict=True):
        if event >= 0:
            per_event[event].append(source)
    values: dict[str, Any] = {
        name: _python(c) for name, c in events.columns.items() if name != "comment"
    }
    values["sources"] = [tuple(s) for s in per_event]
    return _objects(CTEvent, values, n)


def accumulated_doses(table: RecordTable) -> tuple[AccumulatedProjectionDose, ...]:
    """Accumulated dose per acquisition plane (a report without a plane code is single)."""
    values: dict[str, Any] = {name: _python(c) for name, c in table.columns.items()}
    values["plane"] = [plane or "single" for plane in values["plane"]]
    return _objects(AccumulatedProjectionDose, values, len(table))
