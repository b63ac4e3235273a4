"""The three dose paths of the registry job (:mod:`doseline.dosimetry.fluoro.compute`) for one
batch of exposures: table (RDSR events), legacy (a KAP without geometry) and imputed (no dose),
and the ``organ_dose`` rows with their ``inputs``. The rules are in ``compute``'s docstring.

Every KAP that goes through the technique distribution in a batch (the events of RDSR
exposures without usable technique, recorded totals, imputed KAPs) is dosed by one call of
:func:`~doseline.dosimetry.fluoro.legacy.legacy_organ_doses`, which evaluates the coefficient
source once per stratum.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from doseline.dosimetry.fluoro.doses import (
    SEX_SPECIFIC_ORGANS,
    effective_dose_sv,
    event_organ_doses,
)
from doseline.dosimetry.fluoro.geometry import support_path_mm
from doseline.dosimetry.fluoro.impute import KapImputationModel, KapImputationResults
from doseline.dosimetry.fluoro.legacy import TechniqueDistribution, legacy_organ_doses
from doseline.dosimetry.fluoro.registry_events import (
    kap_records,
    registry_distribution,
    technique_problems,
)
from doseline.errors import InvalidInputError
from doseline.registry.database import Registry

if TYPE_CHECKING:
    from doseline.dosimetry.fluoro.compute import FluoroDoseJob

__all__ = [
    "IMPUTATION_TERMS",
    "KAP_MAX_GYCM2",
    "METHODS",
    "METHOD_IMPUTED",
    "METHOD_LEGACY",
    "METHOD_TABLE",
    "Context",
    "Doses",
    "batch_doses",
    "clean",
    "organ_dose_rows",
]

METHOD_TABLE, METHOD_LEGACY, METHOD_IMPUTED = "fluoro_table", "fluoro_legacy", "fluoro_imputed"
METHODS = (METHOD_TABLE, METHOD_LEGACY, METHOD_IMPUTED)
#: Categorical terms of the KAP imputation model, tried in this order (the procedure type is
#: always first, :class:`KapImputationModel`); a term is dropped when the design cannot be
#: fitted (too few records, or confounded levels).
IMPUTATION_TERMS = (("procedure_type", "era", "centre"), ("procedure_type", "centre"),
                    ("procedure_type",))  # fmt: skip
#: Largest plausible KAP (Gy cm2), as :func:`~doseline.dosimetry.fluoro.events.check_events`.
KAP_MAX_GYCM2 = 1.0e5
_PATIENT = ("age_y", "sex", "height_cm", "weight_kg", "centre", "era")
_LEGACY_KEYS = ("kap_gycm2", "kap_source", "distribution", "level", "stratum", "n_procedures",
                "n_procedures_used")  # fmt: skip
Imputation = tuple[KapImputationResults | None, tuple[str, ...], str, int]


@dataclass
class Context:
    """What the batches of a run share, built on first use: the registry's technique
    distribution and the KAP imputation model (results, terms, why not fitted, records)."""

    registry: Registry
    job: FluoroDoseJob
    _distribution: TechniqueDistribution | None = None
    _imputation: Imputation | None = None

    def distribution(self) -> TechniqueDistribution:
        """The registry's technique distribution (built-in default last)."""
        if self._distribution is None:
            with self.registry.engine.connect() as connection:
                self._distribution = registry_distribution(connection, seed=self.job.seed)
        return self._distribution

    def imputation(self) -> Imputation:
        """The KAP imputation model fitted on the registry's exposures with a KAP."""
        if self._imputation is None:
            with self.registry.engine.connect() as connection:
                records = _categories(kap_records(connection))
            self._imputation = (*_fit_imputation(records), len(records))
        return self._imputation


