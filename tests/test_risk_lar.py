"""LAR against hand-computed synthetic truths, the baseline CSV format, and the results object.

References: synthetic baselines with known constant rates, where the BEIR VII LAR (NRC 2006
eq. 12-1) reduces to closed forms computed here by hand (tolerance: round-off, 1e-9).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from doseline.errors import InvalidInputError
from doseline.risk import Baseline, BEIR7Model, Exposure, lar
from doseline.risk.baseline import synthetic_baseline
from doseline.risk.sites import BEIR7_SITES

matplotlib.use("Agg")

RATE = 40.0  # per 100,000 person-years, every site and age
NO_DEATH = synthetic_baseline((*BEIR7_SITES, "all_solid"), rate_per_100000=RATE)


def test_thyroid_closed_form() -> None:
    # Thyroid (BEIR VII): ERR only, ERR = 1.05 D exp(-0.83 (e-30)/10) for females, no
    # attained-age term, DDREF 1.5, 5-year lag. With constant rate and no deaths the LAR of
    # an exposure at exact age 40 is ERR * rate * (100 - 45 + 1 years of age 45..100) / DDREF.
    result = lar([Exposure(40.0, {"whole_body": 0.1})], sex="female", baseline=NO_DEATH)
    expected = 1.05 * 0.1 * math.exp(-0.83) * RATE * 56 / 1.5
    assert result.lar_per_100000["thyroid"] == pytest.approx(expected, rel=1e-9)
    # lifetime baseline risk from age 40: 60 years of age 40..99 plus the year 100
    assert result.lbr_per_100000["thyroid"] == pytest.approx(RATE * 61, rel=1e-9)


def test_stomach_ear_and_geometric_weighting_closed_form() -> None:
    # Stomach, male, e = 10: e* = -2; ERR = 0.21 D e^{0.6} (a/60)^-1.4,
    # EAR = 4.9e-4 D e^{0.82} (a/60)^2.8 per person-year; LAR = ERR^0.7 EAR^0.3 / 1.5.
    result = lar([Exposure(10.0, {"whole_body": 0.2})], sex="male", baseline=NO_DEATH)
    mid = np.arange(15, 101) + 0.5  # years of age 15..100 (exact 5-year lag), mid-year
    err = 1e5 * 0.21 * 0.2 * math.exp(0.6) * np.sum((mid / 60) ** -1.4) * RATE / 1e5
    ear = 1e5 * 4.9e-4 * 0.2 * math.exp(0.82) * np.sum((mid / 60) ** 2.8)
    expected = err**0.7 * ear**0.3 / 1.5
    assert result.lar_per_100000["stomach"] == pytest.approx(expected, rel=1e-9)


def test_survival_is_conditional_on_reaching_exposure_age() -> None:
    # Constant all-cause hazard h: S(a)/S(e) = exp(-h (a - e)) only depends on a - e, so with
    # age-independent thyroid ERR (exposures above 30 aside from exp(gamma e*)) the LAR ratio
    # between ages 40 and 50 is exp(-0.83) times the ratio of the truncated sums.
    h = 2000.0
    base = synthetic_baseline(("thyroid",), rate_per_100000=RATE, hazard_per_100000=h)
    values = []
    for age in (40.0, 50.0):
        mid = np.arange(int(age) + 5, 101) + 0.5
        values.append(math.exp(-0.83 * (age - 30) / 10) * np.sum(np.exp(-h / 1e5 * (mid - age))))
    results = [
        lar([Exposure(age, {"whole_body": 0.1})], sex="male", baseline=base) for age in (40.0, 50.0)
    ]
    ratio = results[1].lar_per_100000["thyroid"] / results[0].lar_per_100000["thyroid"]
    assert ratio == pytest.approx(values[1] / values[0], rel=1e-9)


def test_baseline_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "baseline.csv"
    NO_DEATH.to_csv(path)
    loaded = Baseline.from_csv(path, name="roundtrip")
    exposure = [Exposure(3.0, {"whole_body": 0.05})]
    a = lar(exposure, sex="female", baseline=NO_DEATH).lar_per_100000
    b = lar(exposure, sex="female", baseline=loaded).lar_per_100000
    assert {k: round(v, 9) for k, v in a.items() if math.isfinite(v)} == {
        k: round(v, 9) for k, v in b.items() if math.isfinite(v)
    }


def test_baseline_csv_survival_from_qx(tmp_path: Path) -> None:
    rows = ["kind,site,sex,age,value"]
    for sex in ("male", "female"):
        rows += [f"incidence,thyroid,{sex},{a},10" for a in range(101)]
        rows += [f"qx,,{sex},{a},{0.01 if a < 100 else 1.0}" for a in range(101)]
    path = tmp_path / "qx.csv"
    path.write_text("\n".join(rows))
    base = Baseline.from_csv(path)
    assert base.survival["male"][50] == pytest.approx(0.99**50, rel=1e-12)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("incidence,thyroid,male,5,-1", "value"),
        ("incidence,thyroid,unknown,5,1", "sex"),
        ("nonsense,thyroid,male,5,1", "kind"),
        ("incidence,thyroid,male,101,1", "age"),
    ],
)
def test_baseline_csv_errors_name_row_and_field(tmp_path: Path, line: str, field: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("kind,site,sex,age,value\n" + line + "\n")
    with pytest.raises(InvalidInputError) as info:
        Baseline.from_csv(path)
    assert info.value.field == field
    assert info.value.record == "row 2"
    assert str(path) in str(info.value)


def test_missing_organ_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="stomach"):
        lar([Exposure(3.0, {"thyroid": 0.01})], sex="male", baseline=NO_DEATH)


def test_results_object() -> None:
    result = lar(
        [Exposure(1.0, {"whole_body": 0.01}), Exposure(4.0, {"whole_body": 0.02})],
        sex="female",
        model=BEIR7Model(),
        baseline=NO_DEATH,
        draws=200,
        seed=3,
    )
    frame = result.summary_frame
    assert {"lar_per_100000", "lbr_per_100000", "lower_90_per_100000"} <= set(frame.columns)
    profile = result.by_attained_age
    total = profile[profile.site == "all_cancer"]["excess_per_100000"].sum()
    assert total == pytest.approx(result.lar_per_100000["all_cancer"], rel=1e-9)
    assert "1 in" in result.plain_language()
    assert "<table" in result.summary_html()
    assert "all_cancer" in result.summary()
    ax = result.plot()
    assert ax.get_xlabel() == "attained age (years)"
    with pytest.raises(TypeError):
        result.lar_per_100000["stomach"] = 0.0  # type: ignore[index]


def test_outcome_without_rates_is_an_error() -> None:
    incidence_only = Baseline(
        "incidence-only",
        "",
        "synthetic",
        dict(NO_DEATH.incidence_per_100000),
        {},
        dict(NO_DEATH.survival),
    )
    with pytest.raises(InvalidInputError, match="no mortality rates"):
        lar(
            [Exposure(3.0, {"whole_body": 0.01})],
            sex="male",
            baseline=incidence_only,
            outcome="mortality",
        )


def test_radrat_profile_sums_to_total_with_negative_gallbladder() -> None:
    # RadRAT's gallbladder ERR is -0.018 per Gy (Table 1): a negative site still belongs to
    # the total and to the by-age profile.
    from doseline.risk import RadRATModel
    from doseline.risk.sites import RADRAT_SITES

    base = synthetic_baseline((*RADRAT_SITES, "all_solid"), rate_per_100000=RATE)
    result = lar(
        [Exposure(2.0, {"whole_body": 0.05})], sex="male", model=RadRATModel(), baseline=base
    )
    assert result.lar_per_100000["gallbladder"] < 0
    profile = result.by_attained_age
    total = profile[profile.site == "all_cancer"]["excess_per_100000"].sum()
    assert total == pytest.approx(result.lar_per_100000["all_cancer"], rel=1e-9)
