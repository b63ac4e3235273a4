"""Conversion-coefficient tables: organ dose per unit KAP over age, beam angles, field and
spectrum, from Monte Carlo energy responses.

A table holds, for every node of a geometry grid (phantom age x primary angle x secondary angle
x field side at the isocentre), the organ dose per photon by source energy bin
(:class:`doseline.physics.transport.response.EnergyResponse`), and, on a grid of kVp, added Al and
added Cu, the photons per unit in-air KAP by bin (:class:`SpectralGrid`). The organ dose per KAP
of an event is

``CF_o = sum_corners w_c sum_k q_k R_c,k,o / <1/cos>_c``

with ``w_c`` the multilinear weights of the event's (equivalent age, angles, field) among the 16
surrounding nodes and ``q`` the trilinearly interpolated photons per KAP of its spectrum,
attenuated by the patient support where the beam crosses it. The quantity interpolated is
``CF x a^2``, ``a`` the field side at the isocentre, i.e. the dose per air kerma there: for an
organ in the field it hardly depends on ``a``, while ``CF`` itself falls as ``1 / a^2`` (the
KAP spreads the same kerma over the area); the result is divided by the event's ``a^2``.
The support is described in :mod:`doseline.dosimetry.fluoro.geometry`. Tabulating Monte Carlo
organ doses by energy and weighting them by the spectrum is PCXMC's scheme (Tapiovaara &
Siiskonen, STUK-A231, 2008); HARMONIC's cardiac dosimetry plan uses lookup tables over age and
projection in the same way.
The energy dimension is kept so that any spectrum is exact to the bin width. Inputs outside
the grid are clamped to it; :meth:`ConversionTable.out_of_range` names them per event.

Files are NumPy ``.npz`` archives: the arrays, and a JSON ``metadata`` entry recording the engine
(doseline version, transport backend), histories, seeds, SpekPy version, the command that built
the table and its statistics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.dosimetry.fluoro.body_size import equivalent_age_y
from doseline.dosimetry.fluoro.events import check_events, field_side_at_isocentre_cm
from doseline.dosimetry.fluoro.geometry import (
    DEFAULT_TABLE_PMMA_EQUIVALENT_MM,
    pmma_attenuation_per_mm,
    support_path_mm,
)
from doseline.dosimetry.fluoro.spectral import SpectralGrid, grid_cell
from doseline.errors import InvalidInputError

__all__ = ["DEFAULT_TABLE_NAME", "ConversionTable", "default_table"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
DEFAULT_TABLE_NAME = "fluoro_cardiac_cc.npz"
_GEOMETRY_COLUMNS = ("age_y", "primary_angle_deg", "secondary_angle_deg", "field_side_cm")


@dataclass(frozen=True)
class ConversionTable:
    """Organ dose per KAP from tabulated energy responses; see the module docstring.

    Attributes
    ----------
    age_axis_y, primary_axis_deg, secondary_axis_deg, field_axis_cm
        Geometry grid axes (increasing).
    organs
        Organ names (ICRP, :data:`doseline.organs.ORGANS`).
    response
        ``(A, P, S, F, K, O)`` organ dose per photon born in energy bin ``k`` (Gy).
    rel_sd
        Relative SD of each response entry (Monte Carlo statistics).
    mean_inverse_cosine
        ``(A, P, S, F)`` in-air KAP factor of each node's field.
    spectral
        Photons per KAP on the (kVp, Al, Cu) grid, on the same energy bins.
    metadata
        How the table was made (JSON-serialisable).
    support_pmma_equivalent_mm
        The deployment's patient support (:mod:`doseline.dosimetry.fluoro.geometry`): each
        event's photons per KAP are attenuated bin by bin by the support it crosses. A setting
        of use, not of the file (``dataclasses.replace`` to change it).
    """

    age_axis_y: F64
    primary_axis_deg: F64
    secondary_axis_deg: F64
    field_axis_cm: F64
    organs: tuple[str, ...]
    response: F64
    rel_sd: F64
    mean_inverse_cosine: F64
    spectral: SpectralGrid
    metadata: dict[str, Any] = field(default_factory=dict)
    support_pmma_equivalent_mm: float = DEFAULT_TABLE_PMMA_EQUIVALENT_MM

    def __post_init__(self) -> None:
        axes = self.axes
        shape = (*(a.size for a in axes), self.spectral.photons_per_kap.shape[-1], len(self.organs))
        for name, array in (("response", self.response), ("rel_sd", self.rel_sd)):
            if array.shape != shape:
                raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
        if self.mean_inverse_cosine.shape != shape[:4]:
            raise ValueError("mean_inverse_cosine does not match the geometry axes")
        for axis in axes:
            if axis.size < 2 or np.any(np.diff(axis) <= 0):
                raise ValueError("each geometry axis needs at least 2 increasing values")

    @property
    def axes(self) -> tuple[F64, F64, F64, F64]:
        """The geometry axes in table order."""
        return (self.age_axis_y, self.primary_axis_deg, self.secondary_axis_deg, self.field_axis_cm)

    def geometry_coordinates(self, events: pd.DataFrame) -> pd.DataFrame:
        """Each event's position on the geometry axes (before clamping)."""
        return pd.DataFrame(
            {
                "age_y": equivalent_age_y(events),
                "primary_angle_deg": events["primary_angle_deg"].to_numpy(np.float64),
                "secondary_angle_deg": events["secondary_angle_deg"].to_numpy(np.float64),
                "field_side_cm": field_side_at_isocentre_cm(events),
            },
            index=events.index,
        )

    def dose_per_kap(self, events: pd.DataFrame) -> pd.DataFrame:
        """Organ absorbed dose per unit KAP (Gy per Gy cm2), one row per event."""
        checked = check_events(events)
        response, index, frac, q, side = self.kernel_inputs(checked)
        out = np.zeros((len(checked), len(self.organs)))
        _interpolate(response, index, frac, q, out)
        out /= side[:, None] ** 2
        return pd.DataFrame(out, index=events.index, columns=list(self.organs))

    def kernel_inputs(self, checked: pd.DataFrame) -> tuple[F64, I64, F64, F64, F64]:
        """What the interpolation kernel takes for checked events: the responses per air kerma,
        each event's lower node indices and fractions on the 4 geometry axes, its photons per
        KAP by bin behind the support, and its (clamped) field side in cm."""
        coords = self.geometry_coordinates(checked)
        index = np.zeros((len(checked), 4), dtype=np.int64)
        frac = np.zeros((len(checked), 4))
        for j, (axis, column) in enumerate(zip(self.axes, _GEOMETRY_COLUMNS, strict=True)):
            index[:, j], frac[:, j] = grid_cell(axis, coords[column].to_numpy(np.float64))
        q = self.spectral.photons_per_kap_for(checked) * self._support_transmission(checked)
        sides = self.field_axis_cm[[0, -1]]
        side = np.clip(coords["field_side_cm"].to_numpy(np.float64), sides[0], sides[1])
        return self._per_air_kerma(), index, frac, q, side

    def _per_air_kerma(self) -> F64:
        """Responses per KAP x field area at the isocentre (~ per air kerma there): the
        quantity interpolated, smooth in field side (dose per KAP of an organ in the field
        falls as 1 / area, because KAP spreads the same kerma over the area)."""
        side2 = self.field_axis_cm**2
        scaled: F64 = (
            self.response
            / self.mean_inverse_cosine[..., None, None]
            * side2[None, None, None, :, None, None]
        )
        return scaled

    def _support_transmission(self, events: pd.DataFrame) -> F64:
        """``(n_events, K)`` primary transmission of the support by response bin."""
        edges = self.spectral.energy_bin_edges_kev
        mu = pmma_attenuation_per_mm(0.5 * (edges[:-1] + edges[1:]))
        path = support_path_mm(events, self.support_pmma_equivalent_mm)
        out: F64 = np.exp(-np.outer(path, mu))
        return out

    def clamped(self, events: pd.DataFrame) -> pd.DataFrame:
        """Per event (rows) and input (columns: the geometry coordinates, kVp, Al, Cu), whether
        the value lies outside the table and was clamped (vectorised)."""
        checked = check_events(events)
        coords = self.geometry_coordinates(checked)
        geometry = {
            column: (coords[column] < axis[0] - 1e-9) | (coords[column] > axis[-1] + 1e-9)
            for axis, column in zip(self.axes, _GEOMETRY_COLUMNS, strict=True)
        }
        frame = pd.concat([pd.DataFrame(geometry), self.spectral.clamped(checked)], axis=1)
        return frame.set_axis(events.index)

    def out_of_range(self, events: pd.DataFrame) -> pd.Series:
        """Per event, the inputs clamped to the table's range (comma-separated, "" if none)."""
        flags = self.clamped(events)
        text = np.full(len(flags), "", dtype=object)
        for column in flags.columns:  # a handful of inputs, vectorised over events
            hit = flags[column].to_numpy()
            separator = np.where(text == "", "", ",")
            text = np.where(hit, text + separator + column, text)
        return pd.Series(text, index=flags.index, dtype=object)

    def save(self, path: Path) -> None:
        """Write the table as a compressed ``.npz`` archive."""
        s = self.spectral
        np.savez_compressed(
            path,
            age_axis_y=self.age_axis_y,
            primary_axis_deg=self.primary_axis_deg,
            secondary_axis_deg=self.secondary_axis_deg,
            field_axis_cm=self.field_axis_cm,
            organs=np.array(self.organs),
            response=self.response.astype(np.float32),
            rel_sd=self.rel_sd.astype(np.float16),  # 0.05 % precision of a relative SD
            mean_inverse_cosine=self.mean_inverse_cosine,
            kvp_axis=s.kvp_axis,
            al_axis_mm=s.al_axis_mm,
            cu_axis_mm=s.cu_axis_mm,
            energy_bin_edges_kev=s.energy_bin_edges_kev,
            photons_per_kap=s.photons_per_kap,
            inherent_al_mm=np.array(s.inherent_al_mm),
            metadata=np.array(json.dumps(self.metadata, sort_keys=True)),
        )

    @classmethod
    def load(cls, path: Path) -> ConversionTable:
        """Read a table written by :meth:`save`; a malformed file raises InvalidInputError."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
            spectral = SpectralGrid(
                kvp_axis=arrays["kvp_axis"],
                al_axis_mm=arrays["al_axis_mm"],
                cu_axis_mm=arrays["cu_axis_mm"],
                energy_bin_edges_kev=arrays["energy_bin_edges_kev"],
                photons_per_kap=arrays["photons_per_kap"],
                inherent_al_mm=float(arrays["inherent_al_mm"]),
            )
            return cls(
                age_axis_y=arrays["age_axis_y"],
                primary_axis_deg=arrays["primary_axis_deg"],
                secondary_axis_deg=arrays["secondary_axis_deg"],
                field_axis_cm=arrays["field_axis_cm"],
                organs=tuple(str(o) for o in arrays["organs"]),
                response=arrays["response"].astype(np.float64),
                rel_sd=arrays["rel_sd"].astype(np.float64),
                mean_inverse_cosine=arrays["mean_inverse_cosine"],
                spectral=spectral,
                metadata=json.loads(str(arrays["metadata"])),
            )
        except (OSError, KeyError, ValueError, json.JSONDecodeError) as error:
            raise InvalidInputError(
                f"not a conversion-coefficient table ({error})", source=str(path)
            ) from error


@cache
def default_table() -> ConversionTable:
    """The table shipped with the package (built by ``doseline dose build-table``)."""
    ref = resources.files("doseline") / "data" / "dosimetry" / DEFAULT_TABLE_NAME
    with resources.as_file(ref) as path:
        return ConversionTable.load(path)


@numba.njit(cache=True, parallel=True)
def _interpolate(response, index, frac, q, out):  # type: ignore[no-untyped-def]
    """``out[i, o] = sum_c w_c sum_k q[i, k] response[c, k, o]`` over the 16 corners."""
    n_bins = response.shape[4]
    n_organs = response.shape[5]
    for i in numba.prange(index.shape[0]):
        for corner in range(16):
            w = 1.0
            node = np.empty(4, dtype=np.int64)
            for axis in range(4):
                upper = (corner >> axis) & 1
                node[axis] = index[i, axis] + upper
                w *= frac[i, axis] if upper else 1.0 - frac[i, axis]
            if w == 0.0:
                continue
            block = response[node[0], node[1], node[2], node[3]]
            for k in range(n_bins):
                wq = w * q[i, k]
                for o in range(n_organs):
                    out[i, o] += wq * block[k, o]
