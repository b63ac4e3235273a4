"""Legacy records (KAP, no geometry): technique distributions, stratum fallback, spread, and the
legacy path against the RDSR path with the detail hidden.

References: synthetic truth. The coefficient sources below are analytic functions of technique
and patient, so every procedure's dose per KAP is known exactly; tolerances are stated at each
test (exact to rounding where the method is exact, Monte Carlo standard errors otherwise). The
default distribution is checked against a fresh run of its generating script on the public
example RDSRs of ../shared/data/rdsr (skipped when that folder is absent).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from conftest import RDSR_DIR
from doseline.dosimetry.fluoro.events import check_events, field_side_at_isocentre_cm
from doseline.dosimetry.fluoro.legacy import (
    DEFAULT_LEVELS,
    METHOD,
    TechniqueDistribution,
    age_band,
    legacy_organ_doses,
)
from doseline.dosimetry.fluoro.legacy_validation import hide_detail
from doseline.errors import DoselineError, InvalidInputError

REPO = Path(__file__).resolve().parents[1]


class AnalyticSource:
    """c_T = a_T (kVp/80) (1 + b_T cos(primary)) sqrt(side / 10 cm) exp(-k_T age), x 1.2 for
    females: a known function of technique and patient."""

    organs: ClassVar[dict[str, tuple[float, float, float]]] = {
        "lung": (1e-3, 0.5, 0.02),
        "breast": (4e-4, -0.6, 0.01),
        "thyroid": (1e-4, 0.2, 0.0),
    }

    def dose_per_kap(self, events: pd.DataFrame) -> pd.DataFrame:
        angle = np.deg2rad(events["primary_angle_deg"].to_numpy(dtype=float))
        side = field_side_at_isocentre_cm(events)
        base = (events["kvp"].to_numpy(dtype=float) / 80.0) * np.sqrt(side / 10.0)
        base = base * np.where(events["sex"].to_numpy() == "female", 1.2, 1.0)
        age = events["age_y"].to_numpy(dtype=float)
        return pd.DataFrame(
            {
                o: a * (1 + b * np.cos(angle)) * base * np.exp(-k * age)
                for o, (a, b, k) in self.organs.items()
            },
            index=events.index,
        )


class AngleSource:
    """c = exp(primary angle / 30 deg): log c is linear in the angle (known log-normal spread)."""

    def dose_per_kap(self, events: pd.DataFrame) -> pd.DataFrame:
        angle = events["primary_angle_deg"].to_numpy(dtype=float)
        return pd.DataFrame({"lung": np.exp(angle / 30.0)}, index=events.index)


class PatientOnlySource:
    """c depends on the patient only: any technique mix gives the same dose per KAP."""

    def dose_per_kap(self, events: pd.DataFrame) -> pd.DataFrame:
        age = events["age_y"].to_numpy(dtype=float)
        return pd.DataFrame({"lung": 1e-3 / (1.0 + age)}, index=events.index)


def make_events(
    rng: np.random.Generator,
    n_procedures: int,
    *,
    events_range: tuple[int, int] = (2, 12),
    centre: str = "A",
    era: object = "2015-2019",
    age_range: tuple[float, float] = (1.0, 4.9),
    prefix: str = "",
) -> pd.DataFrame:
    """Random RDSR-like procedures: per event kVp, angles, field and KAP; one patient each."""
    n_events = rng.integers(events_range[0], events_range[1] + 1, n_procedures)
    proc = np.repeat(np.arange(n_procedures), n_events)
    n = len(proc)
    ages = rng.uniform(*age_range, n_procedures)
    return pd.DataFrame(
        {
            "procedure_id": [f"{prefix}{centre}{era}-{p}" for p in proc],
            "centre": centre,
            "era": era,
            "age_y": ages[proc],
            "sex": np.where(proc % 2 == 0, "male", "female"),
            "kvp": rng.uniform(60.0, 100.0, n),
            "filter_cu_mm": 0.1,
            "primary_angle_deg": rng.uniform(-90.0, 90.0, n),
            "secondary_angle_deg": rng.uniform(-30.0, 30.0, n),
            "field_width_mm": rng.uniform(80.0, 250.0, n),
            "field_height_mm": rng.uniform(80.0, 250.0, n),
            "kap_gycm2": rng.lognormal(-1.0, 1.0, n),
        }
    )


def exact_procedure_dose_per_kap(
    events: pd.DataFrame, record: pd.Series, source: object
) -> pd.DataFrame:
    """m_q for every procedure q of ``events`` with ``record``'s patient (direct sum)."""
    frame = check_events(events.assign(**{c: record[c] for c in ("age_y", "sex")}))
    coefficients = source.dose_per_kap(frame)  # type: ignore[attr-defined]
    share = frame["kap_gycm2"] / frame.groupby("procedure_id")["kap_gycm2"].transform("sum")
    return coefficients.mul(share, axis=0).groupby(frame["procedure_id"], sort=False).sum()


