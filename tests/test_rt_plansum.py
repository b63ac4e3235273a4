"""Plan sums and EQD2.

References: synthetic truth — trilinear interpolation reproduces a linear dose field exactly,
so grids sampled from known linear fields, shifted or registered, must sum to the analytic
field; the linear-quadratic closed forms (Withers et al. 1983): 2 Gy fractions leave EQD2
equal to the physical dose, 20 Gy in 5 fractions at alpha/beta 3 Gy is 28 Gy EQD2 and
46.67 Gy BED.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from conftest import SHARED_DATA
from doseline.dicom.rt_common import FrameOfReferenceMismatchError
from doseline.dicom.rt_dose import DoseGridGeometry, RTDose, read_rt_dose
from doseline.dosimetry.rt.eqd2 import (
    AlphaBetaDefaultWarning,
    Course,
    alpha_beta_gy,
    alpha_beta_table,
    bed_gy,
    eqd2_dose,
    eqd2_gy,
    eqd2_sum,
)
from doseline.dosimetry.rt.plansum import Registration, grid_points_mm, sum_doses
from doseline.errors import InvalidInputError

FRAME = "1.2.3"
Field = Callable[[np.ndarray], np.ndarray]


def _field_a(p: np.ndarray) -> np.ndarray:
    return 10.0 + 0.02 * p[..., 0] - 0.03 * p[..., 1] + 0.05 * p[..., 2]


def _field_b(p: np.ndarray) -> np.ndarray:
    return 5.0 + 0.01 * p[..., 0] + 0.04 * p[..., 1] - 0.02 * p[..., 2]


def _sampled(field: Field, geometry: DoseGridGeometry, frame: str = FRAME) -> RTDose:
    dose = field(grid_points_mm(geometry))
    return RTDose("synthetic", dose, geometry, "GY", "PHYSICAL", "PLAN", frame)


TARGET = DoseGridGeometry.axial((-40.0, -30.0, -20.0), (2.5, 2.5, 3.0), (15, 25, 33))


def test_sum_on_the_same_grid_is_exact() -> None:
    a, b = _sampled(_field_a, TARGET), _sampled(_field_b, TARGET)
    result = sum_doses([a, b], weights=[1.0, 2.0])
    np.testing.assert_allclose(result.dose.dose_gy, a.dose + 2 * b.dose, rtol=1e-12)
    assert result.coverage == (1.0, 1.0)
    assert result.dose.summation_type == "MULTI_PLAN"


def test_shifted_grid_resamples_a_linear_field_exactly() -> None:
    # B's grid: other spacing and an offset of a fraction of a voxel, smaller in x.
    shifted = DoseGridGeometry.axial((-31.3, -36.1, -25.7), (2.0, 3.0, 2.5), (22, 28, 30))
    result = sum_doses([_sampled(_field_a, TARGET), _sampled(_field_b, shifted)])
    points = grid_points_mm(TARGET)
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    # B's voxels reach from its first centre - half a voxel to its last centre + half a voxel.
    inside_b = (
        (x >= -31.3 - 1.0) & (x <= -31.3 + 29 * 2.0 + 1.0)
        & (y >= -36.1 - 1.5) & (y <= -36.1 + 27 * 3.0 + 1.5)
        & (z >= -25.7 - 1.25) & (z <= -25.7 + 21 * 2.5 + 1.25)
    )  # fmt: skip
    # Inside B's centres the interpolation is exact; in its outer half voxel it is constant
    # (nearest centre), so compare where the point lies within B's centre hull.
    hull = (
        (x >= -31.3) & (x <= -31.3 + 29 * 2.0)
        & (y >= -36.1) & (y <= -36.1 + 27 * 3.0)
        & (z >= -25.7) & (z <= -25.7 + 21 * 2.5)
    )  # fmt: skip
    expected = _field_a(points) + _field_b(points)
    np.testing.assert_allclose(result.dose.dose_gy[hull], expected[hull], rtol=1e-10)
    np.testing.assert_allclose(result.dose.dose_gy[~inside_b], _field_a(points)[~inside_b])
    assert result.coverage[1] == pytest.approx(inside_b.mean())


def test_registration_maps_frames() -> None:
    # Component B lives in frame "other", where points are the common ones moved by t.
    t = np.array([12.0, -7.5, 4.0])
    registration = Registration(np.block([[np.eye(3), t[:, None]], [np.zeros((1, 3)), 1.0]]),
                                from_frame_uid=FRAME, to_frame_uid="other")  # fmt: skip
    big = DoseGridGeometry.axial((-80.0, -80.0, -60.0), (2.0, 2.0, 2.0), (61, 81, 81))
    b = _sampled(lambda p: _field_b(p - t), big, frame="other")
    with pytest.raises(FrameOfReferenceMismatchError, match="no registration"):
        sum_doses([_sampled(_field_a, TARGET), b])
    result = sum_doses([_sampled(_field_a, TARGET), b], registrations=[registration])
    points = grid_points_mm(TARGET)
    np.testing.assert_allclose(result.dose.dose_gy, _field_a(points) + _field_b(points),
                               rtol=1e-10)  # fmt: skip
    with pytest.raises(InvalidInputError, match="last row"):
        Registration(np.ones((4, 4)), FRAME, "other")


def test_eqd2_closed_forms() -> None:
    assert eqd2_gy(60.0, 30, 3.0) == pytest.approx(60.0)
    assert eqd2_gy(20.0, 5, 3.0) == pytest.approx(28.0)
    assert bed_gy(20.0, 5, 3.0) == pytest.approx(20 * (1 + 4 / 3))
    assert eqd2_gy(20.0, 5, 10.0) == pytest.approx(20 * 14 / 12)
    with pytest.raises(InvalidInputError, match="positive integer"):
        eqd2_gy(10.0, 0, 3.0)
    with pytest.raises(InvalidInputError, match="alpha/beta"):
        eqd2_gy(10.0, 5, 0.0)


def test_eqd2_sum_of_two_courses() -> None:
    a, b = _sampled(_field_a, TARGET), _sampled(_field_b, TARGET)
    result = eqd2_sum([Course(a, 5), Course(b, 25)], 3.0)
    expected = a.dose * (a.dose / 5 + 3) / 5 + b.dose * (b.dose / 25 + 3) / 5
    np.testing.assert_allclose(result.dose.dose_gy, expected, rtol=1e-12)
    assert result.dose.dose_type == "EFFECTIVE"
    ratio_map = np.where(grid_points_mm(TARGET)[..., 0] > 0, 10.0, 3.0)
    mapped = eqd2_sum([Course(a, 5)], ratio_map)
    np.testing.assert_allclose(mapped.dose.dose_gy, eqd2_gy(a.dose, 5, ratio_map))
    single = eqd2_dose(a, 5, 3.0)
    np.testing.assert_allclose(single.dose_gy, eqd2_gy(a.dose, 5, 3.0))
    with pytest.raises(InvalidInputError, match="differs from the common grid"):
        eqd2_sum([Course(a, 5)], np.ones((2, 2, 2)))


def test_alpha_beta_table() -> None:
    table = alpha_beta_table()
    assert all(entry.reference and entry.alpha_beta_gy > 0 for entry in table)
    assert alpha_beta_gy("lung").alpha_beta_gy == 4.0
    with pytest.warns(AlphaBetaDefaultWarning, match="heart"):
        assert alpha_beta_gy("heart").alpha_beta_gy == 3.0
    with pytest.warns(AlphaBetaDefaultWarning):
        assert alpha_beta_gy("oral_mucosa", kind="early").alpha_beta_gy == 10.0


def test_example_dose_resampled_onto_itself_is_unchanged() -> None:
    path = SHARED_DATA / "rt" / "dicompyler_core_example" / "rtdose.dcm"
    if not path.exists():
        pytest.skip(f"example RT Dose not found: {path}")
    dose = read_rt_dose(path)
    result = sum_doses([dose, dose], weights=[1.0, 6.0])
    np.testing.assert_allclose(result.dose.dose_gy, 7.0 * dose.dose_gy, rtol=1e-12, atol=1e-12)
