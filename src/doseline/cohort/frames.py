"""The inputs of person-time tabulation: persons, exposures, outcomes, time-dependent covariates.

:class:`CohortFrames` holds four pandas frames in a canonical layout where every time is an
age in years since birth (the registry's ages in days are divided by 365.25). It checks them
on construction and names the table, record and column of any bad value.

Canonical columns
-----------------
persons
    ``person_id`` (unique), ``sex``, ``end_age_y`` (age at the end of follow-up: last contact,
    death, loss or study end, whichever came first); optional ``birth_year`` (decimal calendar
    year of birth, needed to split by calendar period), ``exit_reason`` (free text such as
    ``death``, ``lost``, ``end``), ``entry_age_y`` (earliest age at which follow-up may start,
    e.g. registry coverage) and any constant covariates (``country``, ``down_syndrome``).
exposures
    ``person_id``, ``age_y`` and one column per organ dose (e.g. ``red_bone_marrow_gy``).
outcomes
    ``person_id``, ``age_y``, ``outcome`` (an outcome type such as ``leukaemia``).
covariates
    ``person_id``, ``age_y``, ``covariate`` (the name of a binary time-dependent covariate,
    such as ``transplant``, that switches on at ``age_y`` and stays on).

Dates may be given instead of ages: ``birth_date`` in persons (then ``end_date`` may replace
``end_age_y``) and ``date`` in the other frames; :meth:`CohortFrames.from_dates` converts them
with a year of 365.25 days.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from doseline.errors import InvalidInputError

__all__ = ["DAYS_PER_YEAR", "CohortFrames"]

DAYS_PER_YEAR = 365.25  # Julian year: the convention of pyears (survival) and Epi::cal.yr

_REQUIRED = {
    "persons": ("person_id", "sex", "end_age_y"),
    "exposures": ("person_id", "age_y"),
    "outcomes": ("person_id", "age_y", "outcome"),
    "covariates": ("person_id", "age_y", "covariate"),
}


def _empty(name: str) -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in _REQUIRED[name]})


def _check_columns(frame: pd.DataFrame, name: str, source: str) -> None:
    for column in _REQUIRED[name]:
        if column not in frame.columns:
            raise InvalidInputError(
                f"required column is missing (have {list(frame.columns)})",
                source=source,
                record=name,
                field=column,
            )


def _check_ages(frame: pd.DataFrame, name: str, column: str, source: str) -> None:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0.0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"age must be a finite number >= 0, got {frame[column].iloc[row]!r}",
            source=source,
            record=f"{name} row {row + 1} (person {frame['person_id'].iloc[row]!r})",
            field=column,
        )


def _years_between(start: pd.Series, end: pd.Series) -> pd.Series:
    delta = pd.to_datetime(end) - pd.to_datetime(start)
    return delta.dt.total_seconds() / (86400.0 * DAYS_PER_YEAR)


@dataclass(frozen=True)
class CohortFrames:
    """Persons, exposures, outcomes and covariate onsets of a cohort, checked on construction.

    Parameters
    ----------
    persons, exposures, outcomes, covariates
        Frames in the canonical layout of this module's docstring; ``covariates`` and
        ``outcomes`` may be omitted.
    source
        Name of where the frames came from (file or registry URL), used in error messages.

    Raises
    ------
    InvalidInputError
        A column is missing, a person is listed twice, an age is negative or not a number, a
        dose is negative, or a row names a person not in ``persons``.
    """

    persons: pd.DataFrame
    exposures: pd.DataFrame
    outcomes: pd.DataFrame = field(default_factory=lambda: _empty("outcomes"))
    covariates: pd.DataFrame = field(default_factory=lambda: _empty("covariates"))
    source: str = "cohort"

    def __post_init__(self) -> None:
        tables = {
            "persons": self.persons,
            "exposures": self.exposures,
            "outcomes": self.outcomes,
            "covariates": self.covariates,
        }
        for name, frame in tables.items():
            _check_columns(frame, name, self.source)
        duplicated = self.persons["person_id"].duplicated()
        if duplicated.any():
            row = int(np.flatnonzero(duplicated.to_numpy())[0])
            raise InvalidInputError(
                f"person {self.persons['person_id'].iloc[row]!r} is listed twice",
                source=self.source,
                record=f"persons row {row + 1}",
                field="person_id",
            )
        _check_ages(self.persons, "persons", "end_age_y", self.source)
        if "entry_age_y" in self.persons.columns:
            _check_ages(self.persons, "persons", "entry_age_y", self.source)
        known = pd.Index(self.persons["person_id"])
        for name in ("exposures", "outcomes", "covariates"):
            frame = tables[name]
            _check_ages(frame, name, "age_y", self.source)
            unknown = known.get_indexer(frame["person_id"]) < 0
            if unknown.any():
                row = int(np.flatnonzero(unknown)[0])
                raise InvalidInputError(
                    f"person {frame['person_id'].iloc[row]!r} is not in the persons table",
                    source=self.source,
                    record=f"{name} row {row + 1}",
                    field="person_id",
                )

    def check_doses(self, columns: tuple[str, ...]) -> None:
        """Check that the exposure frame has these dose columns, finite and >= 0."""
        for column in columns:
            if column not in self.exposures.columns:
                raise InvalidInputError(
                    f"dose column is missing (have {list(self.exposures.columns)})",
                    source=self.source,
                    record="exposures",
                    field=column,
                )
            values = pd.to_numeric(self.exposures[column], errors="coerce").to_numpy(float)
            bad = ~np.isfinite(values) | (values < 0.0)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise InvalidInputError(
                    f"dose must be a finite number >= 0, got {self.exposures[column].iloc[row]!r}",
                    source=self.source,
                    record=f"exposures row {row + 1}",
                    field=column,
                )

    @classmethod
    def from_dates(
        cls,
        persons: pd.DataFrame,
        exposures: pd.DataFrame,
        outcomes: pd.DataFrame | None = None,
        covariates: pd.DataFrame | None = None,
        *,
        source: str = "cohort",
    ) -> CohortFrames:
        """Frames with dates (``birth_date``, ``end_date``, ``date``) converted to ages.

        ``birth_year`` is set to the decimal calendar year of birth. Frames that already have
        ``age_y`` (or ``end_age_y``) keep it.
        """
        if "birth_date" not in persons.columns:
            raise InvalidInputError(
                "dates need the persons' birth_date",
                source=source,
                record="persons",
                field="birth_date",
            )
        persons = persons.copy()
        births = pd.to_datetime(persons["birth_date"])
        start_of_year = pd.to_datetime(births.dt.year.astype(str) + "-01-01")
        persons["birth_year"] = births.dt.year + _years_between(start_of_year, births)
        if "end_age_y" not in persons.columns and "end_date" in persons.columns:
            persons["end_age_y"] = _years_between(births, persons["end_date"])
        birth_of = pd.Series(births.to_numpy(), index=persons["person_id"].to_numpy())

        def ages(frame: pd.DataFrame) -> pd.DataFrame:
            if "age_y" in frame.columns or "date" not in frame.columns:
                return frame
            frame = frame.copy()
            born = pd.Series(birth_of.reindex(frame["person_id"]).to_numpy(), index=frame.index)
            frame["age_y"] = _years_between(born, frame["date"])
            return frame

        return cls(
            persons,
            ages(exposures),
            ages(outcomes) if outcomes is not None else _empty("outcomes"),
            ages(covariates) if covariates is not None else _empty("covariates"),
            source=source,
        )
