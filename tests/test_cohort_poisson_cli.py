"""``doseline cohort fit``: JSON output, files written, errors (CliRunner on doseline.cli.app).

Reference: the Python API on the same table (tests/test_cohort_poisson.py validates the API
against statsmodels); the CLI must print exactly the API's numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from doseline.cli import app
from doseline.cohort.poisson import PoissonModel


@pytest.fixture
def table_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(11)
    n = 300
    table = pd.DataFrame(
        {
            "agecat": rng.integers(0, 5, n),
            "sex": rng.integers(1, 3, n),
            "dose_gy": rng.gamma(0.5, 0.4, n),
            "person_years": rng.uniform(100, 1000, n),
        }
    )
    table["n_cases"] = rng.poisson(table["person_years"] * 1e-3 * (1 + 1.5 * table["dose_gy"]))
    path = tmp_path / "cells.csv"
    table.to_csv(path, index=False)
    return path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["cohort", "fit", *args])
    return result.exit_code, result.output


def test_fit_json_matches_api(table_csv: Path, tmp_path: Path) -> None:
    code, output = _run(
        str(table_csv), "--cases", "n_cases", "--pyr", "person_years", "--dose", "dose_gy",
        "--strata", "agecat,sex", "--json", "--html", str(tmp_path / "s.html"),
        "--png", str(tmp_path / "p.png"),
    )  # fmt: skip
    assert code == 0, output
    report = json.loads(output)
    api = PoissonModel.linear_err(
        pd.read_csv(table_csv), cases="n_cases", pyr="person_years", dose="dose_gy",
        strata=["agecat", "sex"],
    ).fit()  # fmt: skip
    interval = api.conf_int().loc["err:dose"]
    assert report["err_per_unit_dose"] == pytest.approx(api.params["err:dose"], rel=1e-12)
    assert report["err_per_unit_dose_ci95"] == pytest.approx(
        [interval["lower"], interval["upper"]], rel=1e-9
    )
    assert report["deviance"] == pytest.approx(api.deviance, rel=1e-12)
    assert report["n_cells"] == 300
    assert report["ci_method"] == "profile"
    assert "<table>" in (tmp_path / "s.html").read_text()
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_model_option_and_wald(table_csv: Path) -> None:
    code, output = _run(
        str(table_csv), "--cases", "n_cases", "--pyr", "person_years",
        "--model", "background: strata(agecat); err: dose_gy * exp(factor(sex))",
        "--ci", "wald", "--json",
    )  # fmt: skip
    assert code == 0, output
    report = json.loads(output)
    assert report["err_per_unit_dose"] is None  # not the plain linear model
    assert set(report["parameters"]) == {"err:dose", "mod:sex[2]"}
    assert report["parameters"]["err:dose"]["lower_status"] == "wald"


def test_missing_lower_limit_is_null(tmp_path: Path) -> None:
    path = tmp_path / "few.csv"
    pd.DataFrame({"dose": [0.0, 0.5, 1.0, 2.0], "pyr": [1000.0] * 4, "cases": [2, 2, 1, 0]}).to_csv(
        path, index=False
    )
    code, output = _run(str(path), "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["err_per_unit_dose_ci95"][0] is None
    assert report["err_per_unit_dose_lower_boundary"] == pytest.approx(-0.5, rel=1e-9)


def test_bad_column_exits_2_naming_it(table_csv: Path) -> None:
    code, output = _run(
        str(table_csv), "--cases", "n_cases", "--pyr", "person_years", "--dose", "no_such_column"
    )
    assert code == 2
    assert "no_such_column" in output
