"""Summary of a registry: patients and procedures by centre and era, and dose-area product by
patient weight band (the grouping of paediatric diagnostic reference levels).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import cast

import numpy as np
import pandas as pd
from sqlalchemy import Table, select

from doseline.registry.database import Registry
from doseline.registry.exposures import Exposure
from doseline.registry.people import Centre

__all__ = ["RegistrySummary", "band_labels", "registry_summary", "weight_band"]

_exposure = cast(Table, Exposure.__table__)
_centre = cast(Table, Centre.__table__)


@cache
def _bands(scheme: str) -> tuple[tuple[str, float, float], ...]:
    text = files("doseline.data").joinpath("patient_bands.csv").read_text("utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return tuple(
        (row["label"], float(row["lower_inclusive"]), float(row["upper_exclusive"]))
        for row in rows
        if row["scheme"] == scheme
    )


def band_labels(scheme: str = "weight_5band") -> list[str]:
    """Labels of the bands of ``scheme`` (``weight_5band`` or ``age_4band_ic``), in order."""
    return [label for label, _, _ in _bands(scheme)]


def weight_band(weight_kg: pd.Series) -> pd.Series:
    """The weight band of each weight (``None`` outside the bands or unknown)."""
    bands = _bands("weight_5band")
    edges = [low for _, low, _ in bands] + [bands[-1][2]]
    labels = [label for label, _, _ in bands]
    return pd.cut(weight_kg, bins=edges, labels=labels, right=False)


@dataclass(frozen=True)
class RegistrySummary:
    """Counts by centre and era, and dose-area product statistics by weight band."""

    by_centre: pd.DataFrame
    kap_by_weight_band: pd.DataFrame

    def to_text(self) -> str:
        by_centre = self.by_centre.to_string(index=False)
        kap = self.kap_by_weight_band.to_string(index=False, float_format=lambda v: f"{v:.3g}")
        return (
            "Patients and procedures by centre and era\n"
            f"{by_centre}\n\n"
            "Dose-area product (Gy.cm2) per procedure by weight band "
            "(bands of EC RP 185; Q3 is the statistic of diagnostic reference levels)\n"
            f"{kap}"
        )


def registry_summary(registry: Registry) -> RegistrySummary:
    """Summarise the exposures of the registry (one query; the grouping is done in pandas)."""
    statement = select(
        _centre.c.name.label("centre"),
        _exposure.c.era,
        _exposure.c.patient_id,
        _exposure.c.weight_kg,
        _exposure.c.kap_total_gycm2,
    ).select_from(_exposure.join(_centre, _centre.c.id == _exposure.c.centre_id))
    with registry.engine.connect() as connection:
        exposures = pd.read_sql_query(statement, connection)
    by_centre = (
        exposures.groupby(["centre", "era"], observed=True)
        .agg(patients=("patient_id", "nunique"), procedures=("patient_id", "size"))
        .reset_index()
    )
    exposures["weight_band"] = weight_band(exposures["weight_kg"])
    with_kap = exposures.dropna(subset=["kap_total_gycm2"])
    grouped = with_kap.groupby("weight_band", observed=False)["kap_total_gycm2"]
    kap = pd.DataFrame(
        {
            "weight_band": band_labels(),
            "procedures": grouped.size().reindex(band_labels()).fillna(0).astype(int).to_numpy(),
            "median": grouped.median().reindex(band_labels()).to_numpy(),
            "q3": grouped.quantile(0.75).reindex(band_labels()).to_numpy(),
            "max": grouped.max().reindex(band_labels()).to_numpy(),
        }
    )
    unbanded = with_kap["weight_band"].isna()
    if unbanded.any():
        values = with_kap.loc[unbanded, "kap_total_gycm2"]
        extra = pd.DataFrame(
            {
                "weight_band": ["weight unknown or >= 80 kg"],
                "procedures": [int(unbanded.sum())],
                "median": [float(values.median())],
                "q3": [float(np.quantile(values, 0.75))],
                "max": [float(values.max())],
            }
        )
        kap = pd.concat([kap, extra], ignore_index=True)
    return RegistrySummary(by_centre=by_centre, kap_by_weight_band=kap)
