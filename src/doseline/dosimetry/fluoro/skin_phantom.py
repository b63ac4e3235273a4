"""Geometry for skin dose: the patient surface, its place on the table, the device's frame.

Frames (all in mm, axes as DICOM patient coordinates of a head-first supine patient, LPS: +x
patient left, +y posterior = down, +z towards the head; :mod:`doseline.physics.source`):

* **body frame** of a :class:`SkinSurface`: the head end of the body at ``z = 0``, the feet at
  ``z = -length``, the midline at ``x = 0``, the lowest point of the back at ``y = 0``;
* **table frame**: the head end of the table top at ``z = 0`` (the table runs to
  ``z = -table_length``), centred laterally, the top surface of the table at ``y = 0`` (the
  table occupies ``0 <= y <= table_thickness``, the pad ``-pad_thickness <= y <= 0``);
* **room frame**: the isocentre at the origin; a point of the table frame moves by the table
  translation of the event (:mod:`doseline.dosimetry.fluoro.skin`).

The geometry is the one PySkinDose (Hellström et al., MIT licence; ``pyskindose`` 25.1.1,
``phantom_class.py`` and ``geom_calc.position_patient_phantom_on_table``) calls the
"cylinder" phantom, with its default dimensions (``settings_example.json``: semi-axes 20 cm
lateral and 10 cm antero-posterior, length 150 cm; table 281.5 x 45 x 5 cm; pad 4 cm), so
that a comparison with PySkinDose is like-for-like. PySkinDose samples the surface at points of
equal ellipse parameter ``t`` (step 0.1 rad) every 1 cm; :func:`pyskindose_sparse_cylinder`
rebuilds exactly that grid, while :func:`elliptic_cylinder` uses cells of equal arc length.
Skin cells are points (the dose at the cell centre); ``areas_mm2`` is the surface each one
stands for. :class:`DeviceGeometry` says how a device's table positions and angles map to the
room frame (:data:`DEVICE_PROFILES`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_DEVICE",
    "DEVICE_PROFILES",
    "DeviceGeometry",
    "PatientPlacement",
    "SkinSurface",
    "elliptic_cylinder",
    "pyskindose_sparse_cylinder",
]

F64 = npt.NDArray[np.float64]

#: PySkinDose ``settings_example.json`` (pyskindose 25.1.1), "phantom" -> "dimension":
#: cylinder_radii_a 20 cm, cylinder_radii_b 10 cm, cylinder_length 150 cm.
PYSKINDOSE_SEMI_AXIS_LATERAL_MM = 200.0
PYSKINDOSE_SEMI_AXIS_AP_MM = 100.0
PYSKINDOSE_LENGTH_MM = 1500.0


def _arc_length_table(a_mm: float, b_mm: float, n: int = 20001) -> tuple[F64, F64]:
    """Ellipse parameter ``t`` in [-pi/2, 3pi/2] and arc length from the anterior midline.

    ``x = a cos t``, ``y = b sin t`` (y down): ``t = -pi/2`` is the anterior midline and ``t``
    increases towards the patient's left. Arc length by the trapezoidal rule on ``n`` points
    (relative error below 1e-8 for the semi-axes used here).
    """
    t = np.linspace(-math.pi / 2, 3 * math.pi / 2, n)
    speed = np.hypot(a_mm * np.sin(t), b_mm * np.cos(t))
    s = np.concatenate(([0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * np.diff(t))))
    return t, s


@dataclass(frozen=True)
class SkinSurface:
    """Skin cells on a ruled surface: rings along the body, columns around it.

    Cell ``i`` is ring ``i // n_around`` and column ``i % n_around``; ``dose.reshape(
    n_along, n_around)`` is the unfolded map (rows from the head, columns in the order of
    ``around_mm``, which need not be sorted).

    Parameters
    ----------
    name
        Description, e.g. ``"elliptic cylinder 200 x 100 x 1500 mm"``.
    centres_mm
        ``(n, 3)`` cell centres in the body frame (see the module docstring).
    normals
        ``(n, 3)`` outward unit normals.
    areas_mm2
        ``(n,)`` skin area represented by each cell.
    along_mm
        ``(n_along,)`` distance of each ring from the head end of the body.
    around_mm
        ``(n_around,)`` arc length of each column from the anterior midline, positive towards
        the patient's left, in ``[-perimeter / 2, perimeter / 2)``.
    """

    name: str
    centres_mm: F64
    normals: F64
    areas_mm2: F64
    along_mm: F64
    around_mm: F64

    def __post_init__(self) -> None:
        n = self.along_mm.size * self.around_mm.size
        if self.centres_mm.shape != (n, 3) or self.normals.shape != (n, 3):
            raise ValueError("centres_mm and normals must be (n_along * n_around, 3)")
        if self.areas_mm2.shape != (n,) or np.any(self.areas_mm2 <= 0):
            raise ValueError("areas_mm2 must be (n,) and positive")
        if not np.allclose(np.linalg.norm(self.normals, axis=1), 1.0, atol=1e-9):
            raise ValueError("normals must be unit vectors")

    @property
    def n_cells(self) -> int:
        return int(self.areas_mm2.size)

    @property
    def grid_shape(self) -> tuple[int, int]:
        """``(n_along, n_around)``."""
        return (int(self.along_mm.size), int(self.around_mm.size))


def _cylinder(  # noqa: PLR0917
    name: str, a_mm: float, b_mm: float, t: F64, around_mm: F64, z_mm: F64, cell_mm2: F64
) -> SkinSurface:
    """Cells at ellipse parameters ``t`` (columns) and body-frame ``z_mm`` (rings)."""
    x = a_mm * np.cos(t)
    y = b_mm * np.sin(t) - b_mm  # lowest point of the back (t = pi/2) at y = 0
    normal = np.column_stack((np.cos(t) / a_mm, np.sin(t) / b_mm, np.zeros_like(t)))
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    n_along, n_around = z_mm.size, t.size
    centres = np.column_stack((np.tile(x, n_along), np.tile(y, n_along), np.repeat(z_mm, n_around)))
    return SkinSurface(
        name=name,
        centres_mm=centres,
        normals=np.tile(normal, (n_along, 1)),
        areas_mm2=np.tile(cell_mm2, n_along),
        along_mm=-z_mm,
        around_mm=around_mm,
    )


def elliptic_cylinder(
    semi_axis_lateral_mm: float = PYSKINDOSE_SEMI_AXIS_LATERAL_MM,
    semi_axis_ap_mm: float = PYSKINDOSE_SEMI_AXIS_AP_MM,
    length_mm: float = PYSKINDOSE_LENGTH_MM,
    cell_mm: float = 10.0,
) -> SkinSurface:
    """Elliptic cylinder with cells of equal arc length (about ``cell_mm`` square).

    Columns are centred at arc lengths ``-P/2 + (j + 1/2) P / n`` from the anterior midline
    (``P`` the perimeter, ``n = round(P / cell_mm)``); rings at ``(k + 1/2) length / m`` from
    the head end, ``m = round(length / cell_mm)``. Defaults: PySkinDose's cylinder.
    """
    a, b = float(semi_axis_lateral_mm), float(semi_axis_ap_mm)
    if not (a > 0 and b > 0 and length_mm > 0 and cell_mm > 0):
        raise ValueError("semi-axes, length and cell size must be positive")
    t_table, s_table = _arc_length_table(a, b)
    perimeter = float(s_table[-1])
    n_around = max(8, round(perimeter / cell_mm))
    n_along = max(1, round(length_mm / cell_mm))
    around = -perimeter / 2 + (np.arange(n_around) + 0.5) * perimeter / n_around
    t = np.interp(np.mod(around, perimeter), s_table, t_table)
    z = -(np.arange(n_along) + 0.5) * length_mm / n_along
    area = np.full(n_around, perimeter / n_around * length_mm / n_along)
    name = f"elliptic cylinder {a:g} x {b:g} x {length_mm:g} mm, cells {cell_mm:g} mm"
    return _cylinder(name, a, b, t, np.asarray(around, dtype=np.float64), z, area)


def pyskindose_sparse_cylinder(
    semi_axis_lateral_mm: float = PYSKINDOSE_SEMI_AXIS_LATERAL_MM,
    semi_axis_ap_mm: float = PYSKINDOSE_SEMI_AXIS_AP_MM,
    length_mm: float = PYSKINDOSE_LENGTH_MM,
) -> SkinSurface:
    """The point grid of PySkinDose's "cylinder" phantom at ``cylinder_resolution="sparse"``.

    As ``Phantom.__init__`` in pyskindose 25.1.1 ``phantom_class.py``: ``t = arange(0, 2 pi,
    0.1)``, ``x = a cos t``, ``y = b sin t - b``, rings at ``z = 0, -1, ..., -(L + 1)`` cm
    (``L + 2`` rings for a length of ``L`` cm). The normals are the exact ellipse normals
    (PySkinDose's formula equals them only in direction, and only for ``a = 2 b``).
    """
    a, b = float(semi_axis_lateral_mm), float(semi_axis_ap_mm)
    t = np.arange(0.0, 2 * math.pi, 0.1)
    t_table, s_table = _arc_length_table(a, b)
    perimeter = float(s_table[-1])
    s = np.interp(np.mod(t + math.pi / 2, 2 * math.pi) - math.pi / 2, t_table, s_table)
    around = np.where(s >= perimeter / 2, s - perimeter, s)
    n_rings = round(length_mm / 10.0) + 2
    z = -10.0 * np.arange(n_rings, dtype=np.float64)
    speed = np.hypot(a * np.sin(t), b * np.cos(t))
    area = speed * 0.1 * 10.0
    name = f"PySkinDose sparse cylinder {a:g} x {b:g} x {length_mm:g} mm"
    return _cylinder(name, a, b, t, np.asarray(around, dtype=np.float64), z, area)


@dataclass(frozen=True)
class PatientPlacement:
    """Where the body lies on the table, and the table's size (PySkinDose's conventions).

    As ``geom_calc.position_patient_phantom_on_table`` of pyskindose 25.1.1: a feet-first
    patient is turned 180 degrees about the vertical axis within its own length; the body is
    lifted by the pad thickness onto the pad; then the offsets are added. Defaults are
    PySkinDose's ``settings_example.json`` (table 2815 x 450 x 50 mm, pad 40 mm thick with the
    table's footprint, offsets 0).

    Parameters
    ----------
    offset_mm
        ``(lateral x, vertical y, longitudinal z)`` shift of the body in the table frame;
        PySkinDose's ``patient_offset`` ``(d_lon, d_ver, d_lat)`` in its own naming.
    """

    table_length_mm: float = 2815.0
    table_width_mm: float = 450.0
    table_thickness_mm: float = 50.0
    pad_thickness_mm: float = 40.0
    offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        sizes = (self.table_length_mm, self.table_width_mm, self.table_thickness_mm)
        if min(sizes) <= 0 or self.pad_thickness_mm < 0:
            raise ValueError("table dimensions must be positive and the pad thickness >= 0")

    def place(self, surface: SkinSurface, *, head_first: bool = True) -> tuple[F64, F64]:
        """Cell centres and normals of ``surface`` in the table frame."""
        centres = surface.centres_mm.copy()
        normals = surface.normals.copy()
        if not head_first:
            body_length = float(-centres[:, 2].min())
            centres[:, 0] = -centres[:, 0]
            centres[:, 2] = -centres[:, 2] - body_length
            normals[:, 0] = -normals[:, 0]
            normals[:, 2] = -normals[:, 2]
        centres[:, 1] -= self.pad_thickness_mm
        centres += np.asarray(self.offset_mm, dtype=np.float64)
        return centres, normals

    def table_crossing(
        self, cells_mm: F64, rays_mm: F64, translation_mm: F64
    ) -> tuple[npt.NDArray[np.bool_], F64]:
        """Rays that enter the table's bottom face from below within its footprint.

        As PySkinDose's ``geom_calc.check_table_hits`` (two triangles spanning the bottom
        face; no table correction when the focal spot is above it). ``cells_mm`` and
        ``rays_mm`` (focal spot to cell) are ``(events, cells, 3)`` in the room frame,
        ``translation_mm`` the ``(events, 3)`` table-frame origins. Returns the mask and
        ``|cos|`` of the angle between each ray and the vertical.
        """
        bottom_y = translation_mm[:, 1:2] + self.table_thickness_mm
        source = cells_mm - rays_mm
        below = source[:, :, 1] > bottom_y
        above = cells_mm[:, :, 1] < bottom_y
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = (bottom_y - source[:, :, 1]) / rays_mm[:, :, 1]
        hx = source[:, :, 0] + lam * rays_mm[:, :, 0] - translation_mm[:, 0:1]
        hz = source[:, :, 2] + lam * rays_mm[:, :, 2] - translation_mm[:, 2:3]
        inside = (np.abs(hx) <= self.table_width_mm / 2) & (hz <= 0) & (hz >= -self.table_length_mm)
        cos_theta: F64 = np.abs(rays_mm[:, :, 1]) / np.linalg.norm(rays_mm, axis=2)
        return below & above & inside, cos_theta


@dataclass(frozen=True)
class DeviceGeometry:
    """How a device's RDSR numbers map to the room frame, and its X-ray tube.

    Parameters
    ----------
    translation_offset_mm
        Room-frame position ``(x, y, z)`` of the table frame when the three table positions
        read 0 (the equipment's arbitrary reference, CID 10008).
    translation_sign
        Sign applied to (longitudinal, height, lateral) before adding them to x, y, z.
    primary_angle_sign, secondary_angle_sign
        Sign applied to the positioner angles before :func:`c_arm_source`.
    anode_angle_deg, inherent_filtration_mm_al
        Tube data for the SpekPy spectrum.
    source
        Where the numbers come from.
    """

    name: str
    translation_offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    translation_sign: tuple[float, float, float] = (1.0, 1.0, 1.0)
    primary_angle_sign: float = 1.0
    secondary_angle_sign: float = 1.0
    anode_angle_deg: float = 12.0
    inherent_filtration_mm_al: float = 3.1
    source: str = ""


#: Unknown devices: DICOM definitions as written, the equipment reference at the isocentre
#: (table positions taken as offsets from it, which is wrong by an unknown amount for any real
#: device: checked_against_source=no). Inherent filtration 3.1 mm Al is PySkinDose's example
#: setting (``settings_example.json``) and the anode angle 12 degrees the default of
#: ``doseline.physics.spectra.from_spekpy``; neither has a primary source.
DEFAULT_DEVICE = DeviceGeometry(
    name="unknown device (DICOM definitions, reference at isocentre)",
    source="defaults; checked_against_source=no",
)

#: Known devices, keyed by (manufacturer, model) in lower case. Offsets and signs from
#: pyskindose 25.1.1 ``normalization_settings.json`` (MIT licence; cm there, mm here), anode
#: angles from the names of its HVL tables (``hvl_axiom_filters_8deg.csv``,
#: ``hvl_allura_filters_11deg.csv``). PySkinDose applies the Siemens secondary angle with the
#: opposite sign to the DICOM definition (in its ``Beam`` a positive angle moves the focal spot
#: towards the head, so the detector towards the feet, which DICOM calls caudal); here the
#: DICOM definition is kept (sign +1) and ``secondary_angle_sign=-1`` reproduces PySkinDose.
#: PySkinDose's "-" for the Philips secondary angle is DICOM's sign in this frame.
DEVICE_PROFILES: dict[tuple[str, str], DeviceGeometry] = {
    ("siemens", "axiom-artis"): DeviceGeometry(
        name="Siemens AXIOM-Artis",
        anode_angle_deg=8.0,
        source="pyskindose 25.1.1 normalization_settings.json (Siemens AXIOM-Artis)",
    ),
    ("philips", "allura clarity"): DeviceGeometry(
        name="Philips Allura Clarity",
        translation_offset_mm=(-3.0, 1055.0, -1733.5),
        translation_sign=(1.0, -1.0, 1.0),
        anode_angle_deg=11.0,
        source="pyskindose 25.1.1 normalization_settings.json (Philips Allura Clarity)",
    ),
}
