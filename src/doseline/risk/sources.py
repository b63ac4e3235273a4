"""Exposures for risk projection: from a CSV of organ doses or from the registry.

CSV format (one row per organ dose; ``docs/risk.md``)::

    pseudonym,sex,age_at_exposure_y,organ,dose_gy
    P001,female,2.5,thyroid,0.004

``sex`` (``male``/``female``) may be empty when given on the command line; rows of one
pseudonym and age at exposure form one exposure (an optional ``exposure`` column separates
exposures at the same age). Registry: ``organ_dose`` rows joined to ``exposure`` and
``patient`` (age at exposure from ``exposure.age_at_exposure_days / 365.25``).
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Row, select

from doseline.errors import InvalidInputError
from doseline.organs import ORGANS, Sex
from doseline.registry.doses import OrganDose
from doseline.registry.exposures import Exposure as ExposureRow
from doseline.registry.people import Patient
from doseline.risk.projection import Exposure

if TYPE_CHECKING:
    from doseline.registry.database import Registry

__all__ = ["PersonExposures", "exposures_from_registry", "read_exposures_csv"]

_DAYS_PER_YEAR = 365.25
PersonExposures = tuple[Sex | None, list[Exposure]]


def _sex(value: str | None, source: str, record: str) -> Sex | None:
    value = (value or "").strip().lower()
    if value in ("", "o"):
        return None
    if value in ("male", "m"):
        return "male"
    if value in ("female", "f"):
        return "female"
    raise InvalidInputError(
        f"sex {value!r} not male/female", source=source, record=record, field="sex"
    )


def _parse_row(row: dict[str, str], source: str, record: str) -> tuple[str, str, float, float]:
    """Pseudonym, organ, age at exposure (y) and dose (Gy) of one CSV row, checked."""
    person = row["pseudonym"].strip()
    if not person:
        raise InvalidInputError("empty pseudonym", source=source, record=record, field="pseudonym")
    organ = row["organ"].strip()
    if organ not in ORGANS:
        raise InvalidInputError(
            f"unknown organ {organ!r}", source=source, record=record, field="organ"
        )
    age = _number(row, "age_at_exposure_y", source, record)
    if not 0 <= age < 100:
        raise InvalidInputError(
            f"age at exposure {age} y outside 0-100",
            source=source,
            record=record,
            field="age_at_exposure_y",
        )
    dose = _number(row, "dose_gy", source, record)
    if not (math.isfinite(dose) and dose >= 0):
        raise InvalidInputError(
            f"dose {dose} Gy is not a finite non-negative number",
            source=source,
            record=record,
            field="dose_gy",
        )
    return person, organ, age, dose


def _number(row: dict[str, str], column: str, source: str, record: str) -> float:
    """The float in ``column`` of a CSV row, or an error naming file, row and column."""
    try:
        return float(row[column])
    except ValueError:
        raise InvalidInputError(
            f"{row[column]!r} is not a number", source=source, record=record, field=column
        ) from None


def _csv_rows(path: Path, source: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The rows of an exposures CSV as (record, row), every row as long as the header."""
    needed = {"pseudonym", "age_at_exposure_y", "organ", "dose_gy"}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInputError(f"cannot read: {error.strerror}", source=source) from None
    except UnicodeDecodeError as error:
        raise InvalidInputError(
            f"not UTF-8 text (byte {error.start})", source=source, field="encoding"
        ) from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise InvalidInputError(f"not a CSV file: {error}", source=source) from None
    reader = iter(rows)
    header = next(reader, None)
    if header is None or not needed <= set(header):
        raise InvalidInputError(
            f"columns must include {sorted(needed)}", source=source, field="header"
        )
    for number, fields in enumerate(reader, start=2):
        if not fields:
            continue
        if len(fields) != len(header):
            raise InvalidInputError(
                f"{len(fields)} fields where the header has {len(header)}",
                source=source,
                record=f"row {number}",
            )
        yield f"row {number}", dict(zip(header, fields, strict=True))


