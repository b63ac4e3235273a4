"""X-ray spectra of fluoroscopy events on a grid of kVp, added Al and added Cu filtration.

The conversion table stores organ dose per photon by energy bin
(:mod:`doseline.physics.transport.response`); an event's spectrum enters as the number of
photons per unit in-air KAP in each bin, ``q_k = p_k / kap_per_photon``. ``q`` is computed with
SpekPy (Poludniowski et al., Med. Phys. 48 (2021) 3630) on a grid and interpolated
trilinearly for each event (organ dose per KAP is linear in ``q``).

Spectrum assumptions, the same for the table and for the direct Monte Carlo path:

* tungsten anode at :data:`ANODE_ANGLE_DEG` (cardiac tubes are 9-13 deg, e.g. Siemens MEGALIX
  Cat Plus 11 deg, Philips MRC 200 GS 11 deg; 12 deg is the SpekPy default);
* inherent filtration :data:`INHERENT_AL_MM` of aluminium: the minimum total filtration of IEC
  60601-1-3:2008, 7.1 (2.5 mm Al), which an RDSR's "X-Ray Filters" (added filters) do not
  include; a centre that knows its tube's inherent filtration sets it
  (``DOSELINE_FLUORO_INHERENT_FILTRATION_AL_MM``);
* added filters as the RDSR states them (Cu and Al thicknesses).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.physics.spectra import Spectrum, from_spekpy
from doseline.physics.transport.response import kap_gycm2_per_photon, rebin_photons

__all__ = [
    "AL_AXIS_MM",
    "ANODE_ANGLE_DEG",
    "CU_AXIS_MM",
    "INHERENT_AL_MM",
    "KVP_AXIS",
    "SpectralGrid",
    "event_spectrum",
    "grid_cell",
]

F64 = npt.NDArray[np.float64]

ANODE_ANGLE_DEG = 12.0
INHERENT_AL_MM = 2.5
#: Grid of the table's spectra: kVp of paediatric cardiac fluoroscopy and cine (50-125 kV),
#: added Al and Cu of the spectral filters cardiac systems use (0-1.2 mm Cu).
KVP_AXIS: F64 = np.arange(50.0, 125.1, 5.0)
AL_AXIS_MM: F64 = np.array([0.0, 1.0, 2.0, 4.0])
CU_AXIS_MM: F64 = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.9, 1.2])


def event_spectrum(
    kvp: float, filter_al_mm: float, filter_cu_mm: float, inherent_al_mm: float = INHERENT_AL_MM
) -> Spectrum:
    """SpekPy spectrum of one event (inherent Al plus the added filters), 1 keV bins."""
    filters = {"Al": inherent_al_mm + filter_al_mm}
    if filter_cu_mm > 0:
        filters["Cu"] = filter_cu_mm
    return from_spekpy(kvp, ANODE_ANGLE_DEG, filters, bin_kev=1.0)


@dataclass(frozen=True)
class SpectralGrid:
    """Photons per unit in-air KAP by response bin, on the (kVp, Al, Cu) grid.

    ``photons_per_kap[i, j, l, k]`` is the number of photons in response bin ``k`` per Gy cm2
    of in-air KAP (without the field's ``<1/cos>`` factor, which the table keeps per geometry).
    """

    kvp_axis: F64
    al_axis_mm: F64
    cu_axis_mm: F64
    energy_bin_edges_kev: F64
    photons_per_kap: F64
    inherent_al_mm: float

    @classmethod
    def compute(
        cls,
        energy_bin_edges_kev: F64,
        kvp_axis: F64 = KVP_AXIS,
        al_axis_mm: F64 = AL_AXIS_MM,
        cu_axis_mm: F64 = CU_AXIS_MM,
        inherent_al_mm: float = INHERENT_AL_MM,
    ) -> SpectralGrid:
        """Run SpekPy at every grid point (about 0.3 s each)."""
        shape = (kvp_axis.size, al_axis_mm.size, cu_axis_mm.size, energy_bin_edges_kev.size - 1)
        q = np.zeros(shape)
        for i, kvp in enumerate(kvp_axis):
            for j, al in enumerate(al_axis_mm):
                for m, cu in enumerate(cu_axis_mm):
                    spectrum = event_spectrum(kvp, al, cu, inherent_al_mm)
                    fractions = rebin_photons(spectrum, energy_bin_edges_kev)
                    q[i, j, m] = fractions / kap_gycm2_per_photon(spectrum, 1.0)
        return cls(kvp_axis, al_axis_mm, cu_axis_mm, energy_bin_edges_kev, q, inherent_al_mm)

    def photons_per_kap_for(self, events: pd.DataFrame) -> F64:
        """``(n_events, K)`` photons per Gy cm2 by bin, trilinear in (kVp, Al, Cu).

        Values outside the grid are clamped to its edges (:meth:`clamped` reports them).
        """
        out = np.zeros((len(events), self.photons_per_kap.shape[-1]))
        cells = [
            grid_cell(self.kvp_axis, events["kvp"].to_numpy(np.float64)),
            grid_cell(self.al_axis_mm, events["filter_al_mm"].to_numpy(np.float64)),
            grid_cell(self.cu_axis_mm, events["filter_cu_mm"].to_numpy(np.float64)),
        ]
        for corner in range(8):
            idx = []
            weight = np.ones(len(events))
            for axis, (i0, frac) in enumerate(cells):
                upper = (corner >> axis) & 1
                idx.append(i0 + upper)
                weight *= frac if upper else 1.0 - frac
            out += weight[:, None] * self.photons_per_kap[idx[0], idx[1], idx[2]]
        return out

    def clamped(self, events: pd.DataFrame) -> pd.DataFrame:
        """Per event, whether each spectral input lies outside the grid (and was clamped)."""
        return pd.DataFrame(
            {
                column: _outside(events[column].to_numpy(np.float64), axis)
                for column, axis in (
                    ("kvp", self.kvp_axis),
                    ("filter_al_mm", self.al_axis_mm),
                    ("filter_cu_mm", self.cu_axis_mm),
                )
            },
            index=events.index,
        )


def _outside(values: F64, axis: F64) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = (values < axis[0] - 1e-9) | (values > axis[-1] + 1e-9)
    return out


def grid_cell(axis: F64, values: F64) -> tuple[npt.NDArray[np.int64], F64]:
    """Lower grid index and fractional position of each value, clamped to the axis."""
    clamped = np.clip(values, axis[0], axis[-1])
    i0 = np.clip(np.searchsorted(axis, clamped, side="right") - 1, 0, axis.size - 2)
    frac = (clamped - axis[i0]) / (axis[i0 + 1] - axis[i0])
    return i0.astype(np.int64), frac
