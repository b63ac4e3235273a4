"""Grouped Poisson log-likelihood of excess-risk models, with score and expected information.

Model (Epicure AMFIT product-additive-excess form; Preston, Lubin, Pierce, McConney,
*EPICURE User's Guide*, Hirosoft 1993; Breslow & Day, *Statistical Methods in Cancer Research*
vol. II, IARC 1987, ch. 4)::

    relative (ERR):  mu_i = pyr_i exp(alpha_s(i) + x_i'gamma) (1 + f(d_i; beta) exp(z_i'theta))
    additive (EAR):  mu_i = pyr_i (exp(x_i'gamma) + f(d_i; beta) exp(z_i'theta))

Writing ``J_i = d log mu_i / d p`` the score is ``sum (y_i - mu_i) J_i`` and the expected
information ``sum mu_i J_i J_i'`` (McCullagh & Nelder, *Generalized Linear Models*, 2nd ed.,
1989, §9.2).  With a fully stratified background the stratum intercepts are profiled out in
closed form, ``exp(alpha_s) = Y_s / sum_{i in s} pyr_i exp(x_i'gamma) RR_i``, and the information
of the remaining parameters is the Schur complement
``sum mu J J' - sum_s (sum_{i in s} mu_i J_i)(...)' / Y_s`` (the stratum block is diagonal with
entries ``Y_s``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln

from doseline.cohort.design import Design
from doseline.cohort.spec import DoseForm, ExcessKind

__all__ = ["Evaluation", "PoissonLikelihood", "maximise"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Evaluation:
    """Log-likelihood, score and information (of the free parameters) at one point."""

    loglik: float
    score: FloatArray
    information: FloatArray
    mu: FloatArray


class PoissonLikelihood:
    """Log-likelihood of one grouped excess-risk model on one design.

    Parameters are ordered background, dose coefficients, modifiers (see :attr:`names`).
    """

    def __init__(self, design: Design, *, form: DoseForm, excess: ExcessKind) -> None:
        self.design = design
        self.form: DoseForm = form
        self.excess: ExcessKind = excess
        self.n_background = design.background.shape[1]
        self.n_modifiers = design.modifiers.shape[1]
        self.has_dose = design.dose is not None or design.dose_categories is not None
        names = list(design.background_names)
        names += [f"{excess}:{n}" for n in self._dose_names()]
        names += [f"mod:{n}" for n in design.modifier_names]
        self.names = tuple(names)
        self.n_dose = len(names) - self.n_background - self.n_modifiers
        y = design.cases
        self._log_y_factorial = float(gammaln(y + 1.0).sum())
        self._ylogy = float(np.sum(y[y > 0] * np.log(y[y > 0])))
        if design.strata is not None:
            self._stratum_cases: FloatArray = np.bincount(design.strata, weights=y).astype(
                np.float64
            )
            n_strata = len(self._stratum_cases)
            self.n_strata_params = int(np.count_nonzero(self._stratum_cases > 0))
        else:
            self._stratum_cases = np.zeros(0, dtype=np.float64)
            n_strata = 0
            self.n_strata_params = 0
        self._n_strata = n_strata

    def _dose_names(self) -> list[str]:
        if not self.has_dose:
            return []
        if self.form == "categorical":
            return list(self.design.category_labels)
        label = "dose"
        return {
            "linear": [label],
            "lq": [label, f"{label}^2"],
            "linexp": [label, f"exp({label})"],
        }[self.form]

    @property
    def n_params(self) -> int:
        """Number of free (non-stratum) parameters."""
        return len(self.names)

    def dose_response(self, beta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Return f(d; beta) per cell and its derivative columns d f / d beta (n x k)."""
        if self.form == "categorical":
            categories = self.design.dose_categories
            assert categories is not None
            return categories @ beta, categories
        d = self.design.dose
        assert d is not None
        if self.form == "linear":
            return beta[0] * d, d[:, None]
        if self.form == "lq":
            return beta[0] * d + beta[1] * d * d, np.column_stack([d, d * d])
        with np.errstate(over="ignore"):
            e = np.exp(beta[1] * d)
        return beta[0] * d * e, np.column_stack([d * e, beta[0] * d * d * e])

    def mean(self, params: FloatArray) -> tuple[FloatArray, FloatArray] | None:
        """Cell means ``mu`` and ``J = d log mu / d params``; ``None`` outside the model's domain.

        The domain requires a positive rate in every cell (1 + ERR > 0, or background + EAR > 0).
        """
        design = self.design
        nb, nd = self.n_background, self.n_dose
        gamma, beta, theta = params[:nb], params[nb : nb + nd], params[nb + nd :]
        with np.errstate(over="ignore"):
            background = np.exp(design.background @ gamma)
        if not self.has_dose:
            return design.pyr * background, design.background
        with np.errstate(over="ignore", invalid="ignore"):
            modifier = (
                np.exp(design.modifiers @ theta) if self.n_modifiers else np.ones_like(background)
            )
            f, df = self.dose_response(beta)
            excess = f * modifier
        if self.excess == "err":
            ratio = 1.0 + excess
            if not np.all(ratio > 0) or not np.all(np.isfinite(ratio)):
                return None
            mu = design.pyr * background * ratio
            jac = [design.background, df * (modifier / ratio)[:, None]]
            jac.append(design.modifiers * (excess / ratio)[:, None])
        else:
            total = background + excess
            if not np.all(total > 0) or not np.all(np.isfinite(total)):
                return None
            mu = design.pyr * total
            jac = [design.background * (background / total)[:, None]]
            jac += [df * (modifier / total)[:, None], design.modifiers * (excess / total)[:, None]]
        return mu, np.hstack(jac)

    def evaluate(self, params: FloatArray, free: BoolArray) -> Evaluation | None:
        """Log-likelihood (stratum intercepts profiled out), score and information of ``free``."""
        result = self.mean(params)
        if result is None:
            return None
        mu, jac = result
        jac = jac[:, free]
        y = self.design.cases
        strata = self.design.strata
        if strata is not None:
            totals = np.bincount(strata, weights=mu, minlength=self._n_strata)
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(self._stratum_cases > 0, self._stratum_cases / totals, 0.0)
            mu = mu * scale[strata]
        positive = y > 0
        if np.any(mu[positive] <= 0) or not np.all(np.isfinite(mu)):
            return None
        loglik = float(np.sum(y[positive] * np.log(mu[positive])) - mu.sum())
        loglik -= self._log_y_factorial
        score = jac.T @ (y - mu)
        information = jac.T @ (jac * mu[:, None])
        if strata is not None and jac.shape[1]:
            sums = np.column_stack(
                [np.bincount(strata, weights=mu * col, minlength=self._n_strata) for col in jac.T]
            )
            keep = self._stratum_cases > 0
            sums = sums[keep]
            information -= (sums / self._stratum_cases[keep][:, None]).T @ sums
        return Evaluation(loglik=loglik, score=score, information=information, mu=mu)

    def deviance(self, loglik: float) -> float:
        """Deviance against the saturated model, ``2 sum [y log(y/mu) - (y - mu)]``."""
        saturated = self._ylogy - float(self.design.cases.sum()) - self._log_y_factorial
        return 2.0 * (saturated - loglik)

    def start(self) -> FloatArray:
        """Starting values: crude rate for the intercept, zero elsewhere."""
        params = np.zeros(self.n_params)
        if "(intercept)" in self.design.background_names:
            rate = max(self.design.cases.sum(), 0.5) / self.design.pyr.sum()
            params[self.design.background_names.index("(intercept)")] = np.log(rate)
        return params

    @property
    def log_scale(self) -> BoolArray:
        """Mask of the log-linear coefficients (background and modifiers)."""
        mask = np.ones(self.n_params, dtype=bool)
        mask[self.n_background : self.n_background + self.n_dose] = False
        if "(intercept)" in self.names:
            mask[self.names.index("(intercept)")] = False
        return mask

    def staged_free(self) -> BoolArray:
        """Parameters freed in the first stage: all but those unidentified at zero excess."""
        free = np.ones(self.n_params, dtype=bool)
        nb, nd = self.n_background, self.n_dose
        free[nb + nd :] = False
        if self.form == "linexp":
            free[nb + 1] = False
        return free