def test_age_bands_follow_the_patient_bands_table() -> None:
    # Reference: src/doseline/data/patient_bands.csv, scheme age_4band_ic (Ubeda et al. 2022),
    # lower bound inclusive, and the open band 16+ y.
    ages = pd.Series([0.0, 0.99, 1.0, 4.99, 5.0, 9.99, 10.0, 15.99, 16.0, 40.0, np.nan])
    expected = ["<1 y", "<1 y", "1-5 y", "1-5 y", "5-10 y", "5-10 y", "10-16 y", "10-16 y"]
    assert age_band(ages).tolist() == [*expected, "16+ y", "16+ y", None]


def test_patient_only_coefficient_gives_kap_times_coefficient() -> None:
    # Synthetic truth: when c does not depend on technique, every weighting gives c(patient).
    events = make_events(np.random.default_rng(1), 30)
    dist = TechniqueDistribution.from_events(events)
    records = pd.DataFrame(
        {"kap_gycm2": [2.0, 7.5], "age_y": [1.5, 3.0], "centre": "A", "era": "2015-2019"}
    )
    result = legacy_organ_doses(records, dist, PatientOnlySource())
    expected = records["kap_gycm2"] * 1e-3 / (1.0 + records["age_y"])
    np.testing.assert_allclose(result.dose_gy["lung"], expected, rtol=1e-12)
    np.testing.assert_allclose(result.p95_gy["lung"], expected, rtol=1e-12)
    np.testing.assert_allclose(result.gsd["lung"], 1.0, rtol=1e-12)


def test_stratum_mean_of_kap_weighted_procedure_means_is_exact() -> None:
    # Synthetic truth: procedures of <= R events keep all events with their KAP shares, so the
    # central value, percentiles and GSD equal a direct computation to rounding (1e-10).
    events = make_events(np.random.default_rng(2), 25, events_range=(1, 10))
    dist = TechniqueDistribution.from_events(events, rows_per_procedure=10)
    records = pd.DataFrame(
        {
            "kap_gycm2": [3.0, 0.4],
            "age_y": [2.0, 4.5],
            "sex": ["female", None],
            "centre": "A",
            "era": "2015-2019",
        }
    )
    result = legacy_organ_doses(records, dist, AnalyticSource())
    for label, record in records.iterrows():
        m = exact_procedure_dose_per_kap(events, record, AnalyticSource())
        np.testing.assert_allclose(result.dose_per_kap.loc[label], m.mean(), rtol=1e-10)
        np.testing.assert_allclose(
            result.dose_gy.loc[label], record["kap_gycm2"] * m.mean(), rtol=1e-10
        )
        np.testing.assert_allclose(
            result.dose_per_kap_p05.loc[label], np.percentile(m, 5, axis=0), rtol=1e-10
        )
        np.testing.assert_allclose(
            result.gsd.loc[label], np.exp(np.log(m).std(axis=0, ddof=1)), rtol=1e-10
        )
    assert result.inputs["n_procedures"].tolist() == [25, 25]


def test_pps_rows_estimate_long_procedures_without_bias() -> None:
    # Synthetic truth: procedures of 40-120 events are represented by R = 16 rows drawn by
    # systematic sampling proportional to KAP, an unbiased estimator of m_q. Over 300
    # procedures the mean relative error must be within 4 standard errors of 0.
    events = make_events(np.random.default_rng(3), 300, events_range=(40, 120))
    dist = TechniqueDistribution.from_events(events, min_procedures=1, seed=7)
    record = pd.Series(
        {"kap_gycm2": 1.0, "age_y": 3.0, "sex": "male", "centre": "A", "era": "2015-2019"}
    )
    result = legacy_organ_doses(record.to_frame().T, dist, AnalyticSource(), max_procedures=300)
    assert result.samples is not None
    estimate = result.samples[0, :, 0].astype(float)  # lung, procedures in distribution order
    exact = exact_procedure_dose_per_kap(events, record, AnalyticSource())["lung"]
    relative = estimate / exact.loc[dist.procedures["procedure_id"]].to_numpy() - 1.0
    assert abs(relative.mean()) < 4 * relative.std(ddof=1) / math.sqrt(len(relative))
    assert relative.std() > 0  # the long procedures are sampled, not copied


