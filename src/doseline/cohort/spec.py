"""Model specification language for grouped excess-risk regression.

A specification is a short text of ``key: value`` sections separated by ``;`` or new lines::

    background: strata(agecat, sex) + log(age/70) + factor(period)
    err: dose * exp(factor(sex) + log(age_exposure/10))
    form: linear

It maps onto the Epicure AMFIT "product-additive-excess" model (Hirosoft EPICURE NetHelp, "Risk
Models in EPICURE Programs"): the ``background`` section is the log-linear term ``T0`` (LOGLIN 0),
the ``err`` section the excess term ``T1`` whose linear subterm is the dose response and whose
log-linear subterm holds the effect modifiers.  ``ear:`` in place of ``err:`` gives the additive
(excess absolute rate) model.  ``docs/cohort_models.md`` documents the grammar in full.

Expressions are parsed with Python's :mod:`ast` and checked against a short whitelist (column
names, numbers, ``+ - * / **``, ``log``, ``exp``, ``sqrt``, ``factor``, ``strata``); nothing is
evaluated as Python code.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Literal

from doseline.errors import InvalidInputError

__all__ = [
    "DoseForm",
    "ExcessKind",
    "ModelSpec",
    "SpecError",
    "Term",
    "parse_spec",
]

DoseForm = Literal["linear", "lq", "linexp", "categorical"]
ExcessKind = Literal["err", "ear"]

_FORMS: tuple[DoseForm, ...] = ("linear", "lq", "linexp", "categorical")
_FUNCTIONS = frozenset({"log", "exp", "sqrt"})
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
_SECTION = re.compile(r"^\s*([A-Za-z_]+)\s*:(.*)$", re.DOTALL)


class SpecError(InvalidInputError):
    """A model specification could not be parsed; the message names the section and the text."""

    code = "invalid model specification"


@dataclass(frozen=True)
class Term:
    """One term of a log-linear part (background or effect modifiers).

    Attributes
    ----------
    label
        The term as written (normalised by :func:`ast.unparse`), used to name parameters.
    kind
        ``"numeric"`` (one column: the value of the expression) or ``"factor"`` (indicator
        columns for every level but the first, in sorted order).
    source
        Expression text, parsed again by :mod:`doseline.cohort.design` to evaluate it.
    """

    label: str
    kind: Literal["numeric", "factor"]
    source: str

    @property
    def written(self) -> str:
        """The term as written in the language (``factor(x)`` for factors)."""
        return f"factor({self.label})" if self.kind == "factor" else self.label


@dataclass(frozen=True)
class ModelSpec:
    """A parsed, validated model specification (valid on construction).

    Attributes
    ----------
    strata
        Columns whose combinations define fully stratified background strata (intercepts
        profiled out in closed form for ERR models).
    background
        Log-linear background terms besides the strata.
    intercept
        Whether the background has a free intercept (true when there are no strata).
    excess
        ``"err"`` (relative: rate = background × (1 + ERR)) or ``"ear"`` (additive:
        rate = background + EAR).
    dose
        Dose column, or ``None`` for a background-only (log-linear) model.
    form
        Dose-response form: ``linear`` β·d, ``lq`` β₁·d + β₂·d², ``linexp`` β₁·d·exp(β₂·d),
        ``categorical`` one coefficient per dose category except the reference (first).
    cutpoints
        For ``categorical``: the category boundaries (left-closed), or ``None`` when the dose
        column itself is categorical.
    modifiers
        Log-linear effect-modifier terms multiplying the excess.
    """

    strata: tuple[str, ...] = ()
    background: tuple[Term, ...] = ()
    intercept: bool = True
    excess: ExcessKind = "err"
    dose: str | None = None
    form: DoseForm = "linear"
    cutpoints: tuple[float, ...] | None = None
    modifiers: tuple[Term, ...] = ()

    def __post_init__(self) -> None:
        if self.form not in _FORMS:
            raise SpecError(f"unknown form {self.form!r}; use one of {', '.join(_FORMS)}")
        if self.dose is None and self.modifiers:
            raise SpecError("effect modifiers need an excess (err: or ear:) section")
        if self.cutpoints is not None and list(self.cutpoints) != sorted(set(self.cutpoints)):
            raise SpecError(f"cut points must increase strictly, got {list(self.cutpoints)}")
        if self.excess not in ("err", "ear"):
            raise SpecError(f"unknown excess kind {self.excess!r}")

    @classmethod
    def linear_err(
        cls,
        dose: str,
        *,
        strata: tuple[str, ...] | list[str] = (),
        modifiers: tuple[str, ...] | list[str] = (),
        background: tuple[str, ...] | list[str] = (),
        form: DoseForm = "linear",
        excess: ExcessKind = "err",
    ) -> ModelSpec:
        """Build a spec from column names (the keyword convenience behind the CLI).

        Modifier and background entries may be column names or expressions of the language.
        """
        parts = []
        bg = [f"strata({', '.join(strata)})"] if strata else []
        bg += list(background)
        if bg:
            parts.append("background: " + " + ".join(bg))
        excess_text = f"{excess}: {dose}"
        if modifiers:
            excess_text += " * exp(" + " + ".join(modifiers) + ")"
        parts.append(excess_text)
        parts.append(f"form: {form}")
        return parse_spec("; ".join(parts))

    def describe(self) -> str:
        """Return the specification as text in the language (round-trips through parse)."""
        bg = [f"strata({', '.join(self.strata)})"] if self.strata else []
        bg += [t.written for t in self.background]
        lines = ["background: " + (" + ".join(bg) if bg else "1")]
        if self.dose is not None:
            text = f"{self.excess}: {self.dose}"
            if self.modifiers:
                text += " * exp(" + " + ".join(t.written for t in self.modifiers) + ")"
            lines.append(text)
            form = self.form
            if self.cutpoints is not None:
                form = f"categorical({', '.join(repr(c) for c in self.cutpoints)})"  # type: ignore[assignment]
            lines.append(f"form: {form}")
        return "; ".join(lines)


def parse_spec(text: str) -> ModelSpec:
    """Parse a model specification text into a :class:`ModelSpec`.

    Parameters
    ----------
    text
        Sections ``background:``, ``err:`` or ``ear:``, ``form:`` separated by ``;`` or new
        lines; ``#`` starts a comment.

    Raises
    ------
    SpecError
        Naming the section and the offending text.
    """
    sections: dict[str, str] = {}
    lines = [re.sub(r"#.*", "", line) for line in text.splitlines()]
    for raw in "\n".join(lines).replace("\n", ";").split(";"):
        if not raw.strip():
            continue
        match = _SECTION.match(raw)
        if match is None:
            raise SpecError(f"expected 'key: value', got {raw.strip()!r}", field="model")
        key, value = match.group(1).lower(), match.group(2).strip()
        if key not in ("background", "err", "ear", "form"):
            raise SpecError(
                f"unknown section {key!r}; use background, err, ear or form", field="model"
            )
        if key in sections:
            raise SpecError(f"section {key!r} given twice", field="model")
        sections[key] = value
    if "err" in sections and "ear" in sections:
        raise SpecError("give either 'err:' or 'ear:', not both", field="model")
    strata, background, intercept = _parse_background(sections.get("background", ""))
    excess: ExcessKind = "ear" if "ear" in sections else "err"
    dose: str | None = None
    modifiers: tuple[Term, ...] = ()
    if excess in sections:
        dose, modifiers = _parse_excess(sections[excess], excess)
    form, cutpoints = _parse_form(sections.get("form", "linear"))
    if dose is None and "form" in sections:
        raise SpecError("'form:' given without an err: or ear: section", field="model")
    return ModelSpec(
        strata=strata,
        background=background,
        intercept=intercept,
        excess=excess,
        dose=dose,
        form=form,
        cutpoints=cutpoints,
        modifiers=modifiers,
    )


def _parse_expression(text: str, section: str) -> ast.expr:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"cannot parse {text!r}: {exc.msg}", field=section) from None
    return tree.body


def _split_sum(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _split_sum(node.left) + _split_sum(node.right)
    return [node]


def _check_numeric(node: ast.expr, section: str) -> None:
    """Accept only names, numbers, arithmetic and log/exp/sqrt calls."""
    if isinstance(node, ast.Name):
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        _check_numeric(node.operand, section)
        return
    if isinstance(node, ast.BinOp) and isinstance(node.op, _BINOPS):
        _check_numeric(node.left, section)
        _check_numeric(node.right, section)
        return
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and len(node.args) == 1
        and not node.keywords
    ):
        _check_numeric(node.args[0], section)
        return
    raise SpecError(
        f"{ast.unparse(node)!r} is not allowed; use column names, numbers, + - * / **, "
        "log(), exp(), sqrt(), factor(column)",
        field=section,
    )


def _call_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _parse_terms(text: str, section: str) -> tuple[Term, ...]:
    terms: list[Term] = []
    for node in _split_sum(_parse_expression(text, section)):
        terms.append(_parse_term(node, section))
    labels = [t.label for t in terms]
    if len(set(labels)) != len(labels):
        raise SpecError(f"a term is repeated in {text!r}", field=section)
    return tuple(terms)


def _parse_term(node: ast.expr, section: str) -> Term:
    if _call_name(node) == "factor":
        assert isinstance(node, ast.Call)
        if len(node.args) != 1 or not isinstance(node.args[0], ast.Name) or node.keywords:
            raise SpecError(f"factor() takes one column name: {ast.unparse(node)!r}", field=section)
        return Term(label=node.args[0].id, kind="factor", source=node.args[0].id)
    if _call_name(node) == "strata":
        raise SpecError("strata() is allowed only in the background section", field=section)
    _check_numeric(node, section)
    label = ast.unparse(node)
    return Term(label=label, kind="numeric", source=label)


def _parse_background(text: str) -> tuple[tuple[str, ...], tuple[Term, ...], bool]:
    if not text or text.strip() == "1":
        return (), (), True
    strata: tuple[str, ...] = ()
    rest: list[ast.expr] = []
    explicit_one = False
    for node in _split_sum(_parse_expression(text, "background")):
        if _call_name(node) == "strata":
            assert isinstance(node, ast.Call)
            if strata:
                raise SpecError("give one strata(...) term listing all columns", field="background")
            if not node.args or not all(isinstance(a, ast.Name) for a in node.args):
                raise SpecError("strata() takes column names", field="background")
            strata = tuple(a.id for a in node.args if isinstance(a, ast.Name))
        elif isinstance(node, ast.Constant) and node.value == 1:
            explicit_one = True
        else:
            rest.append(node)
    if strata and explicit_one:
        raise SpecError("strata() already holds the intercepts; drop the '1'", field="background")
    terms = tuple(_parse_term(node, "background") for node in rest)
    labels = [t.label for t in terms]
    if len(set(labels)) != len(labels):
        raise SpecError(f"a term is repeated in {text!r}", field="background")
    return strata, terms, not strata


def _parse_excess(text: str, section: str) -> tuple[str, tuple[Term, ...]]:
    node = _parse_expression(text, section)
    if isinstance(node, ast.Name):
        return node.id, ()
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Mult)
        and isinstance(node.left, ast.Name)
        and _call_name(node.right) == "exp"
    ):
        call = node.right
        assert isinstance(call, ast.Call)
        if len(call.args) != 1:
            raise SpecError("exp() takes one argument (the modifier terms)", field=section)
        return node.left.id, _parse_terms(ast.unparse(call.args[0]), section)
    raise SpecError(
        f"expected 'DOSE' or 'DOSE * exp(MODIFIERS)', got {text!r}; the dose-response shape is "
        "set by 'form:'",
        field=section,
    )


def _parse_form(text: str) -> tuple[DoseForm, tuple[float, ...] | None]:
    value = text.strip().lower()
    for form in _FORMS:
        if value == form:
            return form, None
    match = re.fullmatch(r"categorical\s*\((.*)\)", value)
    if match:
        try:
            cuts = tuple(float(c) for c in match.group(1).split(",") if c.strip())
        except ValueError:
            raise SpecError(f"cut points must be numbers: {text!r}", field="form") from None
        if len(cuts) < 2:
            raise SpecError("categorical(...) needs at least two cut points", field="form")
        return "categorical", cuts
    raise SpecError(
        f"unknown form {text!r}; use linear, lq, linexp, categorical or categorical(c1, c2, ...)",
        field="form",
    )
