"""Monte Carlo uncertainty: reproducibility, centring and dose uncertainty.

References: synthetic truths. With lognormal coefficient and DDREF draws centred on the
published values, the median LAR of a single-component site (thyroid: ERR only, step lag)
is beta_median / DDREF_median times the kernel, i.e. the central estimate; the 90 % interval
of the ratio LAR/central is exp(+-1.645 sqrt(sigma_beta^2 + sigma_DDREF^2)). Tolerances are
Monte Carlo errors of 20,000 draws (~2 %).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from doseline.risk import BEIR7Model, CancerModel, Exposure, RadRATModel, lar, lar_cohort
from doseline.risk.baseline import synthetic_baseline
from doseline.risk.sites import RADRAT_SITES

BASE = synthetic_baseline((*RADRAT_SITES, "all_solid"), rate_per_100000=30.0)
EXPOSURES = [Exposure(2.0, {"whole_body": 0.02}), Exposure(6.0, {"whole_body": 0.01})]


def test_seeded_draws_are_reproducible() -> None:
    a = lar(EXPOSURES, sex="male", baseline=BASE, draws=300, seed=11)
    b = lar(EXPOSURES, sex="male", baseline=BASE, draws=300, seed=11)
    c = lar(EXPOSURES, sex="male", baseline=BASE, draws=300, seed=12)
    assert a.draws is not None and b.draws is not None and c.draws is not None
    assert np.array_equal(a.draws["all_cancer"], b.draws["all_cancer"])
    assert not np.array_equal(a.draws["all_cancer"], c.draws["all_cancer"])


def test_thyroid_spread_matches_lognormal_theory() -> None:
    result = lar(EXPOSURES, sex="female", baseline=BASE, draws=20_000, seed=5)
    assert result.draws is not None
    ratio = result.draws["thyroid"] / result.lar_per_100000["thyroid"]
    sigma_beta = math.log(3.9 / 0.28) / (2 * 1.959964)  # RadRAT/BEIR VII CI 0.28-3.9
    sigma = math.hypot(sigma_beta, math.log(1.35))
    assert np.median(ratio) == pytest.approx(1.0, rel=0.03)
    q05, q95 = np.quantile(ratio, [0.05, 0.95])
    assert q95 == pytest.approx(math.exp(1.645 * sigma), rel=0.04)
    assert q05 == pytest.approx(math.exp(-1.645 * sigma), rel=0.04)


def test_dose_uncertainty_widens_interval() -> None:
    fixed = lar(EXPOSURES, sex="female", baseline=BASE, draws=4000, seed=1)
    uncertain = lar(EXPOSURES, sex="female", baseline=BASE, draws=4000, seed=1, dose_gsd=2.0)
    width = [
        np.subtract(*np.quantile(r.draws["colon"], [0.95, 0.05]))  # type: ignore[index]
        for r in (fixed, uncertain)
    ]
    assert width[1] > width[0]


def test_supplied_dose_realisations() -> None:
    # Realisations equal to the fixed dose reproduce the fixed-dose draws exactly.
    draws = 50
    realised = {"whole_body": np.tile([0.02, 0.01], (draws, 1))}
    a = lar(EXPOSURES, sex="male", baseline=BASE, draws=draws, seed=9)
    b = lar(EXPOSURES, sex="male", baseline=BASE, draws=draws, seed=9, dose_realisations=realised)
    assert np.allclose(a.draws["all_solid"], b.draws["all_solid"])  # type: ignore[index]


@pytest.mark.parametrize("model", [BEIR7Model(), RadRATModel()], ids=["beir7", "radrat"])
def test_cohort_matches_single_person(model: CancerModel) -> None:
    ages = np.array([[2.0, 6.0], [10.0, 12.0], [0.5, 0.5]])
    dose = np.array([[0.02, 0.01], [0.005, 0.0], [0.01, 0.01]])
    sexes = ["male", "female", "female"]
    cohort = lar_cohort(sexes, ages, {"whole_body": dose}, model=model, baseline=BASE)
    for i, sex in enumerate(sexes):
        single = lar(
            [
                Exposure(float(a), {"whole_body": float(d)})
                for a, d in zip(ages[i], dose[i], strict=True)
            ],
            sex=sex,
            model=model,
            baseline=BASE,
        )
        assert cohort.central["all_cancer"][i] == pytest.approx(
            single.lar_per_100000["all_cancer"], rel=1e-12
        )
    with_draws, again = (
        lar_cohort(sexes, ages, {"whole_body": dose}, model=model, baseline=BASE, draws=400, seed=1)
        for _ in range(2)
    )
    assert np.array_equal(with_draws.quantiles["all_cancer"], again.quantiles["all_cancer"])
    low, median, high = with_draws.quantiles["all_cancer"].T
    assert np.all(low < median) and np.all(median < high)
    assert set(with_draws.frame().columns) >= {"person", "site", "q0.05", "q0.95"}


def test_cohort_rejects_unknown_sex_and_bad_ages() -> None:
    from doseline.errors import InvalidInputError

    ages = np.array([[2.0], [3.0]])
    dose = {"whole_body": np.full((2, 1), 0.01)}
    with pytest.raises(InvalidInputError, match="'M'"):
        lar_cohort(["male", "M"], ages, dose, baseline=BASE)
    with pytest.raises(InvalidInputError, match="0-100"):
        lar_cohort(["male", "male"], np.array([[2.0], [120.0]]), dose, baseline=BASE)


def test_beir7_with_sampled_sigmoid_latency() -> None:
    from doseline.risk.models import RADRAT_LATENCY

    step = lar(EXPOSURES, sex="female", baseline=BASE, draws=2000, seed=2)
    sigmoid = lar(
        EXPOSURES,
        sex="female",
        model=BEIR7Model(latency=RADRAT_LATENCY),
        baseline=BASE,
        draws=2000,
        seed=2,
    )
    assert step.draws is not None and sigmoid.draws is not None
    # a later mean onset (7.5 y vs 5 y) loses a little risk; same order of magnitude
    ratio = np.median(sigmoid.draws["all_solid"]) / np.median(step.draws["all_solid"])
    assert 0.85 < ratio < 1.0


def test_cohort_dose_draws_independent_between_sexes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Synthetic truth: dose factors of different persons are independent draws, so a male and
    a female in the same chunk must not get the same factors (they did when both sexes of a
    chunk reused one random stream)."""
    from doseline.risk import projection

    factors: list[np.ndarray] = []
    original = projection._dose_factor

    def record(*args: object, **kwargs: object) -> np.ndarray | None:
        out = original(*args, **kwargs)  # type: ignore[arg-type]
        assert out is not None
        factors.append(out)
        return out

    monkeypatch.setattr(projection, "_dose_factor", record)
    ages = np.array([[2.0], [2.0]])
    dose = {"whole_body": np.full((2, 1), 0.01)}
    lar_cohort(["male", "female"], ages, dose, baseline=BASE, draws=200, seed=3, dose_gsd=1.5)
    male, female = (f[:, 0, 0] for f in factors)
    assert not np.allclose(male, female)
    # independent lognormal factors: correlation of the logs within sampling noise (n=200)
    assert abs(np.corrcoef(np.log(male), np.log(female))[0, 1]) < 0.3