def read_exposures_csv(path: str | Path) -> dict[str, PersonExposures]:
    """Read organ doses per person and exposure from a CSV (format in the module docstring)."""
    source = str(path)
    groups: dict[str, dict[tuple[str, float], dict[str, float]]] = defaultdict(dict)
    sexes: dict[str, Sex | None] = {}
    for record, row in _csv_rows(Path(path), source):
        person, organ, age, dose = _parse_row(row, source, record)
        sex = _sex(row.get("sex"), source, record)
        if person in sexes and sex is not None and sexes[person] not in (None, sex):
            raise InvalidInputError(
                f"{person} has two sexes", source=source, record=record, field="sex"
            )
        sexes[person] = sex or sexes.get(person)
        key = ((row.get("exposure") or "").strip(), age)
        doses = groups[person].setdefault(key, {})
        if organ in doses:
            raise InvalidInputError(
                f"{organ} given twice for {person} at age {age}",
                source=source,
                record=record,
                field="organ",
            )
        doses[organ] = dose
    return {
        person: (
            sexes[person],
            [
                Exposure(age, doses)
                for (_, age), doses in sorted(by.items(), key=lambda kv: kv[0][1])
            ],
        )
        for person, by in groups.items()
    }


def _registry_rows(
    registry: Registry, pseudonym: str, method: str | None
) -> tuple[Sex | None, Sequence[Row[int, int | None, str, float, str, str]]]:
    """The patient's recorded sex and organ-dose rows (exposure id and age, organ, dose,
    method), of ``method`` only when given."""
    where = "registry"
    with registry.session() as session:
        patient = session.scalars(select(Patient).where(Patient.pseudonym == pseudonym)).first()
        if patient is None:
            raise InvalidInputError(f"no patient {pseudonym!r}", source=where, field="pseudonym")
        query = (
            select(
                ExposureRow.id,
                ExposureRow.age_at_exposure_days,
                OrganDose.organ,
                OrganDose.dose_gy,
                OrganDose.method,
                OrganDose.method_version,
            )
            .join(OrganDose, OrganDose.exposure_id == ExposureRow.id)
            .where(ExposureRow.patient_id == patient.id)
        )
        if method is not None:
            query = query.where(OrganDose.method == method)
        rows = session.execute(query).all()
        return _sex(patient.sex, where, f"patient {pseudonym}"), rows


def exposures_from_registry(
    registry: Registry, pseudonym: str, *, method: str | None = None
) -> PersonExposures:
    """Organ doses of one patient from the registry, one :class:`Exposure` per exposure.

    Raises
    ------
    InvalidInputError
        Unknown patient, no organ doses, an exposure without age, or organ doses from several
        methods without ``method`` to choose one.
    """
    where = "registry"
    sex, rows = _registry_rows(registry, pseudonym, method)
    if not rows:
        raise InvalidInputError(
            f"patient {pseudonym!r} has no organ doses in the registry yet; pass --exposures",
            source=where,
            record=f"patient {pseudonym}",
            field="organ_dose",
        )
    methods = {(r.method, r.method_version) for r in rows}
    if len(methods) > 1:
        raise InvalidInputError(
            f"organ doses from several methods {sorted(methods)}; choose one with method=",
            source=where,
            record=f"patient {pseudonym}",
            field="organ_dose.method",
        )
    by_exposure: dict[int, dict[str, float]] = defaultdict(dict)
    ages: dict[int, float] = {}
    for r in rows:
        if r.age_at_exposure_days is None:
            raise InvalidInputError(
                "exposure has no age",
                source=where,
                record=f"exposure {r.id}",
                field="age_at_exposure_days",
            )
        ages[r.id] = r.age_at_exposure_days / _DAYS_PER_YEAR
        by_exposure[r.id][r.organ] = r.dose_gy
    exposures = [Exposure(ages[i], by_exposure[i]) for i in sorted(ages, key=lambda i: ages[i])]
    return sex, exposures
