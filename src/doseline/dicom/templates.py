"""What doseline reads from the X-Ray Radiation Dose SR templates (DICOM PS3.16).

- TID 10001 Projection X-Ray Radiation Dose, with TID 10002 Accumulated X-Ray Dose and
  TID 10003 Irradiation Event X-Ray Data (10003a-c: detector, source, mechanical data).
- TID 10011 CT Radiation Dose, with TID 10012 CT Accumulated Dose Data, TID 10013 CT Irradiation
  Event Data and TID 10014 Scanning Length.

Concept codes come from pydicom's copy of the PS3.16 code tables (``pydicom.sr.codedict``), so a
misspelt code cannot creep in. Each field says which unit it is converted to; the unit is part of
the field name. Private concepts are marked with the vendor document that defines them.
"""

from __future__ import annotations

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code as PydicomCode

from doseline.dicom.content import Code, code_key
from doseline.dicom.records import CodedField, NumericField, RecordType, TextField

__all__ = [
    "CT_ACCUMULATED",
    "CT_EVENT",
    "CT_SOURCE",
    "EVENT_CONCEPTS",
    "PHILIPS_SHUTTERS",
    "PROJECTION_ACCUMULATED",
    "PROJECTION_EVENT",
    "PROJECTION_FILTER",
    "ROOT",
    "key",
]

DCM = codes.DCM
SCT = codes.SCT


def key(code: PydicomCode) -> str:
    """The doseline match key (:func:`doseline.dicom.content.code_key`) of a pydicom code."""
    return code_key(Code(code.value, code.scheme_designator, code.meaning))


def _keys(*items: PydicomCode) -> tuple[str, ...]:
    return tuple(key(item) for item in items)


# Philips Allura Xper private codes (coding scheme 99PHI-IXR-XPER), as listed in the Philips
# Allura Xper DICOM Conformance Statement and seen in the OpenREM and PySkinDose examples.
_PHILIPS = "99PHI-IXR-XPER"
PHILIPS_WEDGES_AND_SHUTTERS = f"{_PHILIPS}:005"
PHILIPS_NUMBER_OF_FRAMES = f"{_PHILIPS}:003"

IRRADIATION_EVENT_XRAY = key(DCM.IrradiationEventXRayData)
CT_ACQUISITION = key(DCM.CTAcquisition)
EVENT_CONCEPTS = (IRRADIATION_EVENT_XRAY, CT_ACQUISITION)

PROCEDURE_KINDS = {
    key(DCM.ProjectionXRay): "projection",
    key(SCT.ComputedTomography): "ct",
    key(SCT.Mammography): "mammography",
}

ACQUISITION_PLANES = {
    key(DCM.PlaneA): "A",
    key(DCM.PlaneB): "B",
    key(DCM.SinglePlane): "single",
}

EVENT_TYPES = {
    key(SCT.Fluoroscopy): "fluoroscopy",
    key(DCM.StationaryAcquisition): "stationary_acquisition",
    key(DCM.SteppingAcquisition): "stepping_acquisition",
    key(DCM.RotationalAcquisition): "rotational_acquisition",
}

# CID 10013 CT Acquisition Type. Its "Stationary Acquisition" is DCM 113806, a different code
# from the projection-X-ray "Stationary Acquisition" of CID 10002 (DCM 113611); pydicom's
# keyword table holds only the latter, so the CT code is written out.
CT_ACQUISITION_TYPES = {
    key(DCM.SequencedAcquisition): "sequenced_acquisition",
    key(SCT.SpiralAcquisition): "spiral_acquisition",
    key(DCM.ConstantAngleAcquisition): "constant_angle_acquisition",
    "DCM:113806": "stationary_acquisition",
    key(DCM.FreeAcquisition): "free_acquisition",
}

# CID 4052 Phantom Devices: the IEC head phantom is the 16 cm, the body phantom the 32 cm
# diameter PMMA cylinder (IEC 60601-2-44).
CTDI_PHANTOMS = {
    key(DCM.IECHeadDosimetryPhantom): "head16",
    key(DCM.IECBodyDosimetryPhantom): "body32",
}

