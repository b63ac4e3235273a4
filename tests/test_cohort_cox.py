"""Cox linear-ERR partial likelihood against the published rERR results.

Reference: rERR README (fbr600/rERR, HEAD 9a0437e), data at commit d1d25a7, copied to
../shared/data/epi/ with the published numbers in its PROVENANCE.md.  Tolerances:
- beta: 1.2e-4 absolute, the default tolerance of R's ``optimize`` (.Machine$double.eps^0.25),
  which bounds how precisely rERR located the maximum;
- standard error: 1e-3 relative (evaluated at rERR's slightly different beta);
- deviance: 2e-4 absolute (printed to 4 decimals, plus the flat likelihood near the optimum);
- risk sets: exact;
- profile limits: 1e-4 relative where the independent re-implementation in PROVENANCE.md agrees
  with rERR, 5e-3 relative for the country-adjusted rows (not independently re-checked).
The ef lower limit is not reproducible: the model is undefined below -1/max(D) = -0.0016075 and
the deviance there is still under the chi-square threshold (PROVENANCE.md), so it is a boundary.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from doseline.cohort.cox import CoxERRModel

EPI = Path(__file__).resolve().parents[2] / "shared" / "data" / "epi"
EF = EPI / "rerr_cohort_ef_v2018-04-11.csv.gz"
WF = EPI / "rerr_cohort_wf_v2018-04-11.csv.gz"

needs_data = pytest.mark.skipif(
    not (EF.exists() and WF.exists()),
    reason="rERR example cohorts not found in ../shared/data/epi/ (GPL data, not shipped)",
)

# (data, loglin, beta, se, deviance, risk sets, lower (None = boundary), upper, limit rtol)
PUBLISHED = [
    ("ef", (), 0.02401129, 0.04400845, 311.8759, 18, None, 0.8468688, 1e-4),
    ("wf", (), 0.03882416, 0.03977917, 597.129, 34, -0.003425317, 0.278199, 2e-3),
    ("ef", ("factor(country)",), 0.02181835, 0.04152847, 309.9591, 18, None, 0.774703, 5e-3),
    (
        "wf",
        ("factor(country)",),
        0.0402001,
        0.04089224,
        581.5899,
        34,
        -0.003126192,
        0.2904963,
        5e-3,
    ),
]


@lru_cache(maxsize=4)
def _model(data: str, loglin: tuple[str, ...]) -> CoxERRModel:
    if data == "ef":
        table = pd.read_csv(EF)
        return CoxERRModel.from_events(table, strata=["sex"], lag=2.0, loglin=loglin)
    table = pd.read_csv(WF)
    return CoxERRModel.from_wide(
        table,
        entry="AgeAtEntry",
        exit="age_at_event",
        strata=["sex"],
        lag=2.0,
        exclusion=2.0,
        loglin=loglin,
    )


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("case", PUBLISHED, ids=["ef", "wf", "ef-country", "wf-country"])
def test_reproduces_published_rerr(case: tuple[object, ...]) -> None:
    data, loglin, beta, se, deviance, sets, lower, upper, rtol = case
    assert isinstance(data, str) and isinstance(loglin, tuple)
    model = _model(data, loglin)
    results = model.fit()
    assert results.converged
    assert results.params["dose"] == pytest.approx(beta, abs=1.2e-4)
    assert results.bse["dose"] == pytest.approx(se, rel=1e-3)
    assert results.deviance == pytest.approx(deviance, abs=2e-4)
    assert results.n_risk_sets == sets
    low, high = results.profile_limits("dose")
    assert high.status == "profile"
    assert high.value == pytest.approx(upper, rel=rtol)
    if lower is None:
        assert low.status == "boundary"
        assert low.boundary == pytest.approx(model.dose_boundary, rel=1e-9)
    else:
        assert low.status == "profile"
        assert low.value == pytest.approx(lower, rel=rtol)


@needs_data
def test_ef_boundary_is_minus_one_over_max_lagged_dose() -> None:
    """PROVENANCE.md: the largest lagged cumulative dose in any ef risk set is 622.08 mGy."""
    model = _model("ef", ())
    assert model.dose_boundary == pytest.approx(-1 / 622.08, rel=1e-5)
    assert model.evaluate(np.array([model.dose_boundary * 1.0001]), np.ones(1, bool)) is None


def test_toy_risk_sets_by_hand() -> None:
    """Three subjects, one case: risk set, lagged doses and partial likelihood by hand.

    Case A fails at 10; B (entry 1, exit 12) is at risk with dose 5 at age 3 (lagged: counts at
    10 - 2 = 8) and 7 at age 9 (not yet); C has exit 9 < 10 (not at risk).  With beta = 0.1:
    l = log(1 + 0.1*2) - log[(1 + 0.1*2) + (1 + 0.1*5)].
    """
    subjects = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "entry_age": [1.0, 1.0, 1.0],
            "exit_age": [10.0, 12.0, 9.0],
            "outcome": [1, 0, 0],
        }
    )
    exposures = pd.DataFrame(
        {"id": [1, 2, 2, 3], "age": [2.0, 3.0, 9.0, 2.0], "dose": [2.0, 5.0, 7.0, 100.0]}
    )
    model = CoxERRModel(subjects, exposures, lag=2.0)
    assert model.n_risk_sets == 1
    np.testing.assert_allclose(np.sort(model.risk_sets.member_dose), [2.0, 5.0])
    evaluation = model.evaluate(np.array([0.1]), np.ones(1, bool))
    assert evaluation is not None
    assert evaluation.loglik == pytest.approx(np.log(1.2) - np.log(1.2 + 1.5), rel=1e-12)
    # Score by finite difference of the analytic log-likelihood.
    step = 1e-6
    plus = model.evaluate(np.array([0.1 + step]), np.ones(1, bool))
    minus = model.evaluate(np.array([0.1 - step]), np.ones(1, bool))
    assert plus is not None and minus is not None
    numeric = (plus.loglik - minus.loglik) / (2 * step)
    assert evaluation.score[0] == pytest.approx(numeric, rel=1e-6)
    numeric_info = -(plus.score[0] - minus.score[0]) / (2 * step)
    assert evaluation.information[0, 0] == pytest.approx(numeric_info, rel=1e-5)
