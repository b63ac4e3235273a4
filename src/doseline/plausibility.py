"""Limits outside which a value is impossible or certainly a decoding error.

The limits are deliberately wide: they catch a sign error or a unit mislabelled by orders of
magnitude (a dose-area product in Gy.m2 labelled Gy.cm2 is 10,000 times too large), never a
real high-dose case. Each limit carries its basis in ``data/plausibility_limits.csv``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import numpy as np

from doseline.errors import ImplausibleValueError

__all__ = ["Limit", "check_value", "limits", "violation", "violations"]


@dataclass(frozen=True, slots=True)
class Limit:
    """Allowed range of a field (``minimum`` inclusive unless ``exclusive_minimum``).

    ``reject`` says whether a violation refuses the whole record (a dose or time that cannot be
    trusted) or only makes the value unknown (a vendor's 0 for an unknown weight or distance).
    """

    field: str
    minimum: float
    maximum: float
    exclusive_minimum: bool
    reject: bool
    basis: str


@cache
def limits() -> dict[str, Limit]:
    """The limits shipped in ``doseline/data/plausibility_limits.csv``, by field name."""
    text = files("doseline.data").joinpath("plausibility_limits.csv").read_text("utf-8")
    table: dict[str, Limit] = {}
    for row in csv.DictReader(line for line in text.splitlines() if not line.startswith("#")):
        table[row["field"]] = Limit(
            field=row["field"],
            minimum=float(row["minimum"]),
            maximum=float(row["maximum"]),
            exclusive_minimum=row["exclusive_minimum"].strip().lower() == "true",
            reject=row["on_violation"].strip() == "reject",
            basis=row["basis"],
        )
    return table


def _outside(limit: Limit, values: Any) -> Any:
    """Whether ``values`` (a number or an array) lie outside ``limit`` (NaN never does)."""
    too_low = values <= limit.minimum if limit.exclusive_minimum else values < limit.minimum
    return too_low | (values > limit.maximum)


def violation(
    field: str, value: float | None, *, source: str | None = None, record: str | None = None
) -> ImplausibleValueError | None:
    """The error for ``value`` if it is outside the limits of ``field``, else ``None``.

    ``None`` and NaN (absent values) pass; infinities never do. Fields without a limit pass.
    The error's ``reject`` attribute tells whether the record must be refused.
    """
    if value is None or math.isnan(value):
        return None
    where = {"source": source, "record": record, "field": field}
    if math.isinf(value):
        return ImplausibleValueError("value is infinite", **where, reject=True)
    limit = limits().get(field)
    if limit is None or not _outside(limit, value):
        return None
    low = "(" if limit.exclusive_minimum else "["
    return ImplausibleValueError(
        f"{value:g} is outside {low}{limit.minimum:g}, {limit.maximum:g}] ({limit.basis})",
        **where,
        reject=limit.reject,
    )


def check_value(
    field: str, value: float | None, *, source: str | None = None, record: str | None = None
) -> None:
    """Raise the :func:`violation` of ``value``, if it has one."""
    error = violation(field, value, source=source, record=record)
    if error is not None:
        raise error


def violations(field: str, values: np.ndarray) -> np.ndarray:
    """Boolean mask of the entries of ``values`` outside the limits of ``field`` (the array
    form of :func:`violation`)."""
    limit = limits().get(field)
    out: np.ndarray = np.isinf(values)
    if limit is None:
        return out
    return np.asarray(out | _outside(limit, values), dtype=np.bool_)
