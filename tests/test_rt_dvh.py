"""DVHs and dose metrics.

References:
- dicompyler-core 0.5.6 ``tests/test_dvhcalc.py`` (BSD licence), ROI 5 Heart of its example
  plan with default options: volume 440.23124999 cm3, max 3.1 Gy, min 0.03 Gy,
  mean 0.6475329 Gy (bin-centre mean of its 1 cGy histogram; max/min are upper bin edges).
- The planning system's DVHs stored in that RT Dose (DVH Sequence).
- Synthetic truth: polygons of known area (shoelace formula) in linear dose fields, where the
  mean dose is the dose at the centroid and the dose distribution is known in closed form.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED_DATA
from doseline.dicom.rt_common import EmptyROIError, FrameOfReferenceMismatchError
from doseline.dicom.rt_dose import DoseGridGeometry, RTDose, read_rt_dose
from doseline.dicom.rt_struct import ROI, RTStructureSet, read_rt_structure_set
from doseline.dosimetry.rt.dvh import (
    DVH,
    DVHSettings,
    EmptyROIWarning,
    compute_dvh,
    compute_dvhs,
    slab_bounds_mm,
    summary_frame,
)
from doseline.errors import InvalidInputError

EXAMPLE = SHARED_DATA / "rt" / "dicompyler_core_example"
FRAME = "1.2.3.4"


@pytest.fixture(scope="module")
def example() -> tuple[RTDose, RTStructureSet]:
    dose_path, struct_path = EXAMPLE / "rtdose.dcm", EXAMPLE / "rtss.dcm"
    if not (dose_path.exists() and struct_path.exists()):
        pytest.skip(f"dicompyler-core example plan not found under {EXAMPLE}")
    return read_rt_dose(dose_path), read_rt_structure_set(struct_path)


def binned_mean(dvh: DVH) -> float:
    """Mean dose as dicompyler-core's ``DVH.mean`` computes it (bin centres)."""
    centres = (dvh.bin_edges_gy[1:] + dvh.bin_edges_gy[:-1]) / 2
    return float((centres * dvh.differential_cm3).sum() / dvh.differential_cm3.sum())


def test_heart_matches_dicompyler_core(example: tuple[RTDose, RTStructureSet]) -> None:
    dose, structures = example
    heart = compute_dvh(dose, structures.roi("Heart"))
    # Same voxel centres and slab convention: the volume is the same count of voxels.
    assert heart.volume_cm3 == pytest.approx(440.23124999, rel=1e-9)
    assert heart.covered_fraction == pytest.approx(1.0)
    # dicompyler-core snaps a contour plane to a dose frame within 0.5 mm; here the dose is
    # interpolated 0.0007 mm off the frame: relative effect < 1e-4 on the mean.
    assert binned_mean(heart) == pytest.approx(0.6475329, rel=1e-4)
    # Exact (unbinned) mean: within half a 1 cGy bin of the binned one.
    assert abs(heart.mean_gy - 0.6475329) < 0.005
    # dicompyler reports upper bin edges: the exact extremes lie in the bin below them.
    assert 3.09 < heart.max_gy <= 3.1
    assert 0.02 < heart.min_gy <= 0.03


# dicompyler-core 0.5.6 (pydicom 2.4.5, numpy 2.4.6, matplotlib 3.11.2), ``get_dvh(rtss, rtdose,
# roi)`` with default options on the example plan: ROI -> (volume cm3, mean Gy, max Gy, min Gy);
# ``python benchmarks/rt.py --dump-dicompyler`` prints them again.
DICOMPYLER_0_5_6 = {
    1: (14882.099999999997, 0.4572016802064228, 14.69, 0.01),
    3: (1.1999999999999995, 0.07859375, 0.15, 0.04),
    4: (400.38750000000005, 5.5819523274328, 14.69, 0.05),
    5: (440.2312499999998, 0.6475329017419822, 3.1, 0.03),
    6: (2004.524999999999, 0.9058313690275752, 12.11, 0.03),
    7: (0.65625, 0.11185714285714286, 0.16, 0.08),
    8: (0.48749999999999977, 6.517307692307693, 9.98, 2.36),
    9: (13.068749999999994, 14.29167144906743, 14.57, 14.08),
    10: (63.337499999999935, 14.281269982238012, 14.66, 12.61),
}