def test_spread_is_between_procedures_not_between_events() -> None:
    # Synthetic truth: procedure q has events at theta_q +- 30 deg (equal KAP), theta_q ~
    # N(0, 15 deg), and c = exp(angle/30). Then log m_q = theta_q/30 + log cosh(1): the
    # procedure-level GSD is exp(0.5) = 1.65, while single events spread with
    # exp(sqrt(0.25 + 1)) = 3.06. With 400 procedures the SD of log m has a relative standard
    # error of 1/sqrt(2 x 399) = 3.5 %; tolerance 4 SE = 14 %.
    rng = np.random.default_rng(4)
    theta = rng.normal(0.0, 15.0, 400)
    angles = np.column_stack([theta - 30.0, theta + 30.0]).ravel()
    events = pd.DataFrame(
        {
            "procedure_id": np.repeat(np.arange(400), 2),
            "age_y": 2.0,
            "kvp": 70.0,
            "primary_angle_deg": angles,
            "secondary_angle_deg": 0.0,
            "field_width_mm": 150.0,
            "field_height_mm": 150.0,
            "kap_gycm2": 1.0,
        }
    )
    dist = TechniqueDistribution.from_events(events, levels=[("age_band",)])
    records = pd.DataFrame({"kap_gycm2": [1.0], "age_y": [2.0]})
    result = legacy_organ_doses(records, dist, AngleSource(), max_procedures=400)
    assert abs(math.log(result.gsd.iloc[0, 0]) / 0.5 - 1.0) < 0.14
    # Central value: E[m] = exp(0.5^2 / 2) cosh(1); the mean of 400 log-normal values has a
    # relative SE of sqrt(exp(0.25) - 1)/sqrt(400) = 2.7 %; tolerance 4 SE.
    truth = math.exp(0.125) * math.cosh(1.0)
    assert abs(result.dose_per_kap.iloc[0, 0] / truth - 1.0) < 4 * 0.027


def _strata_events() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    parts = [
        make_events(rng, 20, centre="A", era=2015, age_range=(1.0, 4.9), prefix="s1"),
        make_events(rng, 6, centre="B", era=2015, age_range=(1.0, 4.9), prefix="s2"),
        make_events(rng, 12, centre="A", era=2015, age_range=(5.0, 9.9), prefix="s3"),
        make_events(rng, 10, centre="B", era=2020, age_range=(5.0, 9.9), prefix="s4"),
        make_events(rng, 3, centre="A", era=2015, age_range=(0.1, 0.9), prefix="s5"),
    ]
    return pd.concat(parts, ignore_index=True)


def test_fallback_chain_records_level_stratum_and_count() -> None:
    # Reference: the documented chain centre+era+band -> era+band -> band -> default, with a
    # stratum used only when it holds >= 20 procedures (counts built into the events).
    events = _strata_events()
    default = TechniqueDistribution.from_events(
        events, levels=(), min_procedures=1, name="all procedures"
    )
    dist = TechniqueDistribution.from_events(events, default=default, name="RDSR")
    records = pd.DataFrame(
        {
            "kap_gycm2": 1.0,
            "age_y": [2.0, 2.0, 7.0, 0.5, 3.0],
            "centre": ["A", "B", "C", "A", None],
            "era": ["2015", 2015.0, 2010, 2015, 2015],
        }
    )
    inputs = legacy_organ_doses(records, dist, AnalyticSource()).inputs
    assert inputs["level"].tolist() == [
        "centre + era + age_band",
        "era + age_band",
        "age_band",
        "default",
        "era + age_band",
    ]
    assert inputs["n_procedures"].tolist() == [20, 26, 22, 51, 26]
    assert inputs.loc[0, "stratum"] == "centre=A, era=2015, age_band=1-5 y"
    assert inputs["distribution"].tolist() == ["RDSR"] * 3 + ["all procedures", "RDSR"]
    assert (inputs["method"] == METHOD).all()
    assert inputs["kap_source"].eq("recorded").all()


def test_no_stratum_and_no_default_is_an_error_naming_the_record() -> None:
    dist = TechniqueDistribution.from_events(_strata_events())
    records = pd.DataFrame({"kap_gycm2": [1.0], "age_y": [0.5]}, index=["rec-7"])
    with pytest.raises(InvalidInputError, match="record rec-7"):
        legacy_organ_doses(records, dist, AnalyticSource())