def _categories(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns of the imputation model as text (missing: a level of its own)."""
    return frame.assign(
        procedure_type=frame["procedure_type"].fillna("unspecified").astype(str),
        era=frame["era"].fillna("unknown").astype(str),
        centre=frame["centre"].astype(str),
    )


def _fit_imputation(
    records: pd.DataFrame,
) -> tuple[KapImputationResults | None, tuple[str, ...], str]:
    reason = "no exposure with a KAP to fit the KAP imputation model on"
    for terms in IMPUTATION_TERMS:
        if records.empty:
            break
        widen = ("centre",) if "centre" in terms else ()
        try:
            model = KapImputationModel(records, categoricals=terms, widen_unseen=widen,
                                       source="registry KAP records")  # fmt: skip
            return model.fit(), terms, ""
        except InvalidInputError as error:
            reason = f"the KAP imputation model could not be fitted ({error})"
    return None, (), reason


@dataclass(frozen=True)
class Doses:
    """Doses of some exposures by one method: organ doses (Gy, index exposure_id, other sex
    NaN), per-exposure inputs, and per-organ extras (frames like ``dose_gy``) for the rows."""

    method: str
    dose_gy: pd.DataFrame
    inputs: dict[int, dict[str, Any]]
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)

    def subset(self, ids: pd.Index, method: str) -> Doses:
        """The exposures ``ids`` only, under ``method``."""
        return Doses(method, self.dose_gy.loc[ids], {int(i): self.inputs[int(i)] for i in ids},
                     {k: v.reindex(ids) for k, v in self.extras.items()})  # fmt: skip


def _sex_mask(doses: pd.DataFrame, sex: pd.Series) -> pd.DataFrame:
    """Organs of the other sex set to NaN (as :func:`event_organ_doses` does)."""
    out = doses.copy()
    other = {own: (sex.notna() & (sex != own)).to_numpy() for own in SEX_SPECIFIC_ORGANS}
    for own, organs in SEX_SPECIFIC_ORGANS.items():
        out.loc[other[own], [o for o in organs if o in out]] = np.nan
    return out


@dataclass(frozen=True)
class _TablePart:
    """Table path of the RDSR exposures with KAP-bearing events (index exposure_id)."""

    dose_gy: pd.DataFrame  # organs and effective_dose_sv
    through_table_gy: pd.DataFrame
    legacy_kap_gycm2: pd.Series  # KAP of events without usable technique, > 0 only
    counts: dict[int, dict[str, Any]]
    without_kap: pd.Index  # exposures none of whose events has a KAP


def _table_part(job: FluoroDoseJob, patient: pd.DataFrame, events: pd.DataFrame) -> _TablePart:
    """Sum over events of the table doses; KAP left for the technique distribution."""
    events = events[events["exposure_id"].isin(patient.index)]
    events = events.join(patient[["age_y", "sex", "height_cm", "weight_kg"]], on="exposure_id")
    has_kap = events["kap_gycm2"].notna() & (events["kap_gycm2"] >= 0)
    problem = technique_problems(events).where(has_kap, "no KAP")
    good = events[problem == ""]
    ids = patient.index.intersection(pd.Index(events.loc[has_kap, "exposure_id"].unique()))
    organs = [*job.table.organs, "effective_dose_sv"]
    if len(good):
        per_event = event_organ_doses(good, job.source, job.factors)
        crossing = support_path_mm(good, job.support_pmma_mm) > 0.0
    else:
        per_event, crossing = pd.DataFrame(columns=organs, dtype=np.float64), np.zeros(0, bool)
    keys = good["exposure_id"].to_numpy()
    dose = per_event.groupby(keys).sum().reindex(index=ids, columns=organs).fillna(0.0)
    through = per_event[crossing].groupby(keys[crossing]).sum()
    legacy = events["kap_gycm2"].where(problem.ne("") & has_kap).groupby(events["exposure_id"])
    legacy_kap = legacy.sum().reindex(ids).fillna(0.0)
    return _TablePart(dose, through.reindex(index=ids, columns=organs).fillna(0.0),
                      legacy_kap[legacy_kap > 0], _event_counts(job, events, problem, good),
                      patient.index.difference(ids))  # fmt: skip


def _event_counts(
    job: FluoroDoseJob, events: pd.DataFrame, problem: pd.Series, good: pd.DataFrame
) -> dict[int, dict[str, Any]]:
    """Per exposure: events used, left out and why, KAP by path, clamped table axes."""
    keys = events["exposure_id"]
    technique_less = problem.ne("") & problem.ne("no KAP")
    frame = pd.DataFrame({
        "n_events": events.groupby("exposure_id")["event_index"].nunique(),
        "n_rotational_split": (events["arc_step"] == 1).groupby(keys).sum(),
        "kap_table_gycm2": events["kap_gycm2"].where(problem == "").groupby(keys).sum(),
        "kap_legacy_technique_gycm2": events["kap_gycm2"].where(technique_less)
        .groupby(keys).sum(),
    })  # fmt: skip
    left = problem[problem != ""]
    reasons = left.groupby([keys[problem != ""], left]).size()
    clamped = job.source.clamped(good).groupby(good["exposure_id"].to_numpy()).sum()
    out: dict[int, dict[str, Any]] = {}
    for exposure_id, row in zip(frame.index, frame.to_dict("records"), strict=True):
        record: dict[str, Any] = {str(k): (int(v) if str(k).startswith("n_") else float(v))
                                  for k, v in row.items()}  # fmt: skip
        if exposure_id in reasons.index.get_level_values(0):
            record["events_not_in_table"] = reasons.loc[exposure_id].astype(int).to_dict()
        if exposure_id in clamped.index:
            axes = clamped.loc[exposure_id]
            record["clamped_events"] = axes[axes > 0].astype(int).to_dict()
        out[int(exposure_id)] = record
    return out


def _impute(
    ctx: Context, exposures: pd.DataFrame
) -> tuple[pd.DataFrame, dict[int, dict[str, Any]], pd.DataFrame]:
    """Predicted KAP of exposures without one (index exposure_id): the records with
    ``kap_gycm2`` (the predictive median) and ``imputation_log_sd``, their inputs, and the
    exposures that cannot be predicted, with the reason."""
    results, terms, reason, n_training = ctx.imputation()
    if results is None:
        skipped = pd.DataFrame({"exposure_id": exposures.index, "reason": reason})
        return exposures.iloc[:0], {}, skipped
    categories = _categories(exposures)
    why = _unpredictable(results, categories)
    skipped = pd.DataFrame({"exposure_id": exposures.index[why != ""], "reason": why[why != ""]})
    if bool((why != "").all()):
        return exposures.iloc[:0], {}, skipped
    predicted = results.predict(categories[why == ""], alpha=0.10)
    frame = exposures[why == ""].assign(
        kap_gycm2=predicted["kap_median_gycm2"], imputation_log_sd=predicted["log_sd"].astype(float)
    )
    names = {"submodel": "submodel", "widened": "widened", "kap_median_gycm2": "kap_median_gycm2",
             "kap_lower_gycm2": "kap_p05_gycm2", "kap_upper_gycm2": "kap_p95_gycm2",
             "log_sd": "log_sd", "df": "df"}  # fmt: skip
    values = predicted[list(names)].rename(columns=names).to_dict("index")
    inputs = {int(cast(int, i)): {"imputation": {"terms": list(terms), "n_training": n_training,
                                                 **v}} for i, v in values.items()}  # fmt: skip
    return frame, inputs, skipped


def _unpredictable(results: KapImputationResults, frame: pd.DataFrame) -> pd.Series:
    """Why each record cannot be predicted by any sub-model ("" where it can)."""
    ok = np.zeros(len(frame), dtype=bool)
    for fit, size in ((results.weight, "weight_kg"), (results.age, "age_y")):
        if fit is None:
            continue
        usable = frame[size].notna().to_numpy().copy()
        for column in results.categoricals:
            levels = fit.design.levels[column]
            known = frame[column].isin(levels).to_numpy()
            usable &= known | (column in results.widen_unseen and len(levels) >= 2)
        ok |= usable
    why = pd.Series("", index=frame.index, dtype=object)
    for column in results.categoricals:
        why[~ok] += column + " " + frame.loc[~ok, column].astype(str) + ", "
    text = "the KAP imputation model has no data for this combination: " + why.str.rstrip(", ")
    return text.where(~ok, "")


def _legacy(job: FluoroDoseJob, ctx: Context, records: pd.DataFrame) -> pd.DataFrame:
    """Legacy doses of ``records`` (one call), times the KAP calibration: organ doses (other
    sex NaN) and
    ``effective_dose_sv``, ``gsd:<organ>`` columns, and an ``inputs`` column (dicts)."""
    legacy = legacy_organ_doses(records, ctx.distribution(), job.source, seed=job.seed,
                                keep_samples=False, source_name="registry exposures")  # fmt: skip
    dose = legacy.dose_gy * job.factors.kap_calibration  # the meter's KAP, as for events
    out = _sex_mask(dose, records["sex"])
    out["effective_dose_sv"] = effective_dose_sv(dose)
    gsd = legacy.gsd.add_prefix("gsd:")
    inputs = [{k: d[k] for k in _LEGACY_KEYS} for d in legacy.input_dicts()]
    out = pd.concat([out, gsd], axis=1)
    out["inputs"] = pd.Series(inputs, index=out.index, dtype=object)
    return out


def _no_legacy(job: FluoroDoseJob) -> pd.DataFrame:
    """An empty frame with the columns of :func:`_legacy`."""
    organs = list(job.table.organs)
    columns = [*organs, "effective_dose_sv", *(f"gsd:{o}" for o in organs)]
    return pd.DataFrame(columns=columns, dtype=np.float64).assign(inputs=pd.Series(dtype=object))


def batch_doses(
    job: FluoroDoseJob, ctx: Context, exposures: pd.DataFrame, events: pd.DataFrame
) -> tuple[list[Doses], pd.DataFrame]:
    """Doses of one batch of exposures (:func:`~doseline.dosimetry.fluoro.registry_events.
    exposure_frame`) by the path each needs; and the exposures skipped, with the reason."""
    skipped = [exposures.loc[exposures["problem"] != "", ["exposure_id", "problem"]]
               .rename(columns={"problem": "reason"})]  # fmt: skip
    ok = exposures[exposures["problem"] == ""].set_index("exposure_id")
    rdsr = ok[ok["record_era"] == "rdsr"]
    table = _table_part(job, rdsr, events)
    rest = ok[(ok["record_era"] != "rdsr") | ok.index.isin(table.without_kap)]
    kap = rest["kap_total_gycm2"]
    valid = (kap > 0) & (kap <= KAP_MAX_GYCM2)
    bad = rest.index[kap.notna() & ~valid]
    skipped.append(pd.DataFrame({"exposure_id": bad, "reason": "recorded total KAP is <= 0 or "
                                 f"> {KAP_MAX_GYCM2:g} Gy cm2"}))  # fmt: skip
    imputed, imputed_inputs, left = _impute(ctx, rest[kap.isna()])
    skipped.append(left)
    records = pd.concat([
        rdsr.loc[table.legacy_kap_gycm2.index].assign(kap_gycm2=table.legacy_kap_gycm2,
                                                       kap_source="RDSR events", role="technique"),
        rest[valid].assign(kap_gycm2=kap[valid], kap_source="recorded", role="recorded"),
        imputed.assign(kap_source="imputed", role="imputed"),
    ]).rename_axis("exposure_id").reset_index()  # fmt: skip
    legacy = _legacy(job, ctx, records) if len(records) else _no_legacy(job)
    legacy.index = pd.Index(records["exposure_id"])
    parts = _table_doses(job, table, rdsr, legacy[records["role"].to_numpy() == "technique"])
    for role, method in (("recorded", METHOD_LEGACY), ("imputed", METHOD_IMPUTED)):
        mask = records["role"].to_numpy() == role
        part = _legacy_doses(job, method, ok, legacy[mask], records=records.loc[mask],
                             imputed_inputs=imputed_inputs)  # fmt: skip
        parts.append(part)
    return [p for p in parts if len(p.dose_gy)], pd.concat(skipped, ignore_index=True)


def _patient_inputs(patient: pd.DataFrame) -> dict[int, dict[str, Any]]:
    """Per exposure: the patient values used (and those ignored as implausible)."""
    values = patient[[*_PATIENT, "ignored"]].to_dict("index")
    return {int(cast(int, i)): {str(k): v for k, v in d.items() if k != "ignored" or v}
            for i, d in values.items()}  # fmt: skip


def _table_doses(
    job: FluoroDoseJob, table: _TablePart, rdsr: pd.DataFrame, legacy: pd.DataFrame
) -> list[Doses]:
    """RDSR exposures: table doses plus the legacy doses of their technique-less KAP. Those
    whose KAP all went through the technique distribution are given under ``fluoro_legacy``."""
    ids = table.dose_gy.index
    organs = list(job.table.organs)
    added = legacy.reindex(ids)
    total = table.dose_gy.add(added[[*organs, "effective_dose_sv"]].fillna(0.0))
    total = _sex_mask(total, rdsr.loc[ids, "sex"])
    through = table.through_table_gy[organs] + added[organs].fillna(0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction, share = through / total[organs], added[organs] / total[organs]
    gsd = added[[f"gsd:{o}" for o in organs]].set_axis(organs, axis=1)
    patient = _patient_inputs(rdsr.loc[ids])
    inputs = {}
    for i in ids:
        record = {**patient[int(i)], **table.counts[int(i)],
                  "effective_dose_sv": total.at[i, "effective_dose_sv"]}  # fmt: skip
        if i in legacy.index:
            record["legacy_technique"] = legacy.at[i, "inputs"]
        inputs[int(i)] = record
    extras = {"table_fraction": fraction.where(total[organs] > 0),
              "legacy_share": share.where(share > 0),
              "legacy_gsd": gsd.where(share > 0)}  # fmt: skip
    doses = Doses(METHOD_TABLE, total, inputs, extras)
    kap_table = pd.Series({i: table.counts[int(i)]["kap_table_gycm2"] for i in ids}, dtype=float)
    no_table = ids[(kap_table.reindex(ids) == 0).to_numpy() & ids.isin(legacy.index)]
    if no_table.empty:
        return [doses]
    return [doses.subset(ids.difference(no_table), METHOD_TABLE),
            doses.subset(no_table, METHOD_LEGACY)]  # fmt: skip


def _legacy_doses(
    job: FluoroDoseJob, method: str, patients: pd.DataFrame, legacy: pd.DataFrame, *,
    records: pd.DataFrame, imputed_inputs: Mapping[int, dict[str, Any]],
) -> Doses:  # fmt: skip
    """Exposures dosed by the legacy path (recorded or imputed KAP)."""
    organs = list(job.table.organs)
    if legacy.empty:
        return Doses(method, legacy[[*organs, "effective_dose_sv"]], {})
    patient = _patient_inputs(patients.loc[legacy.index])
    why = np.where(
        records["record_era"] == "rdsr",
        "RDSR events carry no KAP: the report's total KAP",
        "legacy record",
    )
    inputs = {
        int(i): {**patient[int(i)], "kap_from": str(w), "legacy": legacy.at[i, "inputs"],
                 "effective_dose_sv": legacy.at[i, "effective_dose_sv"],
                 **imputed_inputs.get(int(i), {})}
        for i, w in zip(legacy.index, why, strict=True)
    }  # fmt: skip
    gsd = legacy[[f"gsd:{o}" for o in organs]].set_axis(organs, axis=1)
    extras = {"legacy_gsd": gsd.where(legacy[organs].notna())}
    if method == METHOD_IMPUTED:
        log_sd = records["imputation_log_sd"].to_numpy(dtype=np.float64)
        extras["imputation_log_sd"] = legacy[organs].notna().mul(log_sd, axis=0).where(
            legacy[organs].notna())  # fmt: skip
    return Doses(method, legacy[[*organs, "effective_dose_sv"]], inputs, extras)


def clean(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN to None, recursively."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _head(values: Mapping[Any, Any]) -> str:
    """``{"key": value, `` of the row's own non-missing values."""
    return json.dumps({k: v for k, v in clean(dict(values)).items() if v is not None})[:-1] + ", "


def organ_dose_rows(doses: Doses, common: Mapping[str, Any], version: str) -> list[dict[str, Any]]:
    """``organ_dose`` rows (finite doses only); ``inputs`` = the row's own values (central
    dose and extras) followed by the exposure's inputs."""

    def tidy(frame: pd.DataFrame, name: str) -> pd.DataFrame:
        frame = frame.rename_axis("exposure_id").reset_index()
        return frame.melt(id_vars="exposure_id", var_name="organ", value_name=name)

    organs = [c for c in doses.dose_gy.columns if c != "effective_dose_sv"]
    long = tidy(doses.dose_gy[organs], "central_dose_gy").dropna(subset=["central_dose_gy"])
    for name, extra in doses.extras.items():
        long = long.merge(tidy(extra.reindex(columns=organs), name), how="left",
                          on=["exposure_id", "organ"])  # fmt: skip
    texts = {
        int(i): json.dumps(clean({**common, "method": doses.method, **record}), sort_keys=True)
        for i, record in doses.inputs.items()
    }
    values = long.drop(columns=["exposure_id", "organ"]).to_dict("records")
    keys = zip(long["exposure_id"].to_numpy(np.int64), long["organ"].astype(str), strict=True)
    return [
        {"exposure_id": int(e), "organ": o, "method": doses.method, "method_version": version,
         "dose_gy": float(v["central_dose_gy"]),
         "inputs": f"{_head(v)}{texts[int(e)][1:]}"}
        for (e, o), v in zip(keys, values, strict=True)
    ]  # fmt: skip
