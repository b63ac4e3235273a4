"""The normalised dose report: what doseline keeps of an X-Ray Radiation Dose SR.

Every quantity is in the canonical unit its name carries (``kap_gycm2`` in Gy.cm2,
``air_kerma_rp_gy`` in Gy, ``dlp_mgycm`` in mGy.cm ...). Identifiers (UIDs, patient ID) are kept
here as read; the registry replaces them by keyed pseudonyms before anything is stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "PLANE_TOTALS",
    "AccumulatedProjectionDose",
    "CTEvent",
    "CTSource",
    "DeviceIdentity",
    "DoseReport",
    "PatientCharacteristics",
    "ProjectionEvent",
    "ReportKindValues",
    "XRayFilter",
    "field_names",
]


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def field_names(cls: type) -> tuple[str, ...]:
    """The field names of a report dataclass, in order (computed once per class)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


class ReportKindValues(StrEnum):
    """Which root template a report follows."""

    PROJECTION = "projection"  # TID 10001 Projection X-Ray Radiation Dose
    CT = "ct"  # TID 10011 CT Radiation Dose


@dataclass(frozen=True, slots=True)
class PatientCharacteristics:
    """Patient data of the report header (Patient and Patient Study modules).

    ``age_at_exposure_days`` comes from Patient's Birth Date and the study date where both
    exist (``age_precision`` "day"), otherwise from Patient's Age (AS; "year", "month",
    "week" or "day" precision as coded).
    """

    patient_id: str | None
    issuer_of_patient_id: str | None
    sex: str | None
    birth_date: date | None
    age_at_exposure_days: int | None
    age_precision: str | None
    weight_kg: float | None
    height_cm: float | None

    @property
    def age_years(self) -> float | None:
        """Age at exposure in years of 365.25 days."""
        if self.age_at_exposure_days is None:
            return None
        return self.age_at_exposure_days / 365.25


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """The irradiating device: General Equipment module and Device Observer context."""

    manufacturer: str | None
    model_name: str | None
    serial_number: str | None
    device_observer_uid: str | None
    station_name: str | None


@dataclass(frozen=True, slots=True)
class XRayFilter:
    """One X-Ray Filters container (TID 10003b)."""

    material: str | None
    filter_type: str | None
    thickness_min_mm: float | None
    thickness_max_mm: float | None

    @property
    def thickness_mm(self) -> float | None:
        """Mean of minimum and maximum thickness (either one where only one is given)."""
        values = [v for v in (self.thickness_min_mm, self.thickness_max_mm) if v is not None]
        return sum(values) / len(values) if values else None


# The accumulated quantities of a plane that add up over planes (and over partial reports).
PLANE_TOTALS = (
    "kap_gycm2",
    "air_kerma_rp_gy",
    "fluoro_kap_gycm2",
    "fluoro_air_kerma_rp_gy",
    "fluoro_time_s",
    "acquisition_kap_gycm2",
    "acquisition_air_kerma_rp_gy",
    "acquisition_time_s",
    "acquisition_frames",
)


@dataclass(frozen=True, slots=True)
class AccumulatedProjectionDose:
    """Accumulated X-Ray Dose Data for one acquisition plane (TID 10002/10004/10007)."""

    plane: str
    kap_gycm2: float | None = None
    air_kerma_rp_gy: float | None = None
    fluoro_kap_gycm2: float | None = None
    fluoro_air_kerma_rp_gy: float | None = None
    fluoro_time_s: float | None = None
    acquisition_kap_gycm2: float | None = None
    acquisition_air_kerma_rp_gy: float | None = None
    acquisition_time_s: float | None = None
    acquisition_frames: float | None = None
    distance_source_to_rp_mm: float | None = None
    reference_point_definition: str | None = None
    kap_calibration_factor: float | None = None
    kap_calibration_uncertainty_percent: float | None = None