FLUORO_MODES = {key(DCM.Continuous): "continuous", key(DCM.Pulsed): "pulsed"}

# Filter materials by code (CID 10006). Reports use the element codes (SCT 66925006 copper) or
# the "X or X compound" codes (SNOMED-RT C-127F9 copper, C-120F9 = SCT 105830007 aluminium);
# pydicom's SRT->SCT table lacks C-127F9, hence its SRT key.
FILTER_MATERIALS = {
    key(SCT.Copper): "Cu",
    key(SCT.Aluminum): "Al",
    "SRT:C-127F9": "Cu",
    "SCT:105830007": "Al",
    key(SCT.Molybdenum): "Mo",
    key(SCT.Rhodium): "Rh",
    key(SCT.Silver): "Ag",
    key(SCT.Tin): "Sn",
    key(SCT.Tantalum): "Ta",
    key(SCT.Lead): "Pb",
}

_SYMBOLS_BY_NAME = {
    "copper": "Cu",
    "alumin": "Al",
    "molybden": "Mo",
    "rhodium": "Rh",
    "silver": "Ag",
    "tin": "Sn",
    "tantal": "Ta",
    "lead": "Pb",
}


def filter_material_symbol(material: str | None) -> str | None:
    """Chemical symbol of a filter material given by symbol or by a code meaning such as
    "Copper or Copper compound" (for codes missing from :data:`FILTER_MATERIALS`)."""
    if material is None or material in FILTER_MATERIALS.values():
        return material
    lowered = material.lower()
    for name, symbol in _SYMBOLS_BY_NAME.items():
        if lowered.startswith(name):
            return symbol
    return material


_EVENT = (IRRADIATION_EVENT_XRAY,)


def _num(name: str, concept: PydicomCode | str, unit: str, *containers: str) -> NumericField:
    concept_key = concept if isinstance(concept, str) else key(concept)
    return NumericField(name, (concept_key,), unit, tuple(containers))


ROOT = RecordType(
    "document",
    (key(DCM.XRayRadiationDoseReport),),
    (
        CodedField("procedure_reported", _keys(DCM.ProcedureReported), PROCEDURE_KINDS),
        CodedField("has_intent", _keys(SCT.HasIntent)),
        TextField("device_observer_uid", _keys(DCM.DeviceObserverUID)),
        TextField("device_observer_name", _keys(DCM.DeviceObserverName)),
        TextField("device_observer_manufacturer", _keys(DCM.DeviceObserverManufacturer)),
        TextField("device_observer_model_name", _keys(DCM.DeviceObserverModelName)),
        TextField("device_observer_serial_number", _keys(DCM.DeviceObserverSerialNumber)),
        TextField("start_of_xray_irradiation", _keys(DCM.StartOfXRayIrradiation)),
        TextField("end_of_xray_irradiation", _keys(DCM.EndOfXRayIrradiation)),
        CodedField("scope_of_accumulation", _keys(DCM.ScopeOfAccumulation)),
        TextField("scope_study_instance_uid", _keys(DCM.StudyInstanceUID)),
        CodedField("source_of_dose_information", _keys(DCM.SourceOfDoseInformation)),
        TextField("comment", _keys(DCM.Comment)),
    ),
)

