"""Reader of DICOM RT Dose objects: the dose grid, its geometry, and the stored DVHs.

The dose grid is returned in the file's dose units (Gy for ``DoseUnits = GY``) with Dose Grid
Scaling applied; a grid without Dose Grid Scaling is refused rather than guessed. The Grid Frame
Offset Vector is accepted in both forms DICOM allows (relative to the first frame, or absolute
patient z for an axial grid) and always stored relative.

References
----------
DICOM PS3.3 (2024) C.8.8.3 RT Dose Module (Dose Grid Scaling, Grid Frame Offset Vector, the two
offset conventions in C.8.8.3.2), C.8.8.4 RT DVH Module, C.7.6.2 Image Plane Module (Image
Position / Orientation (Patient), Pixel Spacing as row spacing then column spacing).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from doseline.dicom.rt_common import (
    RT_DOSE_STORAGE,
    MissingAttributeError,
    RTWarning,
    UnsupportedGeometryError,
    float_array,
    optional_float,
    optional_text,
    read_rt_object,
)
from doseline.errors import ImplausibleValueError, InvalidInputError, MalformedDicomError

__all__ = [
    "DOSE_SUMMATION_TYPES",
    "DoseGridGeometry",
    "RTDose",
    "StoredDVH",
    "StoredDVHWarning",
    "dose_grid_geometry",
    "read_rt_dose",
]

DOSE_SUMMATION_TYPES = frozenset(
    {
        "PLAN",
        "MULTI_PLAN",
        "FRACTION",
        "BEAM",
        "BRACHY",
        "FRACTION_SESSION",
        "BEAM_SESSION",
        "BRACHY_SESSION",
        "CONTROL_POINT",
        "RECORD",
    }
)
"""Defined terms of Dose Summation Type (3004,000A), DICOM PS3.3 C.8.8.3.1."""

_DOSE_TYPES = frozenset({"PHYSICAL", "EFFECTIVE", "ERROR"})  # PS3.3 C.8.8.3, Dose Type
_DOSE_UNITS = frozenset({"GY", "RELATIVE"})  # PS3.3 C.8.8.3, Dose Units
_DVH_TYPES = frozenset({"DIFFERENTIAL", "CUMULATIVE", "NATURAL"})  # PS3.3 C.8.8.4
_AXIS_TOLERANCE = 1e-4  # direction cosines within this of a patient axis count as aligned
_OFFSET_TOLERANCE_MM = 1e-3  # absolute GFOV: first offset equals IPP z within this


class StoredDVHWarning(RTWarning):
    """An item of the RT Dose's DVH Sequence could not be read and was left out."""