@dataclass(frozen=True, slots=True)
class ProjectionEvent:
    """One Irradiation Event X-Ray Data container (TID 10003)."""

    event_uid: str | None
    datetime_started: datetime | None
    event_type: str | None
    plane: str | None
    protocol: str | None = None
    target_region: str | None = None
    reference_point_definition: str | None = None
    kap_gycm2: float | None = None
    air_kerma_rp_gy: float | None = None
    kvp: float | None = None
    tube_current_ma: float | None = None
    average_tube_current_ma: float | None = None
    exposure_time_ms: float | None = None
    exposure_mas: float | None = None
    fluoro_mode: str | None = None
    pulse_rate_per_s: float | None = None
    pulse_width_ms: float | None = None
    number_of_pulses: float | None = None
    irradiation_duration_s: float | None = None
    focal_spot_mm: float | None = None
    hvl_mm: float | None = None
    filter_al_mm: float | None = None
    filter_cu_mm: float | None = None
    filters: tuple[XRayFilter, ...] = ()
    collimated_field_area_cm2: float | None = None
    collimated_field_height_mm: float | None = None
    collimated_field_width_mm: float | None = None
    ii_field_size_mm: float | None = None
    primary_angle_deg: float | None = None
    secondary_angle_deg: float | None = None
    primary_end_angle_deg: float | None = None
    secondary_end_angle_deg: float | None = None
    column_angulation_deg: float | None = None
    distance_source_to_isocenter_mm: float | None = None
    distance_source_to_detector_mm: float | None = None
    distance_source_to_rp_mm: float | None = None
    distance_source_to_table_plane_mm: float | None = None
    table_longitudinal_position_mm: float | None = None
    table_lateral_position_mm: float | None = None
    table_height_position_mm: float | None = None
    table_head_tilt_angle_deg: float | None = None
    table_horizontal_rotation_angle_deg: float | None = None
    table_cradle_tilt_angle_deg: float | None = None
    patient_equivalent_thickness_mm: float | None = None
    patient_table_relationship: str | None = None
    patient_orientation: str | None = None
    patient_orientation_modifier: str | None = None
    xray_grid: str | None = None
    anode_target_material: str | None = None


@dataclass(frozen=True, slots=True)
class CTSource:
    """One CT X-Ray Source Parameters container (TID 10013); two for dual-source scanners."""

    source_id: str | None
    kvp: float | None
    max_tube_current_ma: float | None
    tube_current_ma: float | None
    exposure_time_per_rotation_s: float | None


@dataclass(frozen=True, slots=True)
class CTEvent:
    """One CT Acquisition container (TID 10013)."""

    event_uid: str | None
    acquisition_type: str | None
    protocol: str | None = None
    target_region: str | None = None
    procedure_context: str | None = None
    exposure_time_s: float | None = None
    scanning_length_mm: float | None = None
    length_of_reconstructable_volume_mm: float | None = None
    exposed_range_mm: float | None = None
    top_z_location_of_scanning_length_mm: float | None = None
    bottom_z_location_of_scanning_length_mm: float | None = None
    single_collimation_mm: float | None = None
    total_collimation_mm: float | None = None
    pitch_factor: float | None = None
    number_of_sources: float | None = None
    ctdivol_mgy: float | None = None
    ctdi_phantom: str | None = None
    dlp_mgycm: float | None = None
    sources: tuple[CTSource, ...] = ()
    dose_check_dlp_alert_mgycm: float | None = None
    dose_check_ctdivol_alert_mgy: float | None = None
    dose_check_accumulated_dlp_forward_estimate_mgycm: float | None = None
    dose_check_accumulated_ctdivol_forward_estimate_mgy: float | None = None
    dose_check_dlp_notification_mgycm: float | None = None
    dose_check_ctdivol_notification_mgy: float | None = None
    dose_check_dlp_alert_configured: str | None = None
    dose_check_ctdivol_alert_configured: str | None = None
    dose_check_dlp_notification_configured: str | None = None
    dose_check_ctdivol_notification_configured: str | None = None

    @property
    def kvp(self) -> float | None:
        """Tube voltage of the first source (the only one for single-source scanners)."""
        return self.sources[0].kvp if self.sources else None


