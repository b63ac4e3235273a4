"""Reading the registry for fluoroscopy dosimetry: exposures, their irradiation events as an
event frame, the registry's own technique distribution, KAP records for imputation, and the
organ doses stored by :mod:`doseline.dosimetry.fluoro.compute`.

Which exposures are fluoroscopy
    RDSR-era exposures of report kind ``projection`` and DICOM modality ``XA`` (X-ray
    angiography) or ``RF`` (radiofluoroscopy) (DICOM PS3.3 C.7.3.1.1.1, Modality), and legacy
    records of modality ``XA``/``RF``, or with no modality and a catheterisation or
    electrophysiology procedure type (``src/doseline/data/data_dictionary.csv``). Radiography
    (``DX``) reports are projection reports too, but the cardiac conversion table does not apply
    to them.

From ``irradiation_event`` to the event frame (:mod:`~doseline.dosimetry.fluoro.events`)
    the columns of the same name, and the field from the collimated field width x height, or
    else the collimated field area as a square of equal area; a rotational acquisition with an
    end angle is split into :data:`ARC_STEPS` events at the midpoints of equal steps of its
    arc, each with an equal share of its KAP (a uniform KAP rate along the arc is assumed; the
    RDSR gives only the start and end angles), the angles taken modulo 360 degrees into
    [-180, 180) (the same beam direction). These are the rules of
    ``scripts/make_default_technique.py``, which made the built-in technique distribution, so
    both describe an event the same way.

Calendar era
    The stratum key ``era`` of the legacy path and the ``centre_era`` unit of the dose
    uncertainty is a calendar period of :data:`ERA_YEARS` years (``"2010-2014"``): a design
    choice (no published period length was found), short enough to follow changes of
    equipment. The calendar year of an exposure is the patient's birth year (+ month, the
    middle of the month) plus the age at exposure, or else the year of the stored shifted date
    (at most ``date_shift_max_days`` off); without either the era is unknown (missing).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Select, Table, and_, exists, func, or_, select
from sqlalchemy.engine import Connection

from doseline.dosimetry.fluoro.events import PLAUSIBLE_RANGES
from doseline.dosimetry.fluoro.legacy import TechniqueDistribution
from doseline.registry.doses import OrganDose
from doseline.registry.exposures import Exposure, irradiation_event
from doseline.registry.people import Centre, Patient

__all__ = [
    "ARC_STEPS",
    "CARDIAC_PROCEDURE_TYPES",
    "DAYS_PER_YEAR",
    "ERA_YEARS",
    "FLUORO_MODALITIES",
    "calendar_era",
    "event_frame",
    "exposure_frame",
    "kap_records",
    "patient_doses",
    "pending_count",
    "registry_distribution",
    "stored_doses",
    "technique_problems",
]

#: DICOM modalities of fluoroscopy (PS3.3 C.7.3.1.1.1): X-ray angiography, radiofluoroscopy.
FLUORO_MODALITIES = ("XA", "RF")
#: Legacy procedure types (``data_dictionary.csv``) that are fluoroscopically guided.
CARDIAC_PROCEDURE_TYPES = (
    "diagnostic_catheterisation",
    "interventional_catheterisation",
    "electrophysiology",
)
#: Length (years) of the calendar periods used as ``era`` (design choice, module docstring).
ERA_YEARS = 5
#: Steps a rotational acquisition is split into (as ``scripts/make_default_technique.py``).
ARC_STEPS = 8
#: Days per year for ages (Julian year, as ``doseline.cohort.frames.DAYS_PER_YEAR``).
DAYS_PER_YEAR = 365.25
_TECHNIQUE_REQUIRED = (
    "kvp",
    "primary_angle_deg",
    "secondary_angle_deg",
    "field_width_mm",
    "field_height_mm",
)
_TECHNIQUE_OPTIONAL = (
    "filter_cu_mm",
    "filter_al_mm",
    "distance_source_to_detector_mm",
    "distance_source_to_isocenter_mm",
)
_SEX = {"M": "male", "F": "female"}

_exposure = cast(Table, Exposure.__table__)
_patient = cast(Table, Patient.__table__)
_centre = cast(Table, Centre.__table__)
_organ_dose = cast(Table, OrganDose.__table__)
_event = irradiation_event


def fluoro_condition() -> ColumnElement[bool]:
    """SQL condition of a fluoroscopy exposure (module docstring)."""
    rdsr = and_(
        _exposure.c.era == "rdsr",
        _exposure.c.report_kind == "projection",
        _exposure.c.modality.in_(FLUORO_MODALITIES),
    )
    legacy = and_(
        _exposure.c.era == "legacy",
        or_(
            _exposure.c.modality.in_(FLUORO_MODALITIES),
            and_(
                _exposure.c.modality.is_(None),
                _exposure.c.procedure_type.in_(CARDIAC_PROCEDURE_TYPES),
            ),
        ),
    )
    return or_(rdsr, legacy)


def _read(connection: Connection, statement: Select[Any]) -> pd.DataFrame:
    result = connection.execute(statement)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def calendar_era(year: pd.Series) -> pd.Series:
    """``"2010-2014"``-style labels of periods of :data:`ERA_YEARS` years (missing stays None)."""
    start = np.floor(pd.to_numeric(year, errors="coerce") / ERA_YEARS) * ERA_YEARS
    labels = pd.Series(
        [
            f"{int(s)}-{int(s) + ERA_YEARS - 1}" if np.isfinite(s) else None
            for s in np.unique(start)
        ],
        index=np.unique(start),
        dtype=object,
    )
    return pd.Series(labels.reindex(start).to_numpy(), index=year.index, dtype=object)


def exposure_frame(
    connection: Connection,
    *,
    done: tuple[Sequence[str], str] | None = None,
    after_id: int = 0,
    limit: int | None = None,
    exposure_ids: Sequence[int] | None = None,
    record_era: str | None = None,
    patient_id: int | None = None,
) -> pd.DataFrame:
    """Fluoroscopy exposures in order of id, with the patient and centre columns dosimetry needs.

    Parameters
    ----------
    done
        ``(methods, method_version)``: leave out exposures that have an ``organ_dose`` row of
        one of ``methods`` at ``method_version``.
    after_id, limit
        Keyset paging: exposures with ``id > after_id``, at most ``limit`` of them.
    exposure_ids, record_era, patient_id
        Only these exposures; only ``rdsr`` or ``legacy`` records; only this patient's.

    Returns
    -------
    pandas.DataFrame
        ``exposure_id``, ``patient_id``, ``centre_id``, ``centre`` (name), ``record_era``
        (``rdsr``/``legacy``), ``procedure_type``, ``age_y``, ``sex`` (``male``/``female``/
        None), ``height_cm``, ``weight_kg`` (None where implausible, see ``ignored``),
        ``kap_total_gycm2``, ``calendar_year``, ``era`` (calendar period), ``problem`` (why the
        exposure cannot be dosed, or "") and ``ignored`` (patient values left out, or "").
    """
    e, p = _exposure.c, _patient.c
    statement = (
        select(
            e.id.label("exposure_id"), e.patient_id, e.centre_id, _centre.c.name.label("centre"),
            e.era.label("record_era"), e.procedure_type, e.age_at_exposure_days, e.height_cm,
            e.weight_kg, e.kap_total_gycm2, e.shifted_date, p.sex.label("patient_sex"),
            p.birth_year, p.birth_month,
        )
        .select_from(
            _exposure.join(_patient, p.id == e.patient_id).join(
                _centre, _centre.c.id == e.centre_id
            )
        )
        .where(fluoro_condition(), e.id > after_id)
        .order_by(e.id)
    )  # fmt: skip
    if done is not None:
        methods, version = done
        stored = exists().where(
            _organ_dose.c.exposure_id == e.id,
            _organ_dose.c.method.in_(list(methods)),
            _organ_dose.c.method_version == version,
        )
        statement = statement.where(~stored)
    if exposure_ids is not None:
        statement = statement.where(e.id.in_([int(i) for i in exposure_ids]))
    if record_era is not None:
        statement = statement.where(e.era == record_era)
    if patient_id is not None:
        statement = statement.where(e.patient_id == patient_id)
    if limit is not None:
        statement = statement.limit(limit)
    return _patient_columns(_read(connection, statement))


def pending_count(connection: Connection, methods: Sequence[str], method_version: str) -> int:
    """Number of fluoroscopy exposures without a row of ``methods`` at ``method_version``."""
    e = _exposure.c
    stored = exists().where(
        _organ_dose.c.exposure_id == e.id,
        _organ_dose.c.method.in_(list(methods)),
        _organ_dose.c.method_version == method_version,
    )
    statement = select(func.count()).select_from(_exposure).where(fluoro_condition(), ~stored)
    return int(connection.execute(statement).scalar_one())


def _patient_columns(raw: pd.DataFrame) -> pd.DataFrame:
    out = raw.drop(columns=["age_at_exposure_days", "shifted_date", "patient_sex"])
    for column in ("height_cm", "weight_kg", "kap_total_gycm2"):
        out[column] = pd.to_numeric(raw[column], errors="coerce").astype(np.float64)
    age = pd.to_numeric(raw["age_at_exposure_days"], errors="coerce") / DAYS_PER_YEAR
    out["age_y"] = age.astype(np.float64)
    out["sex"] = raw["patient_sex"].map(_SEX).astype(object).where(lambda s: s.notna(), None)
    birth = pd.to_numeric(raw["birth_year"], errors="coerce")
    month = pd.to_numeric(raw["birth_month"], errors="coerce")
    birth = birth + np.where(month.notna(), (month - 0.5) / 12.0, 0.5)
    shifted = pd.to_datetime(raw["shifted_date"], errors="coerce")
    year = (birth + age).where(birth.notna() & age.notna(), shifted.dt.year.astype(float))
    out["calendar_year"] = year.astype(np.float64)
    out["era"] = calendar_era(out["calendar_year"])
    low, high = PLAUSIBLE_RANGES["age_y"]
    out["problem"] = np.where(
        age.isna(), "no age at exposure",
        np.where(age.between(low, high), "", f"age at exposure outside {low:g}-{high:g} y"),
    )  # fmt: skip
    ignored = pd.Series("", index=out.index, dtype=object)
    for column in ("height_cm", "weight_kg"):
        low, high = PLAUSIBLE_RANGES[column]
        bad = out[column].notna() & ~out[column].between(low, high)
        ignored = ignored.where(~bad, ignored + f"{column} outside {low:g}-{high:g};")
        out[column] = out[column].where(~bad)
    out["ignored"] = ignored.str.rstrip(";")
    out["procedure_type"] = out["procedure_type"].astype(object)
    return out.reset_index(drop=True)


def event_frame(connection: Connection, exposure_ids: Sequence[int] | None) -> pd.DataFrame:
    """The irradiation events of the exposures (None: of every RDSR fluoroscopy exposure) as an
    event frame (without patient columns).

    Columns: ``exposure_id``, ``event_index``, ``event_type``, ``arc_step`` (0 for events not
    split), the technique columns of :data:`~doseline.dosimetry.fluoro.legacy.
    TECHNIQUE_COLUMNS`, ``kap_gycm2``, ``field_from`` (``width_height``, ``area`` or "").
    Values are as stored (not checked); see :func:`technique_problems`.
    """
    c = _event.c
    statement = (
        select(
            c.exposure_id, c.event_index, c.event_type, c.kap_gycm2, c.kvp, c.filter_cu_mm,
            c.filter_al_mm, c.primary_angle_deg, c.secondary_angle_deg, c.primary_end_angle_deg,
            c.collimated_field_width_mm, c.collimated_field_height_mm,
            c.collimated_field_area_cm2, c.distance_source_to_detector_mm,
            c.distance_source_to_isocenter_mm,
        )
        .order_by(c.exposure_id, c.event_index)
    )  # fmt: skip
    if exposure_ids is None:
        fluoro = select(_exposure.c.id).where(fluoro_condition(), _exposure.c.era == "rdsr")
        statement = statement.where(c.exposure_id.in_(fluoro))
    else:
        statement = statement.where(c.exposure_id.in_([int(i) for i in exposure_ids]))
    raw = _read(connection, statement)
    numeric = [
        col for col in raw.columns if col not in ("exposure_id", "event_index", "event_type")
    ]
    for column in numeric:
        raw[column] = pd.to_numeric(raw[column], errors="coerce").astype(np.float64)
    width, height = raw.pop("collimated_field_width_mm"), raw.pop("collimated_field_height_mm")
    side_mm = np.sqrt(raw.pop("collimated_field_area_cm2")) * 10.0
    both = width.notna() & height.notna()
    raw["field_width_mm"] = width.where(both, side_mm)
    raw["field_height_mm"] = height.where(both, side_mm)
    raw["field_from"] = np.where(both, "width_height", np.where(side_mm.notna(), "area", ""))
    return _split_arcs(raw)


def _split_arcs(events: pd.DataFrame) -> pd.DataFrame:
    """Rotational acquisitions with an end angle become :data:`ARC_STEPS` events (vectorised)."""
    end = events.pop("primary_end_angle_deg")
    arc = (
        (events["event_type"] == "rotational_acquisition")
        & end.notna()
        & events["primary_angle_deg"].notna()
    ).to_numpy()
    repeats = np.where(arc, ARC_STEPS, 1)
    out = events.loc[events.index.repeat(repeats)].reset_index(drop=True)
    step = np.tile(np.arange(ARC_STEPS), int(arc.sum()))
    is_arc = np.repeat(arc, repeats)
    out["arc_step"] = 0
    if is_arc.any():
        start = out.loc[is_arc, "primary_angle_deg"].to_numpy()
        stop = np.repeat(end.to_numpy()[arc], ARC_STEPS)
        angle = start + (step + 0.5) / ARC_STEPS * (stop - start)
        out.loc[is_arc, "primary_angle_deg"] = (angle + 180.0) % 360.0 - 180.0
        out.loc[is_arc, "kap_gycm2"] = out.loc[is_arc, "kap_gycm2"] / ARC_STEPS
        out.loc[is_arc, "arc_step"] = step.astype(np.int64)
    return out


def technique_problems(events: pd.DataFrame) -> pd.Series:
    """Why each event's technique cannot be used by the table ("" where it can), vectorised.

    A required value (kVp, both angles, field) missing, or any technique value outside the
    plausible range of :func:`~doseline.dosimetry.fluoro.events.check_events`, or a
    source-to-isocentre distance not shorter than the source-to-detector distance.
    """
    reason = pd.Series("", index=events.index, dtype=object)
    for column in (*_TECHNIQUE_REQUIRED, *_TECHNIQUE_OPTIONAL):
        values = events[column]
        low, high = PLAUSIBLE_RANGES[column]
        if column in _TECHNIQUE_REQUIRED:
            reason = reason.where(~((reason == "") & values.isna()), f"{column} missing")
        outside = (reason == "") & values.notna() & ~values.between(low, high)
        reason = reason.where(~outside, f"{column} outside {low:g}-{high:g}")
    sid = events["distance_source_to_detector_mm"]
    sod = events["distance_source_to_isocenter_mm"]
    geometry = (reason == "") & (sod.fillna(750.0) >= sid.fillna(1000.0))
    return reason.where(~geometry, "source-to-isocentre distance >= source-to-detector")


def registry_distribution(
    connection: Connection,
    *,
    seed: int = 0,
    default: TechniqueDistribution | None = None,
) -> TechniqueDistribution:
    """The technique distribution of the registry's RDSR fluoroscopy procedures, by centre,
    calendar era and age band (:meth:`TechniqueDistribution.from_events`), falling back to
    ``default`` (the built-in distribution if None).

    Procedures without an age, events without usable technique or KAP, and procedures whose
    remaining KAP is 0 are left out.
    """
    fallback = default or TechniqueDistribution.builtin()
    exposures = exposure_frame(connection, record_era="rdsr")
    exposures = exposures[exposures["problem"] == ""]
    events = event_frame(connection, None)
    usable = (technique_problems(events) == "") & (events["kap_gycm2"] >= 0)
    patient = exposures.set_index("exposure_id")[["age_y", "centre", "era"]]
    events = events[usable].join(patient, on="exposure_id", how="inner")
    total = events.groupby("exposure_id")["kap_gycm2"].transform("sum")
    events = events[total > 0].rename(columns={"exposure_id": "procedure_id"})
    if events.empty:
        return fallback
    return TechniqueDistribution.from_events(
        events.reset_index(drop=True), default=fallback, seed=seed,
        name="registry RDSR events", source="irradiation_event",
    )  # fmt: skip


def kap_records(connection: Connection) -> pd.DataFrame:
    """Fluoroscopy exposures with a total KAP > 0 (the imputation model's training records):
    ``kap_gycm2``, ``age_y``, ``weight_kg``, ``procedure_type``, ``era``, ``centre``."""
    exposures = exposure_frame(connection)
    kap = exposures["kap_total_gycm2"]
    keep = (kap > 0) & (kap <= PLAUSIBLE_RANGES["kap_gycm2"][1]) & (exposures["problem"] == "")
    out = exposures.loc[keep].rename(columns={"kap_total_gycm2": "kap_gycm2"})
    return out.reset_index(drop=True)


def stored_doses(
    connection: Connection, methods: Sequence[str], method_version: str
) -> pd.DataFrame:
    """The ``organ_dose`` rows of ``methods`` at ``method_version``, with the exposure's
    patient and centre and the parsed ``inputs`` (column ``inputs``, dicts)."""
    o, e = _organ_dose.c, _exposure.c
    statement = (
        select(
            o.id, o.exposure_id, o.organ, o.method, o.dose_gy, o.inputs, e.patient_id, e.centre_id
        )
        .select_from(_organ_dose.join(_exposure, e.id == o.exposure_id))
        .where(o.method.in_(list(methods)), o.method_version == method_version)
        .order_by(o.exposure_id, o.organ)
    )
    frame = _read(connection, statement)
    frame["inputs"] = [json.loads(text) if text else {} for text in frame["inputs"]]
    return frame


def patient_doses(
    connection: Connection, pseudonym: str, methods: Sequence[str]
) -> dict[str, Any] | None:
    """A patient's fluoroscopy organ doses (None if no patient has this pseudonym).

    Per exposure, the rows of the method version computed last (largest row id); per organ,
    the cumulative dose over the exposures; the effective dose (ICRP 103, sex-averaged) of
    each exposure from its ``inputs`` and their sum. Exposures without doses are listed.
    """
    patient = connection.execute(
        select(_patient.c.id, _patient.c.sex).where(_patient.c.pseudonym == pseudonym)
    ).first()
    if patient is None:
        return None
    o, e = _organ_dose.c, _exposure.c
    statement = (
        select(
            o.id,
            o.exposure_id,
            o.organ,
            o.method,
            o.method_version,
            o.dose_gy,
            o.dose_median_gy,
            o.dose_p05_gy,
            o.dose_p95_gy,
            o.geometric_sd,
            o.realisation_set_id,
            o.inputs,
        )
        .select_from(_organ_dose.join(_exposure, e.id == o.exposure_id))
        .where(e.patient_id == patient.id, o.method.in_(list(methods)))
    )
    rows = _read(connection, statement)
    exposures = exposure_frame(connection, patient_id=int(patient.id))
    latest = rows.loc[rows.groupby("exposure_id")["id"].idxmax(), ["exposure_id", "method_version"]]
    rows = rows.merge(latest, on=["exposure_id", "method_version"])
    listed = [_exposure_doses(part, exposures) for _, part in rows.groupby("exposure_id")]
    cumulative = rows.groupby("organ")["dose_gy"].sum()
    dosed = set(rows["exposure_id"].astype(int))
    return {
        "pseudonym": pseudonym,
        "sex": _SEX.get(str(patient.sex)),
        "exposures": listed,
        "not_dosed": sorted(set(exposures["exposure_id"].astype(int)) - dosed),
        "cumulative": {
            "organ_dose_gy": {str(k): float(v) for k, v in cumulative.items()},
            "effective_dose_sv": float(sum(x["effective_dose_sv"] or 0.0 for x in listed)),
        },
    }


def _exposure_doses(rows: pd.DataFrame, exposures: pd.DataFrame) -> dict[str, Any]:
    """One exposure's doses (rows of one method version) as a JSON-ready dict."""
    first = rows.iloc[0]
    inputs = json.loads(first["inputs"]) if first["inputs"] else {}
    where = exposures.set_index("exposure_id")
    exposure_id = int(first["exposure_id"])
    organs = rows.set_index("organ")
    spread = organs[["dose_median_gy", "dose_p05_gy", "dose_p95_gy", "geometric_sd"]]
    realised = first["realisation_set_id"] is not None and not pd.isna(first["realisation_set_id"])
    return {
        "exposure_id": exposure_id,
        "age_y": _number(where.at[exposure_id, "age_y"]) if exposure_id in where.index else None,
        "centre": inputs.get("centre"),
        "era": inputs.get("era"),
        "method": str(first["method"]),
        "method_version": str(first["method_version"]),
        "effective_dose_sv": inputs.get("effective_dose_sv"),
        "organ_dose_gy": {str(k): float(v) for k, v in organs["dose_gy"].items()},
        "uncertainty": (
            {str(k): {c: _number(v) for c, v in r.items()} for k, r in spread.iterrows()}
            if realised
            else None
        ),
        "realisation_set_id": int(first["realisation_set_id"]) if realised else None,
    }


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None