def _frozen(array: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.array(array, dtype=np.float64)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, slots=True, eq=False)
class DoseGridGeometry:
    """Where each dose voxel centre lies in patient coordinates (mm).

    Voxel ``[k, r, c]`` (frame, row, column) is centred at
    ``image_position_mm + c * column_spacing * row_direction + r * row_spacing *
    column_direction + frame_offsets_mm[k] * normal`` (DICOM C.7.6.2.1.1 and C.8.8.3.2).

    Parameters
    ----------
    image_position_mm
        Image Position (Patient) of the first voxel of the first frame.
    row_direction, column_direction
        The two direction cosines of Image Orientation (Patient): the direction of increasing
        column index, then of increasing row index.
    pixel_spacing_mm
        Pixel Spacing as DICOM orders it: (distance between rows, distance between columns).
    frame_offsets_mm
        Position of each frame along ``normal`` relative to the first frame's plane.
    shape
        (frames, rows, columns).
    """

    image_position_mm: NDArray[np.float64]
    row_direction: NDArray[np.float64]
    column_direction: NDArray[np.float64]
    pixel_spacing_mm: tuple[float, float]
    frame_offsets_mm: NDArray[np.float64]
    shape: tuple[int, int, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_position_mm", _frozen(self.image_position_mm))
        object.__setattr__(self, "row_direction", _frozen(self.row_direction))
        object.__setattr__(self, "column_direction", _frozen(self.column_direction))
        object.__setattr__(self, "frame_offsets_mm", _frozen(self.frame_offsets_mm))
        if self.image_position_mm.shape != (3,):
            raise InvalidInputError("needs 3 values", field="ImagePositionPatient")
        for name, vector in (("row", self.row_direction), ("column", self.column_direction)):
            if vector.shape != (3,) or abs(np.linalg.norm(vector) - 1.0) > 1e-3:
                raise InvalidInputError(
                    f"{name} direction is not a unit vector", field="ImageOrientationPatient"
                )
        if abs(float(self.row_direction @ self.column_direction)) > 1e-3:
            raise InvalidInputError(
                "row and column directions are not orthogonal", field="ImageOrientationPatient"
            )
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise InvalidInputError(f"bad grid shape {self.shape}", field="Rows/Columns")
        if min(self.pixel_spacing_mm) <= 0:
            raise InvalidInputError("pixel spacing must be positive", field="PixelSpacing")
        offsets = self.frame_offsets_mm
        if offsets.shape != (self.shape[0],):
            raise InvalidInputError(
                f"{offsets.size} offsets for {self.shape[0]} frames", field="GridFrameOffsetVector"
            )
        steps = np.diff(offsets)
        if steps.size and not (np.all(steps > 0) or np.all(steps < 0)):
            raise InvalidInputError(
                "offsets are not strictly monotonic", field="GridFrameOffsetVector"
            )

    @classmethod
    def axial(
        cls,
        origin_mm: tuple[float, float, float],
        spacing_mm: tuple[float, float, float],
        shape: tuple[int, int, int],
    ) -> DoseGridGeometry:
        """A head-first axial grid: first voxel centre ``origin_mm`` (x, y, z), spacings
        (dx, dy, dz) and shape (frames, rows, columns), rows along +y and columns along +x."""
        dx, dy, dz = spacing_mm
        return cls(
            image_position_mm=np.asarray(origin_mm, dtype=np.float64),
            row_direction=np.array([1.0, 0.0, 0.0]),
            column_direction=np.array([0.0, 1.0, 0.0]),
            pixel_spacing_mm=(float(dy), float(dx)),
            frame_offsets_mm=np.arange(shape[0], dtype=np.float64) * float(dz),
            shape=shape,
        )

    @property
    def normal(self) -> NDArray[np.float64]:
        """Unit normal of the frames, ``row_direction x column_direction``."""
        return np.cross(self.row_direction, self.column_direction)

    @property
    def column_spacing_mm(self) -> float:
        """Distance between adjacent columns (along ``row_direction``)."""
        return self.pixel_spacing_mm[1]

    @property
    def row_spacing_mm(self) -> float:
        """Distance between adjacent rows (along ``column_direction``)."""
        return self.pixel_spacing_mm[0]

    @property
    def is_axial(self) -> bool:
        """True when rows and columns run along patient x/y axes (frames are planes of z)."""
        normal = self.normal
        aligned = [
            np.max(np.abs(vector)) > 1.0 - _AXIS_TOLERANCE
            for vector in (self.row_direction, self.column_direction)
        ]
        return bool(all(aligned) and abs(abs(normal[2]) - 1.0) < _AXIS_TOLERANCE)

    def frame_z_mm(self) -> NDArray[np.float64]:
        """Patient z of each frame (axial grids only)."""
        self.require_axial()
        z: NDArray[np.float64] = self.image_position_mm[2] + self.frame_offsets_mm * self.normal[2]
        return z

    def require_axial(self) -> None:
        """Raise :class:`UnsupportedGeometryError` unless the grid is axial."""
        if not self.is_axial:
            raise UnsupportedGeometryError(
                "only axial dose grids (rows and columns along patient x/y) are supported",
                field="ImageOrientationPatient",
            )

    def to_index(self, points_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        """Continuous (column, row, frame) indices of patient points ``(n, 3)`` in mm.

        The frame index is interpolated linearly between frames (frame offsets may be
        non-uniform) and extrapolated with the end spacings outside the grid.
        """
        relative = np.asarray(points_mm, dtype=np.float64) - self.image_position_mm
        column = relative @ self.row_direction / self.column_spacing_mm
        row = relative @ self.column_direction / self.row_spacing_mm
        along = relative @ self.normal
        frame = _fractional_index(self.frame_offsets_mm, along)
        return np.stack([column, row, frame], axis=-1)


def _fractional_index(
    offsets: NDArray[np.float64], along: NDArray[np.float64]
) -> NDArray[np.float64]:
    if offsets.size == 1:
        # One frame: no spacing to scale by; any distance from the plane is "off by that much".
        return np.asarray(along - offsets[0], dtype=np.float64)
    order = np.argsort(offsets)
    sorted_offsets = offsets[order]
    indices = order.astype(np.float64)
    inside = np.interp(along, sorted_offsets, indices)
    first_step = (indices[1] - indices[0]) / (sorted_offsets[1] - sorted_offsets[0])
    last_step = (indices[-1] - indices[-2]) / (sorted_offsets[-1] - sorted_offsets[-2])
    below = indices[0] + (along - sorted_offsets[0]) * first_step
    above = indices[-1] + (along - sorted_offsets[-1]) * last_step
    result = np.where(along < sorted_offsets[0], below, inside)
    return np.asarray(np.where(along > sorted_offsets[-1], above, result), dtype=np.float64)


@dataclass(frozen=True, slots=True, eq=False)
class StoredDVH:
    """A DVH stored by the planning system in the RT Dose's DVH Sequence (DICOM C.8.8.4).

    ``bin_widths`` are in ``dose_units`` with DVH Dose Scaling applied; ``volumes`` are the DVH
    Data volumes in ``volume_units``. For a cumulative DVH, ``volumes[i]`` is the volume
    receiving at least the lower edge of bin ``i`` (the first value is the whole volume).
    """

    referenced_roi_numbers: tuple[int, ...]
    contribution_types: tuple[str, ...]
    dvh_type: str
    dose_units: str
    dose_type: str | None
    volume_units: str
    bin_widths: NDArray[np.float64]
    volumes: NDArray[np.float64]
    minimum_dose: float | None = None
    maximum_dose: float | None = None
    mean_dose: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "bin_widths", _frozen(self.bin_widths))
        volumes = np.asarray(self.volumes, dtype=np.float64)
        # Planning systems write round-off negatives (e.g. -2e-12 cm3 in the last bin of the
        # dicompyler-core example); read them as 0, refuse real negatives.
        noise = 1e-9 * float(np.max(np.abs(volumes), initial=0.0))
        volumes = np.where((volumes < 0) & (volumes >= -noise), 0.0, volumes)
        object.__setattr__(self, "volumes", _frozen(volumes))
        if self.dvh_type not in _DVH_TYPES:
            raise InvalidInputError(f"unknown DVH type {self.dvh_type!r}", field="DVHType")
        if self.bin_widths.shape != self.volumes.shape or self.bin_widths.ndim != 1:
            raise InvalidInputError("bin widths and volumes differ in number", field="DVHData")
        if np.any(self.bin_widths < 0) or np.any(self.volumes < 0):
            raise InvalidInputError("negative bin width or volume", field="DVHData")

    @property
    def bin_edges(self) -> NDArray[np.float64]:
        """Dose bin edges, ``(n + 1,)``, starting at 0."""
        return np.concatenate([[0.0], np.cumsum(self.bin_widths)])

    def differential(self) -> NDArray[np.float64]:
        """Volume in each dose bin (``volume_units``)."""
        if self.dvh_type == "CUMULATIVE":
            return np.clip(-np.diff(np.append(self.volumes, 0.0)), 0.0, None)
        return self.volumes.copy()

    def cumulative(self) -> NDArray[np.float64]:
        """Volume receiving at least each lower bin edge (``volume_units``)."""
        if self.dvh_type == "CUMULATIVE":
            return self.volumes.copy()
        return np.asarray(np.cumsum(self.volumes[::-1])[::-1], dtype=np.float64)

    @property
    def total_volume(self) -> float:
        """The ROI volume the DVH describes (``volume_units``)."""
        return float(self.differential().sum())

    def mean_from_data(self) -> float:
        """Mean dose from the histogram, bin centres weighted by bin volumes."""
        differential = self.differential()
        total = differential.sum()
        if total <= 0:
            raise InvalidInputError("the DVH holds no volume", field="DVHData")
        edges = self.bin_edges
        return float(((edges[1:] + edges[:-1]) / 2 * differential).sum() / total)


@dataclass(frozen=True, slots=True, eq=False)
class RTDose:
    """An RT Dose object: the dose grid and what the dose is.

    Parameters
    ----------
    source
        Where it came from (file name, or a description for computed grids).
    dose
        The dose values, ``(frames, rows, columns)``, in ``dose_units`` (Gy for ``GY``), with
        Dose Grid Scaling applied.
    geometry
        Voxel positions.
    dose_units
        ``GY`` or ``RELATIVE`` (Dose Units).
    dose_type
        ``PHYSICAL``, ``EFFECTIVE`` or ``ERROR`` (Dose Type).
    summation_type
        Dose Summation Type (``PLAN``, ``MULTI_PLAN``, ``FRACTION``, ``BEAM``, ...).
    frame_of_reference_uid
        The patient coordinate system the positions are in.
    """

    source: str
    dose: NDArray[np.float64]
    geometry: DoseGridGeometry
    dose_units: str
    dose_type: str
    summation_type: str
    frame_of_reference_uid: str
    sop_instance_uid: str | None = None
    referenced_plan_uid: str | None = None
    referenced_fraction_group_number: int | None = None
    referenced_beam_numbers: tuple[int, ...] = ()
    dvhs: tuple[StoredDVH, ...] = field(default=())
    dvh_normalization_point_mm: tuple[float, float, float] | None = None
    dvh_normalization_dose_value: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dose", _frozen(self.dose))
        source = self.source
        if self.dose.shape != self.geometry.shape:
            raise InvalidInputError(
                f"dose grid shape {self.dose.shape} differs from geometry {self.geometry.shape}",
                source=source,
                field="PixelData",
            )
        if not np.all(np.isfinite(self.dose)):
            raise InvalidInputError("non-finite dose values", source=source, field="PixelData")
        if self.dose.size and float(self.dose.min()) < 0:
            raise ImplausibleValueError("negative dose values", source=source, field="PixelData")
        if self.dose_units not in _DOSE_UNITS:
            raise InvalidInputError(
                f"unknown dose units {self.dose_units!r}", source=source, field="DoseUnits"
            )
        if self.dose_type not in _DOSE_TYPES:
            raise InvalidInputError(
                f"unknown dose type {self.dose_type!r}", source=source, field="DoseType"
            )
        if self.summation_type not in DOSE_SUMMATION_TYPES:
            raise InvalidInputError(
                f"unknown dose summation type {self.summation_type!r}",
                source=source,
                field="DoseSummationType",
            )
        if not self.frame_of_reference_uid:
            raise InvalidInputError("empty", source=source, field="FrameOfReferenceUID")

    @property
    def dose_gy(self) -> NDArray[np.float64]:
        """The dose grid in Gy; raises if the file holds relative dose."""
        if self.dose_units != "GY":
            raise InvalidInputError(
                f"dose is in {self.dose_units} units, not Gy", source=self.source, field="DoseUnits"
            )
        return self.dose

    @property
    def max_dose(self) -> float:
        """Largest voxel dose (``dose_units``)."""
        return float(self.dose.max())

    def stored_dvh(self, roi_number: int) -> StoredDVH | None:
        """The stored DVH of ROI ``roi_number`` (the first one naming it), if any."""
        for dvh in self.dvhs:
            if roi_number in dvh.referenced_roi_numbers:
                return dvh
        return None


def read_rt_dose(path: str | Path) -> RTDose:
    """Read an RT Dose file.

    Parameters
    ----------
    path
        The DICOM file.

    Returns
    -------
    RTDose
        Dose grid with Dose Grid Scaling applied, geometry, and the stored DVHs.

    Raises
    ------
    MissingAttributeError
        If Dose Grid Scaling, the geometry or the frame of reference are missing.
    InvalidInputError
        For any other invalid content (each error names the file, record and attribute).
    """
    return read_rt_object(path, RT_DOSE_STORAGE, "RT Dose", _build)


def _build(dataset: Dataset, source: str) -> RTDose:
    geometry = dose_grid_geometry(dataset, source)
    scaling = optional_float(dataset, "DoseGridScaling", source)
    if scaling is None:
        raise MissingAttributeError(
            "Dose Grid Scaling (3004,000E) is missing: the stored integers cannot be read as dose",
            source=source,
            field="DoseGridScaling",
        )
    if scaling <= 0:
        raise InvalidInputError("must be positive", source=source, field="DoseGridScaling")
    dose = _pixels(dataset, source, geometry.shape) * scaling
    plan_uid, fraction_group, beams = _referenced_plan(dataset, source)
    point = dataset.get("DVHNormalizationPoint")
    return RTDose(
        source=source,
        dose=dose,
        geometry=geometry,
        dose_units=(optional_text(dataset, "DoseUnits", source) or "").upper(),
        dose_type=(optional_text(dataset, "DoseType", source) or "").upper(),
        summation_type=(optional_text(dataset, "DoseSummationType", source) or "").upper(),
        frame_of_reference_uid=optional_text(dataset, "FrameOfReferenceUID", source) or "",
        sop_instance_uid=optional_text(dataset, "SOPInstanceUID", source),
        referenced_plan_uid=plan_uid,
        referenced_fraction_group_number=fraction_group,
        referenced_beam_numbers=beams,
        dvhs=tuple(_stored_dvhs(dataset, source)),
        dvh_normalization_point_mm=None if point is None else _point(dataset, source),
        dvh_normalization_dose_value=optional_float(dataset, "DVHNormalizationDoseValue", source),
    )


def _point(dataset: Dataset, source: str) -> tuple[float, float, float]:
    x, y, z = float_array(dataset, "DVHNormalizationPoint", source, length=3)
    return float(x), float(y), float(z)


def dose_grid_geometry(dataset: Dataset, source: str) -> DoseGridGeometry:
    """The checked grid geometry of an RT Dose dataset (no pixel data needed).

    Raises
    ------
    MissingAttributeError
        If a geometry attribute is absent (Grid Frame Offset Vector of a multi-frame grid).
    InvalidInputError
        If the geometry is not valid (number of offsets, spacing, orientation), naming the
        attribute (DICOM PS3.3 C.7.6.2, C.8.8.3.2).
    """
    position = float_array(dataset, "ImagePositionPatient", source, length=3)
    orientation = float_array(dataset, "ImageOrientationPatient", source, length=6)
    spacing = float_array(dataset, "PixelSpacing", source, length=2)
    rows = int(optional_float(dataset, "Rows", source) or 0)
    columns = int(optional_float(dataset, "Columns", source) or 0)
    frames = int(optional_float(dataset, "NumberOfFrames", source) or 1)
    if "GridFrameOffsetVector" in dataset:
        offsets = float_array(dataset, "GridFrameOffsetVector", source, length=frames)
    elif frames == 1:
        offsets = np.zeros(1)
    else:
        raise MissingAttributeError(
            f"{frames} frames but no Grid Frame Offset Vector",
            source=source,
            field="GridFrameOffsetVector",
        )
    if offsets[0] != 0.0:
        # Absolute form (C.8.8.3.2): offsets are patient z; only defined for the
        # orientation 1\0\0\0\1\0 and then the first offset equals Image Position z.
        if not np.allclose(orientation, [1, 0, 0, 0, 1, 0], atol=_AXIS_TOLERANCE):
            raise UnsupportedGeometryError(
                "first offset is not zero (absolute offsets) but the orientation is not "
                "1\\0\\0\\0\\1\\0",
                source=source,
                field="GridFrameOffsetVector",
            )
        if abs(offsets[0] - position[2]) > _OFFSET_TOLERANCE_MM:
            raise InvalidInputError(
                f"first offset {offsets[0]} is neither 0 (relative) nor the Image Position z "
                f"{position[2]} (absolute)",
                source=source,
                field="GridFrameOffsetVector",
            )
        offsets = offsets - offsets[0]
    return DoseGridGeometry(
        image_position_mm=position,
        row_direction=orientation[:3],
        column_direction=orientation[3:],
        pixel_spacing_mm=(float(spacing[0]), float(spacing[1])),
        frame_offsets_mm=offsets,
        shape=(frames, rows, columns),
    )


def _pixels(dataset: Dataset, source: str, shape: tuple[int, int, int]) -> NDArray[np.float64]:
    if "PixelData" not in dataset:
        raise MissingAttributeError("no dose grid", source=source, field="PixelData")
    try:
        pixels = np.asarray(dataset.pixel_array, dtype=np.float64)
    except Exception as error:  # pydicom's pixel handlers raise many types
        raise MalformedDicomError(
            f"unreadable dose grid ({error})", source=source, field="PixelData"
        ) from error
    if pixels.size != shape[0] * shape[1] * shape[2]:
        raise MalformedDicomError(
            f"{pixels.size} dose values for a {shape} grid", source=source, field="PixelData"
        )
    return pixels.reshape(shape)


def _referenced_plan(
    dataset: Dataset, source: str
) -> tuple[str | None, int | None, tuple[int, ...]]:
    sequence = dataset.get("ReferencedRTPlanSequence") or []
    if not sequence:
        return None, None, ()
    item = sequence[0]
    record = "ReferencedRTPlanSequence[0]"
    uid = optional_text(item, "ReferencedSOPInstanceUID", source, record)
    groups = item.get("ReferencedFractionGroupSequence") or []
    if not groups:
        return uid, None, ()
    group = groups[0]
    number = optional_float(group, "ReferencedFractionGroupNumber", source, record)
    beams = tuple(
        int(optional_float(beam, "ReferencedBeamNumber", source, record) or 0)
        for beam in group.get("ReferencedBeamSequence") or []
    )
    return uid, None if number is None else int(number), beams


def _stored_dvhs(dataset: Dataset, source: str) -> list[StoredDVH]:
    """The DVH Sequence; an unreadable item is left out with :class:`StoredDVHWarning`
    (the stored DVHs are the planning system's summary, not the dose itself)."""
    out: list[StoredDVH] = []
    for index, item in enumerate(dataset.get("DVHSequence") or []):
        record = f"DVHSequence[{index}]"
        try:
            out.append(_stored_dvh(item, source, record))
        except InvalidInputError as error:
            warnings.warn(
                f"{source}: {record}: {error.field or ''}: {error.reason}; stored DVH left out",
                StoredDVHWarning,
                stacklevel=5,
            )
    return out


def _stored_dvh(item: Dataset, source: str, record: str) -> StoredDVH:
    references = item.get("DVHReferencedROISequence") or []
    numbers = tuple(
        int(optional_float(ref, "ReferencedROINumber", source, record) or 0) for ref in references
    )
    contributions = tuple(
        (optional_text(ref, "DVHROIContributionType", source, record) or "INCLUDED").upper()
        for ref in references
    )
    data = float_array(item, "DVHData", source, record)
    if data.size % 2:
        raise MalformedDicomError(
            "odd number of values", source=source, record=record, field="DVHData"
        )
    scaling = optional_float(item, "DVHDoseScaling", source, record) or 1.0
    return StoredDVH(
        referenced_roi_numbers=numbers,
        contribution_types=contributions,
        dvh_type=(optional_text(item, "DVHType", source, record) or "").upper(),
        dose_units=(optional_text(item, "DoseUnits", source, record) or "").upper(),
        dose_type=optional_text(item, "DoseType", source, record),
        volume_units=(optional_text(item, "DVHVolumeUnits", source, record) or "").upper(),
        bin_widths=data[0::2] * scaling,
        volumes=data[1::2],
        minimum_dose=optional_float(item, "DVHMinimumDose", source, record),
        maximum_dose=optional_float(item, "DVHMaximumDose", source, record),
        mean_dose=optional_float(item, "DVHMeanDose", source, record),
    )
