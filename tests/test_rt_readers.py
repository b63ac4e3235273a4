"""RT Dose and RT Structure Set readers.

References: the attribute values of the files in ../shared/data/rt/ (read independently with
pydicom here, and as listed in ../shared/data/rt/PROVENANCE.md), DICOM PS3.3 C.8.8.3.2 for the
two Grid Frame Offset Vector conventions, and hand-made bad inputs for the error paths.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from conftest import SHARED_DATA
from doseline.dicom.rt_common import (
    ContourGeometryError,
    MissingAttributeError,
    OpenContourWarning,
    SelfIntersectingContourWarning,
    WrongRTObjectError,
)
from doseline.dicom.rt_dose import StoredDVHWarning, read_rt_dose
from doseline.dicom.rt_struct import count_self_intersections, read_rt_structure_set
from doseline.errors import InvalidInputError, MalformedDicomError

RT_DIR = SHARED_DATA / "rt"
EXAMPLE = RT_DIR / "dicompyler_core_example"
PYDICOM = RT_DIR / "pydicom_testfiles"


def rt_file(path: Path) -> Path:
    """A file of ../shared/data/rt, or skip the test with the reason."""
    if not path.exists():
        pytest.skip(f"DICOM-RT reference file {path.name} not found under {path.parent}")
    return path


def test_example_dose_grid_and_attributes() -> None:
    # Reference: PROVENANCE.md (194 x 129 x 98 grid, 2.5 mm in plane, 3 mm frames,
    # scaling 1.4e-5, GY, PHYSICAL, PLAN, 9 TPS DVHs) and pydicom's raw pixel values.
    path = rt_file(EXAMPLE / "rtdose.dcm")
    dose = read_rt_dose(path)
    raw = pydicom.dcmread(path)
    assert dose.dose.shape == (98, 129, 194)
    assert dose.geometry.pixel_spacing_mm == (2.5, 2.5)
    np.testing.assert_allclose(np.diff(dose.geometry.frame_offsets_mm), 3.0)
    np.testing.assert_array_equal(dose.dose_gy, raw.pixel_array * 1.4e-5)
    assert (dose.dose_units, dose.dose_type, dose.summation_type) == ("GY", "PHYSICAL", "PLAN")
    assert dose.frame_of_reference_uid == raw.FrameOfReferenceUID
    assert dose.referenced_plan_uid == "1.2.246.352.71.5.320687012.24189.20090603083342"
    assert len(dose.dvhs) == 9
    assert dose.geometry.is_axial
    np.testing.assert_allclose(dose.geometry.frame_z_mm()[[0, -1]], [-122.4407, -122.4407 + 291])


def test_example_stored_dvh_heart() -> None:
    # Reference: the DVH Data of ROI 5 read directly (cumulative, first volume = whole ROI).
    path = rt_file(EXAMPLE / "rtdose.dcm")
    dvh = read_rt_dose(path).stored_dvh(5)
    assert dvh is not None
    raw = next(
        item
        for item in pydicom.dcmread(path, stop_before_pixels=True).DVHSequence
        if item.DVHReferencedROISequence[0].ReferencedROINumber == 5
    )
    data = np.asarray(raw.DVHData, dtype=float)
    assert dvh.dvh_type == "CUMULATIVE" and dvh.volume_units == "CM3"
    assert dvh.total_volume == pytest.approx(data[1])
    assert dvh.bin_edges[-1] == pytest.approx(data[0::2].sum())
    # Mean of a cumulative DVH = integral of V(D) dD / V(0) (exact for the histogram).
    integral = np.sum(dvh.cumulative() * dvh.bin_widths) - 0.5 * np.sum(
        dvh.differential() * dvh.bin_widths
    )
    assert dvh.mean_from_data() == pytest.approx(integral / data[1], rel=1e-12)


def test_example_structure_set() -> None:
    # Reference: PROVENANCE.md ROI list; contour counts read directly with pydicom.
    path = rt_file(EXAMPLE / "rtss.dcm")
    structures = read_rt_structure_set(path)
    assert structures.roi_names == (
        "BODY",
        "Areola",
        "Borders",
        "Breast",
        "Heart",
        "Lt Lung",
        "Nodes",
        "Scar",
        "Tumor Bed",
        "Tumor Bed Block",
    )
    raw = pydicom.dcmread(path)
    for roi, item in zip(structures.rois, raw.ROIContourSequence, strict=True):
        assert roi.contour_count == len(item.get("ContourSequence", []))
    heart = structures.roi("heart")
    assert heart.number == 5 and heart.interpreted_type == "ORGAN"
    assert heart.plane_spacing_mm() == pytest.approx(3.0)
    assert np.all(np.diff(heart.z_mm) > 0)
    assert structures.roi(2).is_empty
    assert len(structures.referenced_sop_instance_uids) == 98
    assert (
        structures.frame_of_reference_uid
        == read_rt_dose(rt_file(EXAMPLE / "rtdose.dcm")).frame_of_reference_uid
    )
    with pytest.raises(InvalidInputError, match="no ROI 'Liver'"):
        structures.roi("Liver")


def test_pydicom_files_relative_dose_and_points() -> None:
    # Reference: PROVENANCE.md section 2 (10 x 10 x 15 RELATIVE grid, BEAM summation; the
    # structure set has one EXTERNAL ROI and two isocentre POINT ROIs, no DICM preamble).
    dose = read_rt_dose(rt_file(PYDICOM / "rtdose.dcm"))
    assert dose.dose.shape == (15, 10, 10)
    assert (dose.dose_units, dose.summation_type) == ("RELATIVE", "BEAM")
    assert dose.referenced_beam_numbers == (1,)
    with pytest.raises(InvalidInputError, match="not Gy"):
        _ = dose.dose_gy
    structures = read_rt_structure_set(rt_file(PYDICOM / "rtstruct.dcm"))
    assert [roi.name for roi in structures.rois] == ["patient", "Isocenter 1", "Isocenter 2"]
    assert structures.roi("Isocenter 1").points_mm.shape == (1, 3)
    assert structures.roi("Isocenter 1").is_empty
    assert structures.frame_of_reference_uid != dose.frame_of_reference_uid


def test_wrong_object_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WrongRTObjectError, match="not an RT Dose"):
        read_rt_dose(rt_file(EXAMPLE / "rtplan.dcm"))
    with pytest.raises(InvalidInputError, match="no such file"):
        read_rt_structure_set(tmp_path / "absent.dcm")
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 50)
    with pytest.raises(InvalidInputError):
        read_rt_dose(junk)


def _small_dose(tmp_path: Path, edit: object = None) -> Path:
    dataset = pydicom.dcmread(rt_file(PYDICOM / "rtdose.dcm"))
    if callable(edit):
        edit(dataset)
    path = tmp_path / "dose.dcm"
    dataset.save_as(path)
    return path


def test_dose_without_scaling_is_refused(tmp_path: Path) -> None:
    def drop(dataset: Dataset) -> None:
        del dataset.DoseGridScaling

    with pytest.raises(MissingAttributeError, match="DoseGridScaling"):
        read_rt_dose(_small_dose(tmp_path, drop))


def test_absolute_frame_offsets_equal_relative(tmp_path: Path) -> None:
    # DICOM PS3.3 C.8.8.3.2: offsets may be absolute z when the orientation is 1\0\0\0\1\0.
    relative = read_rt_dose(_small_dose(tmp_path))

    def absolute(dataset: Dataset) -> None:
        z0 = float(dataset.ImagePositionPatient[2])
        dataset.GridFrameOffsetVector = [z0 + float(v) for v in dataset.GridFrameOffsetVector]

    converted = read_rt_dose(_small_dose(tmp_path, absolute))
    np.testing.assert_allclose(
        converted.geometry.frame_offsets_mm, relative.geometry.frame_offsets_mm, atol=1e-9
    )

    def inconsistent(dataset: Dataset) -> None:
        dataset.GridFrameOffsetVector = [5.0 + float(v) for v in dataset.GridFrameOffsetVector]

    with pytest.raises(InvalidInputError, match="neither 0"):
        read_rt_dose(_small_dose(tmp_path, inconsistent))


def test_frame_count_mismatch(tmp_path: Path) -> None:
    def short(dataset: Dataset) -> None:
        dataset.GridFrameOffsetVector = list(dataset.GridFrameOffsetVector)[:-1]

    with pytest.raises(MalformedDicomError, match="expected 15 values"):
        read_rt_dose(_small_dose(tmp_path, short))


def _structure_with(tmp_path: Path, kind: str, points: Sequence[float]) -> Path:
    dataset = pydicom.dcmread(rt_file(PYDICOM / "rtstruct.dcm"), force=True)
    contour = dataset.ROIContourSequence[0].ContourSequence[0]
    contour.ContourGeometricType = kind
    contour.NumberOfContourPoints = len(points) // 3
    contour.ContourData = points
    path = tmp_path / "rs.dcm"
    dataset.save_as(path, enforce_file_format=False)
    return path


def test_bad_contours(tmp_path: Path) -> None:
    square = [0, 0, 5, 10, 0, 5, 10, 10, 5, 0, 10, 5]
    tilted = [0, 0, 5, 10, 0, 5, 10, 10, 6, 0, 10, 5]
    with pytest.raises(ContourGeometryError, match="not in one axial plane") as caught:
        read_rt_structure_set(_structure_with(tmp_path, "CLOSED_PLANAR", tilted))
    assert "ROI 1 'patient', contour 0" in str(caught.value)
    with pytest.raises(ContourGeometryError, match="at least 3"):
        read_rt_structure_set(_structure_with(tmp_path, "CLOSED_PLANAR", square[:6]))
    with pytest.warns(OpenContourWarning):
        roi = read_rt_structure_set(_structure_with(tmp_path, "OPEN_PLANAR", square)).rois[0]
    assert len(roi.open_contours) == 1
    bow_tie = [0, 0, 5, 10, 10, 5, 10, 0, 5, 0, 10, 5]
    with pytest.warns(SelfIntersectingContourWarning):
        read_rt_structure_set(_structure_with(tmp_path, "CLOSED_PLANAR", bow_tie))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SelfIntersectingContourWarning)
        read_rt_structure_set(_structure_with(tmp_path, "CLOSED_PLANAR", square))


def test_count_self_intersections() -> None:
    # Synthetic truth: a square has none, a bow-tie one, a pentagram five.
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    bow_tie = np.array([[0, 0], [1, 1], [1, 0], [0, 1]], dtype=float)
    angles = np.pi / 2 + np.arange(5) * 4 * np.pi / 5
    star = np.column_stack([np.cos(angles), np.sin(angles)])
    counts = [
        count_self_intersections(p[:, 0].copy(), p[:, 1].copy()) for p in (square, bow_tie, star)
    ]
    assert counts == [0, 1, 5]


@pytest.mark.parametrize("name", ["rtdose_rle.dcm", "rtdose_expb.dcm"])
def test_pydicom_encoding_variants(name: str) -> None:
    # Reference: pydicom's own test files, the same RT Dose stored RLE-compressed and big
    # endian; the dose must read the same as the plain little-endian file.
    from pydicom.data import get_testdata_file

    plain = read_rt_dose(str(get_testdata_file("rtdose.dcm")))
    variant = read_rt_dose(str(get_testdata_file(name)))
    np.testing.assert_allclose(variant.dose, plain.dose, rtol=1e-12)


def test_pydicom_single_frame_variant_is_inconsistent() -> None:
    # pydicom's rtdose_1frame.dcm keeps the 15 offsets of the 15-frame original with
    # Number of Frames 1: refused, naming the attribute.
    from pydicom.data import get_testdata_file

    with pytest.raises(MalformedDicomError, match="GridFrameOffsetVector: expected 1 values"):
        read_rt_dose(str(get_testdata_file("rtdose_1frame.dcm")))


@pytest.mark.parametrize("name", ["rtss.dcm", "rtdose.dcm"])
@pytest.mark.parametrize("fraction", [0.01, 0.5, 0.999])
def test_truncated_files_give_clear_errors(tmp_path: Path, name: str, fraction: float) -> None:
    # Bad input: a file cut short (interrupted transfer) must be refused with an error that
    # names the file, never read partly.
    data = rt_file(EXAMPLE / name).read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: int(len(data) * fraction)])
    reader = read_rt_dose if name == "rtdose.dcm" else read_rt_structure_set
    with pytest.raises(InvalidInputError, match=re.escape(str(cut))):
        reader(cut)


def test_unreadable_stored_dvh_is_left_out_with_a_warning(tmp_path: Path) -> None:
    def add_dvhs(dataset: Dataset) -> None:
        items = []
        for data in ([0.5, 10.0, 0.5, 4.0], [0.5, 10.0, 0.5]):  # the second has an odd count
            item = Dataset()
            reference = Dataset()
            reference.ReferencedROINumber = 1
            item.DVHReferencedROISequence = [reference]
            item.DVHType, item.DoseUnits, item.DVHVolumeUnits = "CUMULATIVE", "GY", "CM3"
            item.DVHDoseScaling = 1.0
            item.DVHData = data
            items.append(item)
        dataset.DVHSequence = items

    with pytest.warns(StoredDVHWarning, match=r"DVHSequence\[1\]: DVHData: odd number"):
        dose = read_rt_dose(_small_dose(tmp_path, add_dvhs))
    assert len(dose.dvhs) == 1
    stored = dose.stored_dvh(1)
    assert stored is not None
    np.testing.assert_allclose(stored.differential(), [6.0, 4.0])  # 10 cm3 >= 0 Gy, 4 >= 0.5
    assert stored.mean_from_data() == pytest.approx((6 * 0.25 + 4 * 0.75) / 10)
