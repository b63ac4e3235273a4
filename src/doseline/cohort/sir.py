"""Standardised incidence and mortality ratios (SIR/SMR) against reference rates.

Expected cases are person-years times the reference rate of the same sex, attained-age band
and (optionally) calendar period, summed over the cells of a person-time table
(:mod:`doseline.cohort.persontime`); SIR = observed / expected (Breslow NE, Day NE.
Statistical Methods in Cancer Research, vol. II, IARC Sci Publ 82, 1987, ch. 2).

Confidence limits are the exact (Garwood) Poisson limits of the observed count divided by the
expected count: lower = chi2(alpha/2; 2O)/2, upper = chi2(1 - alpha/2; 2O + 2)/2 (Garwood F.
Biometrika 1936;28:437; Breslow & Day vol. II, eq. 2.10). The two-sided p-value of SIR = 1 is
twice the smaller exact Poisson tail, capped at 1.

Reference-rate CSV format
-------------------------
One row per sex, age band and (optionally) calendar period:

``sex``
    ``male``/``female`` (``M``/``F`` and ``1``/``2`` are read as the same).
``age_lo_y``, ``age_hi_y``
    attained-age band ``[lo, hi)`` in years (``hi`` may be ``inf``).
``period_lo_year``, ``period_hi_year``
    optional calendar-period band ``[lo, hi)``.
``rate_per_person_year`` or ``rate_per_100000``
    the reference incidence (or mortality) rate.

Each age (and period) band of the person-time table must lie inside one band of the rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from doseline.errors import InvalidInputError

__all__ = ["ReferenceRates", "SIRResult", "garwood_interval", "sir"]

FloatArray = npt.NDArray[np.float64]

_SEX_CODES = {
    "m": "male",
    "male": "male",
    "1": "male",
    "f": "female",
    "female": "female",
    "2": "female",
}


def _sex(values: pd.Series, source: str, table: str) -> pd.Series:
    text = values.astype(str).str.strip().str.lower()
    mapped = text.map(_SEX_CODES)
    if mapped.isna().any():
        row = int(np.flatnonzero(mapped.isna().to_numpy())[0])
        raise InvalidInputError(
            f"unknown sex code {values.iloc[row]!r} (use male/female, M/F or 1/2)",
            source=source,
            record=f"{table} row {row + 1}",
            field="sex",
        )
    return mapped


def _counts(table: pd.DataFrame, column: str, *, whole: bool) -> FloatArray:
    """A column of case counts (whole numbers) or person-years, finite and >= 0."""
    if column not in table.columns:
        raise InvalidInputError("no such column", source="person-time table", field=column)
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values) | (values < 0)
    if whole:
        bad |= values != np.round(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"{table[column].iloc[row]!r} is not a {'count' if whole else 'number'} >= 0",
            source="person-time table",
            record=f"row {row + 1}",
            field=column,
        )
    return np.asarray(values, dtype=np.float64)


def garwood_interval(
    observed: npt.ArrayLike, expected: npt.ArrayLike, conf_level: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """Exact Poisson (Garwood 1936) limits of observed/expected, vectorised."""
    o = np.asarray(observed, dtype=float)
    e = np.asarray(expected, dtype=float)
    alpha = 1.0 - conf_level
    lower = np.where(o > 0, stats.chi2.ppf(alpha / 2, 2 * np.maximum(o, 1)) / 2, 0.0)
    upper = stats.chi2.ppf(1 - alpha / 2, 2 * o + 2) / 2
    return np.asarray(lower / e, dtype=float), np.asarray(upper / e, dtype=float)


def _exact_p(observed: FloatArray, expected: FloatArray) -> FloatArray:
    low_tail = stats.poisson.cdf(observed, expected)
    high_tail = stats.poisson.sf(observed - 1, expected)
    return np.asarray(np.minimum(1.0, 2 * np.minimum(low_tail, high_tail)), dtype=float)


def _parse_bands(labels: pd.Series, column: str) -> tuple[FloatArray, FloatArray]:
    """Lower and upper edges from ``[lo,hi)`` labels."""
    parts = labels.astype(str).str.extract(r"^\[([^,]+),([^)]+)\)$")
    if parts.isna().any(axis=None):
        row = int(np.flatnonzero(parts.isna().any(axis=1).to_numpy())[0])
        raise InvalidInputError(
            f"band {labels.iloc[row]!r} is not of the form [lo,hi)",
            source="person-time table",
            record=f"row {row + 1}",
            field=column,
        )
    return parts[0].to_numpy(dtype=np.float64), parts[1].to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class ReferenceRates:
    """Reference rates by sex, age band and optionally calendar period (module docstring).

    Raises
    ------
    InvalidInputError
        A column is missing, a rate is negative or missing, or a band is empty.
    """

    frame: pd.DataFrame
    source: str = "reference rates"

    def __post_init__(self) -> None:
        frame = self.frame
        if "rate_per_person_year" not in frame.columns and "rate_per_100000" in frame.columns:
            per_100000 = pd.to_numeric(frame["rate_per_100000"], errors="coerce")
            frame = frame.assign(rate_per_person_year=per_100000 / 1e5)
        bands = [("age_lo_y", "age_hi_y")]
        if "period_lo_year" in frame.columns or "period_hi_year" in frame.columns:
            bands.append(("period_lo_year", "period_hi_year"))
        for column in (
            "sex",
            *bands[0],
            "rate_per_person_year",
            *(c for b in bands[1:] for c in b),
        ):
            if column not in frame.columns:
                raise InvalidInputError(
                    f"required column is missing (have {list(frame.columns)})",
                    source=self.source,
                    field=column,
                )
        numeric = {
            column: pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
            for column in ("rate_per_person_year", *(c for band in bands for c in band))
        }
        rate = numeric["rate_per_person_year"]
        checks = [(~np.isfinite(rate) | (rate < 0), "rate must be a number >= 0", "rate")]
        for lo, hi in bands:
            checks.append((np.isnan(numeric[lo]), "band edge must be a number", lo))
            checks.append((np.isnan(numeric[hi]), "band edge must be a number", hi))
            checks.append((numeric[hi] <= numeric[lo], f"band is empty ({hi} <= {lo})", hi))
        for bad, what, column in checks:
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise InvalidInputError(
                    what, source=self.source, record=f"row {row + 1}", field=column
                )
        frame = frame.assign(sex=_sex(frame["sex"], self.source, "rates"), **numeric)
        object.__setattr__(self, "frame", frame.reset_index(drop=True))

    @classmethod
    def from_csv(cls, path: str | Path) -> ReferenceRates:
        try:
            frame = pd.read_csv(path)
        # pandas raises ValueError subclasses (ParserError, EmptyDataError, UnicodeDecodeError)
        except ValueError as error:
            raise InvalidInputError(f"unreadable CSV ({error})", source=str(path)) from error
        return cls(frame, source=str(path))

    @property
    def has_period(self) -> bool:
        return "period_lo_year" in self.frame.columns

    def rates_for(self, table: pd.DataFrame) -> FloatArray:
        """The reference rate of each cell of a person-time table (sex, age and period)."""
        for column in ("sex", "age_band", *(["period_band"] if self.has_period else [])):
            if column not in table.columns:
                raise InvalidInputError(
                    "the person-time table needs this column for the reference rates",
                    source="person-time table",
                    field=column,
                )
        sex = _sex(table["sex"], "person-time table", "table").to_numpy()
        cell_lo, cell_hi = _parse_bands(table["age_band"], "age_band")
        match = (sex[:, None] == self.frame["sex"].to_numpy()[None, :]) & (
            (cell_lo[:, None] >= self.frame["age_lo_y"].to_numpy(float)[None, :])
            & (cell_hi[:, None] <= self.frame["age_hi_y"].to_numpy(float)[None, :])
        )
        if self.has_period:
            p_lo, p_hi = _parse_bands(table["period_band"], "period_band")
            match &= (p_lo[:, None] >= self.frame["period_lo_year"].to_numpy(float)[None, :]) & (
                p_hi[:, None] <= self.frame["period_hi_year"].to_numpy(float)[None, :]
            )
        found = match.sum(axis=1)
        if (found != 1).any():
            row = int(np.flatnonzero(found != 1)[0])
            raise InvalidInputError(
                f"{int(found[row])} reference rates match this cell (need exactly 1): "
                f"its bands must nest in the rate bands",
                source="person-time table",
                record=f"row {row + 1}",
                field="age_band",
            )
        return np.asarray(
            self.frame["rate_per_person_year"].to_numpy(float)[match.argmax(axis=1)], float
        )


@dataclass(frozen=True)
class SIRResult:
    """Observed and expected cases, SIR, exact interval and p-value, overall or by group.

    ``summary_frame`` has one row per group (one row, group ``all``, without ``by``) with
    columns ``observed``, ``expected``, ``sir``, ``ci_low``, ``ci_high``, ``p_value``.
    """

    summary_frame: pd.DataFrame
    conf_level: float

    @property
    def sir(self) -> FloatArray:
        return np.asarray(self.summary_frame["sir"].to_numpy(float))

    def conf_int(self) -> pd.DataFrame:
        return self.summary_frame[["ci_low", "ci_high"]]

    def summary(self) -> str:
        pct = round(100 * self.conf_level)
        lines = [f"{'group':<20} {'observed':>9} {'expected':>10} {'SIR':>7}  {pct}% CI (exact)"]
        for group, row in self.summary_frame.iterrows():
            lines.append(
                f"{group!s:<20} {int(row['observed']):>9d} {row['expected']:>10.3f} "
                f"{row['sir']:>7.3f}  {row['ci_low']:.3f}-{row['ci_high']:.3f}"
            )
        return "\n".join(lines)


def sir(
    table: pd.DataFrame,
    rates: ReferenceRates,
    *,
    cases: str = "cases",
    pyr: str = "pyr",
    by: str | None = None,
    conf_level: float = 0.95,
) -> SIRResult:
    """SIR (or SMR) of a person-time table against reference rates.

    Parameters
    ----------
    table
        Person-time table with ``sex``, ``age_band`` (and ``period_band`` where the rates are
        by period), the case count and person-years columns.
    rates
        The reference rates.
    by
        Optional column of ``table`` to give one SIR per value (e.g. ``dose_band``).
    conf_level
        Confidence level of the exact interval.
    """
    observed = _counts(table, cases, whole=True)
    expected_cells = _counts(table, pyr, whole=False) * rates.rates_for(table)
    if by is not None and by not in table.columns:
        raise InvalidInputError("no such column", source="person-time table", field=by)
    frame = pd.DataFrame(
        {
            "group": table[by].astype(str).to_numpy() if by else "all",
            "observed": observed,
            "expected": expected_cells,
        }
    )
    summed = frame.groupby("group", sort=False).sum()
    o = summed["observed"].to_numpy(float)
    e = summed["expected"].to_numpy(float)
    low, high = garwood_interval(o, e, conf_level)
    summary = pd.DataFrame(
        {
            "observed": o.astype(np.int64),
            "expected": e,
            "sir": o / e,
            "ci_low": low,
            "ci_high": high,
            "p_value": _exact_p(o, e),
        },
        index=summed.index,
    )
    return SIRResult(summary, conf_level)