@pytest.mark.parametrize("roi_number", sorted(DICOMPYLER_0_5_6))
def test_all_rois_match_dicompyler_core(
    example: tuple[RTDose, RTStructureSet], roi_number: int
) -> None:
    volume, mean, top, bottom = DICOMPYLER_0_5_6[roi_number]
    dose, structures = example
    dvh = compute_dvh(dose, structures.roi(roi_number))
    assert dvh.volume_cm3 == pytest.approx(volume, rel=1e-9)
    # Plane-snapping difference (see test_heart_matches_dicompyler_core): below 3e-5 relative.
    assert binned_mean(dvh) == pytest.approx(mean, rel=3e-5)
    # dicompyler-core's max/min are the upper edges of the highest/lowest non-empty 1 cGy bins.
    filled = np.flatnonzero(dvh.differential_cm3)
    assert dvh.bin_edges_gy[filled[-1] + 1] == pytest.approx(top)
    assert dvh.bin_edges_gy[filled[0] + 1] == pytest.approx(bottom)


def test_example_volumes_converge_to_contour_areas(
    example: tuple[RTDose, RTStructureSet],
) -> None:
    # Independent geometric truth: for ROIs with one contour per plane, the volume under the
    # dicompyler slab convention is sum(shoelace area) x plane spacing. At supersample 16
    # (lattice h = 0.156 mm) the error is bounded by sum(perimeter) x h x spacing.
    dose, structures = example
    checked = 0
    for roi in structures.rois:
        if roi.is_empty or any(len(plane.contours) != 1 for plane in roi.planes):
            continue
        contours = [plane.contours[0][:, :2] for plane in roi.planes]
        spacing = roi.plane_spacing_mm()
        area = sum(_shoelace(c) for c in contours)
        perimeter = sum(
            float(np.sum(np.hypot(*np.diff(np.vstack([c, c[:1]]), axis=0).T))) for c in contours
        )
        dvh = compute_dvh(dose, roi, DVHSettings(supersample=16))
        bound_cm3 = perimeter * (2.5 / 16) * spacing / 1000
        assert abs(dvh.volume_cm3 - area * spacing / 1000) <= bound_cm3, roi.name
        checked += 1
    assert checked == 6  # Borders, Heart, Nodes, Scar, Tumor Bed, Tumor Bed Block


def test_planning_system_dvhs_agree(example: tuple[RTDose, RTStructureSet]) -> None:
    """ROIs of 10 cm3 and more agree with the TPS DVHs within 1 % in mean dose.

    BODY (EXTERNAL) is left out: its stored DVH holds 13944 cm3 against 14882 cm3 contoured
    (dicompyler-core finds the same 14882 cm3), so the planning system evaluated a smaller
    region than the contour; its mean dose is not comparable (-5.4 %).
    """
    dose, structures = example
    checked = 0
    for dvh_settings in (DVHSettings(), DVHSettings(supersample=4, z_supersample=3)):
        for roi in (roi for roi in structures.rois if not roi.is_empty):
            dvh = compute_dvh(dose, roi, dvh_settings)
            stored = dose.stored_dvh(dvh.roi_number)
            assert stored is not None
            if stored.total_volume < 10 or structures.roi(dvh.roi_number).interpreted_type == (
                "EXTERNAL"
            ):
                continue
            assert dvh.mean_gy == pytest.approx(stored.mean_from_data(), rel=0.01), dvh.roi_name
            assert dvh.volume_cm3 == pytest.approx(stored.total_volume, rel=0.03), dvh.roi_name
            checked += 1
    assert checked == 10  # Breast, Heart, Lt Lung, Tumor Bed, Tumor Bed Block, twice


def _linear_dose(a: float = 4.0, b: float = 0.05) -> RTDose:
    """Dose ``a + b * x`` Gy on a 2.5 x 2.5 x 3 mm grid covering x, y in [-50, 50] mm."""
    geometry = DoseGridGeometry.axial((-50.0, -50.0, -30.0), (2.5, 2.5, 3.0), (21, 41, 41))
    x = -50.0 + 2.5 * np.arange(41)
    dose = np.broadcast_to(a + b * x, (21, 41, 41)).copy()
    return RTDose("synthetic", dose, geometry, "GY", "PHYSICAL", "PLAN", FRAME)


def _circle(radius: float, centre: tuple[float, float], n: int = 360) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack(
        [centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)]
    )


