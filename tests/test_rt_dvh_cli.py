"""``doseline rt dvh``, run through Typer's CliRunner on the real app.

Reference: dicompyler-core 0.5.6 ``tests/test_dvhcalc.py`` values for the Heart of its example
plan (volume 440.23124999 cm3, mean 0.6475329 Gy (binned), max 3.1 Gy as an upper bin edge).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from conftest import SHARED_DATA
from doseline.cli import app

EXAMPLE = SHARED_DATA / "rt" / "dicompyler_core_example"


@pytest.fixture(scope="module")
def files() -> dict[str, Path]:
    names = {"dose": "rtdose.dcm", "struct": "rtss.dcm", "plan": "rtplan.dcm"}
    paths = {key: EXAMPLE / name for key, name in names.items()}
    missing = [str(path) for path in paths.values() if not path.exists()]
    if missing:
        pytest.skip(f"dicompyler-core example plan not found: {missing}")
    return paths


def _dvh(*args: str) -> Result:
    return CliRunner().invoke(app, ["rt", "dvh", *args])


def test_dvh_json(files: dict[str, Path]) -> None:
    result = _dvh("--dose", str(files["dose"]), "--struct", str(files["struct"]), "--plan",
                  str(files["plan"]), "--roi", "Heart", "--roi", "9", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["plan"]["label"] == "B1"
    heart, bed = out["rois"]
    assert (heart["roi_name"], bed["roi_name"]) == ("Heart", "Tumor Bed")
    assert heart["volume_cm3"] == pytest.approx(440.23124999, rel=1e-9)
    assert abs(heart["mean_gy"] - 0.6475329) < 0.005  # half a 1 cGy bin
    assert 3.09 < heart["max_gy"] <= 3.1
    for key in ("min_gy", "d2_gy", "d50_gy", "d98_gy", "covered_fraction"):
        assert isinstance(heart[key], float)
    assert heart["min_gy"] <= heart["d98_gy"] <= heart["d50_gy"] <= heart["d2_gy"]
    curve = heart["dvh"]
    assert curve["cumulative_volume_cm3"][0] == pytest.approx(heart["volume_cm3"])
    assert len(curve["dose_gy"]) == len(curve["cumulative_volume_cm3"])
    assert curve["cumulative_volume_cm3"][-1] == 0.0


def test_dvh_text_and_supersampling(files: dict[str, Path]) -> None:
    result = _dvh("--dose", str(files["dose"]), "--struct", str(files["struct"]),
                  "--supersample", "2")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ROI")
    assert [line.split()[0] for line in lines[1:]][:3] == ["BODY", "Borders", "Breast"]
    assert "Areola" in result.stderr  # the empty ROI is named in a warning


def test_dvh_bad_input(files: dict[str, Path]) -> None:
    dose, struct = str(files["dose"]), str(files["struct"])
    wrong = _dvh("--dose", struct, "--struct", struct)
    assert wrong.exit_code == 2 and "not an RT Dose" in wrong.stderr
    empty = _dvh("--dose", dose, "--struct", struct, "--roi", "Areola")
    assert empty.exit_code == 2 and "no closed planar contour" in empty.stderr
    other = SHARED_DATA / "rt" / "pydicom_testfiles" / "rtplan.dcm"
    if other.exists():
        mismatch = _dvh("--dose", dose, "--struct", struct, "--plan", str(other))
        assert mismatch.exit_code == 2 and "references RT Plan" in mismatch.stderr


def test_dvh_of_sums_and_eqd2(files: dict[str, Path]) -> None:
    # Synthetic truth on real data: the example dose twice sums to twice its dose (mean dose
    # doubles exactly), and the EQD2 of two 7-fraction courses of dose D at alpha/beta 3 Gy is
    # 2 D (D/7 + 3) / 5 voxel by voxel, i.e. the library's eqd2_dose doubled.
    from doseline.dicom.rt_dose import read_rt_dose
    from doseline.dicom.rt_struct import read_rt_structure_set
    from doseline.dosimetry.rt.dvh import compute_dvh
    from doseline.dosimetry.rt.eqd2 import eqd2_dose

    dose, struct = str(files["dose"]), str(files["struct"])
    single = json.loads(_dvh("--dose", dose, "--struct", struct, "--roi", "Heart", "--json").stdout)
    double = _dvh("--dose", dose, "--dose", dose, "--struct", struct, "--roi", "Heart", "--json")
    assert double.exit_code == 0, double.output
    doubled = json.loads(double.stdout)
    assert doubled["dose_kind"]["kind"] == "physical sum"
    assert doubled["rois"][0]["mean_gy"] == pytest.approx(2 * single["rois"][0]["mean_gy"])
    eqd2 = _dvh("--dose", dose, "--dose", dose, "--fractions", "7", "--fractions", "7",
                "--alpha-beta", "3", "--struct", struct, "--roi", "Heart", "--json")  # fmt: skip
    assert eqd2.exit_code == 0, eqd2.output
    found = json.loads(eqd2.stdout)["rois"][0]
    expected = compute_dvh(
        eqd2_dose(read_rt_dose(dose), 7, 3.0), read_rt_structure_set(struct).roi("Heart")
    )
    assert found["mean_gy"] == pytest.approx(2 * expected.mean_gy, rel=1e-9)
    assert found["max_gy"] == pytest.approx(2 * expected.max_gy, rel=1e-9)
    missing = _dvh("--dose", dose, "--fractions", "7", "--struct", struct)
    assert missing.exit_code == 2 and "--alpha-beta" in missing.stderr
    uneven = _dvh("--dose", dose, "--dose", dose, "--fractions", "7", "--alpha-beta", "3",
                  "--struct", struct)  # fmt: skip
    assert uneven.exit_code == 2 and "one --fractions per --dose" in uneven.stderr
