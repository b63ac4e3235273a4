"""Cox partial likelihood with a linear excess relative risk in lagged cumulative dose.

Hazard ``h(t) = h0_s(t) (1 + beta D_lag(t)) exp(x'gamma)`` with a baseline ``h0_s`` per stratum
(the PEANUTS model of Epicure; rERR ``fit.rERR`` with ``lin()`` and ``loglin()`` terms).  The
log partial likelihood over risk sets ``R_c`` (:mod:`.risksets`) is

    l = sum_c [log r_c - log sum_{j in R_c} r_j],   r_j = (1 + beta D_j) exp(x_j'gamma)

(Cox, JRSS B 1972;34:187; Breslow for ties).  Score and *observed* information are analytic; the
deviance is ``-2 l``.  The model is defined for ``1 + beta D > 0`` in every risk set, i.e.
``beta > -1 / max D``; a lower profile limit beyond it is reported as a boundary.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.cohort.design import evaluate_term, stratum_codes
from doseline.cohort.likelihood import Evaluation, maximise
from doseline.cohort.profile import FixedFit
from doseline.cohort.results import LikelihoodResults, Summary
from doseline.cohort.risksets import RiskSets, build_risk_sets
from doseline.cohort.spec import parse_spec
from doseline.errors import DoselineWarning, InvalidInputError

__all__ = ["CoxERRModel", "CoxERRResults"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _column(table: pd.DataFrame, name: str, source: str) -> FloatArray:
    if name not in table.columns:
        raise InvalidInputError(f"no column {name!r}", source=source, field=name)
    values = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"value {table[name].iloc[row]!r} is not a finite number",
            source=source,
            record=f"row {table.index[row]}",
            field=name,
        )
    return values


class CoxERRModel:
    """Linear-ERR Cox model on subjects and their exposures (valid on construction).

    Parameters
    ----------
    subjects
        One row per subject: id, entry and exit ages, event indicator, strata and covariates.
    exposures
        One row per exposure: subject id, age at exposure, dose.
    lag
        Lag in the same time unit as the ages (rERR default 2 years for leukaemia).
    exclusion
        Years added to every entry age (rERR ``exclusion_done = F`` uses ``exclusion = lag``).
    strata
        Columns of ``subjects`` whose combinations get separate baseline hazards.
    loglin
        Log-linear terms in the language of :mod:`.spec` (e.g. ``"factor(country)"``).
    """

    def __init__(
        self,
        subjects: pd.DataFrame,
        exposures: pd.DataFrame,
        *,
        id: str = "id",
        entry: str = "entry_age",
        exit: str = "exit_age",
        event: str = "outcome",
        exposure_time: str = "age",
        dose: str = "dose",
        lag: float = 2.0,
        exclusion: float = 0.0,
        strata: list[str] | tuple[str, ...] = (),
        loglin: list[str] | tuple[str, ...] = (),
        source: str = "cohort",
    ) -> None:
        if lag < 0 or exclusion < 0:
            raise InvalidInputError("lag and exclusion must be non-negative", source=source)
        self.lag, self.exclusion = float(lag), float(exclusion)
        entry_age = _column(subjects, entry, source) + exclusion
        exit_age = _column(subjects, exit, source)
        keep = entry_age < exit_age
        subjects = subjects.loc[keep].reset_index(drop=True)
        self.n_excluded = int(np.count_nonzero(~keep))
        ids = subjects[id].to_numpy()
        if len(pd.unique(ids)) != len(ids):
            raise InvalidInputError("subject ids repeat", source=source, field=id)
        position = pd.Index(ids).get_indexer(exposures[id].to_numpy())
        known = position >= 0
        self.subjects = subjects
        self.n_subjects = len(subjects)
        stratum = np.zeros(len(subjects), dtype=np.intp)
        if strata:
            stratum = stratum_codes(subjects, tuple(strata), source)[0]
        terms = parse_spec("background: " + " + ".join(loglin)).background if loglin else ()
        blocks, names = [np.zeros((len(subjects), 0))], []
        for term in terms:
            block, block_names = evaluate_term(term, subjects, source)
            blocks.append(block)
            names += block_names
        self.covariates = np.hstack(blocks)
        self.names = ("dose", *names)
        event_flag = _column(subjects, event, source) == 1
        self.risk_sets: RiskSets = build_risk_sets(
            entry_age[keep],
            exit_age[keep],
            event_flag,
            stratum,
            exposure_subject=position[known].astype(np.intp),
            exposure_time=_column(exposures, exposure_time, source)[known],
            exposure_dose=_column(exposures, dose, source)[known],
            lag=self.lag,
        )
        rs = self.risk_sets
        self._x = self.covariates[rs.member_subject]
        # Members are grouped by risk set (np.nonzero order): each set is one contiguous run.
        self._set_starts = np.searchsorted(rs.member_set, np.arange(rs.n_sets))
        self._max_dose = float(rs.member_dose.max()) if rs.member_dose.size else 0.0

    @classmethod
    def from_events(
        cls,
        table: pd.DataFrame,
        *,
        id: str = "id",
        exposure_time: str = "age",
        dose: str = "dose",
        **kwargs: object,
    ) -> CoxERRModel:
        """Build from an rERR "event format" table: one row per exposure, subject columns
        repeated on each row (the first row of each subject is used)."""
        subjects = table.drop(columns=[exposure_time, dose]).drop_duplicates(subset=[id])
        exposures = table[[id, exposure_time, dose]]
        return cls(subjects, exposures, id=id, exposure_time=exposure_time, dose=dose, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_wide(
        cls,
        table: pd.DataFrame,
        *,
        id: str = "id",
        time_prefix: str = "ctage",
        dose_prefix: str = "dose",
        **kwargs: object,
    ) -> CoxERRModel:
        """Build from an rERR "wide format" table (``ctage1..K``, ``dose1..K``).

        Pairs with both age and dose equal to zero are padding and are dropped.
        """
        k = 1
        frames = []
        while f"{time_prefix}{k}" in table.columns and f"{dose_prefix}{k}" in table.columns:
            frames.append(
                pd.DataFrame(
                    {
                        id: table[id].to_numpy(),
                        "age": table[f"{time_prefix}{k}"].to_numpy(dtype=np.float64),
                        "dose": table[f"{dose_prefix}{k}"].to_numpy(dtype=np.float64),
                    }
                )
            )
            k += 1
        if not frames:
            raise InvalidInputError(f"no {time_prefix}1/{dose_prefix}1 columns", field=time_prefix)
        exposures = pd.concat(frames, ignore_index=True)
        exposures = exposures[(exposures["age"] != 0) | (exposures["dose"] != 0)]
        return cls(table, exposures, id=id, exposure_time="age", dose="dose", **kwargs)  # type: ignore[arg-type]

    @property
    def n_risk_sets(self) -> int:
        """Number of risk sets (contributing cases)."""
        return self.risk_sets.n_sets

    @property
    def dose_boundary(self) -> float:
        """Smallest ERR per unit dose for which every ``1 + beta D`` is positive: ``-1/max D``."""
        return -1.0 / self._max_dose if self._max_dose > 0 else -np.inf

    def evaluate(self, params: FloatArray, free: BoolArray) -> Evaluation | None:
        """Log partial likelihood, score and observed information of the ``free`` parameters."""
        rs = self.risk_sets
        beta, gamma = params[0], params[1:]
        linear = 1.0 + beta * rs.member_dose
        if not np.all(linear > 0):
            return None
        eta = np.log(linear) + (self._x @ gamma if gamma.size else 0.0)
        # Shift by each set's maximum for numerical stability of the sums.
        shift = np.maximum.reduceat(eta, self._set_starts)
        weight = np.exp(eta - shift[rs.member_set])
        total = np.bincount(rs.member_set, weights=weight, minlength=rs.n_sets)
        w = weight / total[rs.member_set]
        jac = np.column_stack([rs.member_dose / linear, self._x])[:, free]
        curvature = -((rs.member_dose / linear) ** 2)
        loglik = float(np.sum(eta[rs.case_position] - shift - np.log(total)))
        mean_jac = np.zeros((rs.n_sets, jac.shape[1]))
        for k in range(jac.shape[1]):
            mean_jac[:, k] = np.bincount(rs.member_set, weights=w * jac[:, k], minlength=rs.n_sets)
        score = jac[rs.case_position].sum(axis=0) - mean_jac.sum(axis=0)
        information = (jac * w[:, None]).T @ jac - mean_jac.T @ mean_jac
        if free[0]:
            # d2 log r / d beta2 enters for members (weighted) and for the case (minus).
            second = float(np.sum(w * curvature) - np.sum(curvature[rs.case_position]))
            information[0, 0] += second
        return Evaluation(loglik=loglik, score=score, information=information, mu=w)

    def fit(self) -> CoxERRResults:
        """Maximise the partial likelihood (Newton-Raphson with step halving)."""
        n = len(self.names)
        if self.n_risk_sets == 0:
            raise InvalidInputError("no risk sets: no case has an exposure before its lagged time")
        free = np.ones(n, dtype=bool)
        params, evaluation, converged = maximise(self.evaluate, np.zeros(n), free)
        if not converged:
            warnings.warn("Cox ERR fit did not converge", DoselineWarning, stacklevel=2)
        try:
            cov = np.linalg.inv(evaluation.information)
        except np.linalg.LinAlgError:
            cov = np.full((n, n), np.nan)
        names = list(self.names)
        return CoxERRResults(
            params=pd.Series(params, index=names, name="coef"),
            bse=pd.Series(np.sqrt(np.clip(np.diag(cov), 0, None)), index=names, name="std_err"),
            cov=pd.DataFrame(cov, index=names, columns=names),
            loglik=evaluation.loglik,
            deviance=-2.0 * evaluation.loglik,
            n_params=n,
            converged=converged,
            _fit_fixed=self._fit_fixed,
            model=self,
        )

    def _fit_fixed(self, index: int, value: float, start: FloatArray) -> FixedFit | None:
        params = np.array(start, dtype=np.float64)
        params[index] = value
        free = np.ones(len(params), dtype=bool)
        free[index] = False
        if self.evaluate(params, free) is None:
            return None
        params, evaluation, _ = maximise(self.evaluate, params, free)
        return FixedFit(deviance=-2.0 * evaluation.loglik, params=params)


@dataclass(frozen=True, eq=False)
class CoxERRResults(LikelihoodResults):
    """Results of :meth:`CoxERRModel.fit`: adds ``n_risk_sets`` and an Epicure-like summary."""

    model: CoxERRModel | None = None

    @property
    def n_risk_sets(self) -> int:
        """Number of risk sets in the partial likelihood."""
        assert self.model is not None
        return self.model.n_risk_sets

    def summary(self) -> Summary:
        """Summary with profile-likelihood intervals (``str()`` text, ``.as_html()``)."""
        assert self.model is not None
        header = [
            ("subjects", str(self.model.n_subjects)),
            ("risk sets", str(self.n_risk_sets)),
            ("lag / exclusion", f"{self.model.lag:g} / {self.model.exclusion:g}"),
            ("domain of ERR/dose", f"> {self.model.dose_boundary:.6g}"),
            *self._summary_header(),
        ]
        return Summary(
            title="Cox partial likelihood, linear ERR (doseline.cohort)",
            header=tuple(header),
            table=self.summary_frame(),
        )
