"""What vendors write differently in an X-Ray Radiation Dose SR, and presets that imitate them.

The synthetic data of :mod:`doseline.cohort` must look like what hospitals send, so the writer
(:mod:`doseline.dicom.rdsr_write`) follows a :class:`VendorConventions`: unit spellings,
transfer syntax, sequence lengths, how the reference point is coded, which SNOMED codes. Each
preset names the example file of ``shared/data/rdsr`` it imitates (``imitates``).
"""

from __future__ import annotations

from dataclasses import dataclass

from doseline.dicom.report import DeviceIdentity
from doseline.dicom.sr_encode import DCM, EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, SCT
from doseline.units import conversion_factor

__all__ = [
    "CANON",
    "DOSE_SOURCES",
    "GE",
    "PHILIPS",
    "PHILIPS_XPER",
    "PRESETS",
    "SIEMENS",
    "VendorConventions",
]

# Source of Dose Information (CID 10020), by short name.
DOSE_SOURCES = {
    "dosimeter": SCT.Dosimeter,
    "automated": DCM.AutomatedDataCollection,
    "computed": DCM.ComputedFromImageAttributes,
    "system": DCM.SystemCalculated,
}


@dataclass(frozen=True, slots=True)
class VendorConventions:
    """How a vendor writes an RDSR.

    Attributes
    ----------
    name, manufacturer, model_name
        Short name; names written where the report's :class:`DeviceIdentity` has none.
    kap_unit, air_kerma_unit, exposure_unit
        Unit codes (of :mod:`doseline.units`) of dose-area products (UCUM ``Gy.m2``, Siemens
        ``Gym2``, Canon Ultimax ``dGy.cm2``), Dose (RP) (``Gy``, Canon Ultimax ``mGy``) and
        Exposure (``mA.s``, Siemens ``uAs``, Philips ``uA.s``).
    transfer_syntax, undefined_length
        :data:`EXPLICIT_VR_LITTLE_ENDIAN` or :data:`IMPLICIT_VR_LITTLE_ENDIAN`; sequences and
        items of undefined length, with delimiters (PS3.5 7.5.1).
    reference_point_as_code
        Reference Point Definition as a CODE of CID 10025 where the text is one of its
        meanings (Siemens, Canon), else as TEXT (Philips).
    legacy_snomed
        SNOMED-RT codes (``SRT P5-06000`` Fluoroscopy) where PS3.16 Annex O maps one, and the
        "X or X compound" filter codes (``C-127F9``), as reports made before 2017 have them.
    siemens_comments
        Image-intensifier size in the event Comment as Siemens XML (``<iiDiameter .../>``).
    source_of_dose_information, character_set
        ``dosimeter``, ``automated``, ``computed`` or ``system`` (CID 10020); (0008,0005).
    imitates
        The example file whose conventions the preset copies, and what was not copied.
    """

    name: str
    manufacturer: str
    model_name: str
    kap_unit: str = "Gy.m2"
    air_kerma_unit: str = "Gy"
    exposure_unit: str = "mA.s"
    transfer_syntax: str = EXPLICIT_VR_LITTLE_ENDIAN
    undefined_length: bool = False
    reference_point_as_code: bool = True
    legacy_snomed: bool = False
    siemens_comments: bool = False
    source_of_dose_information: str = "automated"
    character_set: str = "ISO_IR 100"
    imitates: str = ""

    def __post_init__(self) -> None:
        conversion_factor(self.kap_unit, "Gy.cm2")  # each raises UnitError naming the unit
        conversion_factor(self.air_kerma_unit, "Gy")
        conversion_factor(self.exposure_unit, "mA.s")
        if self.transfer_syntax not in (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN):
            raise ValueError(
                f"transfer_syntax {self.transfer_syntax!r}: doseline writes "
                "explicit or implicit VR little endian"
            )
        if self.source_of_dose_information not in DOSE_SOURCES:
            raise ValueError(
                f"source_of_dose_information {self.source_of_dose_information!r}:"
                f" one of {sorted(DOSE_SOURCES)}"
            )

    def device(
        self,
        serial_number: str | None = None,
        station_name: str | None = None,
        device_observer_uid: str | None = None,
    ) -> DeviceIdentity:
        """A :class:`DeviceIdentity` with this vendor's manufacturer and model name."""
        return DeviceIdentity(
            self.manufacturer, self.model_name, serial_number, device_observer_uid, station_name
        )


SIEMENS = VendorConventions(
    "siemens",
    "Siemens",
    "AXIOM-Artis",
    kap_unit="Gym2",
    exposure_unit="uAs",
    legacy_snomed=True,
    siemens_comments=True,
    source_of_dose_information="dosimeter",
    character_set="ISO_IR 192",
    imitates="openrem/RF-RDSR-Siemens-Zee.dcm: explicit VR, defined lengths, 'Gym2', 'uAs', "
    "coded reference point, SRT codes, XML event comments",
)

PHILIPS = VendorConventions(
    "philips",
    "Philips",
    "Azurion",
    exposure_unit="uA.s",
    reference_point_as_code=False,
    legacy_snomed=True,
    source_of_dose_information="computed",
    imitates="openrem/RF-RDSR-Philips_Azurion.dcm: explicit VR, defined lengths, 'Gy.m2', "
    "'uA.s', reference point as TEXT, SRT codes",
)

PHILIPS_XPER = VendorConventions(
    "philips_xper",
    "Philips Medical Systems",
    "Allura Xper",
    transfer_syntax=IMPLICIT_VR_LITTLE_ENDIAN,
    undefined_length=True,
    reference_point_as_code=False,
    legacy_snomed=True,
    source_of_dose_information="computed",
    imitates="openrem/RF-Pat-Orientation-Modifier-Missing.dcm (an Allura Xper): implicit VR, "
    "undefined lengths, 'Gy.m2', reference point as TEXT",
)

CANON = VendorConventions(
    "canon",
    "CANON_MEC",
    "DFP-8000D",
    kap_unit="dGy.cm2",
    air_kerma_unit="mGy",
    undefined_length=True,
    legacy_snomed=True,
    imitates="openrem/RF-RDSR-Canon-Alphenix-rotational.dcm: explicit VR, undefined lengths, "
    "coded reference point; but the Canon Ultimax-i units 'dGy.cm2', 'mGy' (OpenREM #704, #808)",
)

GE = VendorConventions(
    "ge",
    "GE Healthcare",
    "Innova IGS 520",
    transfer_syntax=IMPLICIT_VR_LITTLE_ENDIAN,
    source_of_dose_information="system",
    imitates="no GE file at hand (synthetic design choice): implicit VR, defined lengths as "
    "pyskindose/siemens_axiom_artis.dcm; SNOMED CT codes, UCUM units; model name from GE's "
    "DICOM conformance statement 5451887-2-8EN",
)

PRESETS = {preset.name: preset for preset in (SIEMENS, PHILIPS, PHILIPS_XPER, CANON, GE)}
