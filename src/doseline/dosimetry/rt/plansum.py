"""Plan sums: several RT Dose grids (plans, courses) resampled onto one grid and added.

Resampling is trilinear between voxel centres (``scipy.ndimage.map_coordinates`` with
``order=1``). A target point inside a component grid's voxels (within half a voxel of its outer
centres) takes the value interpolated between the nearest centres (constant in the outer half
voxel, the convention of the DVH code); a point outside the component grid gets no dose from
that component: the planning system computed none there, which for a plan sum means "not
known, taken as 0" and is reported as such by :attr:`PlanSum.coverage`.

Components must be in the target's frame of reference, or come with a :class:`Registration`
that maps target coordinates into the component's frame (DICOM Spatial Registration, PS3.3
C.20.2: a 4x4 homogeneous matrix applied to column vectors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from doseline.dicom.rt_common import FrameOfReferenceMismatchError
from doseline.dicom.rt_dose import DoseGridGeometry, RTDose
from doseline.errors import InvalidInputError

__all__ = [
    "PlanSum",
    "Registration",
    "find_registration",
    "grid_points_mm",
    "resample_dose",
    "sum_doses",
]


@dataclass(frozen=True, slots=True, eq=False)
class Registration:
    """A rigid or affine map from one frame of reference into another.

    ``matrix`` (4x4) maps a point given in ``from_frame_uid`` coordinates (mm, homogeneous
    column vector) to ``to_frame_uid`` coordinates: ``p_to = matrix @ p_from``.
    """

    matrix: NDArray[np.float64]
    from_frame_uid: str
    to_frame_uid: str

    def __post_init__(self) -> None:
        matrix = np.array(self.matrix, dtype=np.float64)
        if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
            raise InvalidInputError("needs a finite 4x4 matrix", field="matrix")
        if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0]):
            raise InvalidInputError("last row must be 0 0 0 1", field="matrix")
        if abs(np.linalg.det(matrix[:3, :3])) < 1e-9:
            raise InvalidInputError("singular matrix", field="matrix")
        matrix.flags.writeable = False
        object.__setattr__(self, "matrix", matrix)

    def apply(self, points_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        """Map ``(n, 3)`` points from ``from_frame_uid`` into ``to_frame_uid``."""
        mapped: NDArray[np.float64] = points_mm @ self.matrix[:3, :3].T + self.matrix[:3, 3]
        return mapped


@dataclass(frozen=True, slots=True, eq=False)
class PlanSum:
    """The summed dose and, per component, the fraction of target voxels it covered."""

    dose: RTDose
    coverage: tuple[float, ...]


def grid_points_mm(geometry: DoseGridGeometry) -> NDArray[np.float64]:
    """Patient coordinates of all voxel centres, ``(frames, rows, columns, 3)``."""
    _, rows, columns = geometry.shape
    k = geometry.frame_offsets_mm[:, None, None, None] * geometry.normal
    r = (np.arange(rows) * geometry.row_spacing_mm)[None, :, None, None]
    c = (np.arange(columns) * geometry.column_spacing_mm)[None, None, :, None]
    points: NDArray[np.float64] = (
        geometry.image_position_mm + k + r * geometry.column_direction + c * geometry.row_direction
    )
    return points


def find_registration(
    component: RTDose, frame_uid: str, registrations: Sequence[Registration]
) -> Registration | None:
    """The registration from ``frame_uid`` into the component's frame (``None`` if the same).

    Raises
    ------
    FrameOfReferenceMismatchError
        If the frames differ and no registration joins them.
    """
    if component.frame_of_reference_uid == frame_uid:
        return None
    for registration in registrations:
        if (registration.from_frame_uid, registration.to_frame_uid) == (
            frame_uid,
            component.frame_of_reference_uid,
        ):
            return registration
    raise FrameOfReferenceMismatchError(
        f"the dose is in frame of reference {component.frame_of_reference_uid}, the sum in "
        f"{frame_uid}, and no registration between them was given",
        source=component.source,
        field="FrameOfReferenceUID",
    )


def _same_grid(a: DoseGridGeometry, b: DoseGridGeometry, tolerance_mm: float = 1e-6) -> bool:
    """True when both grids have the same voxel centres (resampling is the identity)."""
    return (
        a.shape == b.shape
        and np.allclose(a.image_position_mm, b.image_position_mm, atol=tolerance_mm, rtol=0)
        and np.allclose(a.row_direction, b.row_direction, atol=1e-9, rtol=0)
        and np.allclose(a.column_direction, b.column_direction, atol=1e-9, rtol=0)
        and np.allclose(a.pixel_spacing_mm, b.pixel_spacing_mm, atol=tolerance_mm, rtol=0)
        and np.allclose(a.frame_offsets_mm, b.frame_offsets_mm, atol=tolerance_mm, rtol=0)
    )


def resample_dose(
    component: RTDose,
    target: DoseGridGeometry,
    registration: Registration | None = None,
) -> tuple[NDArray[np.float64], float]:
    """Trilinear resampling of ``component`` onto the voxel centres of ``target``.

    Returns
    -------
    tuple
        The resampled grid (``target.shape``, component dose units; 0 outside the component
        grid) and the fraction of target voxels inside the component grid.
    """
    if registration is None and _same_grid(component.geometry, target):
        return np.array(component.dose, dtype=np.float64), 1.0
    points = grid_points_mm(target).reshape(-1, 3)
    if registration is not None:
        points = registration.apply(points)
    index = component.geometry.to_index(points)  # (column, row, frame)
    frames, rows, columns = component.geometry.shape
    limits = np.array([columns, rows, frames], dtype=np.float64)
    inside = np.all((index >= -0.5) & (index <= limits - 0.5), axis=1)
    clipped = np.clip(index, 0.0, limits - 1.0)
    values = ndimage.map_coordinates(
        component.dose, clipped[:, ::-1].T, order=1, mode="nearest", prefilter=False
    )
    resampled = np.where(inside, values, 0.0).reshape(target.shape)
    return resampled, float(inside.mean())


def sum_doses(
    doses: Sequence[RTDose],
    grid: DoseGridGeometry | None = None,
    *,
    frame_of_reference_uid: str | None = None,
    registrations: Sequence[Registration] = (),
    weights: Sequence[float] | None = None,
) -> PlanSum:
    """Add dose grids of several plans or courses on a common grid.

    Parameters
    ----------
    doses
        The components, all in Gy.
    grid
        The common grid; by default the first component's.
    frame_of_reference_uid
        The common grid's frame; by default the first component's.
    registrations
        Maps from the common frame to each component frame that differs from it.
    weights
        Factor per component (e.g. to scale a FRACTION dose by the number of fractions);
        1 by default.

    Raises
    ------
    FrameOfReferenceMismatchError
        A component in another frame without a registration.
    InvalidInputError
        No components, relative dose, or wrong number of weights.
    """
    if not doses:
        raise InvalidInputError("no dose grids to sum", field="doses")
    factors = [1.0] * len(doses) if weights is None else [float(w) for w in weights]
    if len(factors) != len(doses) or not all(np.isfinite(factors)) or min(factors) < 0:
        raise InvalidInputError("one finite, non-negative weight per dose grid", field="weights")
    target = grid or doses[0].geometry
    frame = frame_of_reference_uid or doses[0].frame_of_reference_uid
    mappings = [find_registration(dose, frame, registrations) for dose in doses]  # check all first
    total = np.zeros(target.shape)
    coverage = []
    for dose, mapping, factor in zip(doses, mappings, factors, strict=True):
        _ = dose.dose_gy  # refuses relative dose
        resampled, covered = resample_dose(dose, target, mapping)
        total += factor * resampled
        coverage.append(covered)
    summed = RTDose(
        source="plan sum of " + ", ".join(dose.source for dose in doses),
        dose=total,
        geometry=target,
        dose_units="GY",
        dose_type="PHYSICAL" if all(d.dose_type == "PHYSICAL" for d in doses) else "EFFECTIVE",
        summation_type="MULTI_PLAN",
        frame_of_reference_uid=frame,
    )
    return PlanSum(dose=summed, coverage=tuple(coverage))
