"""Read-side queries of the registry: patients, a patient's dose history, cumulative totals.

Queries return pandas DataFrames built by the database (one SQL statement each), never by a
Python loop over rows.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Select, and_, func, select

from doseline.registry.database import Registry
from doseline.registry.exposures import Exposure
from doseline.registry.people import Centre, Patient

__all__ = ["cumulative_totals", "list_patients", "patient_history"]

_exposure = Exposure.__table__
_patient = Patient.__table__
_centre = Centre.__table__


def _frame(registry: Registry, statement: Select[tuple[object, ...]]) -> pd.DataFrame:
    with registry.engine.connect() as connection:
        return pd.read_sql_query(statement, connection)


def list_patients(
    registry: Registry, *, centre: str | None = None, limit: int | None = None, offset: int = 0
) -> pd.DataFrame:
    """One row per patient: pseudonym, sex, birth year, number of exposures and dose totals."""
    statement = (
        select(
            _patient.c.pseudonym,
            _patient.c.sex,
            _patient.c.birth_year,
            func.count(_exposure.c.id).label("exposures"),
            func.min(_exposure.c.age_at_exposure_days).label("first_exposure_age_days"),
            func.sum(_exposure.c.kap_total_gycm2).label("kap_total_gycm2"),
            func.sum(_exposure.c.dlp_total_mgycm).label("dlp_total_mgycm"),
        )
        .select_from(_patient.outerjoin(_exposure, _exposure.c.patient_id == _patient.c.id))
        .group_by(_patient.c.id, _patient.c.pseudonym, _patient.c.sex, _patient.c.birth_year)
        .order_by(_patient.c.pseudonym)
        .offset(offset)
    )
    if centre is not None:
        statement = statement.join(_centre, _centre.c.id == _exposure.c.centre_id).where(
            _centre.c.name == centre
        )
    if limit is not None:
        statement = statement.limit(limit)
    return _frame(registry, statement)


def patient_history(registry: Registry, pseudonym: str) -> pd.DataFrame:
    """Every exposure of one patient in order of age, with its dose indicators."""
    statement = (
        select(
            _exposure.c.id.label("exposure_id"),
            _centre.c.name.label("centre"),
            _exposure.c.era,
            _exposure.c.modality,
            _exposure.c.procedure_type,
            _exposure.c.procedure_description,
            _exposure.c.age_at_exposure_days,
            _exposure.c.age_precision,
            _exposure.c.weight_kg,
            _exposure.c.height_cm,
            _exposure.c.number_of_events,
            _exposure.c.kap_total_gycm2,
            _exposure.c.air_kerma_rp_total_gy,
            _exposure.c.fluoro_time_total_s,
            _exposure.c.dlp_total_mgycm,
            _exposure.c.device_manufacturer,
            _exposure.c.device_model,
        )
        .select_from(
            _exposure.join(_patient, _patient.c.id == _exposure.c.patient_id).join(
                _centre, _centre.c.id == _exposure.c.centre_id
            )
        )
        .where(_patient.c.pseudonym == pseudonym)
        .order_by(_exposure.c.age_at_exposure_days, _exposure.c.id)
    )
    return _frame(registry, statement)


def cumulative_totals(registry: Registry, *, window_days: int) -> pd.DataFrame:
    """For every exposure, the patient's totals over the ``window_days`` up to and including it.

    The quantity behind cumulative-dose alerts (OpenREM sums dose-area product and
    reference-point air kerma over a number of weeks per patient). Exposures without an age
    are left out.
    """
    later = _exposure.alias("later")
    earlier = _exposure.alias("earlier")
    statement = (
        select(
            later.c.id.label("exposure_id"),
            _patient.c.pseudonym,
            later.c.age_at_exposure_days,
            func.count(earlier.c.id).label("exposures_in_window"),
            func.sum(earlier.c.kap_total_gycm2).label("kap_window_gycm2"),
            func.sum(earlier.c.air_kerma_rp_total_gy).label("air_kerma_rp_window_gy"),
        )
        .select_from(
            later.join(
                earlier,
                and_(
                    earlier.c.patient_id == later.c.patient_id,
                    earlier.c.age_at_exposure_days <= later.c.age_at_exposure_days,
                    earlier.c.age_at_exposure_days > later.c.age_at_exposure_days - window_days,
                ),
            ).join(_patient, _patient.c.id == later.c.patient_id)
        )
        .where(later.c.age_at_exposure_days.is_not(None))
        .group_by(later.c.id, _patient.c.pseudonym, later.c.age_at_exposure_days)
        .order_by(_patient.c.pseudonym, later.c.age_at_exposure_days)
    )
    return _frame(registry, statement)
