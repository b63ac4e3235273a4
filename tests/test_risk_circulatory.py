"""Circulatory-disease LAR against a hand-computed synthetic truth.

Reference: Little et al. 2012 (Environ Health Perspect 120:1503) ERR/Sv for IHD 0.10 and
cerebrovascular disease 0.21 (random effects), transcribed here; with constant synthetic
mortality and no competing deaths, LAR = ERR * D * rate * (years of age after the 5-year lag).
No open circulatory baseline exists in the project data, so the baseline is synthetic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from doseline.cli import app
from doseline.errors import InvalidInputError
from doseline.risk import CirculatoryModel, Exposure, circulatory_lar
from doseline.risk.baseline import synthetic_baseline

RATE = 100.0
BASE = synthetic_baseline(("ihd", "cerebrovascular"), rate_per_100000=RATE, mortality_fraction=1.0)


def test_parameters_match_little_2012() -> None:
    params = CirculatoryModel().params.set_index("outcome")
    assert params.loc["ihd", "err_per_gy"] == 0.10
    assert (params.loc["ihd", "ci_low"], params.loc["ihd", "ci_high"]) == (0.04, 0.15)
    assert params.loc["cerebrovascular", "err_per_gy"] == 0.21
    assert params.loc["cerebrovascular", "organ"] == "brain"
    fixed = CirculatoryModel("little2012_fixed").params.set_index("outcome")
    assert fixed.loc["cerebrovascular", "err_per_gy"] == 0.20


def test_closed_form() -> None:
    result = circulatory_lar(
        [Exposure(10.0, {"heart": 0.5, "brain": 0.2})], sex="female", baseline=BASE
    )
    years = 100 - 15 + 1  # ages 15..100 after a 5-year lag from exact age 10
    assert result.lar_per_100000["ihd"] == pytest.approx(0.10 * 0.5 * RATE * years)
    assert result.lar_per_100000["cerebrovascular"] == pytest.approx(0.21 * 0.2 * RATE * years)
    assert "circulatory" in result.plain_language()


def test_draws_and_missing_dose() -> None:
    result = circulatory_lar(
        [Exposure(10.0, {"whole_body": 0.1})], sex="male", baseline=BASE, draws=20_000, seed=4
    )
    assert result.draws is not None
    ratio = result.draws["ihd"] / result.lar_per_100000["ihd"]
    assert np.quantile(ratio, 0.975) == pytest.approx(1.5, rel=0.03)  # CI upper 0.15 / 0.10
    with pytest.raises(InvalidInputError, match="heart"):
        circulatory_lar([Exposure(10.0, {"brain": 0.1})], sex="male", baseline=BASE)


def test_cli(tmp_path: Path) -> None:
    path = tmp_path / "circ.csv"
    BASE.to_csv(path)
    out = CliRunner().invoke(
        app,
        [
            "risk",
            "circulatory",
            "--sex",
            "male",
            "--age-at-exposure",
            "10",
            "--heart-dose-gy",
            "0.5",
            "--brain-dose-gy",
            "0.2",
            "--baseline-csv",
            str(path),
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    assert '"ihd"' in out.output
