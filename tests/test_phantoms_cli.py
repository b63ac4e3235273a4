"""``doseline phantom info``: organ masses of a stylised phantom, as text and JSON.

Reference: the same numbers from the Python API (organ_masses_g of build_phantom at the same
voxel size, and the ICRP 89 table) -- the command must print them unchanged.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from doseline.cli import app
from doseline.physics.phantoms import build_phantom, icrp89_value, organ_masses_g

runner = CliRunner()


def test_phantom_info_json_matches_the_api() -> None:
    result = runner.invoke(app, ["phantom", "info", "newborn", "--voxel-mm", "4", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    rows = {row["organ"]: row for row in info["organs"]}
    masses = organ_masses_g(build_phantom("newborn", 4.0))
    assert rows["heart"]["voxel_mass_g"] == pytest.approx(masses["heart"], rel=1e-12)
    assert rows["thymus"]["icrp89_mass_g"] == icrp89_value("thymus", "newborn")
    # verification flags of the ICRP 89 rows (tests/test_phantoms_reference.py): thymus is in
    # Turner's reproduction of the table, the newborn adrenals are not yet checked
    assert rows["thymus"]["icrp89_checked"] is True
    assert rows["adrenals"]["icrp89_checked"] is False
    assert rows["heart"]["analytic_mass_g"] > 0
    assert rows["muscle"]["note"].startswith("surrogate")
    assert info["total_mass_g"] == pytest.approx(masses["whole_body"], rel=1e-12)
    assert info["height_cm"] > 40


def test_phantom_info_text_and_bad_age() -> None:
    result = runner.invoke(app, ["phantom", "info", "1y", "--voxel-mm", "5"])
    assert result.exit_code == 0, result.output
    assert "red_bone_marrow" in result.output and "ICRP 89 g" in result.output
    assert "* ICRP 89 value not yet checked" in result.output
    bad = runner.invoke(app, ["phantom", "info", "3y"])
    assert bad.exit_code == 2
    assert "unknown age" in bad.output
