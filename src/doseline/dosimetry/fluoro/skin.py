"""Skin dose map and peak skin dose (PSD) of a fluoroscopy procedure from its RDSR.

Per irradiation event, the air kerma at the interventional reference point (IRP) is carried
along the ray from the focal spot to every skin cell the collimated field reaches, and turned
into skin dose with ``D = K_IRP * k_isq * k_bs * k_med * k_tab``
(:mod:`doseline.dosimetry.fluoro.skin_factors`); the map is the sum over events and the PSD
its maximum. Method as PySkinDose (Hellström et al.; pyskindose 25.1.1, MIT licence) and
Jones and Pasciak (J. Appl. Clin. Med. Phys. 12 (2011) 3670).

Geometry (room frame, mm, isocentre at the origin, axes as DICOM LPS of a head-first supine
patient; see :mod:`doseline.dosimetry.fluoro.skin_phantom` for the body and table frames):

* beam direction and field from the DICOM positioner angles with
  :func:`doseline.physics.source.c_arm_source` (PS3.3 C.8.7.5.1.2), the focal spot at the
  source-to-isocentre distance; the collimated field is given at the detector plane (TID
  10003 Collimated Field Width/Height, or the square of the Collimated Field Area);
* the table frame moves by ``offset + sign * (longitudinal, height, lateral)`` along
  ``(x, y, z)``: DICOM PS3.16 CID 10008 defines Table Longitudinal Position (113751) as
  positive towards the patient's left, Table Lateral Position (113752) as positive towards the
  head and Table Height Position (113753) as positive downwards, all from an arbitrary
  reference chosen by the equipment; that reference is the device's ``translation_offset_mm``
  (:data:`DEVICE_PROFILES`);
* the IRP lies on the central ray at the RDSR's Distance Source to Reference Point when given,
  else per the Reference Point Definition: 15 cm from the isocentre towards the source (IEC
  60601-2-43), or 30 cm in front of the image input surface;
* a cell receives the beam when its centre lies inside the field pyramid and it faces the
  source (``r . n < 0``), which is the first intersection of the ray with a convex surface
  such as the elliptic cylinder (not with concave surfaces, which are not offered);
* table rotation, tilt and cradle angles other than 0 and prone patients are not modelled:
  such events are skipped with the reason.

Events without air kerma, kVp or geometry are skipped and listed with the reason
(``SkinDoseResult.skipped``), or raise :class:`doseline.errors.InvalidInputError` with
``strict=True``. Work is vectorised over events x cells in blocks.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from doseline.dicom.report import DoseReport, ProjectionEvent, ReportKindValues
from doseline.dosimetry.fluoro.skin_factors import (
    BeamQuality,
    TableTransmission,
    backscatter_factor,
    backscatter_nodes,
    beam_quality,
    table_transmission,
)
from doseline.dosimetry.fluoro.skin_phantom import (
    DEFAULT_DEVICE,
    DEVICE_PROFILES,
    DeviceGeometry,
    PatientPlacement,
    SkinSurface,
    elliptic_cylinder,
)
from doseline.errors import InvalidInputError
from doseline.physics.source import c_arm_source

__all__ = [
    "DEFAULT_DEVICE",
    "DEVICE_PROFILES",
    "DeviceGeometry",
    "SkinDoseResult",
    "SkinDoseSettings",
    "SkippedEvent",
    "skin_dose",
    "skin_dose_from_file",
]

F64 = npt.NDArray[np.float64]

#: IEC 60601-2-43: the interventional reference point lies 15 cm from the isocentre towards
#: the focal spot.
IRP_FROM_ISOCENTRE_MM = 150.0
#: DICOM CID 10025 "30cm in Front of Image Input Surface" (113861).
RP_IN_FRONT_OF_DETECTOR_MM = 300.0
_CELL_BLOCK = 500_000  # event x cell pairs per block (about 100 MB of work arrays)


@dataclass(frozen=True)
class SkinDoseSettings:
    """Options of :func:`skin_dose`.

    Parameters
    ----------
    surface
        Skin surface; default :func:`elliptic_cylinder` (PySkinDose's cylinder, 10 mm cells).
    placement
        Body on the table and table size (PySkinDose defaults).
    device
        Device geometry; ``None`` looks the report's manufacturer and model up in
        :data:`DEVICE_PROFILES` and falls back to :data:`DEFAULT_DEVICE`.
    backscatter
        Apply ``k_bs``.
    medium
        ``"skin"``, ``"water"`` or ``"soft_tissue"`` for ``k_med``; ``None`` gives air kerma.
    table
        Table and pad transmission; ``None`` applies none.
    kvp_step
        kVp is rounded to this step to share spectra between events (1 kV changes the HVL by
        about 1 %, ``k_bs`` by under 0.3 %).
    strict
        Raise on the first event that cannot be computed instead of skipping it.
    """

    surface: SkinSurface | None = None
    placement: PatientPlacement = field(default_factory=PatientPlacement)
    device: DeviceGeometry | None = None
    backscatter: bool = True
    medium: str | None = "skin"
    table: TableTransmission | None = field(default_factory=TableTransmission)
    kvp_step: float = 1.0
    strict: bool = False


@dataclass(frozen=True)
class SkippedEvent:
    """An event left out of the map, and why."""

    index: int
    event_uid: str | None
    plane: str | None
    reason: str


@dataclass(frozen=True)
class _Events:
    """Computable events as arrays (one entry per event)."""

    index: npt.NDArray[np.intp]
    uid: tuple[str | None, ...]
    plane: tuple[str | None, ...]
    air_kerma_rp_gy: F64
    kvp: F64
    al_mm: F64
    cu_mm: F64
    primary_deg: F64
    secondary_deg: F64
    sod_mm: F64
    sid_mm: F64
    rp_mm: F64
    field_mm: F64  # (n, 2) width, height at the detector
    table_mm: F64  # (n, 3) longitudinal, height, lateral
    head_first: npt.NDArray[np.bool_]


_PlaneRP = dict[str | None, tuple[float | None, str | None]]


def _device_for(report: DoseReport) -> DeviceGeometry:
    key = (
        (report.device.manufacturer or "").strip().lower(),
        (report.device.model_name or "").strip().lower(),
    )
    return DEVICE_PROFILES.get(key, DEFAULT_DEVICE)


def _reference_distance_mm(e: ProjectionEvent, plane_rp: _PlaneRP) -> float:
    """Source-to-IRP distance of an event; raises ValueError with the reason."""
    if e.distance_source_to_rp_mm is not None:
        return e.distance_source_to_rp_mm
    plane_distance, plane_definition = plane_rp.get(e.plane, (None, None))
    if plane_distance is not None:
        return float(plane_distance)
    definition = (e.reference_point_definition or plane_definition or "").lower()
    if e.distance_source_to_isocenter_mm is None:
        raise ValueError("no Distance Source to Isocenter")
    if not definition or ("15" in definition and "isocent" in definition):
        return e.distance_source_to_isocenter_mm - IRP_FROM_ISOCENTRE_MM
    if "30" in definition and "image input" in definition and e.distance_source_to_detector_mm:
        return e.distance_source_to_detector_mm - RP_IN_FRONT_OF_DETECTOR_MM
    raise ValueError(f"reference point definition {definition!r} is not supported")


def _req(value: float | None) -> float:
    if value is None:  # callers check and name missing fields first
        raise ValueError("missing value")
    return float(value)


def _event_row(e: ProjectionEvent, plane_rp: _PlaneRP) -> tuple[float, ...]:
    """The numbers of one event; raises ValueError naming the missing field."""
    required = {
        "Dose (RP)": e.air_kerma_rp_gy,
        "KVP": e.kvp,
        "Positioner Primary Angle": e.primary_angle_deg,
        "Positioner Secondary Angle": e.secondary_angle_deg,
        "Distance Source to Isocenter": e.distance_source_to_isocenter_mm,
        "Distance Source to Detector": e.distance_source_to_detector_mm,
        "Table Longitudinal Position": e.table_longitudinal_position_mm,
        "Table Lateral Position": e.table_lateral_position_mm,
        "Table Height Position": e.table_height_position_mm,
    }
    missing = [name for name, value in required.items() if value is None]
    has_sides = bool(e.collimated_field_width_mm and e.collimated_field_height_mm)
    if not (has_sides or e.collimated_field_area_cm2):
        missing.append("Collimated Field Area (or Width and Height)")
    if missing:
        raise ValueError("missing " + ", ".join(missing))
    for name, angle in (
        ("Table Head Tilt Angle", e.table_head_tilt_angle_deg),
        ("Table Horizontal Rotation Angle", e.table_horizontal_rotation_angle_deg),
        ("Table Cradle Tilt Angle", e.table_cradle_tilt_angle_deg),
    ):
        if angle is not None and abs(angle) > 0.5:
            raise ValueError(f"{name} {angle:g} deg: table rotation is not modelled")
    if (e.patient_orientation_modifier or "supine").lower() != "supine":
        raise ValueError(f"patient orientation {e.patient_orientation_modifier!r} not modelled")
    if has_sides:
        width, height = _req(e.collimated_field_width_mm), _req(e.collimated_field_height_mm)
    else:
        width = height = math.sqrt(_req(e.collimated_field_area_cm2)) * 10.0
    relationship = (e.patient_table_relationship or "headfirst").lower().replace(" ", "")
    head_first = not relationship.startswith("feet")
    return (
        *(_req(e.air_kerma_rp_gy), _req(e.kvp), e.filter_al_mm or 0.0, e.filter_cu_mm or 0.0),
        *(_req(e.primary_angle_deg), _req(e.secondary_angle_deg)),
        *(_req(e.distance_source_to_isocenter_mm), _req(e.distance_source_to_detector_mm)),
        *(_reference_distance_mm(e, plane_rp), width, height),
        *(_req(e.table_longitudinal_position_mm), _req(e.table_height_position_mm)),
        *(_req(e.table_lateral_position_mm), float(head_first)),
    )


def _collect_events(report: DoseReport, strict: bool) -> tuple[_Events, list[SkippedEvent]]:
    """Split the report's events into computable arrays and skipped events with reasons."""
    plane_rp: _PlaneRP = {
        p.plane: (p.distance_source_to_rp_mm, p.reference_point_definition) for p in report.planes
    }
    rows: list[tuple[float, ...]] = []
    kept: list[int] = []
    skipped: list[SkippedEvent] = []
    for i, e in enumerate(report.events):
        try:
            row = _event_row(e, plane_rp)
            if not (row[0] >= 0 and 20.0 <= row[1] <= 150.0 and 0 < row[8] < row[6] < row[7]):
                raise ValueError(
                    f"implausible values: Dose (RP) {row[0]} Gy, KVP {row[1]}, distances "
                    f"source-IRP {row[8]} / source-isocentre {row[6]} / source-detector "
                    f"{row[7]} mm (need 20-150 kV and IRP < isocentre < detector)"
                )
        except ValueError as error:
            if strict:
                raise InvalidInputError(
                    str(error), source=report.source, record=f"irradiation event {i + 1}"
                ) from error
            skipped.append(SkippedEvent(i, e.event_uid, e.plane, str(error)))
            continue
        rows.append(row)
        kept.append(i)
    a = np.array(rows, dtype=np.float64).reshape(-1, 15)
    events = _Events(
        index=np.array(kept, dtype=np.intp),
        uid=tuple(report.events[i].event_uid for i in kept),
        plane=tuple(report.events[i].plane for i in kept),
        air_kerma_rp_gy=a[:, 0],
        kvp=a[:, 1],
        al_mm=a[:, 2],
        cu_mm=a[:, 3],
        primary_deg=a[:, 4],
        secondary_deg=a[:, 5],
        sod_mm=a[:, 6],
        sid_mm=a[:, 7],
        rp_mm=a[:, 8],
        field_mm=a[:, 9:11],
        table_mm=a[:, 11:14],
        head_first=a[:, 14] > 0,
    )
    return events, skipped


@dataclass(frozen=True)
class _Beams:
    """Per-event beam frames and correction inputs (room frame, mm)."""

    source: F64  # (n, 3) focal spot
    axes: F64  # (n, 3, 3) direction w, u, v
    limits: F64  # (n, 4) tan u0, u1, v0, v1
    translation: F64  # (n, 3) table frame -> room frame
    quality_index: npt.NDArray[np.intp]
    qualities: tuple[BeamQuality, ...]
    k_med: F64
    hvl_mm_al: F64
    bs_nodes: F64  # (n, 5)


def _beams(ev: _Events, device: DeviceGeometry, settings: SkinDoseSettings) -> _Beams:
    sources, axes, limits = [], [], []
    # Positioner angles are patient-relative (PS3.3 C.8.7.5.1.2): a feet-first patient lies
    # turned by 180 degrees about the vertical, which mirrors x and z in the room.
    turn = np.where(ev.head_first, 1.0, -1.0)
    for a, b, sod, sid, (w, h) in zip(
        ev.primary_deg * device.primary_angle_sign * turn,
        ev.secondary_deg * device.secondary_angle_sign * turn,
        ev.sod_mm,
        ev.sid_mm,
        ev.field_mm,
        strict=True,
    ):
        src = c_arm_source(
            (0.0, 0.0, 0.0),
            float(a),
            float(b),
            distance_source_to_isocentre_mm=float(sod),
            distance_source_to_detector_mm=float(sid),
            field_size_mm=(w, h),
        )
        sources.append(src.position_mm)
        axes.append((src.direction, src.u_axis, tuple(src.v_axis)))
        limits.append((*src.tan_u, *src.tan_v))
    kvp = np.round(ev.kvp / settings.kvp_step) * settings.kvp_step
    keys = list(zip(kvp, ev.al_mm + device.inherent_filtration_mm_al, ev.cu_mm, strict=True))
    unique = sorted(set(keys))
    qualities = [
        beam_quality(float(k), float(al), float(cu), device.anode_angle_deg, settings.medium)
        for k, al, cu in unique
    ]
    q_index = np.array([unique.index(k) for k in keys], dtype=np.intp)
    hvl = np.array([q.hvl_mm_al for q in qualities])[q_index]
    translation = np.asarray(device.translation_offset_mm) + ev.table_mm * np.asarray(
        device.translation_sign
    )
    return _Beams(
        source=np.array(sources).reshape(-1, 3),
        axes=np.array(axes).reshape(-1, 3, 3),
        limits=np.array(limits).reshape(-1, 4),
        translation=translation.reshape(-1, 3),
        quality_index=q_index,
        qualities=tuple(qualities),
        k_med=np.array([q.k_med for q in qualities])[q_index],
        hvl_mm_al=hvl,
        bs_nodes=backscatter_nodes(kvp, hvl),
    )


def _block_dose(
    ev: _Events,
    bm: _Beams,
    sel: slice,
    cells: dict[bool, tuple[F64, F64]],
    settings: SkinDoseSettings,
) -> dict[str, npt.NDArray[Any]]:
    """Dose and factors of events ``sel`` at all cells: arrays (events, cells)."""
    hf = ev.head_first[sel][:, None, None]
    pos = np.where(hf, cells[True][0], cells[False][0]) + bm.translation[sel][:, None, :]
    normal = np.where(hf, cells[True][1], cells[False][1])
    r = pos - bm.source[sel][:, None, :]
    w_, u_, v_ = (bm.axes[sel][:, k, :] for k in range(3))
    depth = np.einsum("enk,ek->en", r, w_)
    safe = np.where(depth > 0, depth, 1.0)
    tu = np.einsum("enk,ek->en", r, u_) / safe
    tv = np.einsum("enk,ek->en", r, v_) / safe
    lim = bm.limits[sel][:, :, None]
    hit = (
        (depth > 0)
        & (tu >= lim[:, 0])
        & (tu <= lim[:, 1])
        & (tv >= lim[:, 2])
        & (tv <= lim[:, 3])
        & (np.einsum("enk,enk->en", r, normal) < 0)
    )
    dist = np.linalg.norm(r, axis=2)
    k_isq = (ev.rp_mm[sel][:, None] / dist) ** 2
    ones = np.ones_like(dist)
    k_bs = ones
    if settings.backscatter:
        side_cm = np.sqrt((lim[:, 1] - lim[:, 0]) * (lim[:, 3] - lim[:, 2])) * depth / 10.0
        rows = np.broadcast_to(np.arange(depth.shape[0])[:, None], depth.shape)
        k_bs = backscatter_factor(bm.bs_nodes[sel], rows, side_cm)
    k_tab, crosses = ones.copy(), np.zeros(dist.shape, dtype=bool)
    if settings.table is not None:
        crosses, cos_theta = settings.placement.table_crossing(pos, r, bm.translation[sel])
        crosses &= hit
        q_sel = bm.quality_index[sel]
        for q in np.unique(q_sel):
            m = crosses & (q_sel == q)[:, None]
            if m.any():
                k_tab[m] = table_transmission(settings.table, bm.qualities[q], cos_theta[m])
    k_med = bm.k_med[sel][:, None]
    dose = np.where(hit, ev.air_kerma_rp_gy[sel][:, None] * k_isq * k_bs * k_med * k_tab, 0.0)
    return {
        "dose": dose,
        "hit": hit,
        "k_isq": k_isq,
        "k_bs": k_bs,
        "k_tab": k_tab,
        "crosses": crosses,
    }


# fmt: off
_EVENT_COLUMNS = (
    "event", "event_uid", "plane", "air_kerma_rp_gy", "kvp", "filter_al_mm", "filter_cu_mm",
    "hvl_mm_al", "k_med", "n_cells_hit", "k_isq_mean", "k_bs_mean", "table_fraction",
    "k_tab_mean", "max_dose_gy", "dose_at_psd_gy",
)
# fmt: on


@dataclass(frozen=True)
class SkinDoseResult:
    """Skin dose map of one procedure, its peak and how each event contributed.

    Attributes
    ----------
    dose_gy
        Dose per skin cell of ``surface`` (Gy); ``dose_map_gy()`` gives the unfolded map.
    psd_gy
        Peak skin dose: the largest cell dose; ``None`` when no event could be computed
        (0.0 when events were computed but none reached the surface).
    psd_cell
        Index of the PSD cell (``None`` as ``psd_gy`` or when the map is zero).
    events
        One row per computed event (columns in ``_EVENT_COLUMNS``): factors averaged over the
        cells it reached, its largest cell dose and its dose at the PSD cell.
    skipped
        Events left out, with the reason.
    """

    source: str
    surface: SkinSurface
    dose_gy: F64
    psd_gy: float | None
    psd_cell: int | None
    events: dict[str, list[Any]]
    skipped: tuple[SkippedEvent, ...]
    device: DeviceGeometry
    settings: SkinDoseSettings
    report_air_kerma_rp_gy: float

    def dose_map_gy(self) -> F64:
        """``(n_along, n_around)`` map, rows from the head, columns as ``around_mm``."""
        return self.dose_gy.reshape(self.surface.grid_shape)

    def factors(self) -> dict[str, str]:
        """The factors applied, in words."""
        s = self.settings
        return {
            "k_isq": "(d_IRP / source-to-cell distance)^2 along each ray",
            "k_bs": "Benmakhlouf et al. water backscatter factor (kVp, HVL, field side), "
            "cubic spline in field side"
            if s.backscatter
            else "not applied",
            "k_med": f"(mu_en/rho) {s.medium}/air over the SpekPy air-kerma spectrum"
            if s.medium
            else "not applied (air kerma)",
            "k_tab": s.table.describe() if s.table is not None else "not applied",
            "device": f"{self.device.name} ({self.device.source})",
        }

    def per_plane(self) -> list[dict[str, Any]]:
        """Events, air kerma and dose share at the PSD cell for each acquisition plane."""
        planes = sorted(
            {str(p) for p in self.events["plane"]} | {str(s.plane) for s in self.skipped}
        )
        rows = []
        for plane in planes:
            mine = [i for i, p in enumerate(self.events["plane"]) if str(p) == plane]
            rows.append(
                {
                    "plane": plane,
                    "events_computed": len(mine),
                    "events_skipped": sum(str(s.plane) == plane for s in self.skipped),
                    "air_kerma_rp_gy": math.fsum(self.events["air_kerma_rp_gy"][i] for i in mine),
                    "max_event_dose_gy": max(
                        (self.events["max_dose_gy"][i] for i in mine), default=0.0
                    ),
                    "dose_at_psd_gy": math.fsum(self.events["dose_at_psd_gy"][i] for i in mine),
                }
            )
        return rows

    def summary(self, *, include_events: bool = False) -> dict[str, Any]:
        """A JSON-able summary (doses in Gy)."""
        location = None
        if self.psd_cell is not None:
            n_around = self.surface.grid_shape[1]
            location = {
                "along_mm": float(self.surface.along_mm[self.psd_cell // n_around]),
                "around_mm": float(self.surface.around_mm[self.psd_cell % n_around]),
            }
        out: dict[str, Any] = {
            "source": self.source,
            "psd_gy": self.psd_gy,
            "psd_location": location,
            "phantom": self.surface.name,
            "cells": self.surface.n_cells,
            "events_total": len(self.events["event"]) + len(self.skipped),
            "events_computed": len(self.events["event"]),
            "air_kerma_rp_gy_report_events": self.report_air_kerma_rp_gy,
            "air_kerma_rp_gy_computed_events": math.fsum(self.events["air_kerma_rp_gy"]),
            "factors": self.factors(),
            "per_plane": self.per_plane(),
            "skipped": [vars(s) for s in self.skipped],
        }
        if include_events:
            out["events"] = [
                dict(zip(_EVENT_COLUMNS, row, strict=True))
                for row in zip(*(self.events[c] for c in _EVENT_COLUMNS), strict=True)
            ]
        return out

    def to_json(self, *, include_events: bool = False, indent: int | None = 2) -> str:
        """:meth:`summary` as JSON (NaN written as null)."""
        return json.dumps(_nan_to_none(self.summary(include_events=include_events)), indent=indent)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def _masked_mean(values: npt.NDArray[Any], mask: npt.NDArray[Any]) -> F64:
    count = mask.sum(axis=1)
    total = np.where(mask, values, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean: F64 = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return mean


def _accumulate(
    ev: _Events, bm: _Beams, cells: dict[bool, tuple[F64, F64]], s: SkinDoseSettings
) -> tuple[F64, int | None, dict[str, list[Any]]]:
    """Dose map, PSD cell and per-event statistics, in blocks of events."""
    n_ev, n_cells = ev.index.size, cells[True][0].shape[0]
    dose = np.zeros(n_cells)
    keys = ("n_cells_hit", "k_isq_mean", "k_bs_mean", "table_fraction", "k_tab_mean")
    st = {k: np.zeros(n_ev) for k in (*keys, "max_dose_gy", "dose_at_psd_gy")}
    step = max(1, _CELL_BLOCK // n_cells)
    for start in range(0, n_ev, step):
        sel = slice(start, min(n_ev, start + step))
        out = _block_dose(ev, bm, sel, cells, s)
        dose += out["dose"].sum(axis=0)
        hit, crosses = out["hit"], out["crosses"]
        st["n_cells_hit"][sel] = hit.sum(axis=1)
        st["k_isq_mean"][sel] = _masked_mean(out["k_isq"], hit)
        st["k_bs_mean"][sel] = _masked_mean(out["k_bs"], hit)
        st["table_fraction"][sel] = _masked_mean(crosses.astype(float), hit)
        st["k_tab_mean"][sel] = _masked_mean(out["k_tab"], crosses)
        st["max_dose_gy"][sel] = out["dose"].max(axis=1)
    psd_cell = int(np.argmax(dose)) if n_cells and dose.max() > 0 else None
    if psd_cell is not None:
        one = {hf: (c[psd_cell : psd_cell + 1], n[psd_cell : psd_cell + 1])
               for hf, (c, n) in cells.items()}  # fmt: skip
        st["dose_at_psd_gy"] = _block_dose(ev, bm, slice(0, n_ev), one, s)["dose"][:, 0]
    events: dict[str, list[Any]] = {
        "event": (ev.index + 1).tolist(), "event_uid": list(ev.uid), "plane": list(ev.plane),
        "air_kerma_rp_gy": ev.air_kerma_rp_gy.tolist(), "kvp": ev.kvp.tolist(),
        "filter_al_mm": ev.al_mm.tolist(), "filter_cu_mm": ev.cu_mm.tolist(),
        "hvl_mm_al": bm.hvl_mm_al.tolist(), "k_med": bm.k_med.tolist(),
    }  # fmt: skip
    events.update({k: v.tolist() for k, v in st.items()})
    events["n_cells_hit"] = [int(v) for v in events["n_cells_hit"]]
    return dose, psd_cell, events


def skin_dose(report: DoseReport, settings: SkinDoseSettings | None = None) -> SkinDoseResult:
    """Skin dose map and PSD of a projection X-ray dose report (see the module docstring).

    Raises
    ------
    InvalidInputError
        If the report is not a projection report or has no irradiation events, or (with
        ``settings.strict``) if an event lacks what the calculation needs.
    """
    s = settings or SkinDoseSettings()
    if report.kind != ReportKindValues.PROJECTION:
        raise InvalidInputError("skin dose needs a projection X-ray dose report (TID 10001)",
                                source=report.source, field="template")  # fmt: skip
    if not report.events:
        raise InvalidInputError("the report has no irradiation events", source=report.source,
                                record="Irradiation Event X-Ray Data")  # fmt: skip
    device = s.device or _device_for(report)
    surface = s.surface or elliptic_cylinder()
    s = replace(s, surface=surface, device=device)
    ev, skipped = _collect_events(report, s.strict)
    dose, psd_cell = np.zeros(surface.n_cells), None
    events: dict[str, list[Any]] = {c: [] for c in _EVENT_COLUMNS}
    if ev.index.size:
        cells = {hf: s.placement.place(surface, head_first=hf) for hf in (True, False)}
        dose, psd_cell, events = _accumulate(ev, _beams(ev, device, s), cells, s)
    all_k = [e.air_kerma_rp_gy for e in report.events if e.air_kerma_rp_gy is not None]
    return SkinDoseResult(
        source=report.source, surface=surface, dose_gy=dose,
        psd_gy=float(dose.max()) if ev.index.size else None, psd_cell=psd_cell, events=events,
        skipped=tuple(skipped), device=device, settings=s, report_air_kerma_rp_gy=math.fsum(all_k),
    )  # fmt: skip


def skin_dose_from_file(path: Path, settings: SkinDoseSettings | None = None) -> SkinDoseResult:
    """Read an RDSR with :func:`doseline.dicom.rdsr.read_rdsr` and compute its skin dose."""
    from doseline.dicom.rdsr import read_rdsr

    return skin_dose(read_rdsr(path), settings)
