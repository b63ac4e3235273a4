"""Radiation physics for X-ray dosimetry: spectra, materials, phantoms and photon transport.

- :mod:`.materials`, :mod:`.cross_sections`: compositions (ICRU 46 / ICRP 89 and others) and
  xraylib interaction coefficients with documented mixing rules;
- :mod:`.spectra`, :mod:`.alias`: SpekPy spectra, HVL matching, alias sampling;
- :mod:`.source`, :mod:`.geometry`: collimated point source, C-arm geometry from DICOM
  positioner angles, table and mattress;
- :mod:`.transport`: Woodcock-tracking Monte Carlo (numba CPU and numpy backends);
- :mod:`.organ_dose`: organ doses and ICRP 103 effective dose from a transport result;
- :mod:`.tg195`, :mod:`.scenario`: AAPM TG-195 cases and YAML scenarios (``doseline mc``);
- :mod:`.phantoms`: voxel phantoms.

The names below are imported on first use, so that ``doseline`` commands that do not need
the transport do not pay for importing numba, xraylib and SpekPy.
"""

from __future__ import annotations

from doseline._lazy import lazy_getattr

__all__ = [
    "Material",
    "PointSource",
    "ScoringDisc",
    "Slab",
    "Spectrum",
    "TransportResult",
    "add_patient_support",
    "beam_direction",
    "c_arm_source",
    "effective_dose_sv_per_history",
    "from_spekpy",
    "load_materials",
    "match_hvl",
    "material",
    "material_names",
    "monoenergetic",
    "organ_doses_gy_per_history",
    "simulate",
]

_HOMES = {
    "Material": "materials",
    "load_materials": "materials",
    "material": "materials",
    "material_names": "materials",
    "PointSource": "source",
    "beam_direction": "source",
    "c_arm_source": "source",
    "Slab": "geometry",
    "add_patient_support": "geometry",
    "Spectrum": "spectra",
    "from_spekpy": "spectra",
    "match_hvl": "spectra",
    "monoenergetic": "spectra",
    "ScoringDisc": "transport",
    "TransportResult": "transport",
    "simulate": "transport",
    "organ_doses_gy_per_history": "organ_dose",
    "effective_dose_sv_per_history": "organ_dose",
}


__getattr__ = lazy_getattr(
    "doseline.physics",
    {name: f"doseline.physics.{home}" for name, home in _HOMES.items()},
    globals(),
)
