"""Parameter files checked against the published tables.

References: BEIR VII Phase 2 (NRC 2006) Table 12-2 (site-specific ERR per Gy and EAR per 10^4
PY Gy, modifiers gamma and eta) and the leukaemia model; RadRAT Table 1 (Berrington de
Gonzalez et al. 2012, J Radiol Prot 32:205), 95 % CIs. The values below are transcribed
here, independently of the data files; they must agree exactly. The Monte Carlo draws must
reproduce the published 95 % CIs (tolerance: sampling error of 200,000 draws, ~1 %).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from doseline.risk import BEIR7Model, RadRATModel
from doseline.risk.uncertainty import beta_draws
from doseline.risk.validation import table12d1

# site: (ERR M, ERR F, EAR M, EAR F) -- BEIR VII Table 12-2, incidence
BEIR7_TABLE_12_2 = {
    "stomach": (0.21, 0.48, 4.9, 4.9),
    "colon": (0.63, 0.43, 3.2, 1.6),
    "liver": (0.32, 0.32, 2.2, 1.0),
    "lung": (0.32, 1.40, 2.3, 3.4),
    "breast": (None, None, None, 9.4),
    "prostate": (0.12, None, 0.11, None),
    "uterus": (None, 0.055, None, 1.2),
    "ovary": (None, 0.38, None, 0.70),
    "bladder": (0.50, 1.65, 1.2, 0.75),
    "other": (0.27, 0.45, 6.2, 4.8),
    "thyroid": (0.53, 1.05, None, None),
}
# EAR attained-age powers differing from 2.8 (Table 12-2); ERR eta -1.4 except "other" -2.8
EAR_ETA = {"liver": 4.1, "lung": 5.2, "bladder": 6.0, "breast": 3.5}
# RadRAT Table 1: (site, sex, model) -> (beta, CI low or None for "<0", CI high)
RADRAT_TABLE_1 = {
    ("oral", "male", "err"): (0.23, None, 0.66),
    ("oral", "female", "ear"): (0.29, 0.06, 0.66),
    ("oesophagus", "male", "ear"): (0.88, 0.11, 2.1),
    ("rectum", "female", "ear"): (0.34, 0.09, 1.1),
    ("gallbladder", "male", "err"): (-0.018, None, 0.29),
    ("pancreas", "female", "err"): (0.36, None, 0.88),
    ("kidney", "male", "ear"): (0.31, 0.08, 0.68),
    ("brain_cns", "male", "err"): (0.71, 0.26, 1.34),
    ("brain_cns", "female", "err"): (0.24, 0.09, 0.47),
    ("breast", "female", "ear"): (10.0, 7.0, 14.2),
    ("thyroid", "female", "err"): (1.05, 0.28, 3.9),
    ("lung", "female", "ear"): (3.4, 2.3, 4.9),
}


def _params(model: object) -> pd.DataFrame:
    frame: pd.DataFrame = model.params  # type: ignore[attr-defined]
    return frame.set_index(["site", "sex", "model"])


def test_beir7_betas_match_table_12_2() -> None:
    params = _params(BEIR7Model())
    for site, values in BEIR7_TABLE_12_2.items():
        for (sex, model), expected in zip(
            [("male", "err"), ("female", "err"), ("male", "ear"), ("female", "ear")],
            values,
            strict=True,
        ):
            if expected is None:
                assert (site, sex, model) not in params.index
            else:
                assert params.loc[(site, sex, model), "beta"] == expected, (site, sex, model)


def test_beir7_modifiers() -> None:
    params = _params(BEIR7Model()).reset_index()
    params = params[params.site != "leukaemia"]
    ear = params[params.model == "ear"]
    for row in ear.itertuples():
        assert row.eta == EAR_ETA.get(str(row.site), 2.8), row.site
        assert row.gamma == (-0.50 if row.site == "breast" else -0.41)
    err = params[params.model == "err"]
    for row in err.itertuples():
        expected_eta = {"other": -2.8, "thyroid": 0.0}.get(str(row.site), -1.4)
        assert row.eta == expected_eta, row.site
        assert row.gamma == (-0.83 if row.site == "thyroid" else -0.30)
    breast = params[params.site == "breast"].iloc[0]
    assert (breast.eta_late, breast.a_break_y, breast.a_ref_y) == (1.1, 50, 50)


def test_weights_beir7() -> None:
    params = _params(BEIR7Model())
    assert params.loc[("lung", "male", "err"), "weight"] == 0.3
    assert params.loc[("stomach", "female", "err"), "weight"] == 0.7
    assert params.loc[("thyroid", "female", "err"), "weight"] == 1.0
    assert params.loc[("breast", "female", "ear"), "weight"] == 1.0


def test_leukaemia_model() -> None:
    leuk = BEIR7Model().leukaemia
    err_m = next(c for c in leuk["male"] if c.model == "err")
    ear_f = next(c for c in leuk["female"] if c.model == "ear")
    assert (err_m.beta, err_m.gamma, err_m.delta, err_m.phi, err_m.theta) == (
        1.1,
        -0.40,
        -0.48,
        0.42,
        0.87,
    )
    assert (ear_f.beta, ear_f.gamma, ear_f.delta, ear_f.phi, ear_f.theta) == (
        0.93,
        0.29,
        0.0,
        0.56,
        0.88,
    )


def test_radrat_matches_table_1() -> None:
    params = _params(RadRATModel())
    # 17 solid sites + remainder + leukaemia: the 18 RadRAT cancer sites and the remainder
    assert len({s for s, _, _ in params.index}) == 19
    for key, (beta, low, high) in RADRAT_TABLE_1.items():
        row = params.loc[[key]].iloc[0]
        assert row["beta"] == beta, key
        assert (None if pd.isna(row["beta_ci_low"]) else row["beta_ci_low"]) == low, key
        assert row["beta_ci_high"] == high, key
    assert params.loc[("oral", "male", "ear"), "eta"] == 0.5


@pytest.mark.parametrize("model", [BEIR7Model(), RadRATModel()], ids=["beir7", "radrat"])
def test_draws_reproduce_published_ci(model: object) -> None:
    rng = np.random.default_rng(2012)
    for comps in model.solid.values():  # type: ignore[attr-defined]
        for comp in comps:
            draws = beta_draws(comp, rng, 200_000)
            lo, mid, hi = np.quantile(draws, [0.025, 0.5, 0.975])
            low, high = comp.beta_ci_low, comp.beta_ci_high
            if comp.distribution == "lognormal":
                # a lognormal reproduces the published CI up to its rounding asymmetry
                # |ln(hi/beta) - ln(beta/lo)|; the width ln(hi/lo) and median exactly
                assert low is not None
                assert np.log(hi / lo) == pytest.approx(np.log(high / low), rel=0.02), comp
                assert mid == pytest.approx(comp.beta, rel=0.01), comp
                slack = abs(np.log(high / comp.beta) - np.log(comp.beta / low)) / 2 + 0.01
                assert abs(np.log(hi / high)) <= slack, comp
                continue
            scale = high - (low if low is not None else comp.beta)
            assert hi == pytest.approx(high, abs=0.02 * scale), comp
            assert mid == pytest.approx(comp.beta, abs=0.02 * scale), comp
            if low is not None:
                assert lo == pytest.approx(low, abs=0.02 * scale), comp


def test_table12d1_transcription_is_consistent() -> None:
    # The published site rows sum to "all solid" and all solid + leukaemia = all cancers
    # (rounding of each entry to whole cases allows +-2).
    table = table12d1().pivot_table(
        index=["sex", "age_at_exposure_y"], columns="site", values="lar_per_100000"
    )
    totals = {"all_solid", "all_cancer", "leukaemia"}
    sites = [c for c in table.columns if c not in totals]
    assert np.all(np.abs(table[sites].sum(axis=1) - table["all_solid"]) <= 2)
    assert np.all(np.abs(table["all_solid"] + table["leukaemia"] - table["all_cancer"]) <= 1)
