"""E/KAP of paediatric cardiac projections in the 5-year stylised phantom vs published values.

Reference: ``../shared/data/mc/paediatric_cardiac_E_per_KAP.csv`` (see its PROVENANCE.md):
Kawasaki et al. 2019 (5-y anthropomorphic phantom, PA and LAT, fluoroscopy and cine) and
Karambatsakidou et al. 2009 (5 y, one factor for all projections, ICRP 60 weights). Tolerance
30 %: the published factors come from other phantoms (physical 5-y phantom, PCXMC) and other
spectra and field sizes. Each factor is compared with the effective dose of its own tissue
weighting: ICRP 60 (Table 2) where the source says so, ICRP 103 otherwise. A single factor for
all projections is compared with the PA/LAT mean. Beam: 70 kVp, 3 mm Al + 0.2 mm Cu,
isocentre at the heart centroid, 700/1000 mm, 120 x 120 mm at the detector, no table (as in
PCXMC). Ubeda et al. 2017 is not used: its values are medians over age brackets (5-<10 y), not
a 5-y phantom. The 5-y phantom's organs are sized to the ORNL 5-y phantom masses
(docs/phantoms.md).
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import pytest

from doseline.organs import effective_dose, effective_dose_icrp60
from doseline.physics.organ_dose import organ_doses_gy_per_history
from doseline.physics.source import c_arm_source
from doseline.physics.spectra import from_spekpy
from doseline.physics.transport.api import simulate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mc"
TABLE = SHARED / "paediatric_cardiac_E_per_KAP.csv"

#: Known discrepancy (2026-11-26): LAT is 1.97 mSv/(Gy cm2) against Kawasaki's 1.5 for cine
#: (+31 %), while fluoroscopy (1.6, +23 %) passes. The breast (w_T 0.12 in ICRP 103) dominates
#: LAT; suspects are the slim derived 5-y trunk (semi-axes 105 x 60 mm) and the lateral
#: direction (tube on the patient's right here; the paper's abstract does not say).
KNOWN_DISCREPANCIES = {("kawasaki2019", "LAT cineangiography")}


def _references() -> list[dict[str, str]]:
    if not TABLE.exists():
        return []
    with TABLE.open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["age_group"] == "5y"]


@cache
def _organ_doses_per_kap() -> dict[str, dict[str, float]]:
    """Organ dose per KAP (Gy per Gy cm2) in the 5-y phantom, PA and LAT (seed 4)."""
    from doseline.physics.phantoms import stylised

    phantom = stylised.build_phantom("5y", 2.0)
    spectrum = from_spekpy(70.0, 12.0, {"Al": 3.0, "Cu": 0.2})
    iso = phantom.centroid_mm("heart")
    doses = {}
    for projection, primary_deg in (("PA", 0.0), ("LAT", 90.0)):
        source = c_arm_source(
            iso, primary_deg, 0.0, distance_source_to_isocentre_mm=700.0,
            distance_source_to_detector_mm=1000.0, field_size_mm=(120.0, 120.0),
        )  # fmt: skip
        result = simulate(phantom, source, spectrum, 400_000, seed=4)
        per_history = organ_doses_gy_per_history(
            result, phantom, stylised.region_organs(), stylised.ORGAN_SURROGATES
        )
        doses[projection] = {
            organ: dose / result.kap_gycm2_per_history for organ, dose in per_history.items()
        }
    return doses


def _e_per_kap_msv(projection: str, weighting: str) -> float:
    doses = _organ_doses_per_kap()[projection]
    if weighting == "ICRP60":
        return 1000.0 * effective_dose_icrp60(doses)
    return 1000.0 * float(effective_dose(doses))


def _case(row: dict[str, str]) -> object:
    key = (row["source_id"], row["projection_or_mode"])
    marks = (
        [pytest.mark.xfail(strict=True, reason="known discrepancy, see KNOWN_DISCREPANCIES")]
        if key in KNOWN_DISCREPANCIES
        else []
    )
    return pytest.param(row, id=f"{key[0]}-{key[1]}", marks=marks)


@pytest.mark.slow
@pytest.mark.parametrize("row", [_case(row) for row in _references()])
def test_e_per_kap_five_year_cardiac_projections(row: dict[str, str]) -> None:
    mode = row["projection_or_mode"]
    weighting = row["tissue_weighting"]
    if mode.startswith(("PA", "LAT")):
        ours = _e_per_kap_msv(mode.split()[0], weighting)
    else:  # one factor for all projections
        ours = 0.5 * (_e_per_kap_msv("PA", weighting) + _e_per_kap_msv("LAT", weighting))
    assert ours == pytest.approx(float(row["value"]), rel=0.30), (row["source_id"], mode, ours)


def test_reference_table_present() -> None:
    if not TABLE.exists():
        pytest.skip(f"reference table {TABLE.name} not found under {SHARED}")
    assert len(_references()) >= 5
