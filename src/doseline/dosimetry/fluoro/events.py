"""Irradiation events as the fluoroscopy dosimetry reads them: one table row per event.

Every path (conversion-coefficient table, direct Monte Carlo, legacy averaging, uncertainty)
takes the same event frame, so an event is described once. Columns, with units in the names:

=============================  =========================================================
``age_y``                      age at exposure (years), required
``sex``                        ``"male"`` or ``"female"``; missing means the sex-averaged
                               reference (ICRP 103 effective dose uses both anyway)
``height_cm``, ``weight_kg``   body size; missing means the phantom's reference size
``kvp``                        tube voltage (kV), required
``filter_cu_mm``               added copper filtration (mm), missing means 0
``filter_al_mm``               added aluminium filtration (mm), missing means 0
``primary_angle_deg``          DICOM Positioner Primary Angle (LAO positive)
``secondary_angle_deg``        DICOM Positioner Secondary Angle (cranial positive)
``field_width_mm``,            collimated field at the image receptor (DICOM Collimated
``field_height_mm``            Field Width / Height, TID 10003)
``distance_source_to_detector_mm``, ``distance_source_to_isocenter_mm``
                               from the RDSR; missing means :data:`DEFAULT_SID_MM` and
                               :data:`DEFAULT_SOD_MM`
``kap_gycm2``                  kerma-area product of the event (Gy cm2), required for doses
=============================  =========================================================

The field that matters for organ dose is the one at the patient; it is summarised as the side
of the square of equal area in the isocentre plane, :func:`field_side_at_isocentre_cm`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.errors import InvalidInputError

__all__ = [
    "DEFAULT_SID_MM",
    "DEFAULT_SOD_MM",
    "EVENT_COLUMNS",
    "PLAUSIBLE_RANGES",
    "CoefficientSource",
    "FluoroEvent",
    "check_events",
    "field_side_at_isocentre_cm",
]

F64 = npt.NDArray[np.float64]

#: Source-to-image distance used when the RDSR gives none: the middle of the 900-1200 mm range
#: of cardiac C-arms (e.g. the Siemens AXIOM-Artis file of PySkinDose reports 1200 mm, the
#: Philips Allura 1100-1200 mm). A documented default, carried as uncertainty where used.
DEFAULT_SID_MM = 1000.0
#: Source-to-isocentre distance used when the RDSR gives none (Siemens AXIOM-Artis: 785 mm,
#: Philips Allura: 810 mm, in ../shared/data/rdsr files); 750 mm as a round middle value.
DEFAULT_SOD_MM = 750.0

#: Columns of an event frame and whether each is required (see the module docstring).
EVENT_COLUMNS: Mapping[str, bool] = {
    "age_y": True,
    "sex": False,
    "height_cm": False,
    "weight_kg": False,
    "kvp": True,
    "filter_cu_mm": False,
    "filter_al_mm": False,
    "primary_angle_deg": True,
    "secondary_angle_deg": True,
    "field_width_mm": True,
    "field_height_mm": True,
    "distance_source_to_detector_mm": False,
    "distance_source_to_isocenter_mm": False,
    "kap_gycm2": False,
}

#: Plausible ranges (inclusive) checked on every event; values outside are input errors.
#: Ages: the phantom family covers newborn to adult. kVp: IEC 60601-2-43 fluoroscopy range
#: 40-150 kV. Angles: the C-arm limits of the DICOM definition (PS3.3 C.8.7.5.1.2).
PLAUSIBLE_RANGES: Mapping[str, tuple[float, float]] = {
    "age_y": (0.0, 120.0),
    "height_cm": (30.0, 230.0),
    "weight_kg": (0.3, 300.0),
    "kvp": (40.0, 150.0),
    "filter_cu_mm": (0.0, 3.0),
    "filter_al_mm": (0.0, 20.0),
    "primary_angle_deg": (-180.0, 180.0),
    "secondary_angle_deg": (-90.0, 90.0),
    "field_width_mm": (1.0, 600.0),
    "field_height_mm": (1.0, 600.0),
    "distance_source_to_detector_mm": (200.0, 2000.0),
    "distance_source_to_isocenter_mm": (100.0, 1500.0),
    "kap_gycm2": (0.0, 1.0e5),
}


def check_events(events: pd.DataFrame, *, source: str = "events") -> pd.DataFrame:
    """The event frame with defaults filled in, after checking every value (vectorised).

    Raises
    ------
    InvalidInputError
        Naming ``source``, the first bad row (its index label) and the column, for a missing
        required column or value, a non-numeric value, a value outside its plausible range,
        an unknown sex, or a source-to-isocentre distance not shorter than source-to-detector.
    """
    missing = [c for c, required in EVENT_COLUMNS.items() if required and c not in events]
    if missing:
        raise InvalidInputError(f"missing column(s) {', '.join(missing)}", source=source)
    out = events.copy()
    for column in EVENT_COLUMNS:
        if column not in out:
            out[column] = np.nan if column != "sex" else None
    out = _fill_defaults(out)
    for column, (low, high) in PLAUSIBLE_RANGES.items():
        values = pd.to_numeric(out[column], errors="coerce")
        bad_text = values.isna() & out[column].notna()
        _raise_first(bad_text, out, source, column, "is not a number")
        if EVENT_COLUMNS[column]:
            _raise_first(values.isna(), out, source, column, "is missing")
        bad = values.notna() & ~values.between(low, high)
        _raise_first(bad, out, source, column, f"is outside the plausible range {low}-{high}")
        out[column] = values.astype(np.float64)
    sexes = out["sex"].where(out["sex"].notna(), None)
    unknown = sexes.notna() & ~sexes.isin(["male", "female"])
    _raise_first(unknown, out, source, "sex", "must be 'male' or 'female'")
    geometry = out["distance_source_to_isocenter_mm"] >= out["distance_source_to_detector_mm"]
    _raise_first(
        geometry, out, source, "distance_source_to_isocenter_mm", "must be < source-to-detector"
    )
    return out


def _fill_defaults(events: pd.DataFrame) -> pd.DataFrame:
    defaults = {
        "filter_cu_mm": 0.0,
        "filter_al_mm": 0.0,
        "distance_source_to_detector_mm": DEFAULT_SID_MM,
        "distance_source_to_isocenter_mm": DEFAULT_SOD_MM,
    }
    for column, value in defaults.items():
        events[column] = pd.to_numeric(events[column], errors="coerce").fillna(value)
    return events


def _raise_first(
    mask: pd.Series, events: pd.DataFrame, source: str, column: str, reason: str
) -> None:
    if bool(mask.any()):
        label = events.index[int(np.flatnonzero(mask.to_numpy())[0])]
        value = events.at[label, column]
        shown = f"{value:g}" if isinstance(value, int | float | np.number) else repr(value)
        raise InvalidInputError(
            f"{shown} {reason}", source=source, record=f"event {label}", field=column
        )


def field_side_at_isocentre_cm(events: pd.DataFrame) -> F64:
    """Side (cm) of the square with the event's field area, projected to the isocentre plane.

    The collimated field is given at the image receptor (DICOM TID 10003); at the isocentre it
    is smaller by the ratio of the distances from the focal spot.
    """
    magnification = (
        events["distance_source_to_isocenter_mm"] / events["distance_source_to_detector_mm"]
    )
    side_mm = np.sqrt(events["field_width_mm"] * events["field_height_mm"]) * magnification
    return np.asarray(side_mm / 10.0, dtype=np.float64)


@dataclass(frozen=True)
class FluoroEvent:
    """One irradiation event (the fields of :data:`EVENT_COLUMNS`); valid on construction."""

    age_y: float
    kvp: float
    primary_angle_deg: float
    secondary_angle_deg: float
    field_width_mm: float
    field_height_mm: float
    kap_gycm2: float | None = None
    sex: str | None = None
    height_cm: float | None = None
    weight_kg: float | None = None
    filter_cu_mm: float = 0.0
    filter_al_mm: float = 0.0
    distance_source_to_detector_mm: float = DEFAULT_SID_MM
    distance_source_to_isocenter_mm: float = DEFAULT_SOD_MM

    def __post_init__(self) -> None:
        check_events(self.to_frame(), source="irradiation event")

    def to_frame(self) -> pd.DataFrame:
        """The event as a one-row event frame."""
        return pd.DataFrame([asdict(self)])


class CoefficientSource(Protocol):
    """Anything that gives organ absorbed dose per unit KAP for the events of a frame."""

    def dose_per_kap(self, events: pd.DataFrame) -> pd.DataFrame:
        """Organ absorbed dose per unit KAP (Gy per Gy cm2): one row per event (same index),
        one column per organ (ICRP names of :data:`doseline.organs.ORGANS`)."""
        ...
