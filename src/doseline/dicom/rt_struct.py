"""Reader of DICOM RT Structure Set objects: ROIs and their contours.

Closed planar contours are returned as ``(n, 3)`` arrays in patient coordinates (mm), grouped
by the axial plane they lie in. Every contour is checked on reading: at least three points,
finite coordinates, all points in one axial plane (within :data:`PLANAR_TOLERANCE_MM`);
self-crossing contours are accepted (their inside is defined by the even-odd rule) with a
:class:`~doseline.dicom.rt_common.SelfIntersectingContourWarning`; open contours and points are
kept apart and never enclose volume.

References
----------
DICOM PS3.3 (2024) C.8.8.5 Structure Set Module, C.8.8.6 ROI Contour Module (Contour Geometric
Type, Contour Data as x\\y\\z triplets in mm), C.8.8.8 RT ROI Observations Module.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from doseline.dicom.rt_common import (
    RT_STRUCTURE_SET_STORAGE,
    ContourGeometryError,
    OpenContourWarning,
    SelfIntersectingContourWarning,
    optional_float,
    optional_text,
    read_rt_object,
)
from doseline.errors import InvalidInputError, MalformedDicomError

__all__ = [
    "PLANAR_TOLERANCE_MM",
    "ROI",
    "ContourPlane",
    "RTStructureSet",
    "count_self_intersections",
    "read_rt_structure_set",
]

_CONTOUR_DATA = 0x30060050  # (3006,0050) Contour Data

PLANAR_TOLERANCE_MM = 0.01
"""Largest spread of z within one CLOSED_PLANAR contour, and between contours grouped into one
plane. Planning systems write z with at most 0.01 mm rounding noise (DS values of 16 characters);
a larger spread means a contour that is not axial."""


@dataclass(frozen=True, slots=True, eq=False)
class ContourPlane:
    """The closed contours of one ROI in one axial plane.

    ``contours`` are ``(n, 3)`` arrays (mm), without a repeated closing point. Several contours
    on a plane combine by the even-odd rule: a contour inside another is a hole.
    """

    z_mm: float
    contours: tuple[NDArray[np.float64], ...]


@dataclass(frozen=True, slots=True, eq=False)
class ROI:
    """A region of interest of a structure set.

    Parameters
    ----------
    number
        ROI Number, unique in the structure set.
    name
        ROI Name as written (mapping to a nomenclature such as TG-263 happens elsewhere).
    interpreted_type
        RT ROI Interpreted Type (``ORGAN``, ``PTV``, ``EXTERNAL``, ...), if given.
    frame_of_reference_uid
        The frame of reference of its contours.
    planes
        Closed planar contours grouped by plane, in increasing z.
    points_mm
        ``(m, 3)`` POINT contours (e.g. isocentre markers).
    open_contours
        OPEN_PLANAR / OPEN_NONPLANAR contours (lines; enclose no volume).
    """

    number: int
    name: str
    interpreted_type: str | None
    frame_of_reference_uid: str
    planes: tuple[ContourPlane, ...]
    points_mm: NDArray[np.float64]
    open_contours: tuple[NDArray[np.float64], ...] = ()

    @classmethod
    def from_polygons(
        cls,
        number: int,
        name: str,
        frame_of_reference_uid: str,
        polygons_xy_mm: dict[float, list[NDArray[np.float64]]],
        interpreted_type: str | None = None,
    ) -> ROI:
        """An ROI from ``{z_mm: [(n, 2) polygon, ...]}`` (e.g. synthetic or mask-derived)."""
        planes = []
        for z, polygons in sorted(polygons_xy_mm.items()):
            contours = []
            for index, polygon in enumerate(polygons):
                xy = np.asarray(polygon, dtype=np.float64)
                points = np.column_stack([xy, np.full(len(xy), float(z))])
                contours.append(_closed_polygon(points, "polygons", f"z {z}, polygon {index}"))
            planes.append(ContourPlane(z_mm=float(z), contours=tuple(contours)))
        return cls(
            number, name, interpreted_type, frame_of_reference_uid, tuple(planes), np.zeros((0, 3))
        )

    @property
    def is_empty(self) -> bool:
        """True when the ROI has no closed planar contour (it encloses no volume)."""
        return not self.planes

    @property
    def z_mm(self) -> NDArray[np.float64]:
        """z of each contour plane, increasing."""
        return np.array([plane.z_mm for plane in self.planes], dtype=np.float64)

    @property
    def contour_count(self) -> int:
        """Number of closed planar contours."""
        return sum(len(plane.contours) for plane in self.planes)

    def plane_spacing_mm(self) -> float:
        """Smallest distance between adjacent contour planes (0 for a single plane).

        This is the slice thickness dicompyler-core gives every plane
        (``DicomParser.CalculatePlaneThickness``, dicompyler-core 0.5.6).
        """
        z = self.z_mm
        return float(np.min(np.diff(z))) if z.size > 1 else 0.0


@dataclass(frozen=True, slots=True, eq=False)
class RTStructureSet:
    """An RT Structure Set: ROIs, their contours, and the images they were drawn on."""

    source: str
    frame_of_reference_uid: str
    rois: tuple[ROI, ...]
    sop_instance_uid: str | None = None
    label: str | None = None
    referenced_study_uid: str | None = None
    referenced_series_uids: tuple[str, ...] = ()
    referenced_sop_instance_uids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        numbers = [roi.number for roi in self.rois]
        if len(set(numbers)) != len(numbers):
            raise InvalidInputError("duplicate ROI numbers", source=self.source, field="ROINumber")
        if not self.frame_of_reference_uid:
            raise InvalidInputError(
                "no frame of reference",
                source=self.source,
                field="ReferencedFrameOfReferenceSequence",
            )

    @property
    def roi_names(self) -> tuple[str, ...]:
        """Names of the ROIs, in file order."""
        return tuple(roi.name for roi in self.rois)

    def roi(self, key: int | str) -> ROI:
        """The ROI with this number, or this name (exact first, then case-insensitive).

        Raises
        ------
        InvalidInputError
            If no ROI, or more than one by a case-insensitive name, matches.
        """
        if isinstance(key, int):
            matches = [roi for roi in self.rois if roi.number == key]
        else:
            matches = [roi for roi in self.rois if roi.name == key] or [
                roi for roi in self.rois if roi.name.casefold() == key.casefold()
            ]
        if len(matches) != 1:
            known = ", ".join(f"{roi.number} {roi.name!r}" for roi in self.rois)
            problem = "no ROI" if not matches else "several ROIs"
            raise InvalidInputError(
                f"{problem} {key!r} (ROIs: {known})", source=self.source, field="ROIName"
            )
        return matches[0]


def read_rt_structure_set(path: str | Path) -> RTStructureSet:
    """Read an RT Structure Set file.

    Parameters
    ----------
    path
        The DICOM file (files without the Part 10 preamble are accepted).

    Returns
    -------
    RTStructureSet

    Raises
    ------
    ContourGeometryError
        A closed contour with fewer than 3 points, non-finite or not in one axial plane.
    InvalidInputError
        Any other invalid content, naming file, ROI and attribute.

    Warns
    -----
    SelfIntersectingContourWarning
        Contours that cross themselves (even-odd rule applied).
    OpenContourWarning
        ROIs holding open contours.
    """
    return read_rt_object(path, RT_STRUCTURE_SET_STORAGE, "RT Structure Set", _build)


def _contours_by_roi(dataset: Dataset, source: str) -> dict[int, Dataset]:
    """ROI number -> its item of the ROI Contour Sequence (DICOM PS3.3 C.8.8.6)."""
    contours_by_roi = {}
    for index, item in enumerate(dataset.get("ROIContourSequence") or []):
        number = optional_float(item, "ReferencedROINumber", source, f"ROIContourSequence[{index}]")
        if number is None:
            raise MalformedDicomError(
                "missing",
                source=source,
                record=f"ROIContourSequence[{index}]",
                field="ReferencedROINumber",
            )
        contours_by_roi[int(number)] = item
    return contours_by_roi


def _interpreted_types(dataset: Dataset, source: str) -> dict[int, str | None]:
    """ROI number -> RT ROI Interpreted Type (DICOM PS3.3 C.8.8.8)."""
    types = {}
    for item in dataset.get("RTROIObservationsSequence") or []:
        number = optional_float(item, "ReferencedROINumber", source, "RTROIObservationsSequence")
        if number is not None:
            types[int(number)] = optional_text(item, "RTROIInterpretedType", source)
    return types


def _build(dataset: Dataset, source: str) -> RTStructureSet:
    frames = dataset.get("ReferencedFrameOfReferenceSequence") or []
    set_frame = optional_text(frames[0], "FrameOfReferenceUID", source) if frames else None
    study, series, images = _referenced_images(frames, source)
    contours_by_roi = _contours_by_roi(dataset, source)
    types = _interpreted_types(dataset, source)
    rois = []
    for index, item in enumerate(dataset.get("StructureSetROISequence") or []):
        record = f"StructureSetROISequence[{index}]"
        number_value = optional_float(item, "ROINumber", source, record)
        if number_value is None:
            raise MalformedDicomError("missing", source=source, record=record, field="ROINumber")
        number = int(number_value)
        name = optional_text(item, "ROIName", source, record) or f"ROI {number}"
        frame = optional_text(item, "ReferencedFrameOfReferenceUID", source, record) or set_frame
        rois.append(
            _roi(
                number=number,
                name=name,
                interpreted_type=types.get(number),
                frame=frame or "",
                item=contours_by_roi.pop(number, None),
                source=source,
            )
        )
    if contours_by_roi:
        raise InvalidInputError(
            f"contours for ROI numbers {sorted(contours_by_roi)} that the Structure Set ROI "
            "Sequence does not define",
            source=source,
            field="ReferencedROINumber",
        )
    return RTStructureSet(
        source=source,
        frame_of_reference_uid=set_frame or (rois[0].frame_of_reference_uid if rois else ""),
        rois=tuple(rois),
        sop_instance_uid=optional_text(dataset, "SOPInstanceUID", source),
        label=optional_text(dataset, "StructureSetLabel", source),
        referenced_study_uid=study,
        referenced_series_uids=series,
        referenced_sop_instance_uids=images,
    )


def _referenced_images(
    frames: list[Dataset], source: str
) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    study: str | None = None
    series: list[str] = []
    images: list[str] = []
    for frame in frames:
        for study_item in frame.get("RTReferencedStudySequence") or []:
            study = study or optional_text(study_item, "ReferencedSOPInstanceUID", source)
            for series_item in study_item.get("RTReferencedSeriesSequence") or []:
                uid = optional_text(series_item, "SeriesInstanceUID", source)
                if uid:
                    series.append(uid)
                for image in series_item.get("ContourImageSequence") or []:
                    sop = optional_text(image, "ReferencedSOPInstanceUID", source)
                    if sop:
                        images.append(sop)
    return study, tuple(series), tuple(images)


def _roi(
    *,
    number: int,
    name: str,
    interpreted_type: str | None,
    frame: str,
    item: Dataset | None,
    source: str,
) -> ROI:
    closed: list[NDArray[np.float64]] = []
    points: list[NDArray[np.float64]] = []
    open_contours: list[NDArray[np.float64]] = []
    crossing = 0
    for index, contour in enumerate((item.get("ContourSequence") or []) if item else []):
        record = f"ROI {number} {name!r}, contour {index}"
        kind = (optional_text(contour, "ContourGeometricType", source, record) or "").upper()
        data = _contour_points(contour, source, record)
        if kind == "POINT":
            points.append(data)
        elif kind in ("OPEN_PLANAR", "OPEN_NONPLANAR"):
            open_contours.append(data)
        elif kind == "CLOSED_PLANAR":
            data = _closed_polygon(data, source, record)
            crossing += count_self_intersections(data[:, 0].copy(), data[:, 1].copy()) > 0
            closed.append(data)
        else:
            raise InvalidInputError(
                f"unknown contour geometric type {kind!r}",
                source=source,
                record=record,
                field="ContourGeometricType",
            )
    if crossing:
        warnings.warn(
            f"{source}: ROI {number} {name!r}: {crossing} self-intersecting contour(s); their "
            "inside is taken by the even-odd rule",
            SelfIntersectingContourWarning,
            stacklevel=5,
        )
    if open_contours:
        warnings.warn(
            f"{source}: ROI {number} {name!r}: {len(open_contours)} open contour(s) ignored for "
            "volumes",
            OpenContourWarning,
            stacklevel=5,
        )
    return ROI(
        number=number,
        name=name,
        interpreted_type=interpreted_type,
        frame_of_reference_uid=frame,
        planes=_group_planes(closed),
        points_mm=np.concatenate(points) if points else np.zeros((0, 3)),
        open_contours=tuple(open_contours),
    )


def _contour_values(contour: Dataset) -> NDArray[np.float64]:
    """Contour Data as floats, parsed from the raw DS text when pydicom has not converted it.

    pydicom's per-value DS conversion dominates reading time of large structure sets; numpy
    parses the backslash-separated decimal strings (DICOM PS3.5 6.2, VR DS) directly.
    """
    element = contour.get_item(_CONTOUR_DATA)
    if element is None:
        return np.zeros(0)
    value = element.value
    if isinstance(value, bytes):
        text = value.decode("ascii").strip(" \x00")
        return np.array(text.split("\\") if text else [], dtype=np.float64)
    if value is None or value == "":
        return np.zeros(0)
    return np.asarray(value if isinstance(value, list | tuple) else list(value), dtype=np.float64)


def _contour_points(contour: Dataset, source: str, record: str) -> NDArray[np.float64]:
    try:
        data = _contour_values(contour)
    except (TypeError, ValueError) as error:
        raise MalformedDicomError(
            f"not numbers ({error})", source=source, record=record, field="ContourData"
        ) from error
    if data.size == 0 or data.size % 3:
        raise ContourGeometryError(
            f"{data.size} values is not a list of x\\y\\z triplets",
            source=source,
            record=record,
            field="ContourData",
        )
    if not np.all(np.isfinite(data)):
        raise ContourGeometryError(
            "non-finite coordinate", source=source, record=record, field="ContourData"
        )
    stated = optional_float(contour, "NumberOfContourPoints", source, record)
    if stated is not None and int(stated) != data.size // 3:
        raise MalformedDicomError(
            f"Number of Contour Points is {int(stated)} but Contour Data holds {data.size // 3}",
            source=source,
            record=record,
            field="NumberOfContourPoints",
        )
    return data.reshape(-1, 3)


def _closed_polygon(data: NDArray[np.float64], source: str, record: str) -> NDArray[np.float64]:
    if data.shape[0] > 1 and np.array_equal(data[0], data[-1]):
        data = data[:-1]
    if data.shape[0] < 3:
        raise ContourGeometryError(
            f"a closed contour needs at least 3 distinct points, found {data.shape[0]}",
            source=source,
            record=record,
            field="ContourData",
        )
    spread = float(np.ptp(data[:, 2]))
    if spread > PLANAR_TOLERANCE_MM:
        raise ContourGeometryError(
            f"CLOSED_PLANAR contour is not in one axial plane (z varies by {spread:.3g} mm); "
            "only axial contours are supported",
            source=source,
            record=record,
            field="ContourData",
        )
    data = data.copy()
    data[:, 2] = float(np.mean(data[:, 2]))
    data.flags.writeable = False
    return data


def _group_planes(contours: list[NDArray[np.float64]]) -> tuple[ContourPlane, ...]:
    if not contours:
        return ()
    order = sorted(range(len(contours)), key=lambda i: float(contours[i][0, 2]))
    groups: list[list[NDArray[np.float64]]] = [[contours[order[0]]]]
    for index in order[1:]:
        contour = contours[index]
        if contour[0, 2] - groups[-1][0][0, 2] <= PLANAR_TOLERANCE_MM:
            groups[-1].append(contour)
        else:
            groups.append([contour])
    return tuple(
        ContourPlane(z_mm=float(np.mean([c[0, 2] for c in group])), contours=tuple(group))
        for group in groups
    )


@numba.njit(cache=True)
def count_self_intersections(x: NDArray[np.float64], y: NDArray[np.float64]) -> int:
    """Number of pairs of non-adjacent edges of a closed polygon that properly cross.

    Edge ``i`` joins vertex ``i`` to ``i + 1`` (the last joins back to vertex 0). Two edges
    cross when each one's end points lie strictly on opposite sides of the other's line
    (orientation test, de Berg et al., *Computational Geometry*, 3rd ed., section 2.1);
    touching and collinear overlaps are not counted. O(n^2) with bounding-box rejection.
    """
    n = x.size
    count = 0
    for i in range(n):
        ax, ay = x[i], y[i]
        bx, by = x[(i + 1) % n], y[(i + 1) % n]
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue
            cx, cy = x[j], y[j]
            dx, dy = x[(j + 1) % n], y[(j + 1) % n]
            if max(ax, bx) < min(cx, dx) or max(cx, dx) < min(ax, bx):
                continue
            if max(ay, by) < min(cy, dy) or max(cy, dy) < min(ay, by):
                continue
            d1 = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
            d2 = (bx - ax) * (dy - ay) - (by - ay) * (dx - ax)
            d3 = (dx - cx) * (ay - cy) - (dy - cy) * (ax - cx)
            d4 = (dx - cx) * (by - cy) - (dy - cy) * (bx - cx)
            if d1 * d2 < 0 and d3 * d4 < 0:
                count += 1
    return count
