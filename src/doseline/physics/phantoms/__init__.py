"""Computational phantoms: labelled voxel geometries for photon transport.

- :mod:`.stylised`: the ORNL-type stylised family (newborn, 1, 5, 10, 15 years, adult),
  voxelised at a chosen resolution (:func:`build_phantom`), organ masses and centroids;
- :mod:`.scaling`: scaling to a patient's height and mass (PCXMC method);
- :mod:`.icrp110`: reader of ICRP 110/143-format voxel phantoms that users licence themselves;
- :mod:`.shapes`, :mod:`.voxelise`: the quadric solids and their voxelisation.
"""

from doseline.physics.phantoms.icrp110 import (
    ICRP110_ADULT_FEMALE,
    ICRP110_ADULT_MALE,
    Icrp110Phantom,
    read_icrp110_phantom,
)
from doseline.physics.phantoms.reference import AGES, icrp89_checked, icrp89_value
from doseline.physics.phantoms.scaling import (
    nearest_age,
    patient_phantom,
    patient_scale,
    scale_voxel_phantom,
)
from doseline.physics.phantoms.stylised import (
    ORGAN_SURROGATES,
    AgeScaling,
    age_scaling,
    analytic_region_masses_g,
    build_phantom,
    organ_centroids_mm,
    organ_masses_g,
    region_organs,
)
from doseline.physics.phantoms.voxel import Label, VoxelPhantom

__all__ = [
    "AGES",
    "ICRP110_ADULT_FEMALE",
    "ICRP110_ADULT_MALE",
    "ORGAN_SURROGATES",
    "AgeScaling",
    "Icrp110Phantom",
    "Label",
    "VoxelPhantom",
    "age_scaling",
    "analytic_region_masses_g",
    "build_phantom",
    "icrp89_checked",
    "icrp89_value",
    "nearest_age",
    "organ_centroids_mm",
    "organ_masses_g",
    "patient_phantom",
    "patient_scale",
    "read_icrp110_phantom",
    "region_organs",
    "scale_voxel_phantom",
]
