"""Design arrays of a grouped Poisson model: a table and a :class:`ModelSpec` -> numpy arrays.

Checks every column the specification uses and names the table, row and column of a bad value
(DESIGN.md, "bad input").
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.cohort.spec import ModelSpec, SpecError, Term
from doseline.errors import InvalidInputError

__all__ = ["Design", "build_design", "categorise_dose", "evaluate_term", "stratum_codes"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Design:
    """Numeric arrays of a grouped model, one row per cell.

    Attributes
    ----------
    cases, pyr
        Observed cases and person-years per cell.
    strata, stratum_labels
        Stratum code per cell (0..S-1) and the label of each stratum; ``None`` when unstratified.
    background, background_names
        Log-linear background columns (intercept and stratum indicators included where used).
    dose
        Numeric dose per cell (``None`` for background-only models and categorical-only doses).
    dose_categories, category_labels
        Indicator matrix of the non-reference dose categories, for the categorical form.
    modifiers, modifier_names
        Effect-modifier columns.
    """

    cases: FloatArray
    pyr: FloatArray
    strata: IntArray | None
    stratum_labels: tuple[str, ...]
    background: FloatArray
    background_names: tuple[str, ...]
    dose: FloatArray | None
    dose_categories: FloatArray | None
    category_labels: tuple[str, ...]
    modifiers: FloatArray
    modifier_names: tuple[str, ...]

    @property
    def n_cells(self) -> int:
        """Number of cells (rows)."""
        return int(self.cases.shape[0])


def _numeric_column(table: pd.DataFrame, column: str, source: str) -> FloatArray:
    if column not in table.columns:
        raise InvalidInputError(
            f"no column {column!r}; columns are {', '.join(map(str, table.columns))}",
            source=source,
            field=column,
        )
    series = table[column]
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"value {series.iloc[row]!r} is not a finite number",
            source=source,
            record=f"row {table.index[row]}",
            field=column,
        )
    return values


def _evaluate_node(node: ast.expr, table: pd.DataFrame, source: str) -> FloatArray:
    if isinstance(node, ast.Name):
        return _numeric_column(table, node.id, source)
    if isinstance(node, ast.Constant):
        value = node.value
        assert isinstance(value, int | float)
        return np.full(len(table), float(value))
    if isinstance(node, ast.UnaryOp):
        inner = _evaluate_node(node.operand, table, source)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        left = _evaluate_node(node.left, table, source)
        right = _evaluate_node(node.right, table, source)
        ops = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply}
        ops.update({ast.Div: np.divide, ast.Pow: np.power})
        with np.errstate(all="ignore"):
            return np.asarray(ops[type(node.op)](left, right), dtype=np.float64)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        funcs = {"log": np.log, "exp": np.exp, "sqrt": np.sqrt}
        with np.errstate(all="ignore"):
            return np.asarray(funcs[node.func.id](_evaluate_node(node.args[0], table, source)))
    raise SpecError(f"cannot evaluate {ast.unparse(node)!r}")  # parse_spec rejects these


def evaluate_term(term: Term, table: pd.DataFrame, source: str) -> tuple[FloatArray, list[str]]:
    """Evaluate one term on a table: its columns (n x k) and their names.

    Non-numeric columns named as plain terms are treated as factors.
    """
    is_column = term.kind == "numeric" and term.source in table.columns
    as_factor = term.kind == "factor" or (
        is_column and not pd.api.types.is_numeric_dtype(table[term.source])
    )
    if as_factor:
        if term.source not in table.columns:
            _numeric_column(table, term.source, source)  # raises the missing-column error
        codes, levels = pd.factorize(table[term.source], sort=True)
        if (codes < 0).any():
            row = int(np.flatnonzero(codes < 0)[0])
            raise InvalidInputError(
                "missing value", source=source, record=f"row {table.index[row]}", field=term.source
            )
        matrix = (codes[:, None] == np.arange(1, len(levels))[None, :]).astype(np.float64)
        return matrix, [f"{term.label}[{level}]" for level in levels[1:]]
    values = _evaluate_node(ast.parse(term.source, mode="eval").body, table, source)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"term {term.label!r} is not finite here (log of a non-positive value?)",
            source=source,
            record=f"row {table.index[row]}",
            field=term.label,
        )
    return values[:, None], [term.label]


def stratum_codes(
    table: pd.DataFrame, columns: tuple[str, ...] | list[str], source: str
) -> tuple[IntArray, tuple[str, ...]]:
    """Code (0..S-1) of each row's combination of ``columns`` and the label of each code.

    Vectorised with :meth:`pandas.DataFrame.groupby` (a row-wise join is far slower).
    """
    for column in columns:
        if column not in table.columns:
            _numeric_column(table, column, source)  # raises the missing-column error
        if table[column].isna().any():
            row = int(np.flatnonzero(table[column].isna().to_numpy())[0])
            raise InvalidInputError(
                "missing stratum value",
                source=source,
                record=f"row {table.index[row]}",
                field=column,
            )
    grouped = table.groupby(list(columns), sort=True)
    codes = np.asarray(grouped.ngroup().to_numpy(), dtype=np.intp)
    keys = list(grouped.size().index)
    labels = tuple("|".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in keys)
    return codes, labels


def _terms_matrix(
    terms: tuple[Term, ...], table: pd.DataFrame, source: str
) -> tuple[FloatArray, tuple[str, ...]]:
    blocks, names = [], []
    for term in terms:
        block, block_names = evaluate_term(term, table, source)
        blocks.append(block)
        names.extend(block_names)
    matrix = np.hstack(blocks) if blocks else np.zeros((len(table), 0))
    return np.ascontiguousarray(matrix, dtype=np.float64), tuple(names)


def categorise_dose(
    dose: FloatArray, cutpoints: tuple[float, ...], unit: str = ""
) -> tuple[IntArray, tuple[str, ...]]:
    """Category index of each dose for left-closed intervals ``[c_k, c_{k+1})``.

    The last category is closed above at its cut point only if it is the maximum; doses outside
    ``[c_0, c_last]`` raise an error.
    """
    cuts = np.asarray(cutpoints, dtype=np.float64)
    index = np.searchsorted(cuts, dose, side="right") - 1
    index[dose == cuts[-1]] = len(cuts) - 2
    outside = (index < 0) | (index > len(cuts) - 2)
    if outside.any():
        raise InvalidInputError(
            f"dose {dose[outside][0]} is outside the cut points [{cuts[0]}, {cuts[-1]}]",
            field="dose",
        )
    labels = tuple(f"[{cuts[k]:g},{cuts[k + 1]:g}){unit}" for k in range(len(cuts) - 1))
    return index.astype(np.intp), labels


def _dose_arrays(
    spec: ModelSpec, table: pd.DataFrame, source: str
) -> tuple[FloatArray | None, FloatArray | None, tuple[str, ...]]:
    if spec.dose is None:
        return None, None, ()
    if spec.form != "categorical":
        return _numeric_column(table, spec.dose, source), None, ()
    dose: FloatArray | None = None
    labels: tuple[str, ...]
    if spec.cutpoints is None:
        codes, levels = pd.factorize(table[spec.dose], sort=True)
        labels = tuple(str(level) for level in levels)
    else:
        dose = _numeric_column(table, spec.dose, source)
        try:
            codes, labels = categorise_dose(dose, spec.cutpoints)
        except InvalidInputError as exc:
            raise exc.with_source(source) from None
    if len(labels) < 2:
        raise InvalidInputError("categorical dose needs at least two categories", field=spec.dose)
    indicators = (codes[:, None] == np.arange(1, len(labels))[None, :]).astype(np.float64)
    return dose, indicators, labels[1:]


def build_design(
    table: pd.DataFrame, spec: ModelSpec, *, cases: str, pyr: str, source: str = "table"
) -> Design:
    """Check a grouped table against a specification and build its design arrays.

    Raises
    ------
    InvalidInputError
        Naming ``source``, the row and the column of the first bad value.
    """
    y = _numeric_column(table, cases, source)
    person_years = _numeric_column(table, pyr, source)
    for values, column, test, what in (
        (y, cases, y < 0, "negative case count"),
        (person_years, pyr, person_years <= 0, "person-years must be positive"),
    ):
        if test.any():
            row = int(np.flatnonzero(test)[0])
            raise InvalidInputError(
                f"{what}: {values[row]}",
                source=source,
                record=f"row {table.index[row]}",
                field=column,
            )
    strata: IntArray | None = None
    labels: tuple[str, ...] = ()
    if spec.strata:
        strata, labels = stratum_codes(table, spec.strata, source)
    background, names = _terms_matrix(spec.background, table, source)
    if spec.intercept:
        background = np.hstack([np.ones((len(table), 1)), background])
        names = ("(intercept)", *names)
    if spec.excess == "ear" and strata is not None:
        # The additive model has no closed-form stratum intercepts: strata become indicators.
        indicators = (strata[:, None] == np.arange(len(labels))[None, :]).astype(np.float64)
        background = np.hstack([indicators, background])
        names = tuple(f"stratum[{label}]" for label in labels) + names
        strata, labels = None, ()
    dose, categories, category_labels = _dose_arrays(spec, table, source)
    modifiers, modifier_names = _terms_matrix(spec.modifiers, table, source)
    return Design(
        cases=y,
        pyr=person_years,
        strata=strata,
        stratum_labels=labels,
        background=np.ascontiguousarray(background),
        background_names=names,
        dose=dose,
        dose_categories=categories,
        category_labels=category_labels,
        modifiers=modifiers,
        modifier_names=modifier_names,
    )
