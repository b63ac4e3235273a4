"""The ``doseline`` command line, end to end on a temporary deployment.

References: the JSON printed by ``rdsr show`` is checked against the shared examples' values
(as in test_rdsr_reference.py); the other commands against the registry they act on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import RDSR_DIR, shared_rdsr
from doseline.cli import app

ZEE = "openrem/RF-RDSR-Siemens-Zee.dcm"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "DOSELINE_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.sqlite'}",
        "DOSELINE_KEY_FILE": str(tmp_path / "config" / "deployment.key"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_rdsr_show_json_has_canonical_keys() -> None:
    code, output = run("rdsr", "show", str(shared_rdsr(ZEE)), "--json")
    assert code == 0
    report = json.loads(output)
    assert report["totals"]["kap_gycm2"] == pytest.approx(0.16)
    assert report["totals"]["air_kerma_rp_gy"] == pytest.approx(0.00252)
    assert report["totals"]["fluoro_time_s"] == 28
    assert report["totals"]["acquisition_time_s"] == 0
    first = report["events"][0]
    assert first["kvp"] == 77
    assert first["primary_angle_deg"] == pytest.approx(0.1)
    assert "patient_id" not in report["patient"]  # identifiers only on request

    code, output = run(
        "rdsr", "show", str(shared_rdsr("openrem/CT-RDSR-Toshiba_DoseCheck.dcm")), "--json"
    )
    ct = json.loads(output)
    assert ct["totals"]["dlp_mgycm"] == 502.4
    assert ct["events"][0]["ctdivol_mgy"] == 5.3


def test_rdsr_show_rejects_other_templates_with_status_2() -> None:
    result = CliRunner().invoke(
        app, ["rdsr", "show", str(shared_rdsr("openrem/RF-ESR-Siemens-Varic.dcm"))]
    )
    assert result.exit_code != 0


def test_ingest_requires_init(env: dict[str, str]) -> None:
    code, _ = run("ingest", str(shared_rdsr(ZEE)))
    assert code != 0
    assert not Path(env["DOSELINE_KEY_FILE"]).exists()


def test_init_ingest_list_show_export_audit(env: dict[str, str], tmp_path: Path) -> None:
    code, _ = run("init")
    assert code == 0
    key = Path(env["DOSELINE_KEY_FILE"]).read_text()
    assert run("init")[0] == 0
    assert Path(env["DOSELINE_KEY_FILE"]).read_text() == key  # the key is kept

    code, output = run("ingest", str(shared_rdsr(ZEE)), "--centre", "Example", "--json")
    assert code == 0
    assert json.loads(output)["outcomes"] == {"imported": 1, "imported:dose reports": 1}

    code, output = run("patients", "list", "--json")
    patients = json.loads(output)
    assert len(patients) == 1 and patients[0]["exposures"] == 1
    assert patients[0]["kap_total_gycm2"] == pytest.approx(0.16)

    code, output = run("patients", "show", patients[0]["pseudonym"], "--json")
    history = json.loads(output)["exposures"]
    assert history[0]["centre"] == "Example"
    assert history[0]["modality"] == "RF"
    assert run("patients", "show", "no-such-pseudonym")[0] == 1

    for fmt in ("csv", "parquet"):
        code, _ = run("export", "--format", fmt, "--out", str(tmp_path / fmt))
        assert code == 0
    events = pd.read_parquet(tmp_path / "parquet" / "irradiation_event.parquet")
    assert len(events) == 8
    assert len(pd.read_csv(tmp_path / "csv" / "irradiation_event.csv")) == 8

    code, output = run("audit-phi", "--source", str(shared_rdsr(ZEE)))
    assert code == 0, output
    assert "no identifiers found" in output


def test_ingest_folder_summary_names_rejections(env: dict[str, str]) -> None:
    if not RDSR_DIR.exists():
        pytest.skip("shared RDSR examples not found")
    assert run("init")[0] == 0
    code, output = run("ingest", str(RDSR_DIR), "--jobs", "2")
    assert code == 0
    assert "imported" in output
    assert "RF-ESR-Siemens-Varic.dcm" in output
    assert "Radiation Summary Report" in output


def test_dictionary_is_redcap_csv() -> None:
    code, output = run("dictionary", "--form", "patients")
    assert code == 0
    header = output.splitlines()[0]
    assert header.startswith("Variable / Field Name,Form Name")


def test_public_api_lists_what_it_exports() -> None:
    import doseline

    assert set(doseline.__all__) - {"__version__"} == set(doseline._EXPORTS)
    for name in doseline.__all__:
        assert getattr(doseline, name) is not None
    with pytest.raises(AttributeError):
        doseline.no_such_thing  # noqa: B018
