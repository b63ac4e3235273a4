"""Validation against BEIR VII Phase 2 (NRC 2006) Annex 12D, Table 12D-1.

Reference: LAR of cancer incidence per 100,000 after a single 0.1 Gy exposure, by sex, site
and age at exposure, computed by BEIR VII with its U.S. 1995-1999 baseline (values in
``src/doseline/data/risk/beir7_table12d1_lar_incidence.csv``). That baseline is not openly
available; we use CanEpiRisk "Aus-NZ Europe Northern America" (``../shared/data/risk``), so
the match is approximate. Tolerances (docs/risk.md, "Validation"):

- every site at ages 0-20: within 20 %, except where the open baseline's own rates differ
  from the U.S. 1995-1999 rates by more than that, each with an explicit band: thyroid
  (1.5-2.2x: thyroid incidence in that region is about twice the late-1990s U.S. rate),
  liver (1.3-1.8x), prostate (0.65-0.85x, the PSA-era U.S. peak), female "other" compared with
  BEIR VII other + uterus + ovary (CanEpiRisk has no uterus/ovary rates, so those cases stay
  in the residual);
- age profile: at ages 0-20 every site's ratio is within 10 % of its mean ratio (leukaemia
  15 %), i.e. the model's age dependence matches whatever the baseline level;
- all solid cancers at ages 0-20: within 10 % for males; for females within 10 % once thyroid
  (whose baseline is ~2x) is taken out, and within 20 % with it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from doseline.risk import load_baseline
from doseline.risk.validation import compare_table12d1

SHARED = Path(
    os.environ.get("DOSELINE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
CHILD_AGES = (0, 5, 10, 15, 20)
BANDS = {"thyroid": (1.5, 2.2), "liver": (1.3, 1.8), "prostate": (0.65, 0.85)}


@pytest.fixture(scope="module")
def comparison() -> pd.DataFrame:
    if not (SHARED / "risk" / "canepirisk_region_survival.csv").exists():
        pytest.skip(f"open baselines not found under {SHARED / 'risk'}")
    frame = compare_table12d1(load_baseline(data_dir=SHARED / "risk"))
    return frame[frame.age_at_exposure_y.isin(CHILD_AGES)]


def _ratios(frame: pd.DataFrame, sex: str, site: str) -> np.ndarray:
    rows = frame[(frame.sex == sex) & (frame.site == site)].sort_values("age_at_exposure_y")
    return rows["ratio"].to_numpy()


@pytest.mark.parametrize("sex", ["male", "female"])
def test_site_rows_at_ages_0_to_20(comparison: pd.DataFrame, sex: str) -> None:
    sites = set(comparison[comparison.sex == sex].site) - {
        "uterus",
        "ovary",
        "all_solid",
        "all_cancer",
    }
    for site in sorted(sites):
        if sex == "female" and site == "other":
            continue  # compared with other + uterus + ovary below
        low, high = BANDS.get(site, (0.8, 1.2))
        ratios = _ratios(comparison, sex, site)
        assert np.all((ratios >= low) & (ratios <= high)), (site, ratios.round(2))


def _table(frame: pd.DataFrame, sex: str, column: str) -> dict[tuple[str, int], float]:
    rows = frame[frame.sex == sex]
    return {
        (str(site), int(age)): float(value)
        for site, age, value in zip(rows.site, rows.age_at_exposure_y, rows[column], strict=True)
    }


def test_female_other_includes_uterus_and_ovary(comparison: pd.DataFrame) -> None:
    beir7 = _table(comparison, "female", "beir7")
    mine = _table(comparison, "female", "doseline")
    for age in CHILD_AGES:
        beir = sum(beir7[(s, age)] for s in ("other", "uterus", "ovary"))
        ours = mine[("other", age)]
        assert ours / beir == pytest.approx(1.0, abs=0.2), age


@pytest.mark.parametrize("sex", ["male", "female"])
def test_age_profiles_match(comparison: pd.DataFrame, sex: str) -> None:
    sites = set(comparison[comparison.sex == sex].dropna(subset=["ratio"]).site)
    for site in sorted(sites):
        ratios = _ratios(comparison, sex, site)
        tolerance = 0.15 if site == "leukaemia" else 0.10
        assert np.all(np.abs(ratios / ratios.mean() - 1) <= tolerance), (site, ratios.round(2))


def test_all_solid(comparison: pd.DataFrame) -> None:
    male = _ratios(comparison, "male", "all_solid")
    assert np.all(np.abs(male - 1) <= 0.10), male
    beir7 = _table(comparison, "female", "beir7")
    mine = _table(comparison, "female", "doseline")
    for age in CHILD_AGES:
        ours = mine[("all_solid", age)] - mine[("thyroid", age)]
        beir = beir7[("all_solid", age)] - beir7[("thyroid", age)]
        assert ours / beir == pytest.approx(1.0, abs=0.10), age
        total = mine[("all_solid", age)] / beir7[("all_solid", age)]
        assert total == pytest.approx(1.0, abs=0.20), age


def test_mortality_below_incidence() -> None:
    # BEIR VII ch. 12: mortality LAR = incidence models x baseline mortality/incidence, so with
    # mortality rates below incidence rates every site's mortality LAR is below its incidence.
    if not (SHARED / "risk" / "canepirisk_region_survival.csv").exists():
        pytest.skip(f"open baselines not found under {SHARED / 'risk'}")
    from doseline.risk import Exposure, lar

    baseline = load_baseline(data_dir=SHARED / "risk")
    exposure = [Exposure(5.0, {"whole_body": 0.1})]
    for sex in ("male", "female"):
        inc = lar(exposure, sex=sex, baseline=baseline).lar_per_100000
        mort = lar(exposure, sex=sex, baseline=baseline, outcome="mortality").lar_per_100000
        for site, value in mort.items():
            if np.isfinite(value):
                assert 0 < value < inc[site], (sex, site)
