"""KAP imputation for records without a dose: a log-linear model checked against a synthetic truth.

Reference: records simulated from known coefficients with log-normal noise (below). Tolerances
come from the model's own standard errors (coefficients within 4 SE), the binomial SD of an
interval's coverage (sqrt(0.9 x 0.1 / 5000) = 0.0042; 0.88-0.92 is +-4.7 SD), or Monte Carlo
standard errors of quantiles, as stated at each test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from doseline.dosimetry.fluoro.impute import KapImputationModel, rcs_basis
from doseline.errors import InvalidInputError

PROCEDURES = {"diagnostic": 0.0, "asd_closure": 0.5, "pda_closure": -0.3}
ERAS = {"2000-2009": 0.0, "2010-2015": -0.2, "2016-2020": -0.45}
CENTRES = {"A": 0.0, "B": 0.3, "C": -0.2, "D": 0.1, "E": 0.25, "F": -0.1}
INTERCEPT, SLOPE, SIGMA = math.log(0.4), 1.0, 0.7


def simulate(
    n: int, rng: np.random.Generator, *, centres: dict[str, float] = CENTRES
) -> pd.DataFrame:
    """log KAP = intercept + effects + log(weight) + N(0, 0.7^2); weight from a smooth function
    of age with 15 % log-normal scatter."""
    procedure = rng.choice(list(PROCEDURES), n)
    era = rng.choice(list(ERAS), n)
    centre = rng.choice(list(centres), n)
    age = rng.uniform(0.05, 17.0, n)
    weight = (3.5 + 2.8 * age) * np.exp(rng.normal(0.0, 0.15, n))
    log_kap = (
        INTERCEPT
        + pd.Series(procedure).map(PROCEDURES).to_numpy()
        + pd.Series(era).map(ERAS).to_numpy()
        + pd.Series(centre).map(centres).to_numpy()
        + SLOPE * np.log(weight)
        + rng.normal(0.0, SIGMA, n)
    )
    return pd.DataFrame(
        {
            "procedure_type": procedure,
            "era": era,
            "centre": centre,
            "age_y": age,
            "weight_kg": weight,
            "kap_gycm2": np.exp(log_kap),
        }
    )


def test_weight_model_recovers_the_coefficients() -> None:
    # Synthetic truth: every coefficient within 4 of its standard errors (two-sided probability
    # of a false failure 6e-5 per coefficient); the residual SD within 4 SE, SE = s/sqrt(2 df).
    results = KapImputationModel(simulate(4000, np.random.default_rng(1))).fit()
    frame = results.summary_frame().query("submodel == 'weight'").set_index("term")
    truth = {"intercept": INTERCEPT, "log_weight_kg": SLOPE}
    for factor, effects in (("procedure_type", PROCEDURES), ("era", ERAS), ("centre", CENTRES)):
        reference = sorted(effects)[0]
        truth |= {
            f"{factor}[{k}]": v - effects[reference] for k, v in effects.items() if k != reference
        }
    truth["intercept"] += PROCEDURES["asd_closure"] + ERAS["2000-2009"] + CENTRES["A"]
    assert set(truth) == set(frame.index)
    for term, value in truth.items():
        assert abs(frame.loc[term, "coef"] - value) < 4 * frame.loc[term, "std_err"], term
    s = frame["residual_sd"].iloc[0]
    assert abs(s - SIGMA) < 4 * s / math.sqrt(2 * (4000 - len(truth)))


def test_prediction_interval_covers_90_percent_of_held_out_records() -> None:
    # Synthetic truth: 5000 held-out records from the same process; the 90 % prediction
    # interval must cover 0.88-0.92 of them (binomial SD 0.0042). Weight model for records
    # with a weight; the age model (spline) for the same records with the weight hidden.
    rng = np.random.default_rng(2)
    results = KapImputationModel(simulate(4000, rng)).fit()
    held_out = simulate(5000, rng)
    for frame, submodel in ((held_out, "weight"), (held_out.assign(weight_kg=np.nan), "age")):
        predicted = results.predict(frame.drop(columns="kap_gycm2"), alpha=0.10)
        assert (predicted["submodel"] == submodel).all()
        covered = predicted["kap_lower_gycm2"].le(frame["kap_gycm2"]) & predicted[
            "kap_upper_gycm2"
        ].ge(frame["kap_gycm2"])
        assert 0.88 <= covered.mean() <= 0.92, submodel


def test_draws_follow_the_t_predictive_distribution_with_parameter_uncertainty() -> None:
    # Reference: with a flat prior the posterior predictive of log KAP is Student t (df =
    # n - p) around x'b with scale sqrt(s^2 + x'Cov(b)x): the draws' 5 % and 95 % quantiles
    # must match that interval. MC SE of a 5 % quantile from 200 000 draws: sqrt(0.05 x 0.95
    # / 2e5) / t-density(1.69) = 0.0047 scale units; tolerance 4 SE = 0.02 scale units.
    rng = np.random.default_rng(3)
    train = simulate(40, rng).assign(procedure_type="diagnostic", era="2010-2015", centre="A")
    results = KapImputationModel(train).fit()
    record = simulate(1, rng).assign(procedure_type="diagnostic", era="2010-2015", centre="A")
    predicted = results.predict(record, alpha=0.10).iloc[0]
    s = math.sqrt(results.weight.scale) if results.weight else math.nan
    assert predicted["log_sd"] > s * 1.005  # parameter uncertainty widens the interval
    log_draws = np.log(results.draws(record, 200_000, np.random.default_rng(4))[0])
    low, high = np.quantile(log_draws, [0.05, 0.95])
    assert abs(low - math.log(predicted["kap_lower_gycm2"])) < 0.02 * predicted["log_sd"]
    assert abs(high - math.log(predicted["kap_upper_gycm2"])) < 0.02 * predicted["log_sd"]
    t = stats.t.ppf(0.95, 38)
    assert math.log(predicted["kap_upper_gycm2"]) == pytest.approx(
        predicted["log_mean"] + t * predicted["log_sd"], rel=1e-12
    )


def test_unseen_centre_takes_the_mean_effect_and_their_variance() -> None:
    # Reference: the documented widening, computed by hand from the fitted parameters: centre
    # dummies at 1/6 each (mean of the six effects, reference 0 included), predictive variance
    # s^2 + x'Cov(b)x + var(effects, ddof=1). Agreement to rounding (1e-10).
    results = KapImputationModel(simulate(3000, np.random.default_rng(5))).fit()
    fit = results.weight
    assert fit is not None
    record = pd.DataFrame(
        {
            "procedure_type": ["pda_closure"],
            "era": ["2016-2020"],
            "centre": ["Z"],
            "weight_kg": [12.0],
            "age_y": [2.0],
        }
    )
    predicted = results.predict(record).iloc[0]
    x = pd.Series(0.0, index=fit.design.names)
    x[["intercept", "procedure_type[pda_closure]", "era[2016-2020]"]] = 1.0
    x["log_weight_kg"] = math.log(12.0)
    x[[f"centre[{c}]" for c in "BCDEF"]] = 1 / 6
    effects = np.r_[0.0, fit.params[[fit.design.names.index(f"centre[{c}]") for c in "BCDEF"]]]
    variance = fit.scale + x.to_numpy() @ fit.cov @ x.to_numpy() + effects.var(ddof=1)
    assert predicted["log_mean"] == pytest.approx(x.to_numpy() @ fit.params, rel=1e-10)
    assert predicted["log_sd"] == pytest.approx(math.sqrt(variance), rel=1e-10)
    assert predicted["widened"] == "centre"
    known = results.predict(record.assign(centre="B")).iloc[0]
    assert known["log_sd"] < predicted["log_sd"] and known["widened"] == ""


def test_unseen_levels_that_may_not_be_widened_are_errors() -> None:
    train = simulate(500, np.random.default_rng(6))
    results = KapImputationModel(train).fit()
    record = train.drop(columns="kap_gycm2").iloc[:3].copy()
    record.index = ["r1", "r2", "r3"]
    record.loc["r2", "procedure_type"] = "fontan"
    with pytest.raises(InvalidInputError, match=r"record r2: procedure_type: 'fontan' was not"):
        results.predict(record)
    strict = KapImputationModel(train, widen_unseen=()).fit()
    record.loc["r2", "procedure_type"] = "diagnostic"
    record.loc["r3", "centre"] = "Z"
    with pytest.raises(InvalidInputError, match=r"record r3: centre: 'Z' .*known: A, B, C"):
        strict.predict(record)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("kap_gycm2", 0.0, "must be > 0"),
        ("kap_gycm2", -2.0, "must be > 0"),
        ("kap_gycm2", None, "is missing"),
        ("procedure_type", None, "is missing"),
        ("weight_kg", "heavy", "is not a number"),
        ("age_y", 300.0, "plausible range"),
    ],
)
def test_bad_training_records_name_record_and_field(
    column: str, value: object, message: str
) -> None:
    train = simulate(50, np.random.default_rng(7)).astype(object)
    train.loc[17, column] = value
    with pytest.raises(InvalidInputError, match=f"records: record 17: {column}: .*{message}"):
        KapImputationModel(train)


def test_missing_size_and_missing_columns_are_errors() -> None:
    train = simulate(50, np.random.default_rng(8))
    train.loc[4, ["weight_kg", "age_y"]] = np.nan
    with pytest.raises(InvalidInputError, match=r"record 4: weight_kg: .*age_y are both missing"):
        KapImputationModel(train)
    with pytest.raises(InvalidInputError, match="missing column"):
        KapImputationModel(train.drop(columns="centre"))


def test_confounded_terms_are_refused() -> None:
    # Each centre worked in one era only: centre and era effects cannot be separated.
    train = simulate(300, np.random.default_rng(9), centres={"A": 0.0, "B": 0.2, "C": 0.1})
    train["era"] = train["centre"].map({"A": "2000-2009", "B": "2010-2015", "C": "2016-2020"})
    with pytest.raises(InvalidInputError, match=r"rank-deficient .*centre"):
        KapImputationModel(train).fit()


def test_summary_and_residual_checks() -> None:
    # Residual checks must pass log-normal data and flag skewed data: the Jarque-Bera p-value
    # is > 0.001 for normal log residuals (false alarm 0.1 %) and < 1e-6 when the noise on the
    # log scale is exponential (skewness 2).
    rng = np.random.default_rng(10)
    good = KapImputationModel(simulate(2000, rng)).fit()
    checks = good.residual_checks()
    assert checks.loc["weight", "jarque_bera_pvalue"] > 1e-3
    assert abs(checks.loc["weight", "residual_sd"] - SIGMA) < 0.05
    skewed = simulate(2000, rng)
    skewed["kap_gycm2"] *= np.exp(rng.exponential(0.7, len(skewed)))
    assert (
        KapImputationModel(skewed).fit().residual_checks().loc["weight", "jarque_bera_pvalue"]
        < 1e-6
    )
    text = str(good.summary())
    assert "weight model" in text and "age model" in text and "log_weight_kg" in text
    assert "<table" in good.summary().as_html()
    assert list(good.conf_int().columns) == ["submodel", "term", "lower", "upper"]
    assert good.params.loc["log_weight_kg", "weight"] == pytest.approx(1.0, abs=0.1)


def test_rcs_basis_is_linear_beyond_the_outer_knots() -> None:
    # Reference: Harrell (2015), eq. 2.25: the restricted cubic spline is linear below the
    # first and above the last knot (second differences 0 to rounding, 1e-9).
    knots = [1.0, 4.0, 8.0, 14.0]
    for grid in (np.linspace(-5.0, 1.0, 13), np.linspace(14.0, 30.0, 17)):
        basis = rcs_basis(grid, knots)
        np.testing.assert_allclose(np.diff(basis, n=2, axis=0), 0.0, atol=1e-9)
    inside = rcs_basis(np.linspace(4.0, 8.0, 9), knots)
    assert np.abs(np.diff(inside[:, 1], n=2)).max() > 1e-3  # curved between the knots


def test_weight_model_first_then_age_model() -> None:
    # Documented choice: the weight model predicts a record with a weight whose levels it
    # knows; a level seen only on records without a weight goes to the age model.
    rng = np.random.default_rng(11)
    train = simulate(600, rng)
    rare = simulate(60, rng).assign(procedure_type="rare", weight_kg=np.nan)
    results = KapImputationModel(pd.concat([train, rare], ignore_index=True)).fit()
    assert (
        results.weight is not None and "rare" not in results.weight.design.levels["procedure_type"]
    )
    query = simulate(2, rng).drop(columns="kap_gycm2")
    query.loc[1, "procedure_type"] = "rare"
    assert results.predict(query)["submodel"].tolist() == ["weight", "age"]
    assert results.predict(query.assign(weight_kg=np.nan))["submodel"].tolist() == ["age"] * 2
