"""Mean organ doses of a radiotherapy plan from its DVHs (the in-field part of section 6).

Each contoured ROI that the TG-263 table (:mod:`doseline.dosimetry.rt.nomenclature`) maps to an
organ gives a DVH (:func:`doseline.dosimetry.rt.dvh.compute_dvhs`, the DVH engineer's code); an
organ's mean dose is the volume-weighted mean of its ROIs' means over the part inside the dose
grid. Where both a whole-organ ROI ("Lungs") and its halves ("Lung_L", "Lung_R") are contoured,
the whole-organ ROI is used. Substructures (heart chambers, coronary arteries) are filed as
``heart:<TG-263 name>``.

Every estimate carries flags that say how far the planning system's dose can be trusted:

``partial_coverage``
    less than 99 % of the organ's volume lies inside the dose grid: the mean describes the
    covered part only.
``low_dose_tail``
    the mean is below :data:`LOW_DOSE_TAIL_FRACTION` of the prescription: planning systems
    "become dramatically inaccurate outside the treatment field" (AAPM TG-158, Kry et al. 2017,
    Med Phys 44:e391-e429), and organs partly in the low-dose region need measured or modelled
    out-of-field data (Howell et al. 2010, Phys Med Biol 55:7009); the value is the TPS's and
    is to be read with that caution.
``one_side_only``
    a paired organ of which one side only is contoured (the ICRP organ is both sides).

Organs of :data:`REPORT_ORGANS` without a contoured ROI, or whose ROIs lie wholly outside the
dose grid, get no in-field estimate; they are listed in ``not_estimated``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from doseline.dosimetry.rt.dvh import DVH
from doseline.dosimetry.rt.nomenclature import StructureName
from doseline.errors import InvalidInputError
from doseline.organs import ICRP103_REMAINDER_FEMALE, ICRP103_REMAINDER_MALE, ORGANS

__all__ = [
    "COVERED_FRACTION_MIN",
    "LOW_DOSE_TAIL_FRACTION",
    "METHOD_DVH",
    "REPORT_ORGANS",
    "OrganDoseEstimate",
    "OrganDoseResult",
    "organ_doses_from_dvhs",
]

METHOD_DVH = "rt_dvh"
#: Mean below this fraction of the prescription: the TPS low-dose tail (see module docstring;
#: the 5 % level is the one issue 7 names, a configurable convention rather than a TG-158 limit).
LOW_DOSE_TAIL_FRACTION = 0.05
#: Organ volume fraction inside the dose grid below which the estimate is flagged as partial.
COVERED_FRACTION_MIN = 0.99
#: The organs reported: the ICRP 103 tissues and remainder tissues, plus the organs late-effects
#: follow-up needs (issue 7 section 6; names from :data:`doseline.organs.ORGANS`).
REPORT_ORGANS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            "red_bone_marrow", "colon", "lung", "stomach", "breast", "ovaries", "testes",
            "bladder", "oesophagus", "liver", "thyroid", "bone_surface", "brain",
            "salivary_glands", "skin", *ICRP103_REMAINDER_MALE, *ICRP103_REMAINDER_FEMALE,
            "hypothalamic_pituitary", "eye_lens", "cochlea", "rectum",
        ]
    )
)  # fmt: skip
_SIDE = re.compile(r"_(L|R)$")


@dataclass(frozen=True, slots=True)
class OrganDoseEstimate:
    """The mean dose to one organ (or heart substructure) from the plan's DVHs."""

    organ: str
    dose_gy: float
    method: str
    rois: tuple[str, ...]
    volume_cm3: float
    covered_fraction: float
    flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        base = self.organ.split(":", 1)[0]
        if base not in ORGANS:
            raise InvalidInputError(f"{base!r} is not a doseline organ", field="organ")
        if not (math.isfinite(self.dose_gy) and self.dose_gy >= 0):
            raise InvalidInputError(
                f"dose {self.dose_gy} Gy is not >= 0", record=self.organ, field="dose_gy"
            )
        if not 0.0 <= self.covered_fraction <= 1.0 + 1e-9:
            raise InvalidInputError(
                f"covered fraction {self.covered_fraction}",
                record=self.organ,
                field="covered_fraction",
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "organ": self.organ,
            "dose_gy": self.dose_gy,
            "method": self.method,
            "rois": list(self.rois),
            "volume_cm3": self.volume_cm3,
            "covered_fraction": self.covered_fraction,
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class OrganDoseResult:
    """Organ doses of one plan (a results object)."""

    estimates: tuple[OrganDoseEstimate, ...]
    prescription_dose_gy: float | None
    not_estimated: tuple[str, ...]
    unmapped_rois: tuple[str, ...] = field(default=())

    def dose_gy(self, organ: str) -> float:
        for estimate in self.estimates:
            if estimate.organ == organ:
                return estimate.dose_gy
        raise KeyError(f"no estimate for {organ!r}")

    @property
    def summary_frame(self) -> pd.DataFrame:
        """One row per organ: organ, dose_gy, method, volume_cm3, covered_fraction, flags."""
        rows = [
            {**e.to_dict(), "rois": ", ".join(e.rois), "flags": ", ".join(e.flags)}
            for e in self.estimates
        ]
        return pd.DataFrame(
            rows,
            columns=["organ", "dose_gy", "method", "rois", "volume_cm3", "covered_fraction",
                     "flags"],
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "prescription_dose_gy": self.prescription_dose_gy,
            "organs": [e.to_dict() for e in self.estimates],
            "not_estimated": list(self.not_estimated),
            "unmapped_rois": list(self.unmapped_rois),
        }


def organ_doses_from_dvhs(
    dvhs: Sequence[DVH],
    names: Mapping[int, StructureName],
    prescription_dose_gy: float | None,
) -> OrganDoseResult:
    """Combine ROI DVHs into organ mean doses (see the module docstring).

    Parameters
    ----------
    dvhs
        DVHs of the plan's ROIs (any subset; unmapped ROIs and targets are ignored).
    names
        ROI number -> what its name stands for (:meth:`NameMapping.lookup`).
    prescription_dose_gy
        Target prescription, for the low-dose-tail flag (``None``: no flag).
    """
    groups: dict[str, list[tuple[DVH, StructureName]]] = {}
    unmapped = []
    for dvh in dvhs:
        name = names.get(dvh.roi_number)
        organ = name.dose_organ if name is not None else None
        if organ is None or name is None:
            if name is None or not name.is_target:
                unmapped.append(dvh.roi_name)
            continue
        groups.setdefault(organ, []).append((dvh, name))
    estimates = [
        _combine(organ, members, prescription_dose_gy) for organ, members in sorted(groups.items())
    ]
    done = {e.organ for e in estimates if e is not None}
    return OrganDoseResult(
        estimates=tuple(e for e in estimates if e is not None),
        prescription_dose_gy=prescription_dose_gy,
        not_estimated=tuple(organ for organ in REPORT_ORGANS if organ not in done),
        unmapped_rois=tuple(unmapped),
    )


def _combine(
    organ: str, members: list[tuple[DVH, StructureName]], prescription_dose_gy: float | None
) -> OrganDoseEstimate | None:
    """The organ's estimate; ``None`` if no part of its ROIs lies in the dose grid."""
    whole = [(d, n) for d, n in members if not _SIDE.search(n.tg263_name or "")]
    chosen = whole or members
    flags = []
    sides = {m.group(1) for _, n in chosen if (m := _SIDE.search(n.tg263_name or ""))}
    if not whole and len(sides) == 1:
        flags.append("one_side_only")
    covered = sum(d.covered_volume_cm3 for d, _ in chosen)
    volume = sum(d.volume_cm3 for d, _ in chosen)
    if covered <= 0:
        return None
    mean = sum(d.mean_gy * d.covered_volume_cm3 for d, _ in chosen if d.covered_volume_cm3 > 0)
    mean /= covered
    fraction = covered / volume if volume > 0 else 1.0
    if fraction < COVERED_FRACTION_MIN:
        flags.append("partial_coverage")
    if prescription_dose_gy and mean < LOW_DOSE_TAIL_FRACTION * prescription_dose_gy:
        flags.append("low_dose_tail")
    return OrganDoseEstimate(
        organ=organ,
        dose_gy=mean,
        method=METHOD_DVH,
        rois=tuple(d.roi_name for d, _ in chosen),
        volume_cm3=volume,
        covered_fraction=min(fraction, 1.0),
        flags=tuple(flags),
    )
