"""Which phantom stands for a patient: age, or the patient's body size where it is known.

The table path interpolates conversion coefficients between the phantoms of the stylised
family (newborn, 1, 5, 10, 15 years, adult) at an *equivalent age*. Without height and weight it
is the patient's age. With both, it is the age whose reference phantom has the patient's
transverse size: organ dose per KAP in the trunk depends mostly on trunk thickness, and in the
PCXMC scaling (Tapiovaara & Siiskonen, STUK-A231, 2008, section 2.2) transverse dimensions scale
as ``sqrt(W / H)``; the equivalent age is where the phantoms' ``sqrt(W_ref / H_ref)``, linearly
interpolated in age, equals the patient's. The direct Monte Carlo path scales the phantom
itself (:func:`doseline.physics.phantoms.scaling.patient_phantom`); the two are compared in
``docs/fluoro_dosimetry.md``.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.physics.phantoms.reference import AGES
from doseline.physics.phantoms.stylised import age_scaling

__all__ = ["PHANTOM_AGE_Y", "equivalent_age_y", "nearest_phantom"]

F64 = npt.NDArray[np.float64]

#: Age (years) each phantom of the family stands for. The ICRP 89 adult is a grown body: placed
#: at 20 years (end of growth), so that 15-20-year-olds interpolate between 15 y and adult.
PHANTOM_AGE_Y: dict[str, float] = {
    "newborn": 0.0,
    "1y": 1.0,
    "5y": 5.0,
    "10y": 10.0,
    "15y": 15.0,
    "adult": 20.0,
}


@cache
def _reference_size_index() -> tuple[F64, F64]:
    ages = np.array([PHANTOM_AGE_Y[a] for a in AGES])
    size = np.array(
        [np.sqrt(age_scaling(a).body_mass_g / 1000.0 / age_scaling(a).height_cm) for a in AGES]
    )
    if np.any(np.diff(size) <= 0):
        raise RuntimeError("phantom size index is not increasing with age")
    return ages, size


def equivalent_age_y(events: pd.DataFrame) -> F64:
    """Equivalent age (years) per event: from height and weight where both are given, else age.

    Clamped to the family's range (newborn to adult).
    """
    ages, size = _reference_size_index()
    age = events["age_y"].to_numpy(np.float64)
    height = events["height_cm"].to_numpy(np.float64)
    weight = events["weight_kg"].to_numpy(np.float64)
    known = np.isfinite(height) & np.isfinite(weight)
    with np.errstate(invalid="ignore", divide="ignore"):
        index = np.sqrt(weight / height)
    by_size = np.interp(index, size, ages)
    out: F64 = np.clip(np.where(known, by_size, age), ages[0], ages[-1])
    return out


def nearest_phantom(age_y: float) -> str:
    """The phantom of the family whose age is closest to ``age_y``."""
    return min(AGES, key=lambda a: abs(PHANTOM_AGE_Y[a] - age_y))
