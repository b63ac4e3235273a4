"""Dose-volume histograms (DVHs) and organ dose metrics from an RT Dose and RT Structure Set.

Method
------
Each contour plane of an ROI stands for a slab of tissue (the *slab convention*, below). In each
plane the contours are filled by the even-odd rule on a lattice of ``supersample x supersample``
points per dose voxel (exact point-in-polygon, :mod:`doseline.dosimetry.rt.polygon`); each
inside point carries ``pixel area / supersample**2 x slab thickness / z_supersample`` of volume
and the dose interpolated trilinearly at its position (at ``z_supersample`` sub-slab centres).
With ``supersample = 1`` and ``z_supersample = 1`` the points are the dose-voxel centres and the
dose is taken in the contour plane, which is dicompyler-core's default algorithm
(``dvhcalc.get_dvh``, dicompyler-core 0.5.6; A. Panchal et al.).

Slab conventions (``DVHSettings.slab``):

``"dicompyler"`` (default)
    Every plane is a slab of thickness ``t`` (the ROI's smallest plane spacing) centred on it,
    as dicompyler-core does (``DicomParser.CalculatePlaneThickness``); results compare like for
    like with it.
``"midpoint"``
    Slabs end half-way between neighbouring planes (right for non-uniform spacing); at the ends
    of the ROI, and at gaps wider than 1.5 ``t``, a slab reaches ``t / 2`` beyond its plane.
``"truncated"``
    As ``"midpoint"``, but the ROI ends at its first and last contour planes (no half slab
    beyond them), the convention of planning systems that close the surface at the end planes.

Coverage: lattice points outside the dose grid's voxels (beyond half a voxel from the outer voxel
centres) count in ``volume_cm3`` but not in the histogram; the dose metrics describe the covered
part and ``covered_fraction`` says how much that is.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from doseline.dicom.rt_common import EmptyROIError, FrameOfReferenceMismatchError, RTWarning
from doseline.dicom.rt_dose import RTDose
from doseline.dicom.rt_struct import ROI, RTStructureSet
from doseline.dosimetry.rt.polygon import accumulate_roi
from doseline.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DVH",
    "DVHSettings",
    "EmptyROIWarning",
    "SlabConvention",
    "check_same_frame",
    "compute_dvh",
    "compute_dvhs",
    "slab_bounds_mm",
    "summary_frame",
]

SlabConvention = Literal["dicompyler", "midpoint", "truncated"]
_GAP_FACTOR = 1.5  # a plane spacing above 1.5 x the smallest one is a gap (documented above)


class EmptyROIWarning(RTWarning):
    """An ROI without closed contours was left out of a computation over all ROIs."""


@dataclass(frozen=True, slots=True)
class DVHSettings:
    """How a DVH is computed.

    Parameters
    ----------
    supersample
        Lattice points per dose-voxel side in plane (1 = voxel centres, dicompyler-core).
    z_supersample
        Sub-slabs per contour slab (1 = dose taken in the contour plane).
    bin_width_gy
        Histogram bin width; 0.01 Gy is dicompyler-core's 1 cGy.
    slab
        Through-plane convention, see the module docstring.
    """

    supersample: int = 1
    z_supersample: int = 1
    bin_width_gy: float = 0.01
    slab: SlabConvention = "dicompyler"

    def __post_init__(self) -> None:
        for name in ("supersample", "z_supersample"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 64:
                raise InvalidInputError(
                    f"must be an integer from 1 to 64, not {value!r}", field=name
                )
        if not (math.isfinite(self.bin_width_gy) and self.bin_width_gy > 0):
            raise InvalidInputError("must be positive", field="bin_width_gy")
        if self.slab not in ("dicompyler", "midpoint", "truncated"):
            raise InvalidInputError(f"unknown slab convention {self.slab!r}", field="slab")


@dataclass(frozen=True, slots=True, eq=False)
class DVH:
    """The dose-volume histogram of one ROI and its metrics (a results object).

    ``differential_cm3[i]`` is the covered volume with dose in ``[bin_edges_gy[i],
    bin_edges_gy[i + 1])``. ``mean_gy``, ``min_gy`` and ``max_gy`` are exact over the lattice
    points (not binned); they are NaN when no part of the ROI lies in the dose grid.
    """

    roi_number: int
    roi_name: str
    bin_edges_gy: NDArray[np.float64]
    differential_cm3: NDArray[np.float64]
    volume_cm3: float
    covered_volume_cm3: float
    mean_gy: float
    min_gy: float
    max_gy: float
    settings: DVHSettings

    def __post_init__(self) -> None:
        for name in ("bin_edges_gy", "differential_cm3"):
            array = np.array(getattr(self, name), dtype=np.float64)
            array.flags.writeable = False
            object.__setattr__(self, name, array)
        if self.bin_edges_gy.size != self.differential_cm3.size + 1:
            raise InvalidInputError("needs one more bin edge than bins", field="bin_edges_gy")
        if self.covered_volume_cm3 > self.volume_cm3 * (1 + 1e-9) + 1e-12:
            raise InvalidInputError("covered volume exceeds the volume", field="volume_cm3")

    @property
    def covered_fraction(self) -> float:
        """Fraction of the ROI volume inside the dose grid (1.0 for an empty ROI)."""
        return self.covered_volume_cm3 / self.volume_cm3 if self.volume_cm3 > 0 else 1.0

    @property
    def cumulative_cm3(self) -> NDArray[np.float64]:
        """Covered volume receiving at least each bin edge, ``(bins + 1,)``."""
        tail = np.cumsum(self.differential_cm3[::-1])[::-1]
        return np.append(tail, 0.0)

    def dose_at_volume_percent(self, percent: float) -> float:
        """``D_x%``: the least dose received by the hottest ``percent`` % of the covered volume.

        Read from the cumulative DVH with linear interpolation inside a bin (error below one
        bin width), clipped to ``[min_gy, max_gy]``.
        """
        if not 0 <= percent <= 100:
            raise InvalidInputError(f"percent must be within 0-100, not {percent}", field="percent")
        if self.covered_volume_cm3 <= 0:
            return math.nan
        target = percent / 100 * self.covered_volume_cm3
        cumulative = self.cumulative_cm3
        # cumulative decreases; find the last edge still holding at least the target volume
        k = int(np.searchsorted(-cumulative, -target, side="right")) - 1
        k = min(max(k, 0), self.differential_cm3.size - 1)
        in_bin = self.differential_cm3[k]
        fraction = (cumulative[k] - target) / in_bin if in_bin > 0 else 0.0
        dose = self.bin_edges_gy[k] + fraction * (self.bin_edges_gy[k + 1] - self.bin_edges_gy[k])
        return float(min(max(dose, self.min_gy), self.max_gy))

    def volume_at_dose_cm3(self, dose_gy: float) -> float:
        """``V_x``: covered volume receiving at least ``dose_gy`` (linear within a bin)."""
        edges = self.bin_edges_gy
        if dose_gy <= edges[0]:
            return float(self.covered_volume_cm3)
        if dose_gy >= edges[-1]:
            return 0.0
        return float(np.interp(dose_gy, edges, self.cumulative_cm3))

    def volume_at_dose_percent(self, dose_gy: float) -> float:
        """``V_x`` as a percentage of the covered volume."""
        if self.covered_volume_cm3 <= 0:
            return math.nan
        return 100.0 * self.volume_at_dose_cm3(dose_gy) / self.covered_volume_cm3

    @property
    def d2_gy(self) -> float:
        """``D2%`` (near-maximum dose, ICRU Report 83)."""
        return self.dose_at_volume_percent(2.0)

    @property
    def d50_gy(self) -> float:
        """``D50%`` (median dose)."""
        return self.dose_at_volume_percent(50.0)

    @property
    def d98_gy(self) -> float:
        """``D98%`` (near-minimum dose, ICRU Report 83)."""
        return self.dose_at_volume_percent(98.0)

    def to_dict(self, *, include_histogram: bool = True) -> dict[str, Any]:
        """Metrics (and the cumulative DVH) as JSON-ready values; NaN becomes ``None``."""

        def clean(value: float) -> float | None:
            return None if math.isnan(value) else float(value)

        out: dict[str, Any] = {
            "roi_number": self.roi_number,
            "roi_name": self.roi_name,
            "volume_cm3": self.volume_cm3,
            "covered_fraction": self.covered_fraction,
            "mean_gy": clean(self.mean_gy),
            "max_gy": clean(self.max_gy),
            "min_gy": clean(self.min_gy),
            "d2_gy": clean(self.d2_gy),
            "d50_gy": clean(self.d50_gy),
            "d98_gy": clean(self.d98_gy),
        }
        if include_histogram:
            last = int(np.flatnonzero(self.differential_cm3).max(initial=-1)) + 2
            out["dvh"] = {
                "dose_gy": self.bin_edges_gy[:last].tolist(),
                "cumulative_volume_cm3": self.cumulative_cm3[:last].tolist(),
            }
        return out


def check_same_frame(dose: RTDose, roi: ROI, structure_source: str | None = None) -> None:
    """Raise :class:`FrameOfReferenceMismatchError` unless dose and ROI share a frame."""
    if dose.frame_of_reference_uid != roi.frame_of_reference_uid:
        raise FrameOfReferenceMismatchError(
            f"the dose grid ({dose.source}) is in frame of reference "
            f"{dose.frame_of_reference_uid} but the ROI is in {roi.frame_of_reference_uid}; "
            "register the objects first",
            source=structure_source,
            record=f"ROI {roi.number} {roi.name!r}",
            field="ReferencedFrameOfReferenceUID",
        )


def slab_bounds_mm(
    z_mm: NDArray[np.float64], convention: SlabConvention, fallback_thickness_mm: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lower and upper z of the slab each contour plane stands for (see module docstring).

    ``fallback_thickness_mm`` is the thickness of a single-plane ROI (which has no spacing).
    """
    z = np.asarray(z_mm, dtype=np.float64)
    t = float(np.min(np.diff(z))) if z.size > 1 else fallback_thickness_mm
    if convention == "dicompyler":
        return z - t / 2, z + t / 2
    gaps = np.diff(z) > _GAP_FACTOR * t
    middle = (z[:-1] + z[1:]) / 2
    low = np.concatenate([[z[0] - t / 2], np.where(gaps, z[1:] - t / 2, middle)])
    high = np.concatenate([np.where(gaps, z[:-1] + t / 2, middle), [z[-1] + t / 2]])
    if convention == "truncated":
        starts = np.concatenate([[True], gaps])
        ends = np.concatenate([gaps, [True]])
        low = np.where(starts, z, low)
        high = np.where(ends, z, high)
    return low, high


