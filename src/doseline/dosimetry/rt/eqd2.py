"""Biologically weighted doses: BED and EQD2 per voxel (linear-quadratic model), and their sums.

For a course of ``n`` equal fractions giving total dose ``D`` (dose per fraction ``d = D / n``)
to a tissue with ratio ``alpha/beta``:

``BED = D (1 + d / (alpha/beta))`` and ``EQD2 = BED / (1 + 2 / (alpha/beta))
= D (d + alpha/beta) / (2 + alpha/beta)``

(Withers HR, Thames HD, Peters LJ, Radiother Oncol 1983;1:187-191; Joiner & Bentzen, ch. 8 of
Basic Clinical Radiobiology, 4th ed., 2009). No repopulation or incomplete-repair terms.

A biologically weighted sum of courses converts each course's physical dose (resampled onto the
common grid, :mod:`doseline.dosimetry.rt.plansum`) with its own number of fractions, then adds
the EQD2 grids. The ratio ``alpha/beta`` belongs to a tissue and an end point: compute one EQD2
grid per ratio and take each organ's DVH on the grid of its ratio. Documented ratios are in
``doseline/data/rt/alpha_beta.csv`` (see ``PROVENANCE.md`` there) and :func:`alpha_beta_gy`.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import numpy as np
from numpy.typing import ArrayLike, NDArray

from doseline.dicom.rt_common import RTWarning
from doseline.dicom.rt_dose import DoseGridGeometry, RTDose
from doseline.dosimetry.rt.plansum import PlanSum, Registration, find_registration, resample_dose
from doseline.errors import InvalidInputError

__all__ = [
    "AlphaBeta",
    "AlphaBetaDefaultWarning",
    "Course",
    "alpha_beta_gy",
    "alpha_beta_table",
    "bed_gy",
    "eqd2_dose",
    "eqd2_gy",
    "eqd2_sum",
]


class AlphaBetaDefaultWarning(RTWarning):
    """No ratio is documented for the tissue and end point; the generic default was used."""


@dataclass(frozen=True, slots=True)
class AlphaBeta:
    """A documented alpha/beta ratio with its source."""

    tissue: str
    endpoint: str
    alpha_beta_gy: float
    reference: str
    checked_against_source: bool


@dataclass(frozen=True, slots=True)
class Course:
    """One fractionated course (or plan) of a biologically weighted sum.

    ``dose`` is the total physical dose of the course (summation type PLAN) delivered in
    ``n_fractions`` equal fractions; ``registration`` maps the sum's frame into the dose's.
    """

    dose: RTDose
    n_fractions: int
    registration: Registration | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.n_fractions, int) or self.n_fractions < 1:
            raise InvalidInputError(
                f"must be a positive integer, not {self.n_fractions!r}",
                source=self.dose.source,
                field="n_fractions",
            )


def _check_ratio(alpha_beta_gy: ArrayLike) -> NDArray[np.float64]:
    ratio = np.asarray(alpha_beta_gy, dtype=np.float64)
    if not np.all(np.isfinite(ratio)) or np.any(ratio <= 0):
        raise InvalidInputError("alpha/beta must be positive and finite", field="alpha_beta_gy")
    return ratio


def _check_dose(dose_gy: ArrayLike, n_fractions: int) -> NDArray[np.float64]:
    dose = np.asarray(dose_gy, dtype=np.float64)
    if not isinstance(n_fractions, int | np.integer) or n_fractions < 1:
        raise InvalidInputError(
            f"must be a positive integer, not {n_fractions!r}", field="n_fractions"
        )
    if not np.all(np.isfinite(dose)) or np.any(dose < 0):
        raise InvalidInputError("doses must be finite and non-negative", field="dose_gy")
    return dose


def bed_gy(dose_gy: ArrayLike, n_fractions: int, alpha_beta_gy: ArrayLike) -> NDArray[np.float64]:
    """Biologically effective dose ``D (1 + D / (n alpha/beta))`` (element-wise)."""
    dose = _check_dose(dose_gy, n_fractions)
    ratio = _check_ratio(alpha_beta_gy)
    bed: NDArray[np.float64] = dose * (1.0 + dose / (n_fractions * ratio))
    return bed


def eqd2_gy(dose_gy: ArrayLike, n_fractions: int, alpha_beta_gy: ArrayLike) -> NDArray[np.float64]:
    """Equivalent dose in 2 Gy fractions ``D (D / n + alpha/beta) / (2 + alpha/beta)``."""
    dose = _check_dose(dose_gy, n_fractions)
    ratio = _check_ratio(alpha_beta_gy)
    eqd2: NDArray[np.float64] = dose * (dose / n_fractions + ratio) / (2.0 + ratio)
    return eqd2


def eqd2_dose(dose: RTDose, n_fractions: int, alpha_beta_gy: ArrayLike) -> RTDose:
    """The EQD2 grid of one course (``alpha_beta_gy`` a scalar or a grid of ratios)."""
    return RTDose(
        source=f"EQD2 (alpha/beta {alpha_beta_gy if np.ndim(alpha_beta_gy) == 0 else 'map'}"
        f" Gy, {n_fractions} fractions) of {dose.source}",
        dose=eqd2_gy(dose.dose_gy, n_fractions, alpha_beta_gy),
        geometry=dose.geometry,
        dose_units="GY",
        dose_type="EFFECTIVE",
        summation_type=dose.summation_type,
        frame_of_reference_uid=dose.frame_of_reference_uid,
        referenced_plan_uid=dose.referenced_plan_uid,
    )


def eqd2_sum(
    courses: Sequence[Course],
    alpha_beta_gy: ArrayLike,
    grid: DoseGridGeometry | None = None,
    *,
    frame_of_reference_uid: str | None = None,
) -> PlanSum:
    """Biologically weighted sum: EQD2 of each course on the common grid, added.

    Parameters
    ----------
    courses
        The courses, each with its own number of fractions.
    alpha_beta_gy
        Ratio for the tissue (scalar) or per voxel of the common grid.
    grid, frame_of_reference_uid
        The common grid and its frame; the first course's by default.
    """
    if not courses:
        raise InvalidInputError("no courses to sum", field="courses")
    target = grid or courses[0].dose.geometry
    frame = frame_of_reference_uid or courses[0].dose.frame_of_reference_uid
    ratio = _check_ratio(alpha_beta_gy)
    if ratio.ndim and ratio.shape != target.shape:
        raise InvalidInputError(
            f"alpha/beta grid {ratio.shape} differs from the common grid {target.shape}",
            field="alpha_beta_gy",
        )
    mappings = [
        find_registration(course.dose, frame, [course.registration] if course.registration else [])
        for course in courses
    ]
    total = np.zeros(target.shape)
    coverage = []
    for course, mapping in zip(courses, mappings, strict=True):
        physical, covered = resample_dose(course.dose, target, mapping)
        _ = course.dose.dose_gy  # refuses relative dose
        total += eqd2_gy(physical, course.n_fractions, ratio)
        coverage.append(covered)
    summed = RTDose(
        source="EQD2 sum of " + ", ".join(course.dose.source for course in courses),
        dose=total,
        geometry=target,
        dose_units="GY",
        dose_type="EFFECTIVE",
        summation_type="MULTI_PLAN",
        frame_of_reference_uid=frame,
    )
    return PlanSum(dose=summed, coverage=tuple(coverage))


@cache
def alpha_beta_table() -> tuple[AlphaBeta, ...]:
    """The documented ratios of ``doseline/data/rt/alpha_beta.csv`` (read once, immutable)."""
    text = files("doseline.data").joinpath("rt", "alpha_beta.csv").read_text("utf-8")
    return tuple(
        AlphaBeta(
            tissue=row["tissue"],
            endpoint=row["endpoint"],
            alpha_beta_gy=float(row["alpha_beta_gy"]),
            reference=row["reference"],
            checked_against_source=row["checked_against_source"].strip().lower() == "yes",
        )
        for row in csv.DictReader(io.StringIO(text))
    )


def alpha_beta_gy(tissue: str, endpoint: str | None = None, *, kind: str = "late") -> AlphaBeta:
    """The documented ratio for ``tissue`` (and ``endpoint`` if given).

    Falls back to the generic ``kind`` (``"late"`` 3 Gy or ``"early"`` 10 Gy) with an
    :class:`AlphaBetaDefaultWarning` when the table holds no entry for the tissue.
    """
    if kind not in ("late", "early"):
        raise InvalidInputError(f"kind must be 'late' or 'early', not {kind!r}", field="kind")
    table = alpha_beta_table()
    matches = [
        entry
        for entry in table
        if entry.tissue == tissue and (endpoint is None or entry.endpoint == endpoint)
    ]
    if len(matches) > 1:
        choices = ", ".join(entry.endpoint for entry in matches)
        raise InvalidInputError(f"several end points for {tissue!r}: {choices}", field="endpoint")
    if matches:
        return matches[0]
    warnings.warn(
        f"no alpha/beta documented for {tissue!r}"
        + (f" ({endpoint})" if endpoint else "")
        + f"; using the generic {kind}-effect value",
        AlphaBetaDefaultWarning,
        stacklevel=2,
    )
    return next(entry for entry in table if entry.tissue == "default" and entry.endpoint == kind)
