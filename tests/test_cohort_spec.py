"""Model specification language: parsing, round trip and error messages (docs/cohort_models.md).

Reference: the grammar documented in docs/cohort_models.md (synthetic examples; the expected
parse trees are written out by hand).
"""

from __future__ import annotations

import pytest

from doseline.cohort.spec import ModelSpec, SpecError, parse_spec


def test_full_specification_parses() -> None:
    spec = parse_spec(
        "background: strata(agecat, sex) + log(age/70) + factor(period)\n"
        "err: dose * exp(factor(sex) + log(age_exposure/10))  # Preston-type modifiers\n"
        "form: linexp"
    )
    assert spec.strata == ("agecat", "sex")
    assert [t.label for t in spec.background] == ["log(age / 70)", "period"]
    assert [t.kind for t in spec.background] == ["numeric", "factor"]
    assert not spec.intercept
    assert spec.dose == "dose"
    assert spec.excess == "err"
    assert spec.form == "linexp"
    assert [t.written for t in spec.modifiers] == ["factor(sex)", "log(age_exposure / 10)"]


def test_describe_round_trips() -> None:
    text = (
        "background: strata(a) + factor(b) + log(c / 2); ear: d * exp(factor(e)); "
        "form: categorical(0.0, 0.1, 1.0)"
    )
    spec = parse_spec(text)
    assert spec.cutpoints == (0.0, 0.1, 1.0)
    assert parse_spec(spec.describe()) == spec


def test_defaults_and_keyword_builder() -> None:
    assert parse_spec("err: dose") == ModelSpec(dose="dose")
    assert parse_spec("background: 1").dose is None
    built = ModelSpec.linear_err("dose_gy", strata=["s"], modifiers=["factor(sex)"])
    assert built == parse_spec("background: strata(s); err: dose_gy * exp(factor(sex))")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("backgrund: strata(a)", "unknown section 'backgrund'"),
        ("err: dose; ear: dose", "either 'err:' or 'ear:'"),
        ("err: dose; form: cubic", "unknown form 'cubic'"),
        ("err: dose**2", "DOSE \\* exp\\(MODIFIERS\\)"),
        ("background: __import__('os')", "is not allowed"),
        ("background: strata(a) + 1", "drop the '1'"),
        ("err: dose * exp(strata(a))", "only in the background"),
        ("err: dose; form: categorical(1, 0)", "increase strictly"),
        ("background: log(", "cannot parse"),
        ("form: linear", "without an err: or ear:"),
    ],
)
def test_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(text)
