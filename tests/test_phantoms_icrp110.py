"""Reader of ICRP 110/143-format voxel phantoms, on a small synthetic phantom written here.

Reference: the file layout of ICRP Publication 110 (README of the electronic supplement,
Annex A/B): organ IDs column-fastest, then row, then slice, columns right -> left, rows
front -> back, slices toes -> vertex, 16 numbers a line; organ list "ID name medium density";
media "number name percentages" under a heading of element symbols. The synthetic truth is the
array the test writes: every voxel must come back at its LPS position with its density and
medium, and masses must equal count x voxel volume x density exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from doseline.errors import InvalidInputError
from doseline.physics.phantoms import read_icrp110_phantom

_SHAPE = (5, 4, 3)  # columns (x), rows (y), slices (z)
_VOXEL = (2.0, 2.5, 8.0)

_ORGANS = """Organs and tissues of the synthetic reference computational phantom

Organ Organ                                          Medium  Density
ID                                                   number
  1   Adrenal, left                                      3    1.030
 12   Bone, cortical                                     1    1.920
 97   Lung, left, with blood                             2    0.385
"""

_MEDIA = """Media of the synthetic phantom
Medium                H      C      N      O     Na     Mg      P      S     Cl      K     Ca
  1 cortical bone    3.6   15.9    4.2   44.8    0.3    0.2    9.4    0.3    0.0    0.0   21.3
  2 lung tissue     10.3   10.7    3.2   74.6    0.2    0.0    0.2    0.3    0.3    0.2    0.0
  3 soft tissue     10.5   25.6    2.7   60.2    0.1    0.0    0.2    0.3    0.2    0.2    0.0
"""


def _write(tmp_path: Path, ids: np.ndarray, organs: str = _ORGANS) -> tuple[Path, Path, Path]:
    flat = ids.transpose(2, 1, 0).ravel()  # slice, row, column order: column fastest
    lines = [" ".join(f"{v:3d}" for v in flat[i : i + 16]) for i in range(0, flat.size, 16)]
    (tmp_path / "SY.dat").write_text("\n".join(lines) + "\n")
    (tmp_path / "SY_organs.dat").write_text(organs)
    (tmp_path / "SY_media.dat").write_text(_MEDIA)
    return tmp_path / "SY.dat", tmp_path / "SY_organs.dat", tmp_path / "SY_media.dat"


def _ids() -> np.ndarray:
    ids = np.zeros(_SHAPE, dtype=np.int32)
    ids[1:4, 1:3, 0] = 1  # adrenal, bottom slice
    ids[0, 0, 2] = 12  # bone at column 0 (patient's right), row 0 (front), top slice
    ids[4, 3, 1] = 97  # lung at the left, back, middle slice
    return ids


def test_reads_voxels_in_lps_order_with_densities(tmp_path: Path) -> None:
    paths = _write(tmp_path, _ids())
    loaded = read_icrp110_phantom(
        *paths, _SHAPE, _VOXEL, red_marrow_mass_fractions={12: 0.0}, name="synthetic"
    )
    phantom = loaded.phantom
    assert phantom.shape == _SHAPE
    assert loaded.organ_ids == (0, 1, 12, 97)
    names = [r.name for r in phantom.regions]
    assert names[1:] == ["1: Adrenal, left", "12: Bone, cortical", "97: Lung, left, with blood"]
    assert phantom.labels[0, 0, 2] == 2 and phantom.labels[4, 3, 1] == 3
    assert phantom.labels[2, 1, 0] == 1 and phantom.labels[2, 1, 1] == 0
    voxel_cm3 = 2.0 * 2.5 * 8.0 / 1000
    masses = phantom.region_masses_g()
    assert masses["1: Adrenal, left"] == pytest.approx(6 * voxel_cm3 * 1.03, rel=1e-12)
    assert masses["12: Bone, cortical"] == pytest.approx(voxel_cm3 * 1.92, rel=1e-12)
    assert phantom.regions[2].material == "icrp110_medium_1"
    bone = loaded.media_mass_fractions["icrp110_medium_1"]
    assert bone["Ca"] == pytest.approx(0.213) and "Cl" not in bone
    assert sum(bone.values()) == pytest.approx(1.0)
    # LPS: the lung voxel (left, back, middle) lies at +x, +y relative to the bone voxel
    assert (
        phantom.centroid_mm("97: Lung, left, with blood")[0]
        > phantom.centroid_mm("12: Bone, cortical")[0]
    )


def test_unknown_organ_id_is_reported_with_its_file(tmp_path: Path) -> None:
    ids = _ids()
    ids[0, 0, 0] = 55
    paths = _write(tmp_path, ids)
    with pytest.raises(InvalidInputError, match=r"organ IDs \[55\]") as info:
        read_icrp110_phantom(*paths, _SHAPE, _VOXEL)
    assert info.value.source is not None and info.value.source.endswith("SY.dat")


def test_wrong_voxel_count_is_reported(tmp_path: Path) -> None:
    paths = _write(tmp_path, _ids())
    with pytest.raises(InvalidInputError, match="60 organ IDs"):
        read_icrp110_phantom(*paths, (5, 4, 4), _VOXEL)


def test_medium_missing_from_media_file(tmp_path: Path) -> None:
    organs = _ORGANS.replace("     3    1.030", "     9    1.030")
    paths = _write(tmp_path, _ids(), organs)
    with pytest.raises(InvalidInputError, match="medium 9") as info:
        read_icrp110_phantom(*paths, _SHAPE, _VOXEL)
    assert info.value.record == "organ 1"


def test_media_percentages_that_do_not_add_up(tmp_path: Path) -> None:
    paths = _write(tmp_path, _ids())
    media = paths[2].read_text().replace("44.8", "34.8")
    paths[2].write_text(media)
    with pytest.raises(InvalidInputError, match=r"add up to 90\.00") as info:
        read_icrp110_phantom(*paths, _SHAPE, _VOXEL)
    assert info.value.record == "line 3" and info.value.field == "composition"
