"""Photon transport: analytic references, conservation, reproducibility, geometry."""

from __future__ import annotations

import math
from pathlib import Path

import numba
import numpy as np
import pytest

from doseline.physics.cross_sections import coefficients
from doseline.physics.materials import material
from doseline.physics.phantoms.voxel import Label, VoxelPhantom
from doseline.physics.source import PointSource, beam_direction, c_arm_source
from doseline.physics.spectra import from_spekpy, monoenergetic
from doseline.physics.transport.api import simulate
from doseline.physics.transport.cpu import NumbaCpuBackend
from doseline.physics.transport.problem import ScoringDisc, build_problem


def _slab(thickness_mm: float, mat: str = "water", density: float = 1.0) -> VoxelPhantom:
    return VoxelPhantom(
        labels=np.ones((1, 1, 1), dtype=np.int32),
        voxel_size_mm=(200.0, 200.0, thickness_mm),
        regions=(Label("air", "air", 0.001205), Label("slab", mat, density)),
        origin_mm=(-100.0, -100.0, 100.0),
    )


def _box_phantom() -> VoxelPhantom:
    labels = np.ones((20, 20, 12), dtype=np.int32)
    labels[5:15, 5:15, 4:8] = 2
    labels[8:12, 8:12, 2:4] = 3
    regions = (
        Label("air", "air", 0.001205),
        Label("body", "soft_tissue", 1.03),
        Label("lung", "lung", 0.296),
        Label("spine", "spongiosa", 1.18, red_marrow_mass_fraction=0.3,
              endosteum_mass_fraction=0.02),
    )  # fmt: skip
    return VoxelPhantom(labels, (10.0, 10.0, 10.0), regions, origin_mm=(-100.0, -100.0, 0.0))


@pytest.mark.slow
def test_narrow_beam_transmission_follows_beer_lambert() -> None:
    """Reference: T = exp(-mu t), mu from the same tables; 3-sigma binomial tolerance.
    The disc (1 mm radius at 1 m) sees negligible scatter (< 1e-4 of the primary)."""
    energy = 60.0
    source = PointSource.rectangular((0, 0, 0), (0, 0, 1), (2.0, 2.0), 1000.0)
    disc = ScoringDisc((0.0, 0.0, 1000.0), (0.0, 0.0, 1.0), 1.0)
    n = 100_000
    bounds = ((-300.0, -300.0, -10.0), (300.0, 300.0, 1000.0))
    kerma = []
    for t_mm in (1e-3, 50.0):
        r = simulate(_slab(t_mm), source, monoenergetic(energy), n, world_material=None,
                     world_bounds_mm=bounds, disc=disc)  # fmt: skip
        kerma.append(r.disc_kerma[0])
    mu = coefficients(material("water"), [energy]).total_cm2_g[0] * 1.0
    expected = math.exp(-mu * 5.0) / math.exp(-mu * 1e-4)
    n_through = n * 2.0**2 * math.pi * 0.01 / (4 * 0.01)  # disc/field area ratio
    sigma = math.sqrt(expected * (1 - expected) / n_through)
    assert kerma[1] / kerma[0] == pytest.approx(expected, abs=3 * sigma + 1e-4)


def test_energy_is_conserved_per_history() -> None:
    """Deposited (labels + world) + escaped = emitted, for every single history."""
    phantom = _box_phantom()
    source = PointSource.rectangular((0, 300, 60), (0, -1, 0), (150, 150), 300.0)
    problem = build_problem(phantom, source, from_spekpy(80.0, 12.0, {"Al": 3.0}))
    n = 64
    raw = NumbaCpuBackend().run(problem, n, n, seed=3)
    balance = raw.energy_kev.sum(axis=1) + raw.escaped_kev
    np.testing.assert_allclose(balance, raw.emitted_kev, rtol=1e-12)
    assert raw.emitted_kev.min() > 0


