"""Dose-area product for records with no dose at all: a log-linear model fitted on records
that have it, with its predictive distribution.

Model (ordinary least squares on log KAP)::

    log KAP = b0 + procedure_type + size + era + centre + e,    e ~ N(0, sigma^2)

with the categorical terms in treatment coding (reference level: the first in sorted order).
Two sub-models share the categorical terms and differ in the size term:

- **weight** model: ``b_w log(weight_kg)``, fitted on the records with a weight. Dose-area
  product rises in proportion to body weight over two orders of magnitude in paediatric cardiac
  catheterisation (Onnasch DGW et al., Br J Radiol 2007;80:177-85), and correlates with weight
  better than with age (Kobayashi D et al., Catheter Cardiovasc Interv 2014;84:785-93, 8267
  procedures, 16 centres), hence a log-log term;
- **age** model, for records without a weight: a restricted cubic spline of age with 4 knots
  at the 5th, 35th, 65th and 95th percentiles of the training ages (Harrell FE, Regression
  Modeling Strategies, 2nd ed., Springer 2015, section 2.4.5 and Table 2.3), linear beyond the
  outer knots. If fewer than 3 distinct knots exist, age enters linearly.

Linear regression of log KAP on patient size and procedure category is the approach of
PubMed 39807230 (2024, single-centre model of 3131 paediatric catheterisations; abstract read
only). The log-normal error is an assumption checked, not imposed:
:meth:`KapImputationResults.residual_checks` reports skewness, kurtosis and the Jarque-Bera and
Breusch-Pagan tests of each fit.

Predictive distribution: the classical OLS prediction interval,
``x'b +- t(df, 1 - alpha/2) sqrt(s^2 + x' Cov(b) x)``. This is also the posterior predictive
distribution under the flat prior on ``(b, log sigma)`` (Gelman A et al., Bayesian Data
Analysis, 3rd ed., 2013, section 14.2), which :meth:`KapImputationResults.draws` samples:
``sigma^2 = df s^2 / chi2(df)``, ``b ~ N(b_hat, (sigma^2/s^2) Cov(b))``, then
``log KAP ~ N(x'b, sigma^2)``. Parameter uncertainty and residual variance are both included.

Unseen levels: a record from a centre absent from the fit (the factors in ``widen_unseen``)
drops that term: its centre effect is the mean of the fitted centre effects, including the
reference centre's 0, and their variance (ddof=1) is added to the predictive variance. This
treats centres as exchangeable, like a random effect. An unseen procedure type or era is an
error: there is no defensible effect to borrow across procedures, and eras carry a trend.
A record is predicted by the weight model when it has a weight and the weight model knows all
its levels, else by the age model; only if neither knows a centre is the centre widened.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from doseline.dosimetry.fluoro.events import PLAUSIBLE_RANGES
from doseline.errors import InvalidInputError

__all__ = ["KapImputationModel", "KapImputationResults", "SubModelFit", "rcs_basis"]

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

#: Knot percentiles of the age spline (Harrell 2015, Table 2.3, 4 knots).
KNOT_PERCENTILES = (5.0, 35.0, 65.0, 95.0)
METHOD = "imputed: log-linear OLS of log KAP (procedure type, size, era, centre)"


def rcs_basis(x: npt.ArrayLike, knots: Sequence[float]) -> F64:
    """Restricted cubic spline basis (Harrell 2015, eq. 2.25): ``x`` and ``k - 2`` cubic terms,
    scaled by ``(t_k - t_1)^2``, linear below the first and beyond the last knot."""
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(knots, dtype=np.float64)
    if len(t) < 3:
        return x[:, None]
    k = len(t)

    def cube(v: F64) -> F64:
        return np.asarray(np.clip(v, 0.0, None) ** 3, dtype=np.float64)

    span = (t[-1] - t[-2]) * (t[-1] - t[0]) ** 2
    columns = [x]
    for j in range(k - 2):
        columns.append(
            (cube(x - t[j]) * (t[-1] - t[-2]) - cube(x - t[-2]) * (t[-1] - t[j])
             + cube(x - t[-1]) * (t[-2] - t[j])) / span
        )  # fmt: skip
    return np.column_stack(columns)


@dataclass(frozen=True)
class _Design:
    """The columns of one sub-model: size term, categorical levels (first = reference)."""

    size: str  # "weight" or "age"
    levels: dict[str, tuple[str, ...]]
    knots: tuple[float, ...]

    @property
    def size_names(self) -> list[str]:
        if self.size == "weight":
            return ["log_weight_kg"]
        return ["age_y", *(f"age_rcs{j + 1}" for j in range(max(len(self.knots) - 2, 0)))]

    @property
    def names(self) -> list[str]:
        cats = [f"{c}[{lv}]" for c, levels in self.levels.items() for lv in levels[1:]]
        return ["intercept", *cats[: self._n_before_size()], *self.size_names,
                *cats[self._n_before_size():]]  # fmt: skip

    def _n_before_size(self) -> int:
        first = next(iter(self.levels))
        return len(self.levels[first]) - 1

    def matrix(self, frame: pd.DataFrame, average: dict[str, B] | None = None) -> F64:
        """Design rows; where ``average[c]`` is true the factor's dummies are 1/L each (its
        mean effect, the reference counting as one of the L levels)."""
        blocks: list[F64] = [np.ones((len(frame), 1))]
        for i, (column, levels) in enumerate(self.levels.items()):
            if i == 1:
                blocks.append(self._size(frame))
            dummies = frame[column].to_numpy()[:, None] == np.asarray(levels[1:])[None, :]
            block = dummies.astype(np.float64)
            if average is not None and column in average:
                block[average[column]] = 1.0 / len(levels)
            blocks.append(block)
        if len(self.levels) == 1:
            blocks.append(self._size(frame))
        return np.hstack(blocks)

    def _size(self, frame: pd.DataFrame) -> F64:
        if self.size == "weight":
            return np.asarray(np.log(frame["weight_kg"].to_numpy(dtype=np.float64))[:, None])
        return rcs_basis(frame["age_y"].to_numpy(dtype=np.float64), self.knots)


@dataclass(frozen=True, eq=False)
class SubModelFit:
    """One fitted sub-model (weight or age): estimates and the statsmodels results."""

    design: _Design
    params: F64
    cov: F64
    scale: float
    df_resid: float
    nobs: int
    results: Any  # statsmodels RegressionResults (untyped)

    def factor_effects(self, column: str, params: F64 | None = None) -> F64:
        """Effects of all levels of ``column`` (reference 0 first); ``params`` may be draws."""
        p = self.params if params is None else params
        names = self.design.names
        idx = [names.index(f"{column}[{lv}]") for lv in self.design.levels[column][1:]]
        p2 = np.atleast_2d(p)
        return np.concatenate([np.zeros((p2.shape[0], 1)), p2[:, idx]], axis=1).squeeze()


class KapImputationModel:
    """Log-linear KAP model, built from records that have a KAP; :meth:`fit` returns results.

    Parameters
    ----------
    records
        One row per procedure: ``kap_gycm2`` (> 0), the ``categoricals`` (text, no missing
        value), and ``weight_kg`` and/or ``age_y`` (each record needs at least one).
    categoricals
        Procedure type first (it is never widened), then the others.
    widen_unseen
        Categoricals whose unseen levels are widened at prediction (default the centre).

    Raises
    ------
    InvalidInputError
        Naming ``source``, record and field: missing column or value, non-numeric or
        non-positive KAP, implausible weight or age, or a rank-deficient design.
    """

    def __init__(
        self,
        records: pd.DataFrame,
        *,
        categoricals: Sequence[str] = ("procedure_type", "era", "centre"),
        widen_unseen: Sequence[str] = ("centre",),
        source: str = "records",
    ) -> None:
        if not categoricals or categoricals[0] in widen_unseen:
            raise ValueError("categoricals must start with the procedure type, never widened")
        self.categoricals = tuple(categoricals)
        self.widen_unseen = tuple(c for c in widen_unseen if c in self.categoricals)
        self.source = source
        self.data = _check(records, self.categoricals, source, need_kap=True)

    def fit(self) -> KapImputationResults:
        """Fit the weight model (records with a weight) and the age model (with an age)."""
        fits: dict[str, SubModelFit | None] = {}
        for size, column in (("weight", "weight_kg"), ("age", "age_y")):
            rows = self.data[self.data[column].notna()]
            fits[size] = self._fit_one(rows, size) if len(rows) else None
        return KapImputationResults(fits["weight"], fits["age"], self.categoricals,
                                    self.widen_unseen)  # fmt: skip

    def _fit_one(self, rows: pd.DataFrame, size: str) -> SubModelFit:
        import statsmodels.api as sm

        levels = {c: tuple(sorted(rows[c].unique())) for c in self.categoricals}
        knots: tuple[float, ...] = ()
        if size == "age":
            knots = tuple(np.unique(np.percentile(rows["age_y"], KNOT_PERCENTILES)))
        design = _Design(size, levels, knots if len(knots) >= 3 else ())
        x = design.matrix(rows)
        _check_rank(x, design.names, size, self.source)
        y = np.log(rows["kap_gycm2"].to_numpy(dtype=np.float64))
        results = sm.OLS(y, pd.DataFrame(x, columns=design.names, index=rows.index)).fit()
        return SubModelFit(
            design, np.asarray(results.params, dtype=np.float64),
            np.asarray(results.cov_params(), dtype=np.float64), float(results.scale),
            float(results.df_resid), int(results.nobs), results,
        )  # fmt: skip


def _check_rank(x: F64, names: list[str], size: str, source: str) -> None:
    if x.shape[0] <= x.shape[1]:
        raise InvalidInputError(
            f"{x.shape[0]} records cannot fit {x.shape[1]} parameters", source=source,
            field=f"{size} model",
        )  # fmt: skip
    r = np.abs(np.diag(np.linalg.qr(x, mode="r")))
    dependent = [n for n, v in zip(names, r, strict=True) if v < 1e-9 * r.max()]
    if dependent:
        raise InvalidInputError(
            f"the design is rank-deficient (confounded terms: {', '.join(dependent)})",
            source=source, field=f"{size} model",
        )  # fmt: skip


def _check(
    frame: pd.DataFrame, categoricals: Sequence[str], source: str, *, need_kap: bool
) -> pd.DataFrame:
    """Checked copy: categoricals as text, sizes as floats (vectorised; first error raised)."""
    needed = [*categoricals, *(["kap_gycm2"] if need_kap else [])]
    missing = [c for c in needed if c not in frame]
    if "weight_kg" not in frame and "age_y" not in frame:
        missing.append("weight_kg or age_y")
    if missing:
        raise InvalidInputError(f"missing column(s) {', '.join(missing)}", source=source)
    out = pd.DataFrame(index=frame.index)
    for column in categoricals:
        _first(frame[column].isna(), frame, source, column, "is missing")
        out[column] = frame[column].astype(str).to_numpy()
    for column in ("weight_kg", "age_y", *(["kap_gycm2"] if need_kap else [])):
        raw = frame[column] if column in frame else pd.Series(np.nan, index=frame.index)
        values = pd.to_numeric(raw, errors="coerce")
        _first(values.isna() & raw.notna(), frame, source, column, "is not a number")
        if column == "kap_gycm2":
            _first(values.isna(), frame, source, column, "is missing")
            _first(values <= 0, frame, source, column, "must be > 0 (log-linear model)")
        low, high = PLAUSIBLE_RANGES[column]
        _first(~values.between(low, high) & values.notna(), frame, source, column,
               f"is outside the plausible range {low}-{high}")  # fmt: skip
        out[column] = values.astype(np.float64)
    _first(out["weight_kg"].isna() & out["age_y"].isna(), frame, source, "weight_kg",
           "and age_y are both missing")  # fmt: skip
    return out


def _first(mask: pd.Series, frame: pd.DataFrame, source: str, field: str, reason: str) -> None:
    if bool(mask.any()):
        label = frame.index[int(np.flatnonzero(mask.to_numpy())[0])]
        shown = frame.at[label, field] if field in frame else None
        raise InvalidInputError(
            f"{shown!r} {reason}", source=source, record=f"record {label}", field=field
        )


@dataclass(frozen=True)
class _Group:
    """Records predicted by one sub-model, with their design rows and widening."""

    fit: SubModelFit
    rows: npt.NDArray[np.int64]
    x: F64
    extra_var: F64
    widened: npt.NDArray[np.object_]


@dataclass(frozen=True, eq=False)
class KapImputationResults:
    """Fitted KAP imputation model (immutable): estimates, summaries, predictions, draws."""

    weight: SubModelFit | None
    age: SubModelFit | None
    categoricals: tuple[str, ...]
    widen_unseen: tuple[str, ...]

    def _fits(self) -> dict[str, SubModelFit]:
        return {k: v for k, v in (("weight", self.weight), ("age", self.age)) if v is not None}

    @property
    def params(self) -> pd.DataFrame:
        """Estimates: one row per term, one column per sub-model (NaN where absent)."""
        return pd.DataFrame(
            {k: pd.Series(f.params, index=f.design.names) for k, f in self._fits().items()}
        )

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """t-based confidence intervals: columns ``submodel``, ``term``, ``lower``, ``upper``."""
        return self.summary_frame(alpha)[["submodel", "term", "lower", "upper"]]

    def summary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy estimates: submodel, term, coef, std_err, lower, upper, nobs, residual SD."""
        parts = []
        for name, fit in self._fits().items():
            se = np.sqrt(np.diag(fit.cov))
            t = stats.t.ppf(1 - alpha / 2, fit.df_resid)
            parts.append(pd.DataFrame({
                "submodel": name, "term": fit.design.names, "coef": fit.params, "std_err": se,
                "lower": fit.params - t * se, "upper": fit.params + t * se, "nobs": fit.nobs,
                "residual_sd": np.sqrt(fit.scale),
            }))  # fmt: skip
        return pd.concat(parts, ignore_index=True)

    def summary(self) -> ImputationSummary:
        """The statsmodels summary of each sub-model (``str()`` text, ``as_html()``)."""
        return ImputationSummary({k: f.results.summary() for k, f in self._fits().items()})

    def residual_checks(self) -> pd.DataFrame:
        """Per sub-model: skewness, excess kurtosis, Jarque-Bera (normal residuals on the log
        scale, i.e. log-normal KAP) and Breusch-Pagan (constant variance) tests."""
        from statsmodels.stats.diagnostic import het_breuschpagan
        from statsmodels.stats.stattools import jarque_bera

        rows = {}
        for name, fit in self._fits().items():
            resid = np.asarray(fit.results.resid, dtype=np.float64)
            jb, jb_p, skew, kurtosis = jarque_bera(resid)
            _, bp_p, _, _ = het_breuschpagan(resid, np.asarray(fit.results.model.exog))
            rows[name] = {"nobs": fit.nobs, "residual_sd": float(np.sqrt(fit.scale)),
                          "skewness": float(skew), "excess_kurtosis": float(kurtosis) - 3.0,
                          "jarque_bera": float(jb), "jarque_bera_pvalue": float(jb_p),
                          "breusch_pagan_pvalue": float(bp_p)}  # fmt: skip
        return pd.DataFrame(rows).T

    def predict(self, frame: pd.DataFrame, alpha: float = 0.10) -> pd.DataFrame:
        """Predictive distribution of KAP per record: median, ``1 - alpha`` prediction interval
        (``kap_lower_gycm2``, ``kap_upper_gycm2``), log-scale mean and SD, df, sub-model used,
        widened factors and the method name."""
        groups = self._groups(frame)
        out = pd.DataFrame(index=frame.index, columns=["log_mean", "log_sd", "df"], dtype=float)
        out["submodel"], out["widened"] = "", ""
        for g in groups:
            mean = g.x @ g.fit.params
            var = g.fit.scale + np.einsum("ij,jk,ik->i", g.x, g.fit.cov, g.x) + g.extra_var
            out.iloc[g.rows, :3] = np.column_stack([mean, np.sqrt(var), np.full(len(mean),
                                                    g.fit.df_resid)])  # fmt: skip
            out.iloc[g.rows, 3] = g.fit.design.size
            out.iloc[g.rows, 4] = g.widened
        t = stats.t.ppf(1 - alpha / 2, out["df"].to_numpy(dtype=float))
        mean, sd = out["log_mean"].to_numpy(dtype=float), out["log_sd"].to_numpy(dtype=float)
        out.insert(0, "kap_median_gycm2", np.exp(mean))
        out.insert(1, "kap_lower_gycm2", np.exp(mean - t * sd))
        out.insert(2, "kap_upper_gycm2", np.exp(mean + t * sd))
        out["method"] = METHOD
        return out

    def draws(self, frame: pd.DataFrame, k: int, rng: np.random.Generator) -> F64:
        """``(n_records, k)`` KAP draws (Gy cm2) from the posterior predictive: residual
        variance, coefficients and (for widened records) the centre effect all drawn."""
        out = np.empty((len(frame), k))
        for g in self._groups(frame):
            fit = g.fit
            sigma2 = fit.df_resid * fit.scale / rng.chisquare(fit.df_resid, size=k)
            root = _sqrt_psd(fit.cov)
            z = rng.standard_normal((k, len(fit.params)))
            beta = fit.params + np.sqrt(sigma2 / fit.scale)[:, None] * (z @ root.T)
            log_kap = g.x @ beta.T + np.sqrt(sigma2)[None, :] * rng.standard_normal(
                (len(g.rows), k)
            )
            log_kap += np.sqrt(g.extra_var)[:, None] * rng.standard_normal((len(g.rows), k))
            out[g.rows] = np.exp(log_kap)
        return out

    def _groups(self, frame: pd.DataFrame) -> list[_Group]:
        data = _check(frame, self.categoricals, "records to impute", need_kap=False)
        fits = self._fits()
        pending = np.ones(len(data), dtype=bool)
        groups: list[_Group] = []
        for widen in (False, True):
            for name, column in (("weight", "weight_kg"), ("age", "age_y")):
                if name not in fits:
                    continue
                fit = fits[name]
                unknown = {c: ~data[c].isin(fit.design.levels[c]).to_numpy()
                           for c in self.categoricals}  # fmt: skip
                fixed = [c for c in self.categoricals if not widen or c not in self.widen_unseen]
                ok = pending & data[column].notna().to_numpy()
                ok &= ~np.any([unknown[c] for c in fixed], axis=0) if fixed else True
                if not ok.any():
                    continue
                groups.append(self._group(fit, data, np.flatnonzero(ok), unknown))
                pending &= ~ok
        if pending.any():
            self._raise_unpredictable(data, frame, int(np.flatnonzero(pending)[0]))
        return groups

    def _group(
        self, fit: SubModelFit, data: pd.DataFrame, rows: npt.NDArray[np.int64],
        unknown: dict[str, B],
    ) -> _Group:  # fmt: skip
        sub = data.iloc[rows]
        average = {c: unknown[c][rows] for c in self.widen_unseen if unknown[c][rows].any()}
        extra = np.zeros(len(rows))
        widened = np.full(len(rows), "", dtype=object)
        for column, mask in average.items():
            effects = fit.factor_effects(column)
            if effects.size < 2:
                raise InvalidInputError(
                    f"an unseen {column} cannot be widened: the fit has one level",
                    source="records to impute", field=column,
                )  # fmt: skip
            extra[mask] += np.var(effects, ddof=1)
            widened[mask] = np.where(widened[mask] == "", column, widened[mask] + "," + column)
        return _Group(fit, rows, fit.design.matrix(sub, average), extra, widened)

    def _raise_unpredictable(self, data: pd.DataFrame, frame: pd.DataFrame, i: int) -> None:
        label = frame.index[i]
        for column in self.categoricals:
            known = set().union(*(f.design.levels[column] for f in self._fits().values()))
            if data[column].iloc[i] not in known:
                raise InvalidInputError(
                    f"{data[column].iloc[i]!r} was not in the fitted data (known: "
                    f"{', '.join(sorted(known))})", source="records to impute",
                    record=f"record {label}", field=column,
                )  # fmt: skip
        raise InvalidInputError(
            "no sub-model can predict this record (its size measure was not fitted)",
            source="records to impute", record=f"record {label}", field="weight_kg",
        )  # fmt: skip


def _sqrt_psd(cov: F64) -> F64:
    """A matrix root ``L`` with ``L L' = cov`` (Cholesky, or eigen-decomposition if needed)."""
    try:
        return np.asarray(np.linalg.cholesky(cov), dtype=np.float64)
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(cov)
        return np.asarray(vectors * np.sqrt(np.clip(values, 0.0, None)), dtype=np.float64)


@dataclass(frozen=True)
class ImputationSummary:
    """Text and HTML summaries of the sub-models (statsmodels ``Summary`` objects)."""

    parts: dict[str, Any]

    def as_text(self) -> str:
        """The sub-model summaries, one after the other."""
        return "\n\n".join(f"KAP imputation, {k} model\n{v.as_text()}" for k, v in
                           self.parts.items())  # fmt: skip

    def as_html(self) -> str:
        """An HTML fragment with one section per sub-model."""
        return "".join(
            f"<h3>KAP imputation, {html.escape(k)} model</h3>{v.as_html()}"
            for k, v in self.parts.items()
        )

    def _repr_html_(self) -> str:
        return self.as_html()

    def __str__(self) -> str:
        return self.as_text()
