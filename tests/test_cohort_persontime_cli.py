"""``doseline cohort simulate``, ``tabulate`` and ``sir`` through the real CLI app.

Reference: the Python API on the same files (the CLI is a thin layer: tables must be equal
to 1e-12 relative, the CSV round trip of floats aside) and the exit status and message on
bad input.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from doseline.cli import app
from doseline.cohort.frames import CohortFrames
from doseline.cohort.persontime import PersonTimeSpec, person_time_table


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    code, output = run(
        "cohort",
        "simulate",
        "--children",
        "4000",
        "--err-per-gy",
        "0",
        "--seed",
        "4",
        "--background-multiplier",
        "20",
        "--out",
        str(out),
        "--format",
        "csv",
    )
    assert code == 0, output
    return out


def test_simulate_writes_tables_and_truth(cohort_dir: Path) -> None:
    for name in ("persons", "exposures", "outcomes", "covariates"):
        assert (cohort_dir / f"{name}.csv").exists()
    truth = json.loads((cohort_dir / "truth.json").read_text())
    assert {site["err_per_gy"] for site in truth["sites"]} == {0.0}


def test_tabulate_matches_the_api_and_sir_runs(cohort_dir: Path) -> None:
    out = cohort_dir / "table.csv"
    code, output = run(
        "cohort",
        "tabulate",
        "--persons",
        str(cohort_dir / "persons.csv"),
        "--exposures",
        str(cohort_dir / "exposures.csv"),
        "--outcomes",
        str(cohort_dir / "outcomes.csv"),
        "--covariates",
        str(cohort_dir / "covariates.csv"),
        "--outcome",
        "leukaemia",
        "--organ",
        "red_bone_marrow",
        "--organ",
        "brain",
        "--age-bands",
        "0,5,10,15,20,25,30,35,40,45,50",
        "--dose-bands",
        "0,0.002,0.01,0.05",
        "--strata",
        "sex,down_syndrome",
        "--covariate",
        "transplant",
        "--out",
        str(out),
        "--json",
    )
    assert code == 0, output
    summary = json.loads(output)
    assert summary["lag_y"] == 2.0 and summary["exclusion_y"] == 2.0
    frames = CohortFrames(
        *(pd.read_csv(cohort_dir / f"{n}.csv") for n in ("persons", "exposures", "outcomes")),
        pd.read_csv(cohort_dir / "covariates.csv"),
    )
    spec = PersonTimeSpec(
        "leukaemia",
        ("red_bone_marrow_gy", "brain_gy"),
        age_bands_y=(0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50),
        dose_bands=(0, 0.002, 0.01, 0.05),
        strata=("sex", "down_syndrome"),
        covariates=("transplant",),
    )
    want = person_time_table(frames, spec)
    got = pd.read_csv(out)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-12)
    assert summary["cases"] == int(want["cases"].sum())

    rates = files("doseline") / "data" / "cohort" / "harmonic_background_rates.csv"
    code, output = run(
        "cohort",
        "sir",
        "--table",
        str(out),
        "--rates",
        str(rates),
        "--site",
        "leukaemia",
        "--json",
    )
    assert code == 0, output
    result = json.loads(output)["groups"][0]
    # background x 20 and a leukaemia excess with Down syndrome and transplants: SIR >> 1
    assert result["sir"] > 10
    assert result["ci_low"] < result["sir"] < result["ci_high"]


def test_bad_options_exit_2_with_a_message(cohort_dir: Path) -> None:
    code, output = run(
        "cohort",
        "sir",
        "--table",
        str(cohort_dir / "persons.csv"),
        "--rates",
        str(cohort_dir / "persons.csv"),
    )
    assert code == 2 and "age_lo_y: required column is missing" in output
    code, output = run(
        "cohort",
        "tabulate",
        "--persons",
        str(cohort_dir / "persons.csv"),
        "--exposures",
        str(cohort_dir / "exposures.csv"),
        "--outcome",
        "leukaemia",
        "--organ",
        "red_bone_marrow",
        "--age-bands",
        "0,five",
        "--out",
        "x.csv",
    )
    assert code == 2 and "--age-bands" in output
    code, output = run(
        "cohort",
        "tabulate",
        "--persons",
        str(cohort_dir / "persons.csv"),
        "--exposures",
        str(cohort_dir / "exposures.csv"),
        "--outcome",
        "leukaemia",
        "--organ",
        "thyroid",
        "--out",
        str(cohort_dir / "x.csv"),
    )
    assert code == 2 and "thyroid_gy" in output


def test_partitioned_tabulation_on_a_local_cluster(cohort_dir: Path, tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    code, output = run(
        "cohort",
        "simulate",
        "--children",
        "3000",
        "--seed",
        "9",
        "--out",
        str(parts),
        "--partition-persons",
        "1000",
    )
    assert code == 0, output
    out = tmp_path / "table.parquet"
    code, output = run(
        "cohort",
        "tabulate",
        "--partitioned",
        str(parts),
        "--outcome",
        "lung",
        "--organ",
        "lung",
        "--out",
        str(out),
        "--local-threads",
    )
    assert code == 0, output
    table = pd.read_parquet(out)
    assert table["pyr"].sum() > 0 and "lung_gy" in table.columns


def test_tabulate_from_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from doseline.config import get_settings
    from doseline.registry.database import Registry
    from test_cohort_persontime_registry import fill_registry

    monkeypatch.setenv("DOSELINE_DATABASE_URL", f"sqlite:///{tmp_path / 'registry.sqlite'}")
    monkeypatch.setenv("DOSELINE_KEY_FILE", str(tmp_path / "config" / "deployment.key"))
    code, output = run("init")
    assert code == 0, output
    registry = Registry.open(get_settings())
    fill_registry(registry)
    registry.dispose()
    out = tmp_path / "leukaemia.csv"
    code, output = run(
        "cohort",
        "tabulate",
        "--registry",
        "--outcome",
        "leukaemia",
        "--organ",
        "red_bone_marrow",
        "--out",
        str(out),
        "--json",
    )
    assert code == 0, output
    summary = json.loads(output)
    # the hand-made registry of test_cohort_persontime_registry: 1 case, 9 + 5 person-years
    assert summary["cases"] == 1
    assert summary["person_years"] == pytest.approx(14.0, abs=6 / 365.25)
    assert summary["persons"]["followed"] == 2
