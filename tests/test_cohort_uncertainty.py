"""Dose-uncertainty estimators (naive, FMA, MCML) against exact identities and brute force.

References:
- identity: with K identical realisations every method must reduce to the ordinary fit (FMA to
  the Wald interval, MCML and naive to the profile interval);
- brute force: the MCML estimate maximises (1/K) sum_k L_k(beta); for a fully stratified
  linear-ERR model the profile log-likelihood has the closed form
  sum_i y_i log(1 + beta d_ik) - sum_s Y_s log sum_{i in s} pyr_i (1 + beta d_ik) + const,
  evaluated here on a fine grid independently of the package's optimiser;
- FMA weights: Akaike weights exp(-AIC_k/2) / sum (Burnham & Anderson 2002, §2.9).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from doseline.cohort.poisson import PoissonModel
from doseline.cohort.uncertainty import fit_realisations, fma, mcml, naive_fit
from doseline.errors import InvalidInputError


def _cohort(seed: int, n: int = 300, k: int = 12) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"stratum": rng.integers(0, 10, n), "pyr": rng.uniform(500, 5000, n)})
    reference = rng.lognormal(-1.0, 1.0, n)
    sigma = 0.5
    true = reference * np.exp(sigma * rng.normal(size=n) - sigma**2 / 2)
    table["cases"] = rng.poisson(table["pyr"] * 1e-3 * (1 + 0.5 * true))
    table["dose"] = reference
    realisations = reference[:, None] * np.exp(sigma * rng.normal(size=(n, k)) - sigma**2 / 2)
    return table, realisations


def test_identical_realisations_reduce_to_the_plain_fit() -> None:
    table, _ = _cohort(1)
    model = PoissonModel.linear_err(table, strata=["stratum"])
    results = model.fit()
    same = np.repeat(table["dose"].to_numpy()[:, None], 5, axis=1)
    wald = results.conf_int("wald").loc["err:dose"]
    profile = results.conf_int().loc["err:dose"]
    estimate = results.params["err:dose"]
    for method, interval in ((naive_fit, profile), (fma, wald), (mcml, profile)):
        result = method(model, same)
        assert result.estimate == pytest.approx(estimate, rel=1e-5), result.method
        assert result.lower == pytest.approx(interval["lower"], rel=1e-5), result.method
        assert result.upper == pytest.approx(interval["upper"], rel=1e-5), result.method


def test_mcml_matches_brute_force_grid() -> None:
    table, realisations = _cohort(2)
    model = PoissonModel.linear_err(table, strata=["stratum"])
    result = mcml(model, realisations)
    y = table["cases"].to_numpy(dtype=float)
    pyr = table["pyr"].to_numpy()
    strata = table["stratum"].to_numpy()
    totals = np.bincount(strata, weights=y)
    grid = np.linspace(0.0, 2.0, 4001)
    curves = []
    for k in range(realisations.shape[1]):
        rr = 1 + grid[:, None] * realisations[None, :, k]
        person = np.stack([np.bincount(strata, weights=pyr * row) for row in rr])
        curves.append((y * np.log(rr)).sum(axis=1) - (totals * np.log(person)).sum(axis=1))
    average = logsumexp(np.stack(curves), axis=0)
    assert result.estimate == pytest.approx(grid[np.argmax(average)], abs=2 * (grid[1] - grid[0]))
    inside = grid[average >= average.max() - 3.8415 / 2]
    assert result.lower == pytest.approx(inside.min(), abs=2 * (grid[1] - grid[0]))
    assert result.upper == pytest.approx(inside.max(), abs=2 * (grid[1] - grid[0]))


def test_fma_uses_akaike_weights_and_mixture() -> None:
    table, realisations = _cohort(3)
    model = PoissonModel.linear_err(table, strata=["stratum"])
    result = fma(model, realisations)
    fits = fit_realisations(model, realisations)
    weights = np.exp(-(fits["aic"] - fits["aic"].min()) / 2)
    weights /= weights.sum()
    assert result.estimate == pytest.approx(float(weights @ fits["estimate"]), rel=1e-9)
    # The interval is the 2.5/97.5 % quantile pair of the normal mixture: check by sampling.
    rng = np.random.default_rng(0)
    pick = rng.choice(len(weights), size=400_000, p=weights)
    draws = rng.normal(fits["estimate"].to_numpy()[pick], fits["std_err"].to_numpy()[pick])
    low, high = np.quantile(draws, [0.025, 0.975])
    assert result.lower == pytest.approx(low, abs=0.01)
    assert result.upper == pytest.approx(high, abs=0.01)
    assert result.per_realisation is not None
    assert len(result.per_realisation) == realisations.shape[1]


def test_rejects_wrong_shape() -> None:
    table, realisations = _cohort(4, n=50)
    model = PoissonModel.linear_err(table, strata=["stratum"])
    with pytest.raises(InvalidInputError, match="cells x K"):
        naive_fit(model, realisations[:10])
