"""Vendor conventions that fill in standard fields from private or free-text content.

Each function documents the vendor document or example that defines the convention. They are
applied only where the standard field is missing, and never overwrite a standard value.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["philips_collimated_field_mm", "siemens_comment_fields"]

# Siemens AXIOM-Artis writes an XML fragment in the event Comment (121106), for example
# <iiDiameter SRData="220"/> and <PatientPosition><Position SRData="HFS"/>. OpenREM reads the
# same two values (rdsr_methods.py, "aimed at Siemens"). A regular expression, not an XML
# parser: the fragment comes from an untrusted file and only two attributes are wanted.
_II_DIAMETER = re.compile(r"<iiDiameter\s+SRData=\"\s*([0-9]+(?:\.[0-9]+)?)\s*\"")
_POSITION = re.compile(
    r"<PatientPosition>\s*<Position\s+SRData=\"\s*([A-Za-z]{3,4})\s*\"", re.IGNORECASE
)

# Patient position shorthand (as in DICOM Patient Position (0018,5100)) to the three coded
# concepts of TID 10003 (CID 21, 19, 20), with the meanings used by SNOMED CT.
_POSITIONS = {
    "HFS": ("headfirst", "recumbent", "supine"),
    "HFP": ("headfirst", "recumbent", "prone"),
    "FFS": ("feet-first", "recumbent", "supine"),
    "FFP": ("feet-first", "recumbent", "prone"),
}


def siemens_comment_fields(comment: str | None) -> dict[str, object]:
    """Image-intensifier field size and patient position from a Siemens event comment."""
    found: dict[str, object] = {}
    if not comment or "SRData" not in comment:
        return found
    diameter = _II_DIAMETER.search(comment)
    if diameter:
        found["ii_field_size_mm"] = float(diameter.group(1))
    position = _POSITION.search(comment)
    if position and position.group(1).upper() in _POSITIONS:
        relationship, orientation, modifier = _POSITIONS[position.group(1).upper()]
        found["patient_table_relationship"] = relationship
        found["patient_orientation"] = orientation
        found["patient_orientation_modifier"] = modifier
    return found


def philips_collimated_field_mm(
    top_mm: np.ndarray,
    bottom_mm: np.ndarray,
    left_mm: np.ndarray,
    right_mm: np.ndarray,
    distance_source_to_detector_mm: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Collimated field (height, width) in mm at the detector from Philips shutter positions.

    Philips Allura Xper gives each shutter's distance from the collimator centre "in the plane
    at 1 meter" (Philips Allura Xper DICOM Conformance Statement 8.2), so the field at the
    detector is the shutter span times the source-to-detector distance in metres. Height is
    the left-right span and width the top-bottom span, the assignment of OpenREM
    (``rdsr_methods.py``) whose tests assert it on the Allura example. Arrays in, arrays out;
    NaN where any input is missing.
    """
    scale = distance_source_to_detector_mm / 1000.0
    return (left_mm + right_mm) * scale, (top_mm + bottom_mm) * scale