#: |log-linear coefficient| beyond which a fit is declared divergent: exp(50) ~ 5e21, far beyond
#: any rate ratio seen in epidemiological data (a numerical guard, not a physical constant).
DIVERGENCE_BOUND = 50.0


def _solve(information: FloatArray, score: FloatArray) -> FloatArray:
    """Newton step ``I^-1 U`` with Jacobi scaling and a least-squares fallback when singular."""
    scale = np.sqrt(np.clip(np.diag(information), 1e-300, None))
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = information / np.outer(scale, scale)
    rhs = score / scale
    try:
        step = np.linalg.solve(scaled, rhs)
    except np.linalg.LinAlgError:
        step = np.linalg.lstsq(scaled, rhs, rcond=1e-12)[0]
    if not np.all(np.isfinite(step)):
        step = np.linalg.lstsq(scaled, rhs, rcond=1e-12)[0]
    return np.asarray(step / scale, dtype=np.float64)


def maximise(
    evaluate: Callable[[FloatArray, BoolArray], Evaluation | None],
    start: FloatArray,
    free: BoolArray,
    *,
    max_iter: int = 200,
    tol: float = 1e-10,
    log_scale: BoolArray | None = None,
) -> tuple[FloatArray, Evaluation, bool]:
    """Maximise a log-likelihood over ``free`` parameters by Newton/Fisher scoring.

    Step halving keeps every iterate inside the model's domain and non-decreasing in the
    log-likelihood (Jennrich & Sampson, Technometrics 1976;18:11).  Converged when the Newton
    decrement ``U' I^-1 U`` falls below ``tol * (1 + |loglik|)``, after which one more full
    step is taken.  Coefficients flagged in ``log_scale`` (log-linear terms) that pass
    :data:`DIVERGENCE_BOUND` in magnitude stop the search unconverged: the maximum lies at
    infinity (e.g. a modifier driving one group's excess to zero).

    Returns
    -------
    params, evaluation, converged
    """
    params = np.array(start, dtype=np.float64)
    current = evaluate(params, free)
    if current is None:
        raise ValueError("starting values are outside the model's domain")
    if not free.any():
        return params, current, True
    for _ in range(max_iter):
        step = _solve(current.information, current.score)
        decrement = float(current.score @ step)
        if abs(decrement) <= tol * (1.0 + abs(current.loglik)):
            # Near the optimum Newton converges quadratically: one last full step makes the
            # parameter error of order (decrement)^1 instead of (decrement)^(1/2).
            trial = params.copy()
            trial[free] += step
            final = evaluate(trial, free)
            if final is not None and final.loglik >= current.loglik - 1e-9 * (
                1.0 + abs(current.loglik)
            ):
                return trial, final, True
            return params, current, True
        t = 1.0
        while t > 1e-10:
            trial = params.copy()
            trial[free] += t * step
            candidate = evaluate(trial, free)
            if candidate is not None and candidate.loglik >= current.loglik - 1e-12 * (
                1.0 + abs(current.loglik)
            ):
                break
            t *= 0.5
        else:
            return params, current, abs(decrement) <= 1e-6 * (1.0 + abs(current.loglik))
        assert candidate is not None
        gain = candidate.loglik - current.loglik
        params, current = trial, candidate
        if t < 1e-6 and gain <= 1e-12 * (1.0 + abs(current.loglik)):
            # Stalled: tiny steps that no longer improve (a ridge or an optimum at infinity).
            return params, current, abs(decrement) <= 1e-6 * (1.0 + abs(current.loglik))
        if log_scale is not None and np.any(np.abs(params[log_scale]) > DIVERGENCE_BOUND):
            return params, current, False
    return params, current, False
