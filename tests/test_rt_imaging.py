"""IGRT imaging dose: organ doses per protocol from a centre's protocol CSV, and the AAPM TG-180
flag (Ding et al. 2018, Med Phys 45:e84: account for imaging dose above 5 % of the target
dose). The per-image values below are synthetic test inputs, not clinical coefficients: the
reference is arithmetic (dose = images x dose per image)."""

from __future__ import annotations

from pathlib import Path

import pytest

from doseline.dosimetry.rt.imaging import (
    ImagingDoseWarning,
    imaging_doses,
    read_imaging_protocols,
)
from doseline.errors import InvalidInputError

PROTOCOLS = (
    "protocol,modality,organ,dose_mgy_per_image,source\n"
    "cbct_thorax,kV_CBCT,lung,2.0,synthetic test value\n"
    "cbct_thorax,kV_CBCT,heart,1.5,synthetic test value\n"
    "kv_pair,kV_planar,lung,0.1,synthetic test value\n"
)


@pytest.fixture
def protocols(tmp_path: Path) -> Path:
    path = tmp_path / "protocols.csv"
    path.write_text(PROTOCOLS, encoding="utf-8")
    return path


def test_course_imaging_dose_is_images_times_dose_per_image(protocols: Path) -> None:
    known = read_imaging_protocols(protocols)
    result = imaging_doses({"cbct_thorax": 25, "kv_pair": 10}, known, prescription_dose_gy=50.0)
    assert result.dose_gy["cbct_thorax"]["lung"] == pytest.approx(25 * 2.0e-3)
    assert result.total_gy("lung") == pytest.approx(25 * 2.0e-3 + 10 * 0.1e-3)
    assert result.total_gy("heart") == pytest.approx(25 * 1.5e-3)
    assert not result.exceeds_tg180  # 0.051 Gy < 5 % of 50 Gy


def test_tg180_flag_above_five_percent_of_prescription(protocols: Path) -> None:
    known = read_imaging_protocols(protocols)
    # 400 CBCTs x 2 mGy = 0.8 Gy > 0.05 x 14 Gy = 0.7 Gy.
    with pytest.warns(ImagingDoseWarning, match="TG-180"):
        result = imaging_doses({"cbct_thorax": 400}, known, prescription_dose_gy=14.0)
    assert result.exceeds_tg180 and result.to_dict()["exceeds_tg180"]
    # 340 x 2 mGy = 0.68 Gy: below the level, no flag.
    assert not imaging_doses({"cbct_thorax": 340}, known, 14.0).exceeds_tg180


def test_bad_protocols_are_refused(tmp_path: Path, protocols: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown imaging protocol 'mvct'"):
        imaging_doses({"mvct": 3}, read_imaging_protocols(protocols), 50.0)
    bad = tmp_path / "bad.csv"
    bad.write_text(PROTOCOLS.replace("synthetic test value\nkv", "\nkv"), encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"bad\.csv: protocol 'cbct_thorax': source"):
        read_imaging_protocols(bad)
    bad.write_text(PROTOCOLS.replace("kV_planar", "ultrasound"), encoding="utf-8")
    with pytest.raises(InvalidInputError, match="modality 'ultrasound'"):
        read_imaging_protocols(bad)
    bad.write_text(PROTOCOLS.replace("0.1", "a lot"), encoding="utf-8")
    with pytest.raises(InvalidInputError, match="line 4: dose_mgy_per_image"):
        read_imaging_protocols(bad)