PROJECTION_ACCUMULATED = RecordType(
    "accumulated X-ray dose",
    (key(DCM.AccumulatedXRayDoseData),),
    (
        CodedField("plane", _keys(DCM.AcquisitionPlane), ACQUISITION_PLANES),
        _num("kap_gycm2", DCM.DoseAreaProductTotal, "Gy.cm2"),
        _num("air_kerma_rp_gy", DCM.DoseRPTotal, "Gy"),
        _num("fluoro_kap_gycm2", DCM.FluoroDoseAreaProductTotal, "Gy.cm2"),
        _num("fluoro_air_kerma_rp_gy", DCM.FluoroDoseRPTotal, "Gy"),
        _num("fluoro_time_s", DCM.TotalFluoroTime, "s"),
        _num("acquisition_kap_gycm2", DCM.AcquisitionDoseAreaProductTotal, "Gy.cm2"),
        _num("acquisition_air_kerma_rp_gy", DCM.AcquisitionDoseRPTotal, "Gy"),
        _num("acquisition_time_s", DCM.TotalAcquisitionTime, "s"),
        _num("acquisition_frames", DCM.TotalNumberOfRadiographicFrames, "1"),
        _num("distance_source_to_rp_mm", DCM.DistanceSourceToReferencePoint, "mm"),
        CodedField("reference_point_definition", _keys(DCM.ReferencePointDefinition), text=True),
        _num("kap_calibration_factor", DCM.CalibrationFactor, "1", key(DCM.Calibration)),
        _num(
            "kap_calibration_uncertainty_percent",
            DCM.CalibrationUncertainty,
            "%",
            key(DCM.Calibration),
        ),
    ),
)

PROJECTION_EVENT = RecordType(
    "irradiation event",
    _EVENT,
    (
        TextField("event_uid", _keys(DCM.IrradiationEventUID)),
        TextField("datetime_started", _keys(DCM.DatetimeStarted)),
        CodedField("event_type", _keys(DCM.IrradiationEventType), EVENT_TYPES),
        CodedField("plane", _keys(DCM.AcquisitionPlane), ACQUISITION_PLANES),
        TextField("protocol", _keys(DCM.AcquisitionProtocol)),
        CodedField("target_region", _keys(DCM.TargetRegion)),
        CodedField("reference_point_definition", _keys(DCM.ReferencePointDefinition), text=True),
        _num("kap_gycm2", DCM.DoseAreaProduct, "Gy.cm2"),
        _num("air_kerma_rp_gy", DCM.DoseRP, "Gy"),
        _num("kvp", DCM.KVP, "kV"),
        _num("tube_current_ma", DCM.XRayTubeCurrent, "mA"),
        _num("average_tube_current_ma", DCM.AverageXRayTubeCurrent, "mA"),
        # 113824 in current TID 10003B; 113735, its retired predecessor, in Siemens reports.
        NumericField("exposure_time_ms", _keys(DCM.ExposureTime, DCM.ExposureTime_Retired), "ms"),
        _num("exposure_mas", DCM.Exposure, "mA.s"),
        CodedField("fluoro_mode", _keys(DCM.FluoroMode), FLUORO_MODES),
        _num("pulse_rate_per_s", DCM.PulseRate, "/s"),
        _num("pulse_width_ms", DCM.PulseWidth, "ms"),
        NumericField("number_of_pulses", (key(DCM.NumberOfPulses),), "1"),
        _num("philips_number_of_frames", PHILIPS_NUMBER_OF_FRAMES, "1"),
        _num("irradiation_duration_s", DCM.IrradiationDuration, "s"),
        _num("focal_spot_mm", DCM.FocalSpotSize, "mm"),
        _num("hvl_mm", DCM.HalfValueLayer, "mm"),
        _num("collimated_field_area_cm2", DCM.CollimatedFieldArea, "cm2"),
        _num("collimated_field_height_mm", DCM.CollimatedFieldHeight, "mm"),
        _num("collimated_field_width_mm", DCM.CollimatedFieldWidth, "mm"),
        _num("primary_angle_deg", DCM.PositionerPrimaryAngle, "deg"),
        _num("secondary_angle_deg", DCM.PositionerSecondaryAngle, "deg"),
        _num("primary_end_angle_deg", DCM.PositionerPrimaryEndAngle, "deg"),
        _num("secondary_end_angle_deg", DCM.PositionerSecondaryEndAngle, "deg"),
        _num("column_angulation_deg", DCM.ColumnAngulation, "deg"),
        _num("distance_source_to_isocenter_mm", DCM.DistanceSourceToIsocenter, "mm"),
        _num("distance_source_to_detector_mm", DCM.DistanceSourceToDetector, "mm"),
        _num("distance_source_to_rp_mm", DCM.DistanceSourceToReferencePoint, "mm"),
        _num("distance_source_to_table_plane_mm", DCM.DistanceSourceToTablePlane, "mm"),
        _num("table_longitudinal_position_mm", DCM.TableLongitudinalPosition, "mm"),
        _num("table_lateral_position_mm", DCM.TableLateralPosition, "mm"),
        _num("table_height_position_mm", DCM.TableHeightPosition, "mm"),
        _num("table_head_tilt_angle_deg", DCM.TableHeadTiltAngle, "deg"),
        _num("table_horizontal_rotation_angle_deg", DCM.TableHorizontalRotationAngle, "deg"),
        _num("table_cradle_tilt_angle_deg", DCM.TableCradleTiltAngle, "deg"),
        _num("patient_equivalent_thickness_mm", DCM.PatientEquivalentThickness, "mm"),
        CodedField("patient_table_relationship", _keys(DCM.PatientTableRelationship)),
        CodedField("patient_orientation", _keys(DCM.PatientOrientation)),
        CodedField("patient_orientation_modifier", _keys(DCM.PatientOrientationModifier)),
        CodedField("xray_grid", _keys(DCM.XRayGrid)),
        CodedField("anode_target_material", _keys(DCM.AnodeTargetMaterial)),
        TextField("comment", _keys(DCM.Comment)),
    ),
)

