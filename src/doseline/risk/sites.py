"""Cancer sites of the risk models and the organ dose that drives each of them.

The site -> organ mapping follows the organ named by each BEIR VII / RadRAT site model; the
sites without a single organ ("other" solid cancers in BEIR VII, "remainder" in RadRAT) take
the ICRP Publication 103 remainder dose: the arithmetic mean of the 13 remainder tissues of
the person's sex (ICRP 103, Table 3 footnote, as in :mod:`doseline.organs`). BEIR VII itself
gives its worked examples for uniform whole-body doses, where every organ receives the same
dose; for non-uniform medical exposures the remainder mean is the surrogate that ICRP 103 uses
for the tissues without their own weight. Each remainder tissue that was not estimated takes
the ``whole_body`` dose when supplied (as every other organ does).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from doseline.errors import InvalidInputError
from doseline.organs import ICRP103_REMAINDER_FEMALE, ICRP103_REMAINDER_MALE, ORGANS, Sex

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "BEIR7_SITES",
    "RADRAT_SITES",
    "REMAINDER_SITES",
    "REPORT_ROWS",
    "SITE_ORGAN",
    "organ_dose_for_site",
    "sites_for_sex",
]

#: BEIR VII Phase 2 sites with their own models (NRC 2006, ch. 12, Table 12-2), plus leukaemia.
BEIR7_SITES: tuple[str, ...] = (
    "stomach",
    "colon",
    "liver",
    "lung",
    "breast",
    "uterus",
    "ovary",
    "prostate",
    "bladder",
    "thyroid",
    "other",
    "leukaemia",
)

#: RadRAT sites (Berrington de Gonzalez et al. 2012, Table 1), plus remainder and leukaemia.
RADRAT_SITES: tuple[str, ...] = (
    "oral",
    "oesophagus",
    "stomach",
    "colon",
    "rectum",
    "gallbladder",
    "pancreas",
    "liver",
    "lung",
    "breast",
    "ovary",
    "uterus",
    "prostate",
    "bladder",
    "kidney",
    "brain_cns",
    "thyroid",
    "remainder",
    "leukaemia",
)

#: The residual solid-cancer sites: their baseline is all solid cancers minus the modelled sites.
REMAINDER_SITES: frozenset[str] = frozenset({"other", "remainder"})

#: Rows of the BEIR VII tables (Table 12D-1), in order, as the CLI reports them.
REPORT_ROWS: tuple[str, ...] = (*BEIR7_SITES[:-1], "leukaemia", "all_solid", "all_cancer")

_SEX_SPECIFIC: Mapping[str, Sex] = MappingProxyType(
    {"breast": "female", "uterus": "female", "ovary": "female", "prostate": "male"}
)

#: Organ (from :data:`doseline.organs.ORGANS`) whose absorbed dose drives each site.
#: "other" and "remainder" use the ICRP 103 remainder mean (see module docstring).
SITE_ORGAN: Mapping[str, str] = MappingProxyType(
    {
        "stomach": "stomach",
        "colon": "colon",
        "liver": "liver",
        "lung": "lung",
        "breast": "breast",
        "uterus": "uterus",
        "ovary": "ovaries",
        "prostate": "prostate",
        "bladder": "bladder",
        "thyroid": "thyroid",
        "leukaemia": "red_bone_marrow",
        "oral": "oral_mucosa",
        "oesophagus": "oesophagus",
        "rectum": "rectum",
        "gallbladder": "gallbladder",
        "pancreas": "pancreas",
        "kidney": "kidneys",
        "brain_cns": "brain",
    }
)


def sites_for_sex(sites: tuple[str, ...], sex: Sex) -> tuple[str, ...]:
    """The sites of ``sites`` that exist for ``sex`` (no prostate for females, ...)."""
    return tuple(s for s in sites if _SEX_SPECIFIC.get(s, sex) == sex)


def organ_dose_for_site(
    site: str,
    sex: Sex,
    organ_doses_gy: Mapping[str, npt.ArrayLike],
    *,
    record: str | None = None,
) -> FloatArray:
    """Absorbed dose (Gy) that drives ``site``, from a mapping organ -> dose(s).

    Parameters
    ----------
    site
        A site of :data:`BEIR7_SITES` or :data:`RADRAT_SITES`.
    sex
        Selects the ICRP 103 remainder tissues (prostate or uterus).
    organ_doses_gy
        Organ name (:data:`doseline.organs.ORGANS`) -> absorbed dose in Gy, scalars or
        arrays of one shape. ``whole_body`` is used for any organ without its own value.
    record
        Named in the error when a needed dose is missing.

    Raises
    ------
    InvalidInputError
        When neither the organ nor ``whole_body`` has a dose, or a dose is negative.
    """
    doses = {organ: np.asarray(value, dtype=np.float64) for organ, value in organ_doses_gy.items()}
    for organ, dose in doses.items():
        if organ not in ORGANS:
            raise InvalidInputError(f"unknown organ {organ!r}", record=record, field="organ")
        if not np.all(dose >= 0.0):
            raise InvalidInputError(
                f"dose to {organ} is not a non-negative number of Gy",
                record=record,
                field="dose_gy",
            )
    fallback = doses.get("whole_body")
    if site in REMAINDER_SITES:
        tissues = ICRP103_REMAINDER_MALE if sex == "male" else ICRP103_REMAINDER_FEMALE
        missing = [t for t in tissues if t not in doses]
        given = [doses[t] for t in tissues if t in doses]
        if missing:
            if fallback is None:
                raise InvalidInputError(
                    f"site {site!r} needs the ICRP 103 remainder tissues or whole_body; missing: "
                    + ", ".join(missing),
                    record=record,
                    field="organ",
                )
            if not given:
                return fallback
            # each remainder tissue without its own dose takes whole_body, like any other organ
            given += [fallback] * len(missing)
        mean: FloatArray = np.mean(np.broadcast_arrays(*given), axis=0)
        return mean
    organ = SITE_ORGAN[site]
    if organ in doses:
        return doses[organ]
    if fallback is not None:
        return fallback
    raise InvalidInputError(
        f"site {site!r} needs a dose to {organ!r} (or whole_body)", record=record, field="organ"
    )
