"""Weight and height for age and sex from the CDC 2000 growth charts (LMS method).

The reference is ``doseline/data/growth_reference.csv`` (see its provenance file): LMS
parameters of the CDC 2000 weight-for-age and length/stature-for-age charts at selected ages
(Kuczmarski et al., Vital Health Stat 11(246), 2002). Between tabulated ages L, M and S are
interpolated linearly in age; the value at standard-deviation score ``z`` is
``M * (1 + L*S*z)**(1/L)`` (Cole and Green, Stat Med 1992;11:1305-19). Everything is
vectorised over children.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import numpy as np
import numpy.typing as npt

__all__ = ["DAYS_PER_MONTH", "LMSTable", "growth_reference", "lms_value", "weight_height"]

FloatArray = npt.NDArray[np.float64]
# Ages of the CDC charts are in months of 365.25/12 days (Kuczmarski et al. 2002, ch. 2).
DAYS_PER_MONTH = 365.25 / 12.0


@dataclass(frozen=True)
class LMSTable:
    """The LMS parameters of one measure and sex, by age in months (ascending)."""

    measure: str
    sex: str
    age_months: FloatArray
    L: FloatArray
    M: FloatArray
    S: FloatArray
    p5: FloatArray
    p95: FloatArray


@cache
def growth_reference() -> dict[tuple[str, str], LMSTable]:
    """The tables of ``growth_reference.csv`` by (measure, sex), e.g. ``("weight_kg", "F")``."""
    text = files("doseline.data").joinpath("growth_reference.csv").read_text("utf-8")
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    tables: dict[tuple[str, str], LMSTable] = {}
    for key in sorted({(row["measure"], row["sex"]) for row in rows}):
        selected = sorted(
            (row for row in rows if (row["measure"], row["sex"]) == key),
            key=lambda row: float(row["age_months"]),
        )

        def column(name: str, chosen: list[dict[str, str]] = selected) -> FloatArray:
            return np.array([float(row[name]) if row[name] else np.nan for row in chosen])

        tables[key] = LMSTable(
            key[0],
            key[1],
            column("age_months"),
            column("L"),
            column("M"),
            column("S"),
            column("P5"),
            column("P95"),
        )
    return tables


def lms_value(
    measure: str, is_male: npt.ArrayLike, age_months: npt.ArrayLike, z: npt.ArrayLike
) -> FloatArray:
    """The value of ``measure`` at standard-deviation score ``z`` for age and sex.

    Parameters
    ----------
    measure
        ``"weight_kg"`` or ``"height_cm"``.
    is_male
        True for boys (CDC sex 1), false for girls (CDC sex 2).
    age_months
        Age in months of 365.25/12 days; clamped to the table's range (0 to 240 months).
    z
        Standard-deviation score (0 gives the median).
    """
    male = np.asarray(is_male, dtype=bool)
    age = np.asarray(age_months, dtype=float)
    score = np.asarray(z, dtype=float)
    male, age, score = np.broadcast_arrays(male, age, score)
    out = np.empty(age.shape, dtype=float)
    for sex, mask in (("M", male), ("F", ~male)):
        table = growth_reference()[(measure, sex)]
        a = np.clip(age[mask], table.age_months[0], table.age_months[-1])
        lam = np.interp(a, table.age_months, table.L)
        mu = np.interp(a, table.age_months, table.M)
        sigma = np.interp(a, table.age_months, table.S)
        zz = score[mask]
        with np.errstate(invalid="ignore", divide="ignore"):
            boxcox = mu * np.power(1.0 + lam * sigma * zz, 1.0 / lam)
        out[mask] = np.where(np.abs(lam) < 1e-12, mu * np.exp(sigma * zz), boxcox)
    return out


def weight_height(
    age_days: npt.ArrayLike,
    is_male: npt.ArrayLike,
    z_weight: npt.ArrayLike,
    z_height: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray]:
    """Weight (kg) and height (cm) of children of the given ages, sexes and z-scores.

    The scores are clipped where the LMS curves stay defined (``1 + L*S*z > 0``): weight to
    [-3, 3] (L*S reaches -0.30 in the weight tables, so the limit there is z < 3.3),
    height to [-4, 4].
    """
    months = np.asarray(age_days, dtype=float) / DAYS_PER_MONTH
    zw = np.clip(np.asarray(z_weight, dtype=float), -3.0, 3.0)
    zh = np.clip(np.asarray(z_height, dtype=float), -4.0, 4.0)
    return lms_value("weight_kg", is_male, months, zw), lms_value("height_cm", is_male, months, zh)