PROJECTION_FILTER = RecordType(
    "X-ray filter",
    (key(DCM.XRayFilters),),
    (
        CodedField("filter_type", _keys(DCM.XRayFilterType)),
        CodedField("material", _keys(DCM.XRayFilterMaterial), FILTER_MATERIALS),
        _num("thickness_min_mm", DCM.XRayFilterThicknessMinimum, "mm"),
        _num("thickness_max_mm", DCM.XRayFilterThicknessMaximum, "mm"),
    ),
)

# Philips "Wedges and Shutters": "actual shutter distance from centerpoint of collimator
# specified in the plane at 1 meter; unit mm; end of run value is used" (Philips Allura Xper
# DICOM Conformance Statement 8.2, as quoted in OpenREM rdsr_methods.py).
PHILIPS_SHUTTERS = RecordType(
    "Philips wedges and shutters",
    (PHILIPS_WEDGES_AND_SHUTTERS,),
    (
        _num("bottom_mm", f"{_PHILIPS}:006", "mm"),
        _num("left_mm", f"{_PHILIPS}:007", "mm"),
        _num("right_mm", f"{_PHILIPS}:008", "mm"),
        _num("top_mm", f"{_PHILIPS}:009", "mm"),
    ),
)

_CT_PARAMETERS = key(DCM.CTAcquisitionParameters)
_CT_DOSE = key(DCM.CTDose)
_DOSE_CHECK_ALERT = key(DCM.DoseCheckAlertDetails)
_DOSE_CHECK_NOTIFICATION = key(DCM.DoseCheckNotificationDetails)

CT_ACCUMULATED = RecordType(
    "CT accumulated dose",
    (key(DCM.CTAccumulatedDoseData),),
    (
        _num("number_of_events", DCM.TotalNumberOfIrradiationEvents, "1"),
        _num("dlp_mgycm", DCM.CTDoseLengthProductTotal, "mGy.cm"),
    ),
)

