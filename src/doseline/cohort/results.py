"""Immutable results of likelihood fits: estimates, Wald and profile intervals, summaries.

Shared by the grouped Poisson (:mod:`.poisson`) and Cox (:mod:`.cox`) models.  Wald intervals use
the inverse information at the estimate; profile intervals come from :mod:`.profile` and are
computed on first request and cached (the object's observable state never changes).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import chi2, norm

from doseline.cohort.profile import FixedFit, ProfileLimit, profile_limit

__all__ = ["LRTest", "LikelihoodResults", "Summary"]

FloatArray = npt.NDArray[np.float64]
FixedFitter = Callable[[int, float, FloatArray], FixedFit | None]


@dataclass(frozen=True)
class LRTest:
    """Likelihood-ratio test of two nested fits."""

    statistic: float
    df: int
    pvalue: float

    def __str__(self) -> str:
        return f"LR chi2({self.df}) = {self.statistic:.4f}, p = {self.pvalue:.4g}"


@dataclass(frozen=True)
class Summary:
    """A printed summary: ``str()`` gives Epicure-like text, ``as_html()`` an HTML table."""

    title: str
    header: tuple[tuple[str, str], ...]
    table: pd.DataFrame

    def as_text(self) -> str:
        """Fixed-width text (Epicure AMFIT/PEANUTS style)."""
        lines = [self.title, "=" * max(len(self.title), 72)]
        lines += [f"{key:<28}{value}" for key, value in self.header]
        lines.append("-" * 72)
        lines.append(
            f"{'parameter':<26}{'estimate':>12}{'std err':>11}{'lower 95%':>12}{'upper 95%':>12}"
        )
        for name, row in self.table.iterrows():
            lines.append(
                f"{str(name)[:25]:<26}{_fmt(row['coef']):>12}{_fmt(row['std_err']):>11}"
                f"{_fmt_limit(row['lower'], row['lower_status']):>12}"
                f"{_fmt_limit(row['upper'], row['upper_status']):>12}"
            )
        lines.append("-" * 72)
        lines.append("Intervals: " + str(self.table.attrs.get("method", "")))
        return "\n".join(lines)

    def as_html(self) -> str:
        """An HTML fragment: a header list and the parameter table."""
        items = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in self.header
        )
        rows = "".join(
            "<tr>"
            + f"<th>{html.escape(str(name))}</th><td>{_fmt(row['coef'])}</td>"
            + f"<td>{_fmt(row['std_err'])}</td>"
            + f"<td>{html.escape(_fmt_limit(row['lower'], row['lower_status']))}</td>"
            + f"<td>{html.escape(_fmt_limit(row['upper'], row['upper_status']))}</td></tr>"
            for name, row in self.table.iterrows()
        )
        return (
            f'<div class="doseline-summary"><h3>{html.escape(self.title)}</h3>'
            f"<table>{items}</table><table><thead><tr><th>parameter</th><th>estimate</th>"
            "<th>std err</th><th>lower 95%</th><th>upper 95%</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>"
        )

    def _repr_html_(self) -> str:
        return self.as_html()

    def __str__(self) -> str:
        return self.as_text()


def _fmt(value: float) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.6g}"


def _fmt_limit(value: float, status: str) -> str:
    if status == "boundary":
        return "boundary"
    if status == "not reached":
        return "none"
    return _fmt(value)


@dataclass(frozen=True, eq=False)
class LikelihoodResults:
    """Results of a maximum-likelihood fit (immutable).

    Attributes
    ----------
    params, bse, cov
        Estimates, standard errors (inverse information) and covariance, named.
    loglik, deviance
        Maximised log-likelihood and deviance.
    n_params
        Number of estimated parameters (including profiled-out stratum intercepts).
    converged
        Whether the optimiser met its tolerance.
    """

    params: pd.Series
    bse: pd.Series
    cov: pd.DataFrame
    loglik: float
    deviance: float
    n_params: int
    converged: bool
    _fit_fixed: FixedFitter = field(repr=False)
    _profiles: dict[tuple[str, float], tuple[ProfileLimit, ProfileLimit]] = field(
        default_factory=dict, repr=False
    )
    #: Largest magnitude a parameter can take numerically (log-linear coefficients).
    _max_abs: Mapping[str, float] = field(default_factory=dict, repr=False)

    @property
    def aic(self) -> float:
        """Akaike information criterion, ``-2 loglik + 2 n_params``."""
        return -2.0 * self.loglik + 2.0 * self.n_params

    def profile_limits(self, name: str, level: float = 0.95) -> tuple[ProfileLimit, ProfileLimit]:
        """Lower and upper profile-likelihood limits of one parameter, with their status."""
        key = (name, level)
        if key not in self._profiles:
            index = list(self.params.index).index(name)
            estimate = float(self.params.iloc[index])
            values = self.params.to_numpy(dtype=np.float64)

            def fit_fixed(value: float, start: FloatArray) -> FixedFit | None:
                return self._fit_fixed(index, value, start)

            limits = tuple(
                profile_limit(
                    fit_fixed,
                    estimate,
                    values,
                    self.deviance,
                    scale=float(self.bse.iloc[index]),
                    direction=direction,
                    level=level,
                    max_abs=self._max_abs.get(name, math.inf),
                )
                for direction in (-1, 1)
            )
            self._profiles[key] = (limits[0], limits[1])
        return self._profiles[key]

    def conf_int(
        self,
        method: Literal["profile", "wald"] = "profile",
        level: float = 0.95,
        names: list[str] | None = None,
    ) -> pd.DataFrame:
        """Confidence intervals: columns ``lower``, ``upper`` (NaN where a limit does not exist),
        ``lower_status``, ``upper_status`` (``wald``, ``profile``, ``boundary``, ``not reached``).
        """
        chosen = list(self.params.index) if names is None else names
        rows = []
        for name in chosen:
            if method == "wald":
                half = float(norm.ppf(0.5 + level / 2)) * float(self.bse[name])
                estimate = float(self.params[name])
                rows.append((estimate - half, estimate + half, "wald", "wald"))
            elif method == "profile":
                low, high = self.profile_limits(name, level)
                rows.append(
                    (
                        np.nan if low.value is None else low.value,
                        np.nan if high.value is None else high.value,
                        low.status,
                        high.status,
                    )
                )
            else:
                raise ValueError(f"method must be 'profile' or 'wald', not {method!r}")
        frame = pd.DataFrame(
            rows, index=chosen, columns=["lower", "upper", "lower_status", "upper_status"]
        )
        frame.attrs["method"] = f"{method} {level:.0%}"
        return frame

    def summary_frame(self, method: Literal["profile", "wald"] = "profile") -> pd.DataFrame:
        """Tidy table: ``coef``, ``std_err``, interval columns of :meth:`conf_int`."""
        frame = self.conf_int(method=method)
        frame.insert(0, "std_err", self.bse)
        frame.insert(0, "coef", self.params)
        return frame

    def lr_test(self, other: LikelihoodResults) -> LRTest:
        """Likelihood-ratio test against a nested fit on the same data."""
        df = abs(self.n_params - other.n_params)
        if df == 0:
            raise ValueError("the two fits have the same number of parameters; not nested")
        statistic = abs(other.deviance - self.deviance)
        return LRTest(statistic=statistic, df=df, pvalue=float(chi2.sf(statistic, df)))

    def _summary_header(self) -> list[tuple[str, str]]:
        return [
            ("deviance", f"{self.deviance:.6f}"),
            ("log-likelihood", f"{self.loglik:.6f}"),
            ("parameters", str(self.n_params)),
            ("AIC", f"{self.aic:.4f}"),
            ("converged", "yes" if self.converged else "NO"),
        ]
