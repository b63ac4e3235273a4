"""Grouped Poisson ERR/EAR regression against statsmodels GLM and synthetic known truths.

References:
- statsmodels GLM Poisson (log link, offset log pyr) for log-linear models: an independent
  implementation (IRLS); agreement to 1e-6 relative is far above its convergence tolerance.
- statsmodels GLM Poisson with identity link for EAR models linear in parameters, and for the
  one-stratum linear ERR model (mu = pyr*(b0 + b1*d), ERR per unit dose = b1/b0).
- Synthetic truth: with cases set to their expected values the Poisson likelihood is maximised
  exactly at the true parameters (the score sum (y - mu) J vanishes at mu = E[y]).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.stats import chi2

from doseline.cohort.poisson import PoissonModel
from doseline.errors import InvalidInputError


def _table(seed: int = 1, n: int = 1500, beta: float = 2.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "agecat": rng.integers(0, 8, n),
            "sex": rng.integers(1, 3, n),
            "dose": rng.gamma(0.5, 0.2, n),
            "pyr": rng.uniform(50, 500, n),
            "age": rng.uniform(5, 80, n),
        }
    )
    background = np.exp(-7.5 + 0.08 * table["agecat"] + 0.3 * (table["sex"] == 2))
    table["expected"] = table["pyr"] * background * (1 + beta * table["dose"])
    table["cases"] = rng.poisson(table["expected"])
    return table


def _glm(table: pd.DataFrame, columns: pd.DataFrame, link: str = "log") -> object:
    family = sm.families.Poisson(
        sm.families.links.Identity() if link == "identity" else sm.families.links.Log()
    )
    offset = np.log(table["pyr"]) if link == "log" else None
    return sm.GLM(table["cases"], columns, family=family, offset=offset).fit(tol=1e-13)


def test_loglinear_matches_statsmodels_glm() -> None:
    table = _table()
    model = PoissonModel(table, "background: factor(agecat) + factor(sex) + log(age/70)")
    results = model.fit()
    exog = pd.get_dummies(table[["agecat", "sex"]].astype(str), drop_first=True).astype(float)
    exog.insert(0, "const", 1.0)
    exog["la"] = np.log(table["age"] / 70)
    glm = _glm(table, exog)
    np.testing.assert_allclose(results.params.to_numpy(), glm.params.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(results.bse.to_numpy(), glm.bse.to_numpy(), rtol=1e-6)
    assert results.deviance == pytest.approx(glm.deviance, rel=1e-9)
    assert results.aic == pytest.approx(glm.aic, rel=1e-9)
    assert results.loglik == pytest.approx(glm.llf, rel=1e-9)
    assert results.n_cells == len(table)


def test_stratified_loglinear_profiles_intercepts_like_glm_dummies() -> None:
    """Closed-form stratum intercepts give the GLM fit with one indicator per stratum."""
    table = _table(seed=2)
    results = PoissonModel(table, "background: strata(agecat, sex) + log(age/70)").fit()
    strata = pd.get_dummies(table["agecat"].astype(str) + "|" + table["sex"].astype(str))
    exog = strata.astype(float)
    exog["la"] = np.log(table["age"] / 70)
    glm = _glm(table, exog)
    assert results.params["log(age / 70)"] == pytest.approx(glm.params["la"], rel=1e-6)
    assert results.bse["log(age / 70)"] == pytest.approx(glm.bse["la"], rel=1e-6)
    assert results.deviance == pytest.approx(glm.deviance, rel=1e-9)
    assert results.aic == pytest.approx(glm.aic, rel=1e-9)


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.DomainWarning")
def test_one_stratum_linear_err_matches_identity_link_glm() -> None:
    """mu = pyr*exp(a)*(1 + b d) = pyr*(b0 + b1 d): ERR = b1/b0, SE by the delta method."""
    table = _table(seed=3)
    table["one"] = 1
    results = PoissonModel.linear_err(table, strata=["one"]).fit()
    exog = pd.DataFrame({"b0": table["pyr"], "b1": table["pyr"] * table["dose"]})
    glm = _glm(table, exog, link="identity")
    b0, b1 = glm.params
    err = b1 / b0
    grad = np.array([-b1 / b0**2, 1 / b0])
    se = float(np.sqrt(grad @ glm.cov_params().to_numpy() @ grad))
    assert results.params["err:dose"] == pytest.approx(err, rel=1e-6)
    assert results.bse["err:dose"] == pytest.approx(se, rel=1e-5)
    assert results.deviance == pytest.approx(glm.deviance, rel=1e-9)


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.DomainWarning")
def test_stratified_ear_matches_identity_link_glm() -> None:
    """EAR with strata: mu = pyr*(exp(a_s) + b d) is linear in (exp(a_s), b)."""
    table = _table(seed=4)
    results = PoissonModel(table, "background: strata(sex); ear: dose").fit()
    exog = pd.DataFrame(
        {
            "s1": table["pyr"] * (table["sex"] == 1),
            "s2": table["pyr"] * (table["sex"] == 2),
            "b": table["pyr"] * table["dose"],
        }
    )
    glm = _glm(table, exog, link="identity")
    assert results.params["ear:dose"] == pytest.approx(glm.params["b"], rel=1e-6)
    assert results.bse["ear:dose"] == pytest.approx(glm.bse["b"], rel=1e-5)
    assert np.exp(results.params["stratum[1]"]) == pytest.approx(glm.params["s1"], rel=1e-6)
    assert results.deviance == pytest.approx(glm.deviance, rel=1e-9)


def test_closed_form_strata_equal_explicit_stratum_parameters() -> None:
    """Profiling the intercepts analytically (Schur complement) = fitting them as factors."""
    table = _table(seed=5)
    profiled = PoissonModel(
        table, "background: strata(agecat, sex); err: dose * exp(log(age/70))"
    ).fit()
    table["stratum"] = table["agecat"].astype(str) + "|" + table["sex"].astype(str)
    explicit = PoissonModel(
        table, "background: factor(stratum); err: dose * exp(log(age/70))"
    ).fit()
    for name in ("err:dose", "mod:log(age / 70)"):
        assert profiled.params[name] == pytest.approx(explicit.params[name], rel=1e-6)
        assert profiled.bse[name] == pytest.approx(explicit.bse[name], rel=1e-6)
    assert profiled.deviance == pytest.approx(explicit.deviance, rel=1e-9)
    assert profiled.n_params == explicit.n_params


@pytest.mark.parametrize(
    ("spec", "truth"),
    [
        ("err: dose; form: linear", {"err:dose": 0.8}),
        ("err: dose; form: lq", {"err:dose": 0.5, "err:dose^2": 0.3}),
        ("err: dose; form: linexp", {"err:dose": 1.2, "err:exp(dose)": -0.4}),
        (
            "err: dose * exp(factor(sex) + log(age/30))",
            {"err:dose": 0.6, "mod:sex[2]": 0.5, "mod:log(age / 30)": -1.0},
        ),
        ("ear: dose", {"ear:dose": 2e-4}),
    ],
)
def test_expected_value_table_recovers_truth(spec: str, truth: dict[str, float]) -> None:
    """Synthetic truth: cases = E[cases] under the model makes the truth the exact MLE."""
    rng = np.random.default_rng(6)
    n = 400
    table = pd.DataFrame(
        {
            "sex": rng.integers(1, 3, n),
            "agecat": rng.integers(0, 4, n),
            "dose": rng.uniform(0, 2, n),
            "age": rng.uniform(5, 60, n),
            "pyr": rng.uniform(1e3, 1e4, n),
        }
    )
    background = np.exp(-6.0 + 0.2 * table["agecat"])
    d = table["dose"]
    excess = {
        "linear": truth.get("err:dose", 0) * d,
        "lq": truth.get("err:dose", 0) * d + truth.get("err:dose^2", 0) * d**2,
        "linexp": truth.get("err:dose", 0) * d * np.exp(truth.get("err:exp(dose)", 0) * d),
    }
    if spec.startswith("ear"):
        rate = background + truth["ear:dose"] * d
        full = "background: factor(agecat); " + spec
    else:
        form = spec.split("form: ")[1] if "form" in spec else "linear"
        modifier = np.exp(
            truth.get("mod:sex[2]", 0) * (table["sex"] == 2)
            + truth.get("mod:log(age / 30)", 0) * np.log(table["age"] / 30)
        )
        rate = background * (1 + excess[form] * modifier)
        full = "background: strata(agecat); " + spec
    table["cases"] = table["pyr"] * rate
    results = PoissonModel(table, full).fit()
    for name, value in truth.items():
        assert results.params[name] == pytest.approx(value, rel=1e-6)
    assert results.deviance == pytest.approx(0.0, abs=1e-8)


def test_seeded_sample_profile_interval_covers_truth_and_hits_threshold() -> None:
    """A Poisson sample from beta = 2: interval covers it; limits sit at D_min + chi2(0.95)."""
    table = _table(seed=7, n=3000, beta=2.0)
    model = PoissonModel.linear_err(table, strata=["agecat", "sex"])
    results = model.fit()
    interval = results.conf_int().loc["err:dose"]
    assert interval["lower"] < 2.0 < interval["upper"]
    threshold = results.deviance + chi2.ppf(0.95, 1)
    for limit in (interval["lower"], interval["upper"]):
        fixed = model._fit_fixed(0, float(limit), results.params.to_numpy())
        assert fixed is not None
        assert fixed.deviance == pytest.approx(threshold, abs=1e-6)
    wald = results.conf_int("wald").loc["err:dose"]
    assert wald["lower"] == pytest.approx(
        results.params["err:dose"] - 1.959964 * results.bse["err:dose"], rel=1e-6
    )


def test_lower_limit_reported_as_boundary() -> None:
    """No cases at the highest dose: the deviance at beta = -1/max(dose) stays finite.

    With few cases and an estimate near zero, the 1 + ERR > 0 domain ends before the
    deviance rises by 3.84, so the lower limit does not exist (Ozasa et al. 2012 style).
    """
    table = pd.DataFrame(
        {
            "dose": [0.0, 0.5, 1.0, 2.0],
            "pyr": [1000.0, 1000.0, 1000.0, 1000.0],
            "cases": [2, 2, 1, 0],
        }
    )
    results = PoissonModel(table, "err: dose").fit()
    low, high = results.profile_limits("err:dose")
    assert low.status == "boundary"
    assert low.value is None
    assert low.boundary == pytest.approx(-1 / 2.0, rel=1e-9)
    assert high.status == "profile"
    frame = results.conf_int()
    assert np.isnan(frame.loc["err:dose", "lower"])
    assert "boundary" in str(results.summary())


def test_lr_test_and_summary_outputs() -> None:
    table = _table(seed=8)
    base = PoissonModel(table, "background: strata(agecat, sex)").fit()
    linear = PoissonModel.linear_err(table, strata=["agecat", "sex"]).fit()
    test = linear.lr_test(base)
    assert test.df == 1
    assert test.statistic == pytest.approx(base.deviance - linear.deviance)
    assert 0 <= test.pvalue <= 1
    html = linear.summary().as_html()
    assert "<table>" in html and "err:dose" in html
    assert list(linear.summary_frame().columns[:2]) == ["coef", "std_err"]


def test_bad_input_names_row_and_column() -> None:
    table = _table(seed=9, n=20)
    table.loc[5, "pyr"] = -1.0
    with pytest.raises(InvalidInputError, match=r"cells.csv: row 5: pyr"):
        PoissonModel.linear_err(table, source="cells.csv")
    table = _table(seed=9, n=20)
    with pytest.raises(InvalidInputError, match="no column 'dose_gy'"):
        PoissonModel.linear_err(table, dose="dose_gy")


def test_dose_response_plot_points_equal_categorical_fit() -> None:
    """The plotted category points are the categorical model's ERRs at mean category doses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = _table(seed=10)
    results = PoissonModel.linear_err(table, strata=["agecat", "sex"]).fit()
    cuts = [0.0, 0.05, 0.2, 0.5, float(table["dose"].max())]
    ax = results.plot_dose_response(cutpoints=cuts)
    categorical = PoissonModel(
        table, f"background: strata(agecat, sex); err: dose; form: categorical{tuple(cuts)}"
    ).fit()
    points = ax.containers[0].lines[0].get_ydata()
    np.testing.assert_allclose(points[1:], categorical.params.to_numpy(), rtol=1e-9)
    assert points[0] == 0.0
    plt.close(ax.figure)


def test_limit_beyond_the_numerical_range_is_not_reached() -> None:
    """Synthetic truth: a profile deviance that never rises 3.84 above its minimum within the
    representable range (|coefficient| <= 50) has no limit there. Fits past that range return
    garbage (here a huge deviance), which must not be read as a crossing."""
    from doseline.cohort.profile import FixedFit, profile_limit

    def fit_fixed(value: float, start: np.ndarray) -> FixedFit:
        plateau = 2.0 * (1.0 - np.exp(-abs(value - 4.6)))  # stays below chi2(0.95, 1)
        return FixedFit(deviance=1e6 if abs(value) > 50 else plateau, params=start)

    start = np.array([4.6])
    unbounded = profile_limit(fit_fixed, 4.6, start, 0.0, scale=1.6, direction=1)
    assert unbounded.status == "profile"  # the artefact the bound exists to prevent
    bounded = profile_limit(fit_fixed, 4.6, start, 0.0, scale=1.6, direction=1, max_abs=50.0)
    assert bounded.status == "not reached"
    assert bounded.value is None
