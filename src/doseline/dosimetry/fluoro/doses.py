"""Organ doses of irradiation events: coefficient x KAP x the explicit factors.

``D_T = CF_T(event) x KAP x k_cal`` for every organ ``T``, where

* ``CF_T`` is organ dose per unit in-air KAP from a :class:`CoefficientSource` (the table or
  direct Monte Carlo), which includes the attenuation of the beam by the patient support
  (:mod:`doseline.dosimetry.fluoro.geometry`);
* ``k_cal`` is the KAP meter's calibration factor (true KAP / displayed KAP; IEC 60580 allows
  +/-25 %; 1 unless the centre has calibrated its meter).

Organs are reported by ICRP name for the patient's sex (a male has no ovary or uterus dose, a
female no testis or prostate dose); the ICRP 103 effective dose is the sex-averaged one of the
hermaphrodite phantom, as ICRP 103 defines it for the reference person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from doseline.dosimetry.fluoro.events import CoefficientSource, check_events
from doseline.errors import InvalidInputError
from doseline.organs import effective_dose

__all__ = ["SEX_SPECIFIC_ORGANS", "DoseFactors", "effective_dose_sv", "event_organ_doses"]

#: Organs that only one sex has.
SEX_SPECIFIC_ORGANS = {"male": ("testes", "prostate"), "female": ("ovaries", "uterus")}


@dataclass(frozen=True)
class DoseFactors:
    """The explicit factor between the coefficient and the organ dose: the KAP meter's
    calibration (true / displayed KAP)."""

    kap_calibration: float = 1.0

    def __post_init__(self) -> None:
        if not 0.5 <= self.kap_calibration <= 2.0:
            raise ValueError(f"kap_calibration {self.kap_calibration} outside 0.5-2")


def event_organ_doses(
    events: pd.DataFrame,
    coefficients: CoefficientSource,
    factors: DoseFactors | None = None,
) -> pd.DataFrame:
    """Organ absorbed doses (Gy) of each event, one column per organ, plus
    ``effective_dose_sv``; organs of the other sex are NaN."""
    chosen = factors or DoseFactors()
    checked = check_events(events)
    kap = checked["kap_gycm2"].to_numpy(np.float64)
    if np.isnan(kap).any():
        row = checked.index[int(np.flatnonzero(np.isnan(kap))[0])]
        raise InvalidInputError("no KAP", source="events", record=f"event {row}", field="kap_gycm2")
    per_kap = coefficients.dose_per_kap(checked)
    doses = per_kap.mul(kap * chosen.kap_calibration, axis=0)
    doses["effective_dose_sv"] = effective_dose_sv(doses)
    for sex, organs in SEX_SPECIFIC_ORGANS.items():
        other = [o for o in organs if o in doses]
        doses.loc[checked["sex"].notna() & (checked["sex"] != sex), other] = np.nan
    doses.index = events.index
    return doses


def effective_dose_sv(organ_doses_gy: pd.DataFrame) -> pd.Series:
    """ICRP 103 sex-averaged effective dose (Sv) per row of an organ-dose frame (X-rays,
    w_R = 1)."""
    columns = {str(o): organ_doses_gy[o].to_numpy(np.float64) for o in organ_doses_gy.columns}
    return pd.Series(effective_dose(columns), index=organ_doses_gy.index, name="effective_dose_sv")