def test_results_do_not_depend_on_thread_count() -> None:
    phantom = _box_phantom()
    source = PointSource.rectangular((0, 300, 60), (0, -1, 0), (150, 150), 300.0)
    problem = build_problem(phantom, source, from_spekpy(70.0, 12.0, {"Al": 2.5}))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = NumbaCpuBackend().run(problem, 20_000, 10, seed=11)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = NumbaCpuBackend().run(problem, 20_000, 10, seed=11)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.energy_kev, many.energy_kev)
    other_seed = NumbaCpuBackend().run(problem, 20_000, 10, seed=12)
    assert not np.array_equal(one.energy_kev, other_seed.energy_kev)


def test_kap_normalisation_matches_a_scored_plane() -> None:
    """Reference: in vacuum, a disc covering the whole field scores the in-air KAP itself
    (kerma integrated over the plane); 4-sigma tolerance from batch statistics."""
    source = PointSource.rectangular((0, 0, 0), (0, 0, 1), (300.0, 200.0), 1000.0)
    disc = ScoringDisc((0.0, 0.0, 1000.0), (0.0, 0.0, 1.0), 400.0)
    spectrum = from_spekpy(70.0, 12.0, {"Al": 2.5})
    r = simulate(_slab(1e-3, "air", 0.001205), source, spectrum, 100_000, world_material=None,
                 world_bounds_mm=((-500.0, -500.0, -10.0), (500.0, 500.0, 1000.0)),
                 disc=disc)  # fmt: skip
    scored_gycm2 = r.disc_kerma[0] * 1.602176634e-16 * 1000.0
    assert scored_gycm2 == pytest.approx(r.kap_gycm2_per_history, rel=4 * r.disc_kerma[1] + 1e-3)
    # incident air kerma x field area = KAP (up to the 1/cos factor, < 0.5 % here)
    area = source.field_area_cm2(1000.0)
    k = r.incident_air_kerma_gy_per_history(1000.0)
    assert k * area == pytest.approx(r.kap_gycm2_per_history, rel=0.01)
    # per-kerma and per-KAP normalisations are the same doses
    per_k = r.dose_gy_per_incident_air_kerma_gy(1000.0)["slab"]
    assert per_k * k == pytest.approx(r.dose_gy_per_kap_gycm2()["slab"] * r.kap_gycm2_per_history)