def test_leave_one_out_removes_the_procedure_and_its_count() -> None:
    # Synthetic truth: a stratum of exactly 21 procedures. Leaving one out leaves 20 (still
    # used), and the estimate is the mean over the other 20 (direct computation, 1e-10).
    events = make_events(np.random.default_rng(6), 21, events_range=(1, 8))
    dist = TechniqueDistribution.from_events(events)
    left_out = events["procedure_id"].iloc[0]
    record = pd.Series(
        {"kap_gycm2": 2.0, "age_y": 3.0, "sex": "female", "centre": "A", "era": "2015-2019"}
    )
    result = legacy_organ_doses(record.to_frame().T, dist, AnalyticSource(), exclude=[left_out])
    m = exact_procedure_dose_per_kap(events, record, AnalyticSource()).drop(index=left_out)
    np.testing.assert_allclose(result.dose_per_kap.iloc[0], m.mean(), rtol=1e-10)
    assert result.inputs.loc[0, "n_procedures"] == 20
    assert result.inputs.loc[0, "left_out_procedure"] == left_out
    smaller = TechniqueDistribution.from_events(
        events.iloc[events.index[events["procedure_id"] != events["procedure_id"].iloc[-1]]]
    )
    with pytest.raises(InvalidInputError, match="no stratum"):
        legacy_organ_doses(record.to_frame().T, smaller, AnalyticSource(), exclude=[left_out])


def test_hide_detail_is_exact_when_every_procedure_has_the_same_mix() -> None:
    # Synthetic truth: every procedure repeats one technique mix (KAP scaled), so the legacy
    # path equals the RDSR path (ratio 1 to rounding) and every RDSR dose is covered.
    rng = np.random.default_rng(8)
    mix = make_events(rng, 1, events_range=(6, 6)).drop(columns="procedure_id")
    parts = [
        mix.assign(
            procedure_id=f"p{i}",
            age_y=rng.uniform(1, 4.9),
            sex="male",
            kap_gycm2=mix["kap_gycm2"] * rng.uniform(0.5, 5.0),
        )
        for i in range(25)
    ]
    validation = hide_detail(pd.concat(parts, ignore_index=True), AnalyticSource())
    np.testing.assert_allclose(validation.per_procedure["ratio"], 1.0, rtol=1e-10)
    assert validation.summary["coverage_90"].eq(1.0).all()


def test_hide_detail_unbiased_and_covering_on_exchangeable_procedures() -> None:
    # Synthetic truth: 3 x 200 exchangeable procedures (two centres, two eras, three age
    # bands). Bias: sum of (legacy - RDSR) doses, within 4 standard errors of 0. Coverage of
    # the legacy 5-95 % range over n = 63-64 other procedures of the stratum: expected
    # 0.9 (n - 1)/(n + 1) = 0.872 (linear-interpolated percentiles of n exchangeable values);
    # binomial SD over 600 procedures 0.014, tolerance 4 SD = 0.055.
    rng = np.random.default_rng(9)
    parts = [
        make_events(rng, 100, centre=c, era=e, age_range=a, prefix=f"{i}")
        for i, (c, e, a) in enumerate(
            [
                ("A", 2015, (1.0, 4.9)),
                ("B", 2015, (1.0, 4.9)),
                ("A", 2020, (5.0, 9.9)),
                ("B", 2020, (5.0, 9.9)),
                ("A", 2015, (10.0, 15.9)),
                ("B", 2020, (10.0, 15.9)),
            ]
        )
    ]
    validation = hide_detail(pd.concat(parts, ignore_index=True), AnalyticSource())
    per = validation.per_procedure
    for organ, rows in per.groupby("organ"):
        difference = rows["dose_legacy_gy"] - rows["dose_rdsr_gy"]
        standard_error = difference.std(ddof=1) * math.sqrt(len(rows))
        assert abs(difference.sum()) < 4 * standard_error, organ
        assert abs(rows["covered"].mean() - 0.9 * 62 / 64) < 0.055, organ
    assert set(per["level"]) == {"centre + era + age_band"}
    assert validation.summary.loc["lung", "n"] == 600


