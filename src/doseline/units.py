"""Unit codes seen in DICOM dose reports, and their conversion to doseline's canonical units.

DICOM encodes units as UCUM codes (PS3.16 CID 82 "Units of Measurement"; UCUM: Schadow and
McDonald, *The Unified Code for Units of Measure*, Regenstrief Institute, ucum.org). Vendors
deviate: Siemens writes ``Gym2`` and ``mGycm`` (seen in the Siemens example files of OpenREM),
Canon Ultimax units write dose-area product in ``dGy.cm2`` and dose at the reference point in
``mGy`` (OpenREM issues #704 and #808), the Siemens Arcadis summary report writes ``Gy.cm^2``.
Every spelling accepted here is listed explicitly: an unknown code is an error, never a guess.

Canonical units are the ones in doseline's field names (``kap_gycm2``, ``air_kerma_rp_gy``,
``dlp_mgycm``, ``ctdivol_mgy``, ``distance_source_to_detector_mm``, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from doseline.errors import UnitError

__all__ = [
    "Dimension",
    "UnitDefinition",
    "conversion_factor",
    "lookup_unit",
]


class Dimension(StrEnum):
    """Physical dimension of a measured quantity."""

    KERMA_AREA = "kerma-area product"
    KERMA = "air kerma or absorbed dose"
    KERMA_LENGTH = "dose-length product"
    TIME = "time"
    LENGTH = "length"
    AREA = "area"
    ANGLE = "plane angle"
    VOLTAGE = "voltage"
    CURRENT = "electric current"
    CHARGE = "electric charge (current-time product)"
    RATE = "rate"
    COUNT = "count"
    RATIO = "dimensionless ratio"
    PERCENT = "percentage"
    MASS = "mass"


@dataclass(frozen=True, slots=True)
class UnitDefinition:
    """A unit: its dimension and its size in the SI-coherent base of that dimension.

    Bases: Gy.m2, Gy, Gy.m, s, m, m2, deg, V, A, A.s, 1/s, 1, %, kg.
    """

    dimension: Dimension
    scale: float


_D = Dimension
UNIT_CODES: dict[str, UnitDefinition] = {
    # kerma-area product (dose-area product)
    "Gy.m2": UnitDefinition(_D.KERMA_AREA, 1.0),
    "Gym2": UnitDefinition(_D.KERMA_AREA, 1.0),  # Siemens, non-UCUM
    "Gy.cm2": UnitDefinition(_D.KERMA_AREA, 1e-4),
    "Gy.cm^2": UnitDefinition(_D.KERMA_AREA, 1e-4),  # Siemens Arcadis summary report
    "Gycm2": UnitDefinition(_D.KERMA_AREA, 1e-4),
    "dGy.cm2": UnitDefinition(_D.KERMA_AREA, 1e-5),  # Canon Ultimax-i (OpenREM #704)
    "cGy.cm2": UnitDefinition(_D.KERMA_AREA, 1e-6),
    "mGy.cm2": UnitDefinition(_D.KERMA_AREA, 1e-7),
    "uGy.cm2": UnitDefinition(_D.KERMA_AREA, 1e-10),
    "mGy.m2": UnitDefinition(_D.KERMA_AREA, 1e-3),
    "uGy.m2": UnitDefinition(_D.KERMA_AREA, 1e-6),
    "Gy.mm2": UnitDefinition(_D.KERMA_AREA, 1e-6),
    "mGy.mm2": UnitDefinition(_D.KERMA_AREA, 1e-9),
    # air kerma, absorbed dose
    "Gy": UnitDefinition(_D.KERMA, 1.0),
    "dGy": UnitDefinition(_D.KERMA, 1e-1),
    "cGy": UnitDefinition(_D.KERMA, 1e-2),
    "mGy": UnitDefinition(_D.KERMA, 1e-3),
    "uGy": UnitDefinition(_D.KERMA, 1e-6),
    # dose-length product
    "Gy.m": UnitDefinition(_D.KERMA_LENGTH, 1.0),
    "mGy.cm": UnitDefinition(_D.KERMA_LENGTH, 1e-5),
    "mGycm": UnitDefinition(_D.KERMA_LENGTH, 1e-5),  # Siemens, non-UCUM
    "mGy.mm": UnitDefinition(_D.KERMA_LENGTH, 1e-6),
    "Gy.cm": UnitDefinition(_D.KERMA_LENGTH, 1e-2),
    "mGy.m": UnitDefinition(_D.KERMA_LENGTH, 1e-3),
    # time
    "s": UnitDefinition(_D.TIME, 1.0),
    "ms": UnitDefinition(_D.TIME, 1e-3),
    "us": UnitDefinition(_D.TIME, 1e-6),
    "min": UnitDefinition(_D.TIME, 60.0),
    "h": UnitDefinition(_D.TIME, 3600.0),
    # length
    "m": UnitDefinition(_D.LENGTH, 1.0),
    "cm": UnitDefinition(_D.LENGTH, 1e-2),
    "mm": UnitDefinition(_D.LENGTH, 1e-3),
    "um": UnitDefinition(_D.LENGTH, 1e-6),
    # area
    "m2": UnitDefinition(_D.AREA, 1.0),
    "cm2": UnitDefinition(_D.AREA, 1e-4),
    "mm2": UnitDefinition(_D.AREA, 1e-6),
    # plane angle
    "deg": UnitDefinition(_D.ANGLE, 1.0),
    "rad": UnitDefinition(_D.ANGLE, 180.0 / math.pi),
    # tube voltage
    "kV": UnitDefinition(_D.VOLTAGE, 1e3),
    "V": UnitDefinition(_D.VOLTAGE, 1.0),
    # tube current
    "A": UnitDefinition(_D.CURRENT, 1.0),
    "mA": UnitDefinition(_D.CURRENT, 1e-3),
    "uA": UnitDefinition(_D.CURRENT, 1e-6),
    # current-time product
    "A.s": UnitDefinition(_D.CHARGE, 1.0),
    "mA.s": UnitDefinition(_D.CHARGE, 1e-3),
    "mAs": UnitDefinition(_D.CHARGE, 1e-3),
    "uA.s": UnitDefinition(_D.CHARGE, 1e-6),
    "uAs": UnitDefinition(_D.CHARGE, 1e-6),  # Siemens, non-UCUM
    # rates (pulse rate, frame rate)
    "{pulse}/s": UnitDefinition(_D.RATE, 1.0),
    "{pulses}/s": UnitDefinition(_D.RATE, 1.0),
    "{frame}/s": UnitDefinition(_D.RATE, 1.0),
    "/s": UnitDefinition(_D.RATE, 1.0),
    "1/s": UnitDefinition(_D.RATE, 1.0),
    "Hz": UnitDefinition(_D.RATE, 1.0),
    # counts and ratios (UCUM annotations in braces are unit 1)
    "1": UnitDefinition(_D.COUNT, 1.0),
    "{events}": UnitDefinition(_D.COUNT, 1.0),
    "{X-Ray sources}": UnitDefinition(_D.COUNT, 1.0),
    "{pulse}": UnitDefinition(_D.COUNT, 1.0),
    "{frames}": UnitDefinition(_D.COUNT, 1.0),
    "{ratio}": UnitDefinition(_D.RATIO, 1.0),
    "%": UnitDefinition(_D.PERCENT, 1.0),
    # mass
    "kg": UnitDefinition(_D.MASS, 1.0),
    "g": UnitDefinition(_D.MASS, 1e-3),
}

# Dimensions whose values are plain numbers: a count coded '1' and one coded '{events}' mean
# the same thing, so these are interchangeable.
_DIMENSIONLESS = frozenset({_D.COUNT, _D.RATIO})


def lookup_unit(code: str) -> UnitDefinition | None:
    """The definition of a unit code, or ``None`` when the code is unknown.

    Matching is exact apart from surrounding white space (UCUM is case-sensitive: ``mGy`` and
    ``MGy`` differ by nine orders of magnitude).
    """
    return UNIT_CODES.get(code.strip())


def conversion_factor(code: str, canonical: str, *, field: str | None = None) -> float:
    """Factor that turns a value in unit ``code`` into the canonical unit ``canonical``.

    Raises
    ------
    UnitError
        If ``code`` is unknown or of another dimension than ``canonical``.
    """
    target = UNIT_CODES[canonical]
    given = lookup_unit(code)
    if given is None:
        raise UnitError(f"unknown unit code {code!r} (expected {target.dimension})", field=field)
    same = given.dimension == target.dimension or (
        given.dimension in _DIMENSIONLESS and target.dimension in _DIMENSIONLESS
    )
    if not same:
        raise UnitError(
            f"unit {code!r} is a {given.dimension}, expected a {target.dimension}", field=field
        )
    return given.scale / target.scale
