"""Kolmogorov-Smirnov tests of the Compton and Rayleigh samplers.

References: the bound-Compton angular distribution ``KN(theta) S_mix(x)`` and the Rayleigh
distribution ``(1 + cos^2) F2_mix(x)`` integrated numerically (trapezoid, 20 001 points in
cos theta) with S and F evaluated by xraylib directly, not through the sampling tables.
The KS p-value threshold 1e-3 gives a false-alarm rate of 0.1 % per case.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from doseline.physics.cross_sections import (
    MOMENTUM_GRID_PER_ANGSTROM,
    form_factor_squared,
    incoherent_scattering_ratio,
    rayleigh_cumulative,
)
from doseline.physics.interactions import (
    ELECTRON_REST_KEV,
    HC_KEV_ANGSTROM,
    compton_batch,
    rayleigh_batch,
)
from doseline.physics.materials import material

_GRID = MOMENTUM_GRID_PER_ANGSTROM
_LOG_X0 = float(np.log(_GRID[0]))
_INV = float(1.0 / np.log(_GRID[1] / _GRID[0]))
_COS = np.linspace(-1.0, 1.0, 20001)


def _cdf(pdf: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    c = np.concatenate(([0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(_COS))))
    return c / c[-1]


@pytest.mark.parametrize("energy_kev", [20.0, 60.0, 120.0])
@pytest.mark.parametrize("name", ["soft_tissue", "cortical_bone"])
def test_compton_sampler_matches_kn_times_s(name: str, energy_kev: float) -> None:
    mat = material(name)
    cos_t, e_out = compton_batch(energy_kev, incoherent_scattering_ratio(mat), _LOG_X0, _INV,
                                 100_000, 7)  # fmt: skip
    k = energy_kev / ELECTRON_REST_KEV
    ratio = 1 / (1 + k * (1 - _COS))
    kn = ratio**2 * (ratio + 1 / ratio - (1 - _COS**2))
    x = energy_kev / HC_KEV_ANGSTROM * np.sqrt((1 - _COS) / 2)
    cdf = _cdf(kn * incoherent_scattering_ratio(mat, x))
    assert stats.kstest(cos_t, lambda q: np.interp(q, _COS, cdf)).pvalue > 1e-3
    # Compton kinematics E' = E / (1 + k (1 - cos))
    np.testing.assert_allclose(e_out, energy_kev / (1 + k * (1 - cos_t)), rtol=1e-12)


@pytest.mark.parametrize("energy_kev", [20.0, 60.0, 120.0])
@pytest.mark.parametrize("name", ["soft_tissue", "cortical_bone"])
def test_rayleigh_sampler_matches_thomson_times_f2(name: str, energy_kev: float) -> None:
    mat = material(name)
    x2, cum = rayleigh_cumulative(mat)
    cos_t = rayleigh_batch(energy_kev, x2, cum, _LOG_X0, _INV, 100_000, 9)
    x = energy_kev / HC_KEV_ANGSTROM * np.sqrt((1 - _COS) / 2)
    cdf = _cdf((1 + _COS**2) * form_factor_squared(mat, x))
    assert stats.kstest(cos_t, lambda q: np.interp(q, _COS, cdf)).pvalue > 1e-3