def test_dicom_positioner_angle_conventions() -> None:
    """PS3.3 C.8.7.5: 0/0 = PA beam (source under the table), +primary = LAO, +secondary =
    cranial (detector towards the patient's left / head)."""
    np.testing.assert_allclose(beam_direction(0, 0), [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(beam_direction(90, 0), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(beam_direction(-90, 0), [-1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(beam_direction(0, 90), [0, 0, 1], atol=1e-12)
    src = c_arm_source(
        (0, 0, 0), 0, 0, distance_source_to_isocentre_mm=750.0,
        distance_source_to_detector_mm=1100.0, field_size_mm=(200.0, 200.0), field_at="detector",
    )  # fmt: skip
    assert src.position_mm[1] == pytest.approx(750.0)  # posterior
    assert src.field_area_cm2(1100.0) == pytest.approx(400.0)


def test_skeletal_targets_and_dose_map_are_consistent() -> None:
    phantom = _box_phantom()
    source = PointSource.rectangular((0, 300, 60), (0, -1, 0), (150, 150), 300.0)
    r = simulate(phantom, source, from_spekpy(70.0, 12.0, {"Al": 2.5}), 50_000, dose_map=True)
    assert r.dose_map_gy_per_history is not None
    body = phantom.labels == 1
    voxel_kg = 1.03 * phantom.voxel_volume_cm3 / 1000.0
    energy_j = r.dose_map_gy_per_history[body].sum() * voxel_kg
    assert energy_j == pytest.approx(r.energy_ev_per_history[1] * 1.602176634e-19, rel=1e-9)
    # red marrow is less dense in mu_en than spongiosa (no Ca): RM dose below spongiosa dose
    assert 0 < r.red_marrow_dose_gy_per_history < r.dose_gy_per_history[3]


def test_numpy_backend_agrees_with_numba_within_statistics() -> None:
    """Two independent implementations of the same physics: per-label energy within
    4 combined standard errors (batch statistics of both)."""
    from doseline.physics.transport.numpy_backend import NumpyBackend

    phantom = _box_phantom()
    source = PointSource.rectangular((0, 300, 60), (0, -1, 0), (150, 150), 300.0)
    problem = build_problem(phantom, source, from_spekpy(80.0, 12.0, {"Al": 3.0}))
    a = NumpyBackend().run(problem, 40_000, 10, seed=5)
    b = NumbaCpuBackend().run(problem, 200_000, 10, seed=5)
    for raw_a, raw_b in ((a.energy_kev, b.energy_kev), (a.red_marrow_kev, b.red_marrow_kev)):
        mean_a = raw_a.sum(0) / a.n_histories
        mean_b = raw_b.sum(0) / b.n_histories
        se_a = (raw_a / (a.n_histories / 10)).std(0, ddof=1) / np.sqrt(10)
        se_b = (raw_b / (b.n_histories / 10)).std(0, ddof=1) / np.sqrt(10)
        for label in (1, 2, 3):
            if mean_b[label] == 0:  # marrow tallies exist only in the skeletal label
                assert mean_a[label] == 0
                continue
            assert abs(mean_a[label] - mean_b[label]) < 4 * math.hypot(se_a[label], se_b[label])


@pytest.mark.slow
def test_patient_support_preserves_mass_thickness_and_attenuates() -> None:
    """Reference: slab mass thickness = thickness x density exactly; a PA beam through a
    table loses energy before the body (body dose lower than without the table)."""
    from doseline.physics.geometry import Slab, add_patient_support

    phantom = _box_phantom()
    slabs = [Slab("mattress", "pmma", 40.0, 0.05), Slab("table", "aluminium", 3.0)]
    supported = add_patient_support(phantom, slabs)
    dy_cm = supported.voxel_size_mm[1] / 10.0
    for slab in slabs:
        index = supported.label_of(slab.name)
        n_layers = int(np.any(supported.labels == index, axis=(0, 2)).sum())
        nominal = slab.density_g_cm3 or material(slab.material).nominal_density_g_cm3
        assert supported.regions[index].density_g_cm3 * n_layers * dy_cm == pytest.approx(
            nominal * slab.thickness_mm / 10.0
        )
    source = PointSource.rectangular((0, 500, 60), (0, -1, 0), (150, 150), 500.0)
    spectrum = from_spekpy(70.0, 12.0, {"Al": 2.5})
    bare = simulate(phantom, source, spectrum, 40_000, seed=2)
    table = simulate(supported, source, spectrum, 40_000, seed=2)
    assert table.dose_gy_per_history[1] < 0.95 * bare.dose_gy_per_history[1]


def test_unknown_label_material_names_phantom_label_and_field() -> None:
    from doseline.errors import InvalidInputError

    phantom = VoxelPhantom(
        np.ones((2, 2, 2), dtype=np.int32), (1.0, 1.0, 1.0),
        (Label("air", "air", 0.001205), Label("organ", "unobtainium", 1.0)), name="bad",
    )  # fmt: skip
    source = PointSource.rectangular((0, 0, -100), (0, 0, 1), (10, 10), 100.0)
    with pytest.raises(InvalidInputError) as info:
        build_problem(phantom, source, monoenergetic(50.0))
    assert info.value.field == "material" and info.value.record == "label organ"


def test_conf_int_brackets_the_estimate() -> None:
    phantom = _box_phantom()
    source = PointSource.rectangular((0, 300, 60), (0, -1, 0), (150, 150), 300.0)
    r = simulate(phantom, source, monoenergetic(60.0), 20_000)
    ci = r.conf_int(0.05)
    assert (ci["lower"] <= r.params).all() and (r.params <= ci["upper"]).all()
    assert ci.loc["body", "upper"] > ci.loc["body", "lower"]


@pytest.mark.slow
def test_polyenergetic_hvl_slab_halves_the_scored_air_kerma(tmp_path: Path) -> None:
    """Synthetic truth: for a SpekPy 80 kVp spectrum written to a CSV and read back, the
    analytic narrow-beam HVL (Spectrum.hvl_mm) must halve the air kerma scored by transport
    through a slab of that thickness (vacuum world; 1 mm disc at 1 m sees < 1e-4 scatter).
    Tolerance: 3 sigma of the batch statistics plus 0.3 % for the bin-midpoint evaluation of
    the analytic HVL against the within-bin sampling of the transport."""
    from doseline.physics.spectra import read_spectrum_csv

    original = from_spekpy(80.0, 12.0, {"Al": 3.0})
    csv_path = tmp_path / "spectrum.csv"
    rows = ["energy_kev,photons"] + [
        f"{e:.6f},{n:.8g}"
        for e, n in zip(original.bin_mid_kev, original.photons_per_bin, strict=True)
    ]
    csv_path.write_text("\n".join(rows) + "\n")
    spectrum = read_spectrum_csv(csv_path)
    hvl_mm = spectrum.hvl_mm()
    source = PointSource.rectangular((0, 0, 0), (0, 0, 1), (2.0, 2.0), 1000.0)
    disc = ScoringDisc((0.0, 0.0, 1000.0), (0.0, 0.0, 1.0), 1.0)
    bounds = ((-300.0, -300.0, -10.0), (300.0, 300.0, 1000.0))
    kerma = []
    for t_mm in (1e-3, hvl_mm):
        phantom = _slab(t_mm, "aluminium", 2.699)
        r = simulate(phantom, source, spectrum, 400_000, world_material=None,
                     world_bounds_mm=bounds, disc=disc)  # fmt: skip
        kerma.append(r.disc_kerma)
    ratio = kerma[1][0] / kerma[0][0]
    sigma = ratio * math.hypot(kerma[0][1], kerma[1][1])
    assert ratio == pytest.approx(0.5, abs=3 * sigma + 0.0015)


def test_spectrum_outside_the_energy_grid_is_rejected() -> None:
    from doseline.physics.spectra import Spectrum

    source = PointSource.rectangular((0, 0, -100), (0, 0, 1), (10, 10), 100.0)
    low = Spectrum(np.array([0.5, 1.0, 1.5]), np.array([1.0, 1.0]), "too low")
    with pytest.raises(ValueError, match="energy grid"):
        build_problem(_slab(1.0), source, low)
    with pytest.raises(ValueError):
        monoenergetic(200.0)


def test_organ_doses_are_mass_weighted_region_means() -> None:
    """Synthetic truth: an organ made of two regions has dose (E1 + E2) / (m1 + m2)."""
    from doseline.physics.organ_dose import organ_doses_with_rel_sd

    phantom = _box_phantom()
    source = PointSource.rectangular((0, 300, 60), (0, -1, 0), (150, 150), 300.0)
    r = simulate(phantom, source, monoenergetic(60.0), 20_000)
    doses = organ_doses_with_rel_sd(
        r, phantom, {"body": "trunk", "lung": "trunk", "spine": "skeleton"}
    )
    masses = phantom.region_masses_g()
    joules = r.energy_ev_per_history * 1.602176634e-19
    expected = (joules[1] + joules[2]) / ((masses["body"] + masses["lung"]) / 1000.0)
    assert doses["trunk"][0] == pytest.approx(expected, rel=1e-12)
    assert 0 < doses["trunk"][1] < 0.1
    assert doses["red_bone_marrow"][0] == r.red_marrow_dose_gy_per_history
    assert doses["bone_surface"][0] == r.endosteum_dose_gy_per_history