@dataclass(frozen=True)
class DoseReport:
    """An X-Ray Radiation Dose SR, normalised.

    Attributes
    ----------
    source
        The file the report was read from (or a description of the stream).
    accession_number
        The RIS accession number: an identifier, shown by ``rdsr show --identifiers`` only and
        never stored in the registry.
    kind
        Projection X-ray (TID 10001) or CT (TID 10011).
    modality_type
        "CT"; "RF" for fluoroscopy (a report with fluoroscopy totals or events), "MG" for
        mammography, "DX" for other projection radiography: the classification OpenREM uses
        for RDSRs, whose header Modality is always "SR".
    planes
        Accumulated dose per acquisition plane (projection reports).
    events, ct_events
        Irradiation events of projection and CT reports.
    ct_dlp_total_mgycm
        CT Dose Length Product Total (CT reports).
    warnings
        Deviations accepted while reading (each names the record and field).
    """

    source: str
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    accession_number: str | None
    kind: ReportKindValues
    template_id: str | None
    procedure_reported: str | None
    study_date: date | None
    content_datetime: datetime | None
    modality_type: str | None
    study_description: str | None
    patient: PatientCharacteristics
    device: DeviceIdentity
    planes: tuple[AccumulatedProjectionDose, ...] = ()
    events: tuple[ProjectionEvent, ...] = ()
    ct_events: tuple[CTEvent, ...] = ()
    ct_dlp_total_mgycm: float | None = None
    ct_number_of_events: float | None = None
    start_of_xray_irradiation: datetime | None = None
    end_of_xray_irradiation: datetime | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    # -- summaries --------------------------------------------------------------------------

    def _plane_sum(self, name: str) -> float | None:
        values = [getattr(p, name) for p in self.planes if getattr(p, name) is not None]
        return math.fsum(values) if values else None

    @property
    def kap_gycm2(self) -> float | None:
        """Dose-area product total over all planes."""
        return self._plane_sum("kap_gycm2")

    @property
    def air_kerma_rp_gy(self) -> float | None:
        """Reference-point air kerma total over all planes."""
        return self._plane_sum("air_kerma_rp_gy")

    @property
    def number_of_events(self) -> int:
        return len(self.events) + len(self.ct_events)

    def totals(self) -> dict[str, float | int | None]:
        """Overall totals, summed over planes (projection) or read from TID 10012 (CT)."""
        if self.kind is ReportKindValues.CT:
            return {
                "dlp_mgycm": self.ct_dlp_total_mgycm,
                "number_of_events": self.number_of_events,
            }
        out: dict[str, float | int | None] = {name: self._plane_sum(name) for name in PLANE_TOTALS}
        out["number_of_events"] = self.number_of_events
        out["number_of_planes"] = len(self.planes)
        return out

    def to_dict(self, *, identifiers: bool = False) -> dict[str, Any]:
        """A JSON-ready dict. Patient identifiers and birth date only if ``identifiers``."""
        patient = _as_dict(self.patient)
        if not identifiers:
            for name in ("patient_id", "issuer_of_patient_id", "birth_date"):
                patient.pop(name)
        study_identifiers = {"accession_number": self.accession_number} if identifiers else {}
        patient["age_years"] = self.patient.age_years
        return {
            "source": self.source,
            "sop_class_uid": self.sop_class_uid,
            "sop_instance_uid": self.sop_instance_uid,
            "study_instance_uid": self.study_instance_uid,
            **study_identifiers,
            "kind": self.kind.value,
            "template_id": self.template_id,
            "procedure_reported": self.procedure_reported,
            "modality_type": self.modality_type,
            "study_date": _json(self.study_date),
            "content_datetime": _json(self.content_datetime),
            "study_description": self.study_description,
            "patient": patient,
            "device": _as_dict(self.device),
            "totals": self.totals(),
            "planes": [_as_dict(plane) for plane in self.planes],
            "events": [_as_dict(event) for event in self.events]
            + [_as_dict(event) for event in self.ct_events],
            "warnings": list(self.warnings),
        }


def _json(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [
            _as_dict(item) if hasattr(item, "__dataclass_fields__") else _json(item)
            for item in value
        ]
    return value


def _as_dict(obj: object) -> dict[str, Any]:
    return {name: _json(getattr(obj, name)) for name in field_names(obj.__class__)}
