"""Properties of the LAR calculation that hold whatever the baseline (hypothesis).

Reference: the structure of the BEIR VII LAR (NRC 2006, ch. 12, eq. 12-1): risk is zero
without dose, linear in dose for solid cancers (increasing for the linear-quadratic leukaemia
model), decreasing with age at exposure for sites with gamma < 0 and, for linear models,
additive over exposures at the same age. Baselines are synthetic (known constant rates), so
these tests need no external data; tolerances are floating-point round-off.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doseline.organs import Sex
from doseline.risk import BEIR7Model, Exposure, RadRATModel, lar
from doseline.risk.baseline import synthetic_baseline
from doseline.risk.sites import RADRAT_SITES

BASELINE = synthetic_baseline(
    (*RADRAT_SITES, "all_solid"), rate_per_100000=50.0, hazard_per_100000=800.0
)
MODELS = {"beir7": BEIR7Model(), "radrat": RadRATModel()}
ages = st.floats(min_value=0.0, max_value=80.0, allow_nan=False)
doses = st.floats(min_value=1e-4, max_value=1.0, allow_nan=False)
sexes = st.sampled_from(["male", "female"])
models = st.sampled_from(sorted(MODELS))


def _lar(model: str, sex: str, exposures: list[Exposure]) -> dict[str, float]:
    result = lar(exposures, sex=sex, model=MODELS[model], baseline=BASELINE)
    return dict(result.lar_per_100000)


@settings(max_examples=15, deadline=None)
@given(model=models, sex=sexes, age=ages)
def test_zero_dose_gives_zero_risk(model: str, sex: str, age: float) -> None:
    values = _lar(model, sex, [Exposure(age, {"whole_body": 0.0})])
    assert all(v == 0.0 for v in values.values() if math.isfinite(v))


@settings(max_examples=15, deadline=None)
@given(model=models, sex=sexes, age=ages, dose=doses, factor=st.floats(1.1, 5.0))
def test_lar_increases_with_dose(
    model: str, sex: str, age: float, dose: float, factor: float
) -> None:
    low = _lar(model, sex, [Exposure(age, {"whole_body": dose})])
    high = _lar(model, sex, [Exposure(age, {"whole_body": dose * factor})])
    assert high["all_cancer"] > low["all_cancer"] > 0
    assert high["leukaemia"] > low["leukaemia"]
    # solid cancers are linear in dose (BEIR VII eq. 12-2)
    assert high["all_solid"] == pytest.approx(factor * low["all_solid"], rel=1e-9)


@settings(max_examples=15, deadline=None)
@given(model=models, sex=sexes, age=st.floats(0.0, 24.0), step=st.floats(1.0, 6.0))
def test_lar_decreases_with_age_at_exposure(model: str, sex: str, age: float, step: float) -> None:
    # Below 30 y, e* = (e - 30)/10 with gamma < 0 lowers ERR and EAR with age at exposure
    # (BEIR VII eq. 12-2); above 30 the modifier is flat and LAR can rise slightly through
    # survival conditioning, as Table 12D-1 shows for lung (105 at 30, 104 at 40).
    young = _lar(model, sex, [Exposure(age, {"whole_body": 0.1})])
    old = _lar(model, sex, [Exposure(age + step, {"whole_body": 0.1})])
    for site in ("stomach", "colon", "liver", "lung", "bladder", "thyroid", "all_solid"):
        assert old[site] < young[site], site


@settings(max_examples=15, deadline=None)
@given(model=models, sex=sexes, age=ages, dose=doses, share=st.floats(0.05, 0.95))
def test_splitting_a_dose_at_one_age_changes_nothing_for_linear_models(
    model: str, sex: str, age: float, dose: float, share: float
) -> None:
    whole = _lar(model, sex, [Exposure(age, {"whole_body": dose})])
    split = _lar(
        model,
        sex,
        [
            Exposure(age, {"whole_body": dose * share}),
            Exposure(age, {"whole_body": dose * (1 - share)}),
        ],
    )
    assert split["all_solid"] == pytest.approx(whole["all_solid"], rel=1e-9)
    # leukaemia is linear-quadratic per exposure (theta > 0): splitting lowers it
    assert split["leukaemia"] < whole["leukaemia"]


@pytest.mark.parametrize("sex", ["male", "female"])
def test_remainder_dose_uses_given_tissues_and_whole_body_for_the_rest(sex: Sex) -> None:
    """Synthetic truth: the ICRP 103 remainder dose is the mean of the 13 remainder tissues
    (ICRP 103, Table 3 footnote); a tissue without its own dose takes whole_body, like any
    organ, so giving some tissues must not discard them."""
    from doseline.organs import ICRP103_REMAINDER_FEMALE, ICRP103_REMAINDER_MALE
    from doseline.risk.sites import organ_dose_for_site

    tissues = ICRP103_REMAINDER_MALE if sex == "male" else ICRP103_REMAINDER_FEMALE
    given_doses = {"kidneys": 0.13, "pancreas": 0.26, "whole_body": 0.01}
    expected = (0.13 + 0.26 + 0.01 * (len(tissues) - 2)) / len(tissues)
    for site in ("other", "remainder"):
        dose = organ_dose_for_site(site, sex, given_doses)
        assert float(dose) == pytest.approx(expected, rel=1e-12)
    # no remainder tissue given: exactly the whole-body dose
    assert float(organ_dose_for_site("other", sex, {"whole_body": 0.01})) == 0.01