def test_draws_pick_procedures_of_the_stratum() -> None:
    # Synthetic truth: each draw is KAP x one procedure's m_q; their mean over 20 000 draws
    # approaches the stratum mean (relative MC standard error sd/mean/sqrt(20000), 4 SE).
    events = make_events(np.random.default_rng(10), 30, events_range=(1, 8))
    dist = TechniqueDistribution.from_events(events)
    records = pd.DataFrame(
        {"kap_gycm2": [5.0, 1.0], "age_y": [2.0, 4.0], "centre": "A", "era": "2015-2019"}
    )
    result = legacy_organ_doses(records, dist, AnalyticSource())
    draws = result.draws(20_000, np.random.default_rng(11))
    assert draws.shape == (20_000, 2, 3)
    mean, sd = draws.mean(axis=0), draws.std(axis=0)
    assert np.all(np.abs(mean / result.dose_gy.to_numpy() - 1) < 4 * sd / mean / math.sqrt(2e4))
    assert result.samples is not None
    allowed = result.samples[0, :, 0] * 5.0
    assert np.isin(draws[:50, 0, 0].astype(np.float32), allowed.astype(np.float32)).all()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("kap_gycm2", -1.0, "must be > 0"),
        ("kap_gycm2", None, "is missing"),
        ("age_y", "three", "is not a number"),
        ("sex", "x", "must be 'male' or 'female'"),
    ],
)
def test_bad_record_names_record_and_field(column: str, value: object, message: str) -> None:
    dist = TechniqueDistribution.from_events(make_events(np.random.default_rng(12), 20))
    records = pd.DataFrame(
        {"kap_gycm2": [1.0, 2.0], "age_y": [2.0, 3.0]}, index=["r1", "r2"], dtype=object
    )
    records.loc["r2", column] = value
    pattern = f"legacy records: record r2: {column}: .*{message}"
    with pytest.raises(InvalidInputError, match=pattern):
        legacy_organ_doses(records, dist, AnalyticSource())


def test_bad_events_name_procedure_and_field() -> None:
    events = make_events(np.random.default_rng(13), 3, events_range=(2, 2))
    mixed = events.copy()
    mixed.loc[1, "centre"] = "B"
    with pytest.raises(InvalidInputError, match="procedure A2015-2019-0: centre: differs"):
        TechniqueDistribution.from_events(mixed)
    zero = events.copy()
    zero.loc[zero["procedure_id"] == "A2015-2019-2", "kap_gycm2"] = 0.0
    with pytest.raises(InvalidInputError, match="procedure A2015-2019-2: kap_gycm2"):
        TechniqueDistribution.from_events(zero)
    missing = events.copy()
    missing.loc[3, "kap_gycm2"] = np.nan
    with pytest.raises(InvalidInputError, match="event 3: kap_gycm2: is missing"):
        TechniqueDistribution.from_events(missing)
    with pytest.raises(InvalidInputError, match="missing column procedure_id"):
        TechniqueDistribution.from_events(events.drop(columns="procedure_id"))


def test_a_broken_coefficient_source_is_refused() -> None:
    class Short:
        def dose_per_kap(self, events: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame({"lung": -np.ones(len(events))}, index=events.index)

    dist = TechniqueDistribution.from_events(make_events(np.random.default_rng(14), 20))
    with pytest.raises(DoselineError, match="negative or non-finite"):
        legacy_organ_doses(pd.DataFrame({"kap_gycm2": [1.0], "age_y": [2.0]}), dist, Short())


def test_builtin_default_loads_with_its_documented_procedures() -> None:
    # Reference: src/doseline/data/dosimetry/PROVENANCE.md (3 procedures, 48 events).
    default = TechniqueDistribution.builtin()
    assert len(default.procedures) == 3
    assert default.procedures["n_events"].sum() == 48
    np.testing.assert_allclose(default.weights.sum(axis=1), 1.0, rtol=1e-12)
    dist = TechniqueDistribution.from_events(_strata_events(), default=default)
    records = pd.DataFrame({"kap_gycm2": [1.0], "age_y": [0.3], "sex": ["female"]})
    inputs = legacy_organ_doses(records, dist, AnalyticSource()).inputs
    assert inputs.loc[0, "level"] == "default"
    assert inputs.loc[0, "distribution"].startswith("builtin default")


def test_builtin_default_equals_a_fresh_run_of_its_script() -> None:
    # Reference: the public example RDSRs (../shared/data/rdsr, see its PROVENANCE.md) read by
    # scripts/make_default_technique.py; values rounded to 10 significant digits in the CSV.
    if not (RDSR_DIR / "pyskindose").exists():
        pytest.skip(f"public example RDSRs not found under {RDSR_DIR}")
    spec = importlib.util.spec_from_file_location(
        "make_default_technique", REPO / "scripts" / "make_default_technique.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    fresh, _ = script.build_table(RDSR_DIR)
    shipped = pd.read_csv(REPO / "src/doseline/data/dosimetry/default_technique.csv", comment="#")
    assert fresh.shape == shipped.shape
    for column in shipped:
        if pd.api.types.is_numeric_dtype(shipped[column]):
            np.testing.assert_allclose(fresh[column].astype(float), shipped[column], rtol=1e-9)
        else:
            assert fresh[column].fillna("").tolist() == shipped[column].fillna("").tolist()


def test_default_levels_are_the_documented_chain() -> None:
    assert DEFAULT_LEVELS == (("centre", "era", "age_band"), ("era", "age_band"), ("age_band",))
