"""Grouped Poisson regression with excess relative (ERR) or absolute (EAR) risk.

The model, likelihood and fitting method are described in :mod:`.likelihood`; the specification
language in :mod:`.spec` and ``docs/cohort_models.md``.  Typical use::

    model = PoissonModel.linear_err(table, cases="cases", pyr="pyr", dose="dose_gy",
                                    strata=["agecat", "sex"])
    results = model.fit()
    results.conf_int()            # profile-likelihood 95 % intervals
    print(results.summary())
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.cohort.design import Design, build_design
from doseline.cohort.likelihood import DIVERGENCE_BOUND, PoissonLikelihood, maximise
from doseline.cohort.profile import FixedFit
from doseline.cohort.results import LikelihoodResults, LRTest, Summary
from doseline.cohort.spec import DoseForm, ExcessKind, ModelSpec, parse_spec
from doseline.errors import DoselineWarning

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["PoissonModel", "PoissonResults"]

FloatArray = npt.NDArray[np.float64]


class PoissonModel:
    """A grouped Poisson excess-risk model on a person-time table (valid on construction).

    Parameters
    ----------
    table
        One row per cell: case count, person-years, dose and covariates.
    spec
        A :class:`ModelSpec` or its text (see :func:`doseline.cohort.spec.parse_spec`).
    cases, pyr
        Names of the case-count and person-year columns.
    source
        Name of the table in error messages (e.g. the CSV file).
    """

    def __init__(
        self,
        table: pd.DataFrame,
        spec: ModelSpec | str,
        *,
        cases: str = "cases",
        pyr: str = "pyr",
        source: str = "table",
    ) -> None:
        self.spec = parse_spec(spec) if isinstance(spec, str) else spec
        self.table = table
        self.cases_column, self.pyr_column = cases, pyr
        self.design: Design = build_design(table, self.spec, cases=cases, pyr=pyr, source=source)
        self.likelihood = PoissonLikelihood(
            self.design, form=self.spec.form, excess=self.spec.excess
        )

    @classmethod
    def linear_err(
        cls,
        table: pd.DataFrame,
        *,
        cases: str = "cases",
        pyr: str = "pyr",
        dose: str = "dose",
        strata: list[str] | tuple[str, ...] = (),
        modifiers: list[str] | tuple[str, ...] = (),
        background: list[str] | tuple[str, ...] = (),
        form: DoseForm = "linear",
        excess: ExcessKind = "err",
        source: str = "table",
    ) -> PoissonModel:
        """Keyword convenience: ``ERR = beta * dose * exp(modifiers)`` over a stratified
        (``strata``) and/or log-linear (``background`` terms) background."""
        spec = ModelSpec.linear_err(
            dose,
            strata=tuple(strata),
            modifiers=tuple(modifiers),
            background=tuple(background),
            form=form,
            excess=excess,
        )
        return cls(table, spec, cases=cases, pyr=pyr, source=source)

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names, in order: background, excess (``err:``/``ear:``), modifiers."""
        return self.likelihood.names

    def fit(self, start: FloatArray | None = None) -> PoissonResults:
        """Maximum-likelihood fit (Fisher scoring with step halving).

        Modifiers (and the exponent of ``linexp``) are identified only away from zero excess,
        so they are freed after a first stage that fits background and dose coefficients.
        """
        lik = self.likelihood
        free_all = np.ones(lik.n_params, dtype=bool)
        if start is None:
            params, _, _ = maximise(
                lik.evaluate, lik.start(), lik.staged_free(), log_scale=lik.log_scale
            )
        else:
            params = np.asarray(start, dtype=np.float64)
        params, evaluation, converged = maximise(
            lik.evaluate, params, free_all, log_scale=lik.log_scale
        )
        if not converged:
            warnings.warn(
                "Poisson fit did not converge (a log-linear coefficient may diverge: the "
                "maximum is at infinity); check the summary's estimates",
                DoselineWarning,
                stacklevel=2,
            )
        try:
            cov = np.linalg.inv(evaluation.information)
        except np.linalg.LinAlgError:
            cov = np.full((lik.n_params, lik.n_params), np.nan)
        names = list(lik.names)
        return PoissonResults(
            params=pd.Series(params, index=names, name="coef"),
            bse=pd.Series(np.sqrt(np.clip(np.diag(cov), 0, None)), index=names, name="std_err"),
            cov=pd.DataFrame(cov, index=names, columns=names),
            loglik=evaluation.loglik,
            deviance=lik.deviance(evaluation.loglik),
            n_params=lik.n_params + lik.n_strata_params,
            converged=converged,
            _fit_fixed=self._fit_fixed,
            _max_abs={
                name: DIVERGENCE_BOUND
                for name, log_scale in zip(names, lik.log_scale, strict=True)
                if log_scale
            },
            model=self,
            fitted=evaluation.mu,
        )

    def _fit_fixed(self, index: int, value: float, start: FloatArray) -> FixedFit | None:
        """Fit with parameter ``index`` held at ``value``; ``None`` outside the domain."""
        lik = self.likelihood
        params = np.array(start, dtype=np.float64)
        params[index] = value
        free = np.ones(lik.n_params, dtype=bool)
        free[index] = False
        if lik.evaluate(params, free) is None:
            return None
        params, evaluation, _ = maximise(lik.evaluate, params, free, log_scale=lik.log_scale)
        return FixedFit(deviance=lik.deviance(evaluation.loglik), params=params)


@dataclass(frozen=True, eq=False)
class PoissonResults(LikelihoodResults):
    """Results of :meth:`PoissonModel.fit` (immutable).

    Besides :class:`~doseline.cohort.results.LikelihoodResults`: ``model``, ``fitted`` (cell
    means), ``n_cells``, ``summary()``, ``plot_dose_response()``.
    """

    model: PoissonModel | None = None
    fitted: FloatArray | None = None

    @property
    def n_cells(self) -> int:
        """Number of cells in the table."""
        assert self.model is not None
        return self.model.design.n_cells

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom (cells minus parameters)."""
        return self.n_cells - self.n_params

    def lr_test(self, other: LikelihoodResults) -> LRTest:
        """Likelihood-ratio test against a nested model fitted to the same table."""
        if isinstance(other, PoissonResults) and other.n_cells != self.n_cells:
            raise ValueError("the two fits use tables with different numbers of cells")
        return super().lr_test(other)

    def summary(self, method: Literal["profile", "wald"] = "profile") -> Summary:
        """Epicure-like summary (``str()`` for text, ``.as_html()`` for HTML)."""
        assert self.model is not None
        header = [("model", self.model.spec.describe()), ("cells", str(self.n_cells))]
        header += [("cases", f"{self.model.design.cases.sum():g}")]
        header += [("person-years", f"{self.model.design.pyr.sum():.6g}")]
        header += [*self._summary_header(), ("residual df", str(self.df_resid))]
        return Summary(
            title="Grouped Poisson regression (doseline.cohort)",
            header=tuple(header),
            table=self.summary_frame(method=method),
        )

    def plot_dose_response(
        self, ax: Axes | None = None, cutpoints: list[float] | None = None
    ) -> Axes:
        """Plot category-specific ERR (or EAR) with profile intervals and this fit's line.

        See :func:`doseline.cohort.plots.plot_dose_response`.
        """
        from doseline.cohort.plots import plot_dose_response

        return plot_dose_response(self, ax=ax, cutpoints=cutpoints)
