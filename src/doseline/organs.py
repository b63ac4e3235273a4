"""The organ and tissue vocabulary shared by dosimetry, risk and cohort analysis.

One spelling per organ (``snake_case``, ICRP names), the ICRP Publication 103 tissue weighting
factors and the effective dose computed from organ equivalent doses as ICRP 103 defines it.

The ICRP Publication 60 effective dose is there too, for comparisons with published factors
that used it.

References
----------
ICRP, 1991. 1990 Recommendations of the International Commission on Radiological Protection.
ICRP Publication 60. Ann. ICRP 21(1-3): Table 2 and its notes (tissue weighting factors, the
ten remainder tissues and the splitting rule).

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
    "ICRP60_REMAINDER",
    "ICRP60_TISSUE_WEIGHTS",
    "ICRP103_REMAINDER_FEMALE",
    "ICRP103_REMAINDER_MALE",
    "ICRP103_TISSUE_WEIGHTS",
    "ORGANS",
    "Sex",
    "check_organ",
    "effective_dose",
    "effective_dose_icrp60",
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


#: ICRP Publication 60, Table 2. "gonads" is the mean of testes and ovaries doses here (a
#: hermaphrodite phantom, as PCXMC evaluates it); "colon" is ICRP 60's large intestine.
ICRP60_TISSUE_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "gonads": 0.20,
        "red_bone_marrow": 0.12,
        "colon": 0.12,
        "lung": 0.12,
        "stomach": 0.12,
        "bladder": 0.05,
        "breast": 0.05,
        "liver": 0.05,
        "oesophagus": 0.05,
        "thyroid": 0.05,
        "skin": 0.01,
        "bone_surface": 0.01,
        "remainder": 0.05,
    }
)

#: ICRP 60, note 2 to Table 2: adrenals, brain, upper large intestine (here the colon dose),
#: small intestine, kidney, muscle, pancreas, spleen, thymus and uterus.
ICRP60_REMAINDER: tuple[str, ...] = (
    "adrenals",
    "brain",
    "colon",
    "small_intestine",
    "kidneys",
    "muscle",
    "pancreas",
    "spleen",
    "thymus",
    "uterus",
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


def effective_dose_icrp60(equivalent_doses: Mapping[str, float]) -> float:
    """ICRP 60 effective dose from organ equivalent doses (ICRP 60, Table 2 and its notes).

    The remainder dose is the arithmetic mean of the ten remainder tissues, weighted 0.05. The
    splitting rule of note 3 applies: if one remainder tissue receives more than the highest of
    the twelve named tissues, it takes 0.025 and the mean of the other nine takes 0.025. The
    gonad dose is the mean of the testes and ovaries doses.
    """
    named = [name for name in ICRP60_TISSUE_WEIGHTS if name not in {"remainder", "gonads"}]
    missing = [
        name
        for name in (*named, *ICRP60_REMAINDER, "testes", "ovaries")
        if name not in equivalent_doses
    ]
    if missing:
        raise ValueError(f"ICRP 60 effective dose needs doses to: {', '.join(missing)}")
    dose = {name: float(equivalent_doses[name]) for name in (*named, *ICRP60_REMAINDER)}
    dose["gonads"] = 0.5 * (float(equivalent_doses["testes"]) + float(equivalent_doses["ovaries"]))
    total = sum(ICRP60_TISSUE_WEIGHTS[name] * dose[name] for name in (*named, "gonads"))
    remainder = {name: dose[name] for name in ICRP60_REMAINDER}
    highest_named = max(dose[name] for name in (*named, "gonads"))
    hottest = max(remainder, key=remainder.__getitem__)
    if remainder[hottest] > highest_named:
        others = [value for name, value in remainder.items() if name != hottest]
        return total + 0.025 * remainder[hottest] + 0.025 * sum(others) / len(others)
    return total + 0.05 * sum(remainder.values()) / len(remainder)
