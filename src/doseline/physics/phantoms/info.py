"""Organ-mass summary of a stylised phantom (what ``doseline phantom info`` prints)."""

from __future__ import annotations

from typing import Any

from doseline.physics.phantoms.reference import (
    icrp89_checked,
    icrp89_value,
    ornl_phantom_mass_g,
    reference_sex,
)
from doseline.physics.phantoms.stylised import (
    ORGAN_SURROGATES,
    age_scaling,
    analytic_region_masses_g,
    build_phantom,
    organ_masses_g,
    region_organs,
)

__all__ = ["SURROGATE_NOTES", "phantom_info"]

#: Organs that the ORNL phantoms lack and doseline adds or stands in for (docs/phantoms.md).
SURROGATE_NOTES: dict[str, str] = {
    "oesophagus": "added: tube anterior to the spine (not in the 1987 phantoms)",
    "gallbladder": "added: small ellipsoid under the liver",
    "prostate": "added: ellipsoid below the bladder",
    "salivary_glands": "added: two ellipsoids (parotid region)",
    "extrathoracic_region": "added: airway tube in the neck, soft tissue",
    "skin": "outer voxel layer of the body: mass depends on the voxel size",
    "red_bone_marrow": "ICRP 89 total spread over the skeletal regions",
    "breast": "ORNL 15-year breasts; under 15 years a small lens at the chest surface",
    **{organ: "surrogate: " + ", ".join(regions) for organ, regions in ORGAN_SURROGATES.items()},
}


def phantom_info(
    age: str, voxel_size_mm: float = 2.0, organ_masses: str = "icrp89"
) -> dict[str, Any]:
    """Voxelised, analytic and ICRP 89 reference mass of every organ of the phantom of ``age``.

    The ICRP 89 masses are those of :func:`reference_sex` (sex-averaged for children, male for
    the adult, own sex for sex-specific organs); ``icrp89_checked`` says whether that value was
    checked against an independent reproduction of ICRP 89 (:func:`icrp89_checked`);
    ``ornl_phantom_mass_g`` is the organ's mass in the ORNL phantom of the age itself (newborn
    to 15 years, :func:`ornl_phantom_mass_g`); surrogate organs have no region of their own.
    """
    phantom = build_phantom(age, voxel_size_mm, organ_masses=organ_masses)
    voxel = organ_masses_g(phantom)
    organs_of = region_organs()
    analytic: dict[str, float] = {}
    for region, mass in analytic_region_masses_g(age, organ_masses=organ_masses).items():
        organ = organs_of.get(region)
        if organ is not None:
            analytic[organ] = analytic.get(organ, 0.0) + mass
    sex = reference_sex(age)
    rows = []
    for organ in sorted(set(voxel) | set(ORGAN_SURROGATES)):
        ref_sex = reference_sex(age, organ)
        icrp = None if organ == "whole_body" else icrp89_value(organ, age, ref_sex)
        rows.append(
            {
                "organ": organ,
                "voxel_mass_g": voxel.get(organ),
                "analytic_mass_g": None if organ == "skin" else analytic.get(organ),
                "icrp89_mass_g": icrp,
                "icrp89_checked": icrp is not None and icrp89_checked(organ, age, ref_sex),
                "ornl_phantom_mass_g": ornl_phantom_mass_g(organ, age),
                "note": SURROGATE_NOTES.get(organ, ""),
            }
        )
    scaling = age_scaling(age)
    z_extent = phantom.shape[2] * phantom.voxel_size_mm[2]
    return {
        "phantom": phantom.name,
        "age": age,
        "voxel_mm": voxel_size_mm,
        "organ_masses": organ_masses,
        "shape": list(phantom.shape),
        "height_cm": scaling.height_cm,
        "grid_height_cm": z_extent / 10.0,
        "total_mass_g": voxel["whole_body"],
        "icrp89_total_mass_g": icrp89_value("body_mass_g", age, sex),
        "ornl_phantom_total_mass_g": ornl_phantom_mass_g("whole_body", age),
        "scale_factors": {
            "head": scaling.head,
            "trunk_z": scaling.trunk_z,
            "legs_z": scaling.legs_z,
            "body_xy": scaling.body_xy,
        },
        "organs": rows,
    }