def _fallback_thickness(dose: RTDose, z_mm: float) -> float:
    frames = dose.geometry.frame_z_mm()
    if frames.size < 2:
        return min(dose.geometry.pixel_spacing_mm)
    index = int(np.clip(np.searchsorted(np.sort(frames), z_mm), 1, frames.size - 1))
    ordered = np.sort(frames)
    return float(ordered[index] - ordered[index - 1])


def _slab_sampling(
    dose: RTDose, roi: ROI, settings: DVHSettings
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Frame-index coordinate of each sub-slab centre ``(planes, m)`` and the volume (mm3) of
    one lattice point of one sub-slab of each plane."""
    grid = dose.geometry
    z = roi.z_mm
    fallback = _fallback_thickness(dose, float(z[0])) if z.size == 1 else 0.0
    low, high = slab_bounds_mm(z, settings.slab, fallback)
    m = settings.z_supersample
    fractions = (np.arange(m) + 0.5) / m
    sub_z = low[:, None] + fractions[None, :] * (high - low)[:, None]
    if m == 1 and settings.slab == "dicompyler":
        sub_z = z[:, None]  # exactly the contour plane (no rounding from low + t/2)
    sub_points = np.zeros((sub_z.size, 3))
    sub_points[:, 0:2] = grid.image_position_mm[0:2]
    sub_points[:, 2] = sub_z.ravel()
    sub_w = np.ascontiguousarray(grid.to_index(sub_points)[:, 2].reshape(sub_z.shape))
    pixel_mm2 = grid.row_spacing_mm * grid.column_spacing_mm
    sample_mm3 = pixel_mm2 / settings.supersample**2 * (high - low) / m
    return sub_w, np.asarray(sample_mm3, dtype=np.float64)


def _contour_arrays(
    dose: RTDose, roi: ROI
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Vertex (column, row) index coordinates and the contour and plane start offsets."""
    contours = [c for plane in roi.planes for c in plane.contours]
    index = dose.geometry.to_index(np.concatenate(contours))
    lengths = [len(c) for c in contours]
    per_plane = [len(plane.contours) for plane in roi.planes]
    return (
        np.ascontiguousarray(index[:, 0]),
        np.ascontiguousarray(index[:, 1]),
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        np.concatenate([[0], np.cumsum(per_plane)]).astype(np.int64),
    )


def compute_dvh(dose: RTDose, roi: ROI, settings: DVHSettings | None = None) -> DVH:
    """Compute the DVH and dose metrics of one ROI.

    Parameters
    ----------
    dose
        Dose grid in Gy (axial).
    roi
        The ROI, in the dose's frame of reference.
    settings
        Sampling and slab convention; defaults reproduce dicompyler-core 0.5.6.

    Raises
    ------
    EmptyROIError
        If the ROI has no closed contour.
    FrameOfReferenceMismatchError
        If the ROI and the dose are in different frames of reference.
    UnsupportedGeometryError
        If the dose grid is not axial.
    """
    settings = settings or DVHSettings()
    if roi.is_empty:
        raise EmptyROIError(
            "no closed planar contour: the ROI encloses no volume",
            record=f"ROI {roi.number} {roi.name!r}",
            field="ContourSequence",
        )
    check_same_frame(dose, roi)
    dose.geometry.require_axial()
    dose_gy = np.ascontiguousarray(dose.dose_gy)
    sub_w, sample_mm3 = _slab_sampling(dose, roi, settings)
    u, v, contour_start, plane_start = _contour_arrays(dose, roi)
    n_bins = max(math.floor(dose.max_dose / settings.bin_width_gy) + 1, 1)
    histogram = np.zeros(n_bins)
    total, covered, dose_volume, lowest, highest = accumulate_roi(
        dose_gy,
        u,
        v,
        contour_start,
        plane_start,
        sub_w,
        sample_mm3,
        settings.supersample,
        settings.bin_width_gy,
        histogram,
    )
    return DVH(
        roi_number=roi.number,
        roi_name=roi.name,
        bin_edges_gy=np.arange(n_bins + 1, dtype=np.float64) * settings.bin_width_gy,
        differential_cm3=histogram / 1000.0,
        volume_cm3=total / 1000.0,
        covered_volume_cm3=covered / 1000.0,
        mean_gy=dose_volume / covered if covered > 0 else math.nan,
        min_gy=float(lowest),
        max_gy=float(highest),
        settings=settings,
    )


def compute_dvhs(
    dose: RTDose,
    structures: RTStructureSet,
    rois: Sequence[int | str] | None = None,
    settings: DVHSettings | None = None,
) -> tuple[DVH, ...]:
    """Compute the DVHs of several ROIs (all non-empty ones by default).

    Empty ROIs are skipped with an :class:`EmptyROIWarning` when ``rois`` is ``None``; an
    empty ROI asked for by name or number raises :class:`EmptyROIError`. All frames of
    reference are checked before any computation.
    """
    if rois is None:
        chosen = [roi for roi in structures.rois if not roi.is_empty]
        skipped = [f"{roi.number} {roi.name!r}" for roi in structures.rois if roi.is_empty]
        if skipped:
            warnings.warn(
                f"{structures.source}: ROIs without contours left out: {', '.join(skipped)}",
                EmptyROIWarning,
                stacklevel=2,
            )
    else:
        chosen = [structures.roi(key) for key in rois]
    for roi in chosen:
        check_same_frame(dose, roi, structures.source)
    try:
        return tuple(compute_dvh(dose, roi, settings) for roi in chosen)
    except InvalidInputError as error:
        raise error.with_source(structures.source) from None


def summary_frame(dvhs: Sequence[DVH]) -> pd.DataFrame:
    """Tidy table of the metrics, one row per ROI (the columns of :meth:`DVH.to_dict`)."""
    import pandas as pd

    rows = [dvh.to_dict(include_histogram=False) for dvh in dvhs]
    return pd.DataFrame(rows).set_index("roi_number")