CT_EVENT = RecordType(
    "CT acquisition",
    (CT_ACQUISITION,),
    (
        TextField("event_uid", _keys(DCM.IrradiationEventUID)),
        TextField("protocol", _keys(DCM.AcquisitionProtocol)),
        CodedField("acquisition_type", _keys(DCM.CTAcquisitionType), CT_ACQUISITION_TYPES),
        CodedField("target_region", _keys(DCM.TargetRegion)),
        CodedField("procedure_context", _keys(SCT.ProcedureContext)),
        _num("exposure_time_s", DCM.ExposureTime, "s", _CT_PARAMETERS),
        _num("scanning_length_mm", DCM.ScanningLength, "mm", _CT_PARAMETERS),
        # TID 10014 Scanning Length, inside CT Acquisition Parameters
        _num(
            "length_of_reconstructable_volume_mm",
            DCM.LengthOfReconstructableVolume,
            "mm",
            _CT_PARAMETERS,
        ),
        _num("exposed_range_mm", DCM.ExposedRange, "mm", _CT_PARAMETERS),
        _num(
            "top_z_location_of_scanning_length_mm",
            DCM.TopZLocationOfScanningLength,
            "mm",
            _CT_PARAMETERS,
        ),
        _num(
            "bottom_z_location_of_scanning_length_mm",
            DCM.BottomZLocationOfScanningLength,
            "mm",
            _CT_PARAMETERS,
        ),
        _num("single_collimation_mm", DCM.NominalSingleCollimationWidth, "mm", _CT_PARAMETERS),
        _num("total_collimation_mm", DCM.NominalTotalCollimationWidth, "mm", _CT_PARAMETERS),
        _num("pitch_factor", DCM.PitchFactor, "1", _CT_PARAMETERS),
        _num("number_of_sources", DCM.NumberOfXRaySources, "1", _CT_PARAMETERS),
        _num("ctdivol_mgy", DCM.MeanCtdivol, "mGy", _CT_DOSE),
        CodedField("ctdi_phantom", _keys(DCM.CtdiwPhantomType), CTDI_PHANTOMS, (_CT_DOSE,)),
        _num("dlp_mgycm", DCM.DLP, "mGy.cm", _CT_DOSE),
        _num("dose_check_dlp_alert_mgycm", DCM.DLPAlertValue, "mGy.cm", _DOSE_CHECK_ALERT),
        _num("dose_check_ctdivol_alert_mgy", DCM.CtdivolAlertValue, "mGy", _DOSE_CHECK_ALERT),
        _num(
            "dose_check_accumulated_dlp_forward_estimate_mgycm",
            DCM.AccumulatedDLPForwardEstimate,
            "mGy.cm",
            _DOSE_CHECK_ALERT,
        ),
        _num(
            "dose_check_accumulated_ctdivol_forward_estimate_mgy",
            DCM.AccumulatedCtdivolForwardEstimate,
            "mGy",
            _DOSE_CHECK_ALERT,
        ),
        _num(
            "dose_check_dlp_notification_mgycm",
            DCM.DLPNotificationValue,
            "mGy.cm",
            _DOSE_CHECK_NOTIFICATION,
        ),
        _num(
            "dose_check_ctdivol_notification_mgy",
            DCM.CtdivolNotificationValue,
            "mGy",
            _DOSE_CHECK_NOTIFICATION,
        ),
        CodedField(
            "dose_check_dlp_alert_configured",
            _keys(DCM.DLPAlertValueConfigured),
            containers=(_DOSE_CHECK_ALERT,),
        ),
        CodedField(
            "dose_check_ctdivol_alert_configured",
            _keys(DCM.CtdivolAlertValueConfigured),
            containers=(_DOSE_CHECK_ALERT,),
        ),
        CodedField(
            "dose_check_dlp_notification_configured",
            _keys(DCM.DLPNotificationValueConfigured),
            containers=(_DOSE_CHECK_NOTIFICATION,),
        ),
        CodedField(
            "dose_check_ctdivol_notification_configured",
            _keys(DCM.CtdivolNotificationValueConfigured),
            containers=(_DOSE_CHECK_NOTIFICATION,),
        ),
        TextField("comment", _keys(DCM.Comment)),
    ),
)

CT_SOURCE = RecordType(
    "CT X-ray source",
    (key(DCM.CTXRaySourceParameters),),
    (
        TextField(
            "source_id",
            # Siemens writes the concept name as "Identification Number of the X-Ray Source".
            _keys(DCM.IdentificationOfTheXRaySource),
        ),
        _num("kvp", DCM.KVP, "kV"),
        _num("max_tube_current_ma", DCM.MaximumXRayTubeCurrent, "mA"),
        _num("tube_current_ma", DCM.XRayTubeCurrent, "mA"),
        _num("exposure_time_per_rotation_s", DCM.ExposureTimePerRotation, "s"),
    ),
)
