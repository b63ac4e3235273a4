"""E/KAP of paediatric cardiac projections in the 5-year stylised phantom vs published values.

Reference: ``../shared/data/mc/paediatric_cardiac_E_per_KAP.csv`` (see its PROVENANCE.md):
Kawasaki et al. 2019 (5-y anthropomorphic phantom, PA and LAT, fluoroscopy and cine) and
Karambatsakidou et al. 2009 (5 y, one factor for all projections, ICRP 60 weights). Tolerance
30 %: the published factors come from other phantoms (physical 5-y phantom, PCXMC), other
spectra and, for Karambatsakidou, ICRP 60 weights (ICRP 103 breast weight raises them by
10-30 % according to the authors). Beam: 70 kVp, 3 mm Al + 0.2 mm Cu, isocentre at the heart
centroid, 700/1000 mm, 120 x 120 mm at the detector, no table (as in PCXMC).
Ubeda et al. 2017 is not used: its values are medians over age brackets (5-<10 y), not a 5-y
phantom. The 5-y phantom's organs are sized to the ORNL 5-y phantom masses (DCAL REGMASS,
docs/phantoms.md); the comparison still fails for the LAT cine factor and the
Karambatsakidou single factor (xfail reason below, with the numbers).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from doseline.physics.organ_dose import effective_dose_sv_per_history, organ_doses_gy_per_history
from doseline.physics.source import c_arm_source
from doseline.physics.spectra import from_spekpy
from doseline.physics.transport.api import simulate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mc"
TABLE = SHARED / "paediatric_cardiac_E_per_KAP.csv"


def _references() -> list[dict[str, str]]:
    if not TABLE.exists():
        pytest.skip(f"reference table {TABLE.name} not found under {SHARED}")
    with TABLE.open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["age_group"] == "5y"]


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=(
        "known discrepancy (2026-11-26, after sizing the derived 5-y organs to the ORNL 5-y "
        "phantom masses, breast 1.5 g instead of 64 g): E/KAP is 1.07 (PA) and 1.97 (LAT) "
        "mSv/(Gy cm2) vs 0.9 / 1.6 fluoroscopy and 0.9 / 1.5 cine (Kawasaki 2019): PA +19 %, "
        "LAT +23 % and +31 %; and 1.52 (PA/LAT mean) vs 1.0 (Karambatsakidou 2009, ICRP 60 "
        "weights, whose authors put the ICRP 103 increase at 10-30 %): +52 %. Before the "
        "resizing: 1.20 / 1.80, mean 1.50. Breast (w_T 0.12) still dominates LAT: its dose per "
        "KAP rose from 8.2 to 9.9 mGy/(Gy cm2) (small lens at the surface). Suspects: the slim "
        "derived trunk (5-y semi-axes 105 x 60 mm), the single-factor comparison. "
        "Remove this mark when it passes; strict=True makes the pass visible."
    ),
)
def test_e_per_kap_five_year_cardiac_projections() -> None:
    stylised = pytest.importorskip("doseline.physics.phantoms.stylised")
    rows = _references()
    phantom = stylised.build_phantom("5y", 2.0)
    spectrum = from_spekpy(70.0, 12.0, {"Al": 3.0, "Cu": 0.2})
    iso = phantom.centroid_mm("heart")
    e_per_kap = {}
    for projection, primary_deg in (("PA", 0.0), ("LAT", 90.0)):
        source = c_arm_source(
            iso, primary_deg, 0.0, distance_source_to_isocentre_mm=700.0,
            distance_source_to_detector_mm=1000.0, field_size_mm=(120.0, 120.0),
        )  # fmt: skip
        result = simulate(phantom, source, spectrum, 400_000, seed=4)
        doses = organ_doses_gy_per_history(
            result, phantom, stylised.region_organs(), stylised.ORGAN_SURROGATES
        )
        e_sv = effective_dose_sv_per_history(doses)
        e_per_kap[projection] = e_sv / result.kap_gycm2_per_history * 1000.0  # mSv/(Gy cm2)
    checked = 0
    for row in rows:
        value = float(row["value"])
        mode = row["projection_or_mode"]
        if mode.startswith(("PA", "LAT")):
            ours = e_per_kap[mode.split()[0]]
        else:  # one factor for all projections: compare with the PA/LAT mean
            ours = 0.5 * (e_per_kap["PA"] + e_per_kap["LAT"])
        assert ours == pytest.approx(value, rel=0.30), (row["source_id"], mode, ours)
        checked += 1
    assert checked >= 5
