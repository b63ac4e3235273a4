"""The whole registry schema: importing this module registers every table on the metadata."""

from __future__ import annotations

from doseline.registry.base import Base, Deployment
from doseline.registry.doses import DoseRealisationSet, OrganDose
from doseline.registry.exposures import (
    DoseReportRecord,
    Exposure,
    accumulated_dose,
    ct_event,
    irradiation_event,
)
from doseline.registry.people import (
    Anthropometry,
    Centre,
    Condition,
    FollowUp,
    Outcome,
    Patient,
    Treatment,
)
from doseline.registry.radiotherapy import (
    RTBeam,
    RTCourse,
    RTDoseGrid,
    RTImage,
    RTPlanRecord,
    RTStructure,
    RTStructureSet,
)

__all__ = [
    "Anthropometry",
    "Base",
    "Centre",
    "Condition",
    "Deployment",
    "DoseRealisationSet",
    "DoseReportRecord",
    "Exposure",
    "FollowUp",
    "OrganDose",
    "Outcome",
    "Patient",
    "RTBeam",
    "RTCourse",
    "RTDoseGrid",
    "RTImage",
    "RTPlanRecord",
    "RTStructure",
    "RTStructureSet",
    "Treatment",
    "accumulated_dose",
    "ct_event",
    "irradiation_event",
]
