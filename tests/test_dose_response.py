"""Energy-response transport (:mod:`doseline.physics.transport.response`) against direct runs.

References and tolerances:

- fold vs full-spectrum transport (another estimator of the same quantity, same phantom and
  beam): the organ dose per KAP folded from one response run equals that of an ordinary
  :func:`~doseline.physics.transport.api.simulate` run of each SpekPy spectrum within
  ``4 sigma`` of the two runs' combined relative SDs (batch method, 20 batches each; the SD of
  a 20-batch SD estimate is ~16 %, so 4 sigma of the estimated SD stays above 3 sigma of the
  true one) plus 1 % for the one approximation of the fold, the uniform energy distribution
  inside each 4 keV bin (second order in the bin width, STUK-A231 section 2.4). Organs with a
  relative SD below 3 % in both runs are compared;
- rebinning: synthetic spectra whose bin fractions follow by hand (uniform photons inside a
  source bin), to 1e-12; photon number conserved to 1e-12;
- response run vs ordinary run (identity by construction of the kernel): with the same flat
  spectrum, seed and histories both draw the same random numbers (the source bin is drawn by
  the alias method in both modes, and only the tally column depends on the mode), so the
  response tallies summed over bins equal the ordinary tallies up to the order of the
  floating-point additions (rtol 1e-10).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from doseline.dosimetry.fluoro.spectral import event_spectrum
from doseline.physics.organ_dose import organ_doses_with_rel_sd
from doseline.physics.phantoms import stylised
from doseline.physics.phantoms.voxel import VoxelPhantom
from doseline.physics.source import PointSource, c_arm_source
from doseline.physics.spectra import Spectrum
from doseline.physics.transport.api import simulate
from doseline.physics.transport.cpu import NumbaCpuBackend
from doseline.physics.transport.problem import build_problem
from doseline.physics.transport.response import (
    EnergyResponse,
    kap_gycm2_per_photon,
    rebin_photons,
    simulate_response,
)

EDGES_KEV = np.arange(10.0, 130.1, 4.0)  # the shipped table's response bins
MAX_REL_SD = 0.03


@cache
def _phantom() -> VoxelPhantom:
    return stylised.build_phantom("5y", 2.0)


@cache
def _source(primary_deg: float) -> PointSource:
    """Table-node geometry: isocentre at the heart, 9 cm field at the isocentre, 750/1000 mm."""
    return c_arm_source(
        _phantom().centroid_mm("heart"), primary_deg, 0.0,
        distance_source_to_isocentre_mm=750.0, distance_source_to_detector_mm=1000.0,
        field_size_mm=(90.0, 90.0), field_at="isocentre",
    )  # fmt: skip


@cache
def _response(primary_deg: float) -> EnergyResponse:
    return simulate_response(
        _phantom(), _source(primary_deg), EDGES_KEV, 1_500_000, stylised.region_organs(),
        surrogates=stylised.ORGAN_SURROGATES, seed=11, n_batches=20,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("primary_deg", "kvp", "al_mm", "cu_mm"),
    [(0.0, 60.0, 0.0, 0.0), (0.0, 80.0, 1.0, 0.3), (0.0, 110.0, 0.0, 0.9), (90.0, 70.0, 0.5, 0.2)],
)
def test_fold_equals_full_spectrum_run(
    primary_deg: float, kvp: float, al_mm: float, cu_mm: float
) -> None:
    phantom, source = _phantom(), _source(primary_deg)
    response = _response(primary_deg)
    spectrum = event_spectrum(kvp, al_mm, cu_mm)
    folded, folded_rel = response.fold(spectrum)
    direct = simulate(phantom, source, spectrum, 300_000, seed=12, n_batches=20)
    by_organ = organ_doses_with_rel_sd(
        direct, phantom, stylised.region_organs(), stylised.ORGAN_SURROGATES
    )
    compared = []
    for i, organ in enumerate(response.organs):
        dose, rel = by_organ[organ]
        if not (rel < MAX_REL_SD and folded_rel[i] < MAX_REL_SD):
            continue
        per_kap = dose / direct.kap_gycm2_per_history
        sigma = float(np.hypot(rel, folded_rel[i]))
        difference = folded[i] / per_kap - 1.0
        compared.append(organ)
        print(f"{kvp:g} kVp {primary_deg:g} deg {organ:<16} fold/direct - 1 = {difference:+.4f}"
              f" (sigma {sigma:.4f})")  # fmt: skip
        assert abs(difference) <= 4.0 * sigma + 0.01, (organ, difference, sigma)
    assert {"lung", "heart", "red_bone_marrow"} <= set(compared), compared


def test_fold_uses_the_spectrum_kap_and_the_geometry_factor() -> None:
    """Synthetic truth: with R_k = 1 Gy per photon in every bin, dose per photon is 1 and the
    fold is 1 / (KAP per photon); the inverse-cosine factor divides it."""
    spectrum = Spectrum(np.array([30.0, 50.0, 70.0]), np.array([1.0, 3.0]))
    response = EnergyResponse(
        energy_bin_edges_kev=EDGES_KEV,
        organs=("lung",),
        dose_gy_per_photon=np.ones((EDGES_KEV.size - 1, 1)),
        rel_sd=np.full((EDGES_KEV.size - 1, 1), 0.1),
        mean_inverse_cosine=1.25,
        n_histories=1,
    )
    folded, rel = response.fold(spectrum)
    expected = 1.0 / kap_gycm2_per_photon(spectrum, 1.25)
    assert folded[0] == pytest.approx(expected, rel=1e-12)
    p = rebin_photons(spectrum, EDGES_KEV)
    assert rel[0] == pytest.approx(0.1 * np.sqrt((p**2).sum()), rel=1e-12)


def test_rebin_photons_splits_uniformly_and_conserves_photons() -> None:
    """Hand-computed: 25 % of the photons uniform in 10-20 keV, 75 % in 20-30 keV."""
    spectrum = Spectrum(np.array([10.0, 20.0, 30.0]), np.array([1.0, 3.0]))
    fractions = rebin_photons(spectrum, np.array([10.0, 15.0, 22.0, 30.0]))
    np.testing.assert_allclose(fractions, [0.125, 0.125 + 0.15, 0.6], rtol=1e-12)
    p = rebin_photons(event_spectrum(90.0, 1.0, 0.3), EDGES_KEV)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(p >= 0.0)


def test_rebin_photons_puts_a_line_in_its_bin() -> None:
    line = Spectrum(np.array([52.0, 52.0]), np.array([1.0]))
    fractions = rebin_photons(line, EDGES_KEV)
    expected = np.zeros(EDGES_KEV.size - 1)
    expected[int(np.searchsorted(EDGES_KEV, 52.0)) - 1] = 1.0  # the bin 50-54 keV
    np.testing.assert_allclose(fractions, expected, atol=1e-9)


@pytest.mark.parametrize(
    ("edges", "photons"),
    [
        (np.array([100.0, 140.0, 150.0]), np.array([1.0, 1.0])),  # above 130 keV
        (np.array([5.0, 9.0, 20.0]), np.array([1.0, 1.0])),  # below 10 keV
    ],
)
def test_rebin_photons_refuses_spectra_outside_the_range(
    edges: np.ndarray, photons: np.ndarray
) -> None:
    with pytest.raises(ValueError, match="outside the response range 10-130 keV"):
        rebin_photons(Spectrum(edges, photons, description="test spectrum"), EDGES_KEV)


def test_rebin_photons_refuses_a_150_kvp_spectrum() -> None:
    with pytest.raises(ValueError, match="outside the response range"):
        rebin_photons(event_spectrum(150.0, 0.0, 0.0), EDGES_KEV)


def test_response_run_sums_to_the_ordinary_run_with_the_same_seed() -> None:
    phantom, source = _phantom(), _source(30.0)
    flat = Spectrum(EDGES_KEV, np.ones(EDGES_KEV.size - 1))
    problem = build_problem(phantom, source, flat, world_material="air")
    backend = NumbaCpuBackend()
    ordinary = backend.run(problem, 20_000, 10, 7)
    by_bin = backend.run_response(problem, 20_000, 10, 7)
    assert by_bin.energy_kev.shape == (*ordinary.energy_kev.shape, EDGES_KEV.size - 1)
    for name in ("energy_kev", "red_marrow_kev", "endosteum_kev"):
        np.testing.assert_allclose(
            getattr(by_bin, name).sum(axis=-1), getattr(ordinary, name), rtol=1e-10, atol=1e-9
        )
    np.testing.assert_array_equal(by_bin.emitted_kev, ordinary.emitted_kev)
    np.testing.assert_array_equal(by_bin.escaped_kev, ordinary.escaped_kev)


def test_simulate_response_averages_to_the_flat_spectrum_run() -> None:
    """Per-photon doses by bin, averaged over the K equiprobable bins, are the ordinary run's
    per-history doses of the flat spectrum (same seed and histories)."""
    phantom, source = _phantom(), _source(30.0)
    flat = Spectrum(EDGES_KEV, np.ones(EDGES_KEV.size - 1))
    regions = stylised.region_organs()
    response = simulate_response(
        phantom, source, EDGES_KEV, 20_000, regions, surrogates=stylised.ORGAN_SURROGATES,
        seed=5,
    )  # fmt: skip
    ordinary = organ_doses_with_rel_sd(
        simulate(phantom, source, flat, 20_000, seed=5), phantom, regions,
        stylised.ORGAN_SURROGATES,
    )  # fmt: skip
    averaged = response.dose_gy_per_photon.mean(axis=0)
    for i, organ in enumerate(response.organs):
        assert averaged[i] == pytest.approx(ordinary[organ][0], rel=1e-10, abs=1e-30), organ
    assert response.mean_inverse_cosine == pytest.approx(source.mean_inverse_cosine())


def test_simulate_response_refuses_too_few_bins() -> None:
    with pytest.raises(ValueError, match="at least 3 increasing edges"):
        simulate_response(
            _phantom(), _source(0.0), np.array([10.0, 130.0]), 100, stylised.region_organs()
        )
