"""Baseline rates for lifetime-risk projection: cancer incidence and mortality by site, sex and
single year of age, and all-cause survival.

A :class:`Baseline` holds rates per 100,000 person-years at ages 0-100 (the rate of age ``a``
applies to the year of life ``[a, a+1)``; 100 stands for 100 and over) and survival ``S(a)`` at
exact ages 0-100. Load one from the documented CSV (:meth:`Baseline.from_csv`, format in
``docs/risk.md``) or by name from the open tables in ``../shared/data/risk``
(:mod:`doseline.risk.baseline_sources`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from doseline.errors import InvalidInputError
from doseline.organs import Sex

__all__ = ["AGES_Y", "N_AGES", "Baseline", "FloatArray", "synthetic_baseline"]

FloatArray = npt.NDArray[np.float64]

#: Single years of age of every baseline table (100 = 100 and over).
AGES_Y: FloatArray = np.arange(101, dtype=np.float64)
N_AGES = 101
_SEXES: tuple[Sex, Sex] = ("male", "female")
_KINDS = ("incidence", "mortality", "survival", "qx", "allcause")


def _frozen(mapping: Mapping[tuple[str, Sex], FloatArray]) -> Mapping[tuple[str, Sex], FloatArray]:
    for values in mapping.values():
        values.setflags(write=False)
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Baseline:
    """Baseline incidence, mortality and survival of one population.

    Parameters
    ----------
    name
        Short name (``doseline risk baselines`` lists the shipped ones).
    description
        What population and period the rates describe.
    source
        Citation of the data (publication or repository, version, licence).
    incidence_per_100000
        (site, sex) -> 101 rates per 100,000 person-years, ages 0-100. ``all_solid`` (solid
        cancers excluding non-melanoma skin cancer), when present, lets models form their
        residual "other"/"remainder" site as all solid minus the modelled sites.
    mortality_per_100000
        Same layout for cancer (or circulatory-disease) death rates; may be empty.
    survival
        sex -> all-cause survival ``S(a)`` at exact ages 0-100, ``S(0) = 1``.
    """

    name: str
    description: str
    source: str
    incidence_per_100000: Mapping[tuple[str, Sex], FloatArray]
    mortality_per_100000: Mapping[tuple[str, Sex], FloatArray]
    survival: Mapping[Sex, FloatArray]
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for table_name, table in (
            ("incidence", self.incidence_per_100000),
            ("mortality", self.mortality_per_100000),
        ):
            for (site, sex), values in table.items():
                _check_curve(values, f"{self.name}: {table_name} {site} {sex}")
        for sex in _SEXES:
            if sex not in self.survival:
                raise InvalidInputError(f"no survival for {sex}", source=self.name)
            s = self.survival[sex]
            _check_curve(s, f"{self.name}: survival {sex}")
            if abs(s[0] - 1.0) > 1e-9 or np.any(np.diff(s) > 1e-12) or s[-1] <= 0.0:
                raise InvalidInputError(
                    "survival must start at 1, not increase, and stay above 0 to age 100",
                    source=self.name,
                    record=sex,
                    field="survival",
                )
        object.__setattr__(self, "incidence_per_100000", _frozen(self.incidence_per_100000))
        object.__setattr__(self, "mortality_per_100000", _frozen(self.mortality_per_100000))
        for s in self.survival.values():
            s.setflags(write=False)
        object.__setattr__(self, "survival", MappingProxyType(dict(self.survival)))

    def sites(self, outcome: str = "incidence") -> frozenset[str]:
        """Sites with rates for ``outcome`` (``incidence`` or ``mortality``)."""
        return frozenset(site for site, _ in self._table(outcome))

    def rate_per_100000(self, outcome: str, site: str, sex: Sex) -> FloatArray:
        """Rates of ``site`` for ``sex`` and ``outcome``; raises naming what is missing."""
        table = self._table(outcome)
        if (site, sex) not in table:
            raise InvalidInputError(
                f"baseline has no {outcome} rates for {site} ({sex})",
                source=self.name,
                field=site,
            )
        return table[(site, sex)]

    def has(self, outcome: str, site: str, sex: Sex) -> bool:
        """Whether the baseline has ``outcome`` rates of ``site`` for ``sex``."""
        return (site, sex) in self._table(outcome)

    def _table(self, outcome: str) -> Mapping[tuple[str, Sex], FloatArray]:
        if outcome == "incidence":
            return self.incidence_per_100000
        if outcome == "mortality":
            return self.mortality_per_100000
        raise ValueError(f"outcome must be 'incidence' or 'mortality', not {outcome!r}")

    def survival_mid_year(self, sex: Sex) -> FloatArray:
        """Survival at the middle of each year of age ``[a, a+1)``, ``a`` = 0-100.

        Log-linear between exact ages; the year 100 uses the hazard of the year 99.
        """
        s = self.survival[sex]
        log_s = np.log(s)
        hazard = -np.diff(log_s)
        hazard = np.append(hazard, hazard[-1])
        mid: FloatArray = np.exp(log_s - 0.5 * hazard)
        return mid

    def survival_at(self, sex: Sex, age_y: FloatArray) -> FloatArray:
        """Survival at exact (fractional) ages, log-linear between whole years."""
        log_s = np.log(self.survival[sex])
        out: FloatArray = np.exp(np.interp(age_y, AGES_Y, log_s))
        return out

    @classmethod
    def from_csv(
        cls, path: str | Path, *, name: str | None = None, description: str = "", source: str = ""
    ) -> Baseline:
        """Read a baseline from a doseline baseline CSV (format in ``docs/risk.md``).

        Columns ``kind,site,sex,age,value``: ``kind`` is ``incidence`` or ``mortality``
        (rates per 100,000 person-years, ``site`` required), ``survival`` (S(age)), ``qx``
        (life-table probability of dying between age and age+1) or ``allcause`` (all-cause
        death rate per 100,000); ``age`` 0-100, every age present once per kind, site and sex.
        Lines starting with ``#`` are comments.
        """
        path = Path(path)
        with path.open(newline="", encoding="utf-8") as handle:
            lines = (line for line in handle if not line.startswith("#"))
            reader = csv.DictReader(lines)
            needed = {"kind", "site", "sex", "age", "value"}
            if reader.fieldnames is None or not needed <= set(reader.fieldnames):
                raise InvalidInputError(
                    f"columns must include {sorted(needed)}", source=str(path), field="header"
                )
            curves = _read_rows(reader, str(path))
        return _assemble(curves, str(path), name or path.stem, description, source)

    def to_csv(self, path: str | Path) -> None:
        """Write the baseline in the format :meth:`from_csv` reads (survival as S(age))."""
        with Path(path).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            handle.write(f"# {self.name}: {self.description}\n# source: {self.source}\n")
            writer.writerow(["kind", "site", "sex", "age", "value"])
            for kind, table in (
                ("incidence", self.incidence_per_100000),
                ("mortality", self.mortality_per_100000),
            ):
                for (site, sex), values in table.items():
                    for age, value in enumerate(values):
                        writer.writerow([kind, site, sex, age, repr(float(value))])
            for sex, values in self.survival.items():
                for age, value in enumerate(values):
                    writer.writerow(["survival", "", sex, age, repr(float(value))])


def _check_curve(values: FloatArray, what: str) -> None:
    if values.shape != (N_AGES,):
        raise InvalidInputError(f"{what}: needs {N_AGES} values (ages 0-100), has {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values < 0.0):
        raise InvalidInputError(f"{what}: values must be finite and non-negative")


def _read_rows(
    reader: Iterable[dict[str, str]], source: str
) -> dict[tuple[str, str, Sex], dict[int, float]]:
    curves: dict[tuple[str, str, Sex], dict[int, float]] = {}
    for number, row in enumerate(reader, start=2):
        record = f"row {number}"
        kind = (row.get("kind") or "").strip()
        if kind not in _KINDS:
            raise InvalidInputError(
                f"kind {kind!r} is not one of {_KINDS}", source=source, record=record, field="kind"
            )
        sex = (row.get("sex") or "").strip()
        if sex not in _SEXES:
            raise InvalidInputError(
                f"sex {sex!r} must be male or female", source=source, record=record, field="sex"
            )
        site = (row.get("site") or "").strip()
        if kind in ("incidence", "mortality") and not site:
            raise InvalidInputError("site is empty", source=source, record=record, field="site")
        try:
            age = int(row["age"])
            value = float(row["value"])
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"age/value not numeric: {exc}", source=source, record=record, field="age/value"
            ) from None
        if not 0 <= age <= 100:
            raise InvalidInputError(
                f"age {age} outside 0-100", source=source, record=record, field="age"
            )
        if not math.isfinite(value) or value < 0:
            raise InvalidInputError(
                f"value {value} is not a finite non-negative number",
                source=source,
                record=record,
                field="value",
            )
        curve = curves.setdefault((kind, site, sex), {})
        if age in curve:
            raise InvalidInputError(
                f"age {age} given twice for {kind} {site} {sex}",
                source=source,
                record=record,
                field="age",
            )
        curve[age] = value
    return curves


def _assemble(
    curves: Mapping[tuple[str, str, Sex], Mapping[int, float]],
    source_file: str,
    name: str,
    description: str,
    source: str,
) -> Baseline:
    incidence: dict[tuple[str, Sex], FloatArray] = {}
    mortality: dict[tuple[str, Sex], FloatArray] = {}
    survival: dict[Sex, FloatArray] = {}
    for (kind, site, sex), by_age in curves.items():
        missing = sorted(set(range(N_AGES)) - set(by_age))
        if missing:
            raise InvalidInputError(
                f"{kind} {site} {sex}: ages missing: {missing[:10]}",
                source=source_file,
                field="age",
            )
        values = np.array([by_age[a] for a in range(N_AGES)], dtype=np.float64)
        if kind == "incidence":
            incidence[(site, sex)] = values
        elif kind == "mortality":
            mortality[(site, sex)] = values
        else:
            if sex in survival:
                raise InvalidInputError(
                    f"two survival definitions for {sex}", source=source_file, field="kind"
                )
            survival[sex] = survival_from(kind, values, source_file, sex)
    return Baseline(name, description, source or source_file, incidence, mortality, survival)


def survival_from(kind: str, values: FloatArray, source: str, sex: str) -> FloatArray:
    """Survival S(0..100) from a survival curve, life-table ``qx`` or all-cause rates."""
    if kind == "survival":
        return values
    if kind == "qx":
        if np.any(values[:100] >= 1.0):
            raise InvalidInputError(
                "qx must be below 1 before age 100", source=source, record=sex, field="qx"
            )
        out: FloatArray = np.concatenate(([1.0], np.cumprod(1.0 - values[:100])))
        return out
    hazard = values[:100] / 1e5
    out = np.exp(-np.concatenate(([0.0], np.cumsum(hazard))))
    return out


def synthetic_baseline(
    sites: tuple[str, ...],
    *,
    rate_per_100000: float = 100.0,
    mortality_fraction: float = 0.5,
    hazard_per_100000: float = 0.0,
    name: str = "synthetic",
) -> Baseline:
    """A baseline with known, constant rates, for tests and examples (a synthetic truth).

    Every site in ``sites`` has incidence ``rate_per_100000`` at every age for both sexes and
    mortality ``mortality_fraction`` times that; all-cause mortality is a constant hazard
    ``hazard_per_100000`` (0: nobody dies), so ``S(a) = exp(-hazard * a)``.
    """
    incidence: dict[tuple[str, Sex], FloatArray] = {}
    mortality: dict[tuple[str, Sex], FloatArray] = {}
    for site in sites:
        for sex in _SEXES:
            incidence[(site, sex)] = np.full(N_AGES, rate_per_100000)
            mortality[(site, sex)] = np.full(N_AGES, rate_per_100000 * mortality_fraction)
    survival: dict[Sex, FloatArray] = {
        sex: np.exp(-hazard_per_100000 / 1e5 * AGES_Y) for sex in _SEXES
    }
    return Baseline(
        name,
        "constant synthetic rates",
        "synthetic (doseline.risk.baseline.synthetic_baseline)",
        incidence,
        mortality,
        survival,
    )
