"""ICRP 103 effective dose (ICRP Publication 103, Table 3 and eq. 4.5)."""

from __future__ import annotations

import math

import pytest

from doseline.organs import (
    ICRP103_REMAINDER_FEMALE,
    ICRP103_REMAINDER_MALE,
    ICRP103_TISSUE_WEIGHTS,
    ORGANS,
    check_organ,
    effective_dose,
)


def test_weights_sum_to_one() -> None:
    # ICRP 103 Table 3: the weights sum to 1 exactly.
    assert math.isclose(sum(ICRP103_TISSUE_WEIGHTS.values()), 1.0, abs_tol=1e-12)
    assert len(ICRP103_REMAINDER_MALE) == len(ICRP103_REMAINDER_FEMALE) == 13


def test_uniform_dose_gives_equal_effective_dose() -> None:
    # Synthetic truth: a uniform whole-body dose D gives E = D (weights sum to 1).
    doses = dict.fromkeys(ORGANS, 2.5)
    assert float(effective_dose(doses)) == pytest.approx(2.5, rel=1e-12)


def test_single_organ_contribution() -> None:
    # Thyroid only, 1 Sv: E = w_thyroid = 0.04 Sv. Prostate only: 0.12 / 13 / 2 (male remainder).
    doses = dict.fromkeys(ORGANS, 0.0)
    doses["thyroid"] = 1.0
    assert float(effective_dose(doses)) == pytest.approx(0.04)
    doses["thyroid"] = 0.0
    doses["prostate"] = 1.0
    assert float(effective_dose(doses)) == pytest.approx(0.12 / 13 / 2)
    doses["prostate"] = 0.0
    doses["ovaries"] = 1.0
    assert float(effective_dose(doses)) == pytest.approx(0.08 / 2)


def test_missing_and_unknown_organs_are_named() -> None:
    doses = dict.fromkeys(ORGANS, 1.0)
    del doses["oesophagus"]
    with pytest.raises(ValueError, match="oesophagus"):
        effective_dose(doses)
    with pytest.raises(ValueError, match="spleen2"):
        check_organ("spleen2")


def test_icrp60_uniform_dose_and_weights() -> None:
    # ICRP 60 Table 2: weights sum to 1, so a uniform dose D gives E = D.
    from doseline.organs import ICRP60_REMAINDER, ICRP60_TISSUE_WEIGHTS, effective_dose_icrp60

    assert math.isclose(sum(ICRP60_TISSUE_WEIGHTS.values()), 1.0, abs_tol=1e-12)
    assert len(ICRP60_REMAINDER) == 10
    assert effective_dose_icrp60(dict.fromkeys(ORGANS, 3.0)) == pytest.approx(3.0)


def test_icrp60_breast_weight_and_splitting_rule() -> None:
    from doseline.organs import effective_dose_icrp60

    doses = dict.fromkeys(ORGANS, 0.0)
    doses["breast"] = 1.0
    assert effective_dose_icrp60(doses) == pytest.approx(0.05)  # ICRP 60 breast weight
    doses["breast"] = 0.0
    doses["thymus"] = 1.0  # hotter than every named tissue: the splitting rule (note 3)
    assert effective_dose_icrp60(doses) == pytest.approx(0.025)
    doses["lung"] = 2.0  # a named tissue is hotter: thymus is one tenth of the remainder
    assert effective_dose_icrp60(doses) == pytest.approx(0.12 * 2.0 + 0.05 / 10)
