"""SIR/SMR with exact Poisson limits.

References: the exact 95 % upper limit for 0 events, 3.689 (R epitools ``pois.exact``
documentation); for 10 events 4.80-18.39 (Garwood limits as tabulated, e.g. the
calculatorhub exact Poisson page, and Breslow & Day vol. II); and the defining identity of
the Garwood limits (the chi-square quantile form equals the Poisson tail at alpha/2, checked
with scipy's Poisson distribution, an independent code path). Expected counts are checked
against a hand computation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from doseline.cohort.sir import ReferenceRates, garwood_interval, sir
from doseline.errors import InvalidInputError


def test_published_exact_limits() -> None:
    low, high = garwood_interval([0, 10], [1.0, 1.0])
    assert low[0] == 0.0
    assert high[0] == pytest.approx(3.689, abs=5e-4)  # epitools pois.exact, x = 0
    assert low[1] == pytest.approx(4.80, abs=5e-3)
    assert high[1] == pytest.approx(18.39, abs=5e-3)


@pytest.mark.parametrize("observed", [1, 2, 5, 17, 120])
def test_chi_square_form_equals_poisson_tails(observed: int) -> None:
    low, high = garwood_interval([observed], [1.0], conf_level=0.9)
    # P(X >= O | lower) = P(X <= O | upper) = 0.05
    assert stats.poisson.sf(observed - 1, low[0]) == pytest.approx(0.05, rel=1e-8)
    assert stats.poisson.cdf(observed, high[0]) == pytest.approx(0.05, rel=1e-8)


def _rates() -> ReferenceRates:
    return ReferenceRates(
        pd.DataFrame(
            {
                "sex": ["male", "male", "female", "female"],
                "age_lo_y": [0, 10, 0, 10],
                "age_hi_y": [10, np.inf, 10, np.inf],
                "rate_per_100000": [5.0, 2.0, 4.0, 1.0],
            }
        )
    )


def test_sir_of_a_table_by_hand() -> None:
    table = pd.DataFrame(
        {
            "sex": ["M", "M", "F", "F"],
            "age_band": ["[0,5)", "[10,15)", "[5,10)", "[20,inf)"],
            "dose_band": ["low", "high", "low", "high"],
            "cases": [1, 2, 0, 3],
            "pyr": [1e4, 5e4, 2e4, 1e5],
        }
    )
    # expected = 1e4*5e-5 + 5e4*2e-5 + 2e4*4e-5 + 1e5*1e-5 = 0.5 + 1 + 0.8 + 1 = 3.3
    result = sir(table, _rates())
    row = result.summary_frame.loc["all"]
    assert row["expected"] == pytest.approx(3.3, rel=1e-12)
    assert row["sir"] == pytest.approx(6 / 3.3, rel=1e-12)
    low, high = garwood_interval([6], [3.3])
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low[0], high[0]))
    by_dose = sir(table, _rates(), by="dose_band").summary_frame
    assert by_dose.loc["low", "expected"] == pytest.approx(1.3)
    assert by_dose.loc["high", "observed"] == 5
    assert "SIR" in result.summary()


def test_cells_must_nest_in_rate_bands(tmp_path: Path) -> None:
    table = pd.DataFrame({"sex": ["M"], "age_band": ["[5,15)"], "cases": [1], "pyr": [10.0]})
    with pytest.raises(InvalidInputError, match="nest"):
        sir(table, _rates())
    path = tmp_path / "rates.csv"
    pd.DataFrame(
        {"sex": ["X"], "age_lo_y": [0], "age_hi_y": [1], "rate_per_person_year": [1]}
    ).to_csv(path, index=False)
    with pytest.raises(InvalidInputError, match="rates row 1: sex"):
        ReferenceRates.from_csv(path)


def test_rates_by_period() -> None:
    rates = ReferenceRates(
        pd.DataFrame(
            {
                "sex": ["F", "F"],
                "age_lo_y": [0, 0],
                "age_hi_y": [np.inf, np.inf],
                "period_lo_year": [1990, 2000],
                "period_hi_year": [2000, 2010],
                "rate_per_person_year": [1e-4, 3e-4],
            }
        )
    )
    table = pd.DataFrame(
        {
            "sex": ["female", "female"],
            "age_band": ["[0,5)", "[5,10)"],
            "period_band": ["[1995,2000)", "[2000,2005)"],
            "cases": [1, 4],
            "pyr": [1e4, 1e4],
        }
    )
    # expected = 1e4 * 1e-4 + 1e4 * 3e-4 = 4
    row = sir(table, rates).summary_frame.loc["all"]
    assert row["expected"] == pytest.approx(4.0)
    assert row["sir"] == pytest.approx(5 / 4)
