"""The organ and tissue vocabulary shared by dosimetry, risk and cohort analysis.

One spelling per organ (``snake_case``, ICRP names), the ICRP Publication 103 tissue weighting
factors and the effective dose computed from organ equivalent doses as ICRP 103 defines it.

References
----------
ICRP, 2007. The 2007 Recommendations of the International Commission on Radiological
Protection. ICRP Publication 103. Ann. ICRP 37(2-4): Table 3 (tissue weighting factors),
footnote to Table 3 (the 13 remainder tissues per sex) and paragraphs (A 132)-(A 134) and
equation (4.5) (sex-averaged effective dose, arithmetic mean of the remainder tissues).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "ICRP103_REMAINDER_FEMALE",
    "ICRP103_REMAINDER_MALE",
    "ICRP103_TISSUE_WEIGHTS",
    "ORGANS",
    "Sex",
    "check_organ",
    "effective_dose",
]

Sex = Literal["male", "female"]

#: ICRP Publication 103, Table 3. "gonads" is testes for males and ovaries for females; the
#: breast weight applies to both sexes (sex-averaged effective dose, ICRP 103 eq. 4.5).
ICRP103_TISSUE_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "red_bone_marrow": 0.12,
        "colon": 0.12,
        "lung": 0.12,
        "stomach": 0.12,
        "breast": 0.12,
        "remainder": 0.12,
        "gonads": 0.08,
        "bladder": 0.04,
        "oesophagus": 0.04,
        "liver": 0.04,
        "thyroid": 0.04,
        "bone_surface": 0.01,
        "brain": 0.01,
        "salivary_glands": 0.01,
        "skin": 0.01,
    }
)

_REMAINDER_COMMON = (
    "adrenals",
    "extrathoracic_region",
    "gallbladder",
    "heart",
    "kidneys",
    "lymphatic_nodes",
    "muscle",
    "oral_mucosa",
    "pancreas",
    "small_intestine",
    "spleen",
    "thymus",
)
#: ICRP 103, footnote to Table 3: 13 remainder tissues per sex.
ICRP103_REMAINDER_MALE: tuple[str, ...] = (*_REMAINDER_COMMON, "prostate")
ICRP103_REMAINDER_FEMALE: tuple[str, ...] = (*_REMAINDER_COMMON, "uterus")

#: Every organ name doseline knows: the ICRP 103 tissues (gonads as testes and ovaries, the
#: remainder tissues by name) and the organs late-effects work needs besides them.
ORGANS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            *(name for name in ICRP103_TISSUE_WEIGHTS if name not in {"remainder", "gonads"}),
            "testes",
            "ovaries",
            *ICRP103_REMAINDER_MALE,
            *ICRP103_REMAINDER_FEMALE,
            "rectum",
            "eye_lens",
            "hypothalamic_pituitary",
            "cochlea",
            "whole_body",
        ]
    )
)


def check_organ(name: str) -> str:
    """Return ``name`` if it is a known organ, else raise :class:`ValueError` naming it."""
    if name not in ORGANS:
        raise ValueError(f"unknown organ {name!r}; known organs: {', '.join(ORGANS)}")
    return name


def _sex_equivalent_dose(doses: Mapping[str, npt.ArrayLike], sex: Sex) -> npt.NDArray[np.float64]:
    remainder_names = ICRP103_REMAINDER_MALE if sex == "male" else ICRP103_REMAINDER_FEMALE
    gonad = "testes" if sex == "male" else "ovaries"
    missing = [
        name
        for name in (*ICRP103_TISSUE_WEIGHTS, *remainder_names, gonad)
        if name not in {"remainder", "gonads"} and name not in doses
    ]
    if missing:
        raise ValueError(f"effective dose ({sex}) needs doses to: {', '.join(missing)}")
    total: npt.NDArray[np.float64] = np.zeros(np.shape(doses[gonad]), dtype=np.float64)
    for name, weight in ICRP103_TISSUE_WEIGHTS.items():
        if name == "remainder":
            dose = np.mean([np.asarray(doses[r], dtype=np.float64) for r in remainder_names], 0)
        elif name == "gonads":
            dose = np.asarray(doses[gonad], dtype=np.float64)
        else:
            dose = np.asarray(doses[name], dtype=np.float64)
        total = total + weight * dose
    return total


def effective_dose(
    equivalent_doses: Mapping[str, npt.ArrayLike],
) -> npt.NDArray[np.float64]:
    """ICRP 103 effective dose from organ equivalent doses (sex-averaged, eq. 4.5).

    Parameters
    ----------
    equivalent_doses
        Organ name -> equivalent dose (Sv, or any unit: the result has the same unit), scalars
        or arrays of one shape. Needs every weighted tissue, testes and ovaries, and the 13
        remainder tissues of each sex. For X-rays the radiation weighting factor is 1, so
        absorbed doses in Gy give the effective dose in Sv.

    Returns
    -------
    numpy.ndarray
        ``E = sum_T w_T (H_T^M + H_T^F) / 2``, with the remainder dose of each sex the
        arithmetic mean of its 13 remainder tissues.
    """
    male = _sex_equivalent_dose(equivalent_doses, "male")
    female = _sex_equivalent_dose(equivalent_doses, "female")
    result: npt.NDArray[np.float64] = 0.5 * (male + female)
    return result