def _shoelace(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def test_annulus_volume_and_mean_converge() -> None:
    # Synthetic truth: an annulus (hole by the even-odd rule) on 5 planes 3 mm apart; a linear
    # dose field makes the mean dose the dose at the centroid (x = 7 mm): 4 + 0.05 * 7 Gy.
    outer, inner = _circle(20.0, (7.0, -3.0)), _circle(9.0, (7.0, -3.0))
    roi = ROI.from_polygons(
        1, "annulus", FRAME, {z: [outer, inner] for z in (-6.0, -3.0, 0.0, 3.0, 6.0)}
    )
    true_volume_cm3 = (_shoelace(outer) - _shoelace(inner)) * 3.0 * 5 / 1000
    dose = _linear_dose()
    errors = []
    for n in (1, 4, 16):
        dvh = compute_dvh(dose, roi, DVHSettings(supersample=n))
        errors.append(abs(dvh.volume_cm3 / true_volume_cm3 - 1))
        # The centroid is exact only as the lattice area converges; 1e-3 relative at n >= 4.
        if n >= 4:
            assert dvh.mean_gy == pytest.approx(4.35, rel=1e-3)
    # Lattice area error shrinks with the lattice spacing (2.5 mm / n).
    assert errors[2] < errors[1] < 0.01
    assert errors[2] < 2e-3


def test_uniform_dose_distribution_metrics() -> None:
    # Synthetic truth: a rectangle x in [-30, 30] mm in dose 4 + 0.05 x has doses uniform on
    # [2.5, 5.5] Gy, so D_p% = 5.5 - 3 p / 100, V(4 Gy) = 50 %, mean 4 Gy, min 2.5, max 5.5.
    rectangle = np.array([[-30.0, -20.0], [30.0, -20.0], [30.0, 20.0], [-30.0, 20.0]])
    roi = ROI.from_polygons(1, "box", FRAME, {z: [rectangle] for z in (0.0, 3.0, 6.0)})
    dvh = compute_dvh(_linear_dose(), roi, DVHSettings(supersample=8, bin_width_gy=0.001))
    # Lattice points lie (0.156 mm) inside the edges: dose range narrows by 0.05 x 0.156 Gy.
    edge = 0.05 * 2.5 / 16
    assert dvh.min_gy == pytest.approx(2.5 + edge, abs=1e-9)
    assert dvh.max_gy == pytest.approx(5.5 - edge, abs=1e-9)
    assert dvh.mean_gy == pytest.approx(4.0, abs=1e-9)
    for percent, expected in ((2, 5.44), (50, 4.0), (98, 2.56)):
        assert dvh.dose_at_volume_percent(percent) == pytest.approx(expected, abs=0.01)
    assert dvh.volume_at_dose_percent(4.0) == pytest.approx(50.0, abs=0.5)
    assert dvh.volume_cm3 == pytest.approx(60 * 40 * 3 * 3 / 1000, rel=1e-9)
    assert dvh.cumulative_cm3[0] == pytest.approx(dvh.covered_volume_cm3)


def test_partly_outside_grid_reports_covered_fraction() -> None:
    # Synthetic truth: the grid's voxels reach x = 51.25 mm; a box from x = 31.25 to 71.25 mm
    # lies half inside in x; planes z = 0 .. 9 lie inside, z = 60, 63 outside the frames
    # (last frame centre 30 mm, voxel edge 31.5 mm): covered = 0.5 x 4 / 6.
    box = np.array([[31.25, -10.0], [71.25, -10.0], [71.25, 10.0], [31.25, 10.0]])
    roi = ROI.from_polygons(1, "edge", FRAME, {z: [box] for z in (0.0, 3.0, 6.0, 9.0, 60.0, 63.0)})
    dvh = compute_dvh(_linear_dose(), roi, DVHSettings(supersample=4, slab="midpoint"))
    assert dvh.volume_cm3 == pytest.approx(40 * 20 * 3 * 6 / 1000, rel=1e-9)
    assert dvh.covered_fraction == pytest.approx(0.5 * 4 / 6, rel=1e-9)
    assert dvh.to_dict()["covered_fraction"] == pytest.approx(1 / 3)


def test_roi_outside_grid_has_no_dose() -> None:
    box = np.array([[100.0, 0.0], [110.0, 0.0], [110.0, 10.0], [100.0, 10.0]])
    dvh = compute_dvh(_linear_dose(), ROI.from_polygons(1, "far", FRAME, {0.0: [box], 3.0: [box]}))
    assert dvh.covered_fraction == 0.0 and math.isnan(dvh.mean_gy)
    assert dvh.to_dict()["mean_gy"] is None


def test_slab_conventions() -> None:
    # Synthetic truth: a prism of area A on planes 0, 3, 6 and (after a gap) 15, 18 mm.
    z = np.array([0.0, 3.0, 6.0, 15.0, 18.0])
    low, high = slab_bounds_mm(z, "dicompyler", 0.0)
    np.testing.assert_allclose(high - low, 3.0)
    low, high = slab_bounds_mm(z, "midpoint", 0.0)
    np.testing.assert_allclose(low, [-1.5, 1.5, 4.5, 13.5, 16.5])
    np.testing.assert_allclose(high, [1.5, 4.5, 7.5, 16.5, 19.5])
    low, high = slab_bounds_mm(z, "truncated", 0.0)
    np.testing.assert_allclose(high - low, [1.5, 3.0, 1.5, 1.5, 1.5])
    square = np.array([[-10.0, -10.0], [10.0, -10.0], [10.0, 10.0], [-10.0, 10.0]])
    roi = ROI.from_polygons(1, "prism", FRAME, {float(v): [square] for v in z})
    volumes = {
        slab: compute_dvh(_linear_dose(), roi, DVHSettings(slab=slab)).volume_cm3
        for slab in ("dicompyler", "midpoint", "truncated")
    }
    assert volumes["dicompyler"] == pytest.approx(0.4 * 3 * 5)
    assert volumes["midpoint"] == pytest.approx(0.4 * 3 * 5)
    assert volumes["truncated"] == pytest.approx(0.4 * 3 * 3)
    # A single plane has no spacing: it takes the dose grid's frame spacing (3 mm here).
    single = ROI.from_polygons(2, "slice", FRAME, {1.5: [square]})
    assert compute_dvh(_linear_dose(), single).volume_cm3 == pytest.approx(0.4 * 3)


def test_z_supersampling_of_a_linear_field_keeps_the_mean() -> None:
    # Dose linear in z: averaging over a slab centred on the plane gives the plane's dose.
    geometry = DoseGridGeometry.axial((-50.0, -50.0, -30.0), (2.5, 2.5, 3.0), (21, 41, 41))
    z = -30.0 + 3.0 * np.arange(21)
    dose = RTDose(
        "z",
        np.broadcast_to((4.0 + 0.1 * z)[:, None, None], (21, 41, 41)).copy(),
        geometry,
        "GY",
        "PHYSICAL",
        "PLAN",
        FRAME,
    )
    square = np.array([[-10.0, -10.0], [10.0, -10.0], [10.0, 10.0], [-10.0, 10.0]])
    roi = ROI.from_polygons(1, "prism", FRAME, {v: [square] for v in (-4.0, -1.0, 2.0)})
    plain = compute_dvh(dose, roi)
    sliced = compute_dvh(dose, roi, DVHSettings(z_supersample=5))
    assert plain.mean_gy == pytest.approx(4.0 + 0.1 * -1.0, abs=1e-12)
    assert sliced.mean_gy == pytest.approx(plain.mean_gy, abs=1e-12)
    assert sliced.max_gy > plain.max_gy  # sub-slabs reach beyond the plane


def test_bad_requests(example: tuple[RTDose, RTStructureSet]) -> None:
    dose, structures = example
    with pytest.raises(EmptyROIError, match="Areola"):
        compute_dvhs(dose, structures, rois=["Areola"])
    with pytest.warns(EmptyROIWarning, match="Areola"):
        results = compute_dvhs(dose, structures, rois=None)
    assert len(results) == 9
    frame = summary_frame(results)
    assert frame.loc[5, "roi_name"] == "Heart"
    assert frame.loc[5, "volume_cm3"] == pytest.approx(results[3].volume_cm3)
    other = ROI.from_polygons(
        9, "elsewhere", "9.9.9", {0.0: [np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])]}
    )
    with pytest.raises(FrameOfReferenceMismatchError, match="register"):
        compute_dvh(dose, other)
    with pytest.raises(InvalidInputError, match="supersample"):
        DVHSettings(supersample=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compute_dvhs(dose, structures, rois=[5, "Lt Lung"])


@settings(max_examples=25, deadline=None)
@given(
    radii=st.lists(st.floats(5.0, 30.0), min_size=5, max_size=24),
    centre=st.tuples(st.floats(-15.0, 15.0), st.floats(-15.0, 15.0)),
    start=st.integers(0, 23),
)
def test_star_polygon_area_and_orientation(
    radii: list[float], centre: tuple[float, float], start: int
) -> None:
    # Synthetic truth: a star-shaped polygon (simple by construction) has the shoelace area;
    # the filled volume must not depend on vertex order or on the starting vertex.
    angles = np.linspace(0, 2 * np.pi, len(radii), endpoint=False)
    polygon = np.column_stack(
        [centre[0] + np.array(radii) * np.cos(angles), centre[1] + np.array(radii) * np.sin(angles)]
    )
    shifted = np.roll(polygon, start % len(radii), axis=0)[::-1]
    dose = _linear_dose()
    fine = DVHSettings(supersample=16)
    volumes = [
        compute_dvh(dose, ROI.from_polygons(1, "star", FRAME, {0.0: [p], 3.0: [p]}), fine)
        for p in (polygon, shifted)
    ]
    true_cm3 = _shoelace(polygon) * 6.0 / 1000
    # Lattice spacing h = 2.5/16 mm: only lattice cells crossed by the boundary can be
    # misclassified, and their signed errors largely cancel; perimeter x h is conservative.
    perimeter = float(np.sum(np.hypot(*np.diff(np.vstack([polygon, polygon[:1]]), axis=0).T)))
    tolerance = perimeter * (2.5 / 16) * 6.0 / 1000
    assert abs(volumes[0].volume_cm3 - true_cm3) <= tolerance
    assert volumes[1].volume_cm3 == pytest.approx(volumes[0].volume_cm3, rel=1e-12)


def _oriented(
    position: tuple[float, float, float],
    row: tuple[float, float, float],
    column: tuple[float, float, float],
    offsets: np.ndarray,
    shape: tuple[int, int, int],
) -> RTDose:
    from doseline.dosimetry.rt.plansum import grid_points_mm

    geometry = DoseGridGeometry(
        np.array(position), np.array(row), np.array(column), (2.5, 2.5), offsets, shape
    )
    points = grid_points_mm(geometry)
    dose = 4.0 + 0.05 * points[..., 0] - 0.02 * points[..., 1] + 0.03 * points[..., 2]
    return RTDose("oriented", dose, geometry, "GY", "PHYSICAL", "PLAN", FRAME)


@pytest.mark.parametrize(
    "variant", ["head_first", "x_flipped", "frames_descending", "decubitus"]
)  # fmt: skip
def test_grid_orientation_does_not_change_the_dvh(variant: str) -> None:
    # Synthetic truth: the same voxel centres and the same linear dose field stored with
    # other direction cosines / frame order must give the same DVH (the lattice offsets are
    # symmetric about each voxel centre, so the sample points coincide).
    z = np.arange(9) * 3.0
    grids = {
        "head_first": ((-50.0, -50.0, -12.0), (1, 0, 0), (0, 1, 0), z, (9, 41, 41)),
        "x_flipped": ((50.0, -50.0, 12.0), (-1, 0, 0), (0, 1, 0), z, (9, 41, 41)),
        "frames_descending": ((-50.0, -50.0, 12.0), (1, 0, 0), (0, 1, 0), -z, (9, 41, 41)),
        "decubitus": ((-50.0, -50.0, 12.0), (0, 1, 0), (1, 0, 0), z, (9, 41, 41)),
    }
    # Box edges on voxel boundaries, so that lattice points fill it symmetrically.
    box = np.array([[-21.25, -11.25], [18.75, -11.25], [18.75, 23.75], [-21.25, 23.75]])
    roi = ROI.from_polygons(1, "box", FRAME, {v: [box] for v in (-6.0, -3.0, 0.0, 3.0)})
    fine = DVHSettings(supersample=4, z_supersample=2)
    reference = compute_dvh(_oriented(*grids["head_first"]), roi, fine)
    found = compute_dvh(_oriented(*grids[variant]), roi, fine)
    assert found.volume_cm3 == pytest.approx(reference.volume_cm3, rel=1e-12)
    assert found.mean_gy == pytest.approx(reference.mean_gy, rel=1e-12)
    # Linear field: the mean is the field at the prism's centroid (x -1.25, y 6.25, z -1.5).
    centroid_dose = 4.0 + 0.05 * -1.25 - 0.02 * 6.25 + 0.03 * -1.5
    assert found.mean_gy == pytest.approx(centroid_dose, rel=1e-12)
    assert found.volume_cm3 == pytest.approx(40 * 35 * 12 / 1000, rel=1e-12)
