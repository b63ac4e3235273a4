"""The registry job of fluoroscopy organ doses (``doseline dose compute``).

Fills ``organ_dose`` for every fluoroscopy exposure
(:func:`~doseline.dosimetry.fluoro.registry_events.fluoro_condition`) that has no row of the
current :attr:`FluoroDoseJob.method_version`, by one of three methods:

``fluoro_table``
    RDSR-era exposures with irradiation events that carry a KAP: the sum over events of
    :func:`~doseline.dosimetry.fluoro.doses.event_organ_doses` (conversion table, with the
    deployment's patient support and inherent filtration, x KAP x KAP calibration). Events
    whose technique is missing or implausible
    (:func:`~doseline.dosimetry.fluoro.registry_events.technique_problems`) contribute their
    KAP through the legacy technique distribution; events without a KAP are left out. Both are
    counted in ``inputs``. An exposure none of whose KAP could use its own technique is given
    under ``fluoro_legacy``.
``fluoro_legacy``
    Exposures with a total KAP but no usable event (legacy records, RDSRs without event KAP):
    :func:`~doseline.dosimetry.fluoro.legacy.legacy_organ_doses` with the registry's own
    technique distribution (:func:`~doseline.dosimetry.fluoro.registry_events.
    registry_distribution`: centre, calendar era, age band; built-in default last).
``fluoro_imputed``
    Exposures with no dose at all: KAP predicted by
    :class:`~doseline.dosimetry.fluoro.impute.KapImputationModel` fitted on the exposures that
    have a KAP (categorical terms :data:`IMPUTATION_TERMS`, the first that can be fitted), its
    median then dosed as a legacy record. A record the model cannot predict (a procedure type
    or era without KAP records; the model refuses to borrow across them) is skipped, with the
    reason. The KAP calibration multiplies legacy and imputed doses too: recorded KAPs come
    from the same meters.

Patients: age at exposure from ``exposure.age_at_exposure_days`` (an exposure without one is
skipped), sex from ``patient.sex`` (``O`` or unknown: the sex-averaged phantom, all organs),
height and weight from the exposure (an implausible value is left out and named in
``inputs["ignored"]``). The procedures are taken as cardiac (isocentre at the heart), as the
conversion table assumes.

The method version (:attr:`FluoroDoseJob.method_version`) is the doseline version and a hash of
the table's content, the deployment's factors and :data:`JOB_REVISION`: a new table or new
factors give new rows beside the old ones. Every row's ``inputs`` (JSON) says what it was
made from: table file, build date and fingerprint, factors, patient values, events used and
left out, stratum and clamped table axes, and ``central_dose_gy`` (``dose_gy`` becomes the
mean of the realisations once :func:`realise_organ_doses` has run, as
:class:`~doseline.registry.doses.OrganDose` documents).

Exposures are processed in batches in order of id; each batch is written in one transaction,
so an interrupted run loses at most the batch in progress and a rerun continues where it
stopped; a rerun with nothing left to do writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Table, insert
from sqlalchemy.engine import make_url

from doseline import __version__
from doseline.config import Settings
from doseline.dosimetry.fluoro.dose_paths import (
    IMPUTATION_TERMS,
    METHODS,
    Context,
    batch_doses,
    clean,
    organ_dose_rows,
)
from doseline.dosimetry.fluoro.doses import DoseFactors
from doseline.dosimetry.fluoro.geometry import DEFAULT_TABLE_PMMA_EQUIVALENT_MM
from doseline.dosimetry.fluoro.registry_events import (
    event_frame,
    exposure_frame,
    pending_count,
    stored_doses,
)
from doseline.dosimetry.fluoro.spectral import INHERENT_AL_MM
from doseline.dosimetry.fluoro.table import DEFAULT_TABLE_NAME, ConversionTable, default_table
from doseline.errors import ConfigurationError
from doseline.registry.database import Registry
from doseline.registry.doses import OrganDose

__all__ = [
    "IMPUTATION_TERMS",
    "JOB_REVISION",
    "METHODS",
    "ComputeSummary",
    "DeploymentSource",
    "FluoroDoseJob",
    "RealisationSummary",
    "coefficient_rel_sd",
    "compute_organ_doses",
    "default_realisations_dir",
    "realise_organ_doses",
    "table_fingerprint",
]

#: Revision of this job's rules; part of the method version (bump when results change).
JOB_REVISION = 1
_organ_dose = cast(Table, OrganDose.__table__)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DeploymentSource:
    """The conversion table read with the deployment's patient support and inherent filtration.

    The support is the table's ``support_pmma_equivalent_mm`` (set by :class:`FluoroDoseJob`).
    The table's spectra have ``table.spectral.inherent_al_mm`` of aluminium before the added
    filters; a tube with ``inherent_al_mm`` gives the same spectrum as the difference added to
    the event's aluminium filter (both are aluminium), clipped at 0.
    """

    table: ConversionTable
    inherent_al_mm: float

    @property
    def extra_al_mm(self) -> float:
        """Aluminium added to every event's filter (mm; negative removes)."""
        return self.inherent_al_mm - self.table.spectral.inherent_al_mm

    def events(self, events: pd.DataFrame) -> pd.DataFrame:
        """The events with the aluminium filter the table reads."""
        al = pd.to_numeric(events["filter_al_mm"], errors="coerce").fillna(0.0)
        return events.assign(filter_al_mm=np.clip(al + self.extra_al_mm, 0.0, None))

    def dose_per_kap(self, events: pd.DataFrame) -> pd.DataFrame:
        """Organ dose per KAP (Gy per Gy cm2) from the table (a ``CoefficientSource``)."""
        return self.table.dose_per_kap(self.events(events))

    def clamped(self, events: pd.DataFrame) -> pd.DataFrame:
        """Per event and input, whether it lies outside the table and was clamped
        (:meth:`ConversionTable.clamped`, on the aluminium the table reads)."""
        return self.table.clamped(self.events(events))


def table_fingerprint(table: ConversionTable) -> str:
    """SHA-256 of the table's axes, organs, responses (as stored, float32), spectra, metadata."""
    digest = hashlib.sha256()
    for array in (*table.axes, table.response.astype(np.float32), table.mean_inverse_cosine,
                  table.spectral.photons_per_kap):  # fmt: skip
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(json.dumps([table.organs, table.metadata], sort_keys=True).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class FluoroDoseJob:
    """What the job computes with: the table (and its file name), the KAP calibration, the
    patient support and the inherent filtration of the deployment; ``seed`` seeds the legacy
    path's choice of procedures in large strata."""

    table: ConversionTable
    table_name: str = DEFAULT_TABLE_NAME
    factors: DoseFactors = field(default_factory=DoseFactors)
    support_pmma_mm: float = DEFAULT_TABLE_PMMA_EQUIVALENT_MM
    inherent_al_mm: float = INHERENT_AL_MM
    seed: int = 0

    @classmethod
    def from_settings(cls, settings: Settings, table_path: Path | None = None) -> FluoroDoseJob:
        """The job of a deployment: the shipped table (or ``table_path``) and the settings
        ``DOSELINE_FLUORO_KAP_CALIBRATION``, ``DOSELINE_FLUORO_TABLE_PMMA_MM`` and
        ``DOSELINE_FLUORO_INHERENT_FILTRATION_AL_MM``.

        Raises
        ------
        InvalidInputError
            If the table file is missing or not a conversion table.
        """
        table = default_table() if table_path is None else ConversionTable.load(table_path)
        name = DEFAULT_TABLE_NAME if table_path is None else table_path.name
        factors = DoseFactors(settings.fluoro_kap_calibration)
        pmma, inherent = settings.fluoro_table_pmma_mm, settings.fluoro_inherent_filtration_al_mm
        return cls(table, name, factors, pmma, inherent)

    @property
    def source(self) -> DeploymentSource:
        """The coefficient source (table with the deployment's support and filtration)."""
        table = replace(self.table, support_pmma_equivalent_mm=self.support_pmma_mm)
        return DeploymentSource(table, self.inherent_al_mm)

    @property
    def method_version(self) -> str:
        """``<doseline version>-<hash of table, factors, revision>`` (at most 32 characters)."""
        key = json.dumps([JOB_REVISION, table_fingerprint(self.table), self.factor_inputs()])
        return f"{__version__}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"

    def factor_inputs(self) -> dict[str, float]:
        """The deployment's factors as recorded in ``inputs``."""
        return {"kap_calibration": self.factors.kap_calibration,
                "table_pmma_mm": self.support_pmma_mm,
                "inherent_filtration_al_mm": self.inherent_al_mm}  # fmt: skip

    def common_inputs(self) -> dict[str, Any]:
        """The ``inputs`` every row of this job shares."""
        return {
            "doseline_version": __version__, "job_revision": JOB_REVISION,
            "table": {"file": self.table_name, "fingerprint": table_fingerprint(self.table)[:16],
                      "built_at_utc": self.table.metadata.get("built_at_utc")},
            "factors": self.factor_inputs(),
        }  # fmt: skip


@dataclass
class ComputeSummary:
    """What a run of :func:`compute_organ_doses` did.

    Attributes
    ----------
    method_version, table_name
        The version of the rows written and the table file used.
    exposures
        Exposures given doses, per method.
    rows
        ``organ_dose`` rows written.
    skipped
        Exposures left without doses: ``exposure_id``, ``reason``.
    dosed
        Ids of the exposures given doses by this run.
    pending, batches, complete, seconds
        Exposures without doses of this version at the start, batches written, whether every
        exposure was reached (False when stopped by ``max_batches``), wall time.
    """

    method_version: str
    table_name: str
    exposures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))
    rows: int = 0
    skipped: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"exposure_id": [], "reason": []})
    )
    dosed: list[int] = field(default_factory=list)
    pending: int = 0
    batches: int = 0
    complete: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (skipped exposures with their reasons)."""
        return {"method_version": self.method_version, "table": self.table_name,
                "exposures": dict(self.exposures), "rows": self.rows, "pending": self.pending,
                "batches": self.batches, "complete": self.complete,
                "seconds": round(self.seconds, 2),
                "skipped": clean(self.skipped.to_dict("records"))}  # fmt: skip

    def to_text(self, max_skipped: int = 10) -> str:
        """Human-readable summary."""
        done = ", ".join(f"{m} {n}" for m, n in self.exposures.items())
        lines = [f"organ doses {self.method_version} (table {self.table_name}): {done}; "
                 f"{self.rows} rows in {self.batches} batch(es), {self.seconds:.1f} s",
                 f"skipped {len(self.skipped)} exposure(s)"]  # fmt: skip
        reasons = self.skipped.groupby("reason").size().sort_values(ascending=False)
        lines += [f"  {n:5d}  {r}" for r, n in reasons.head(max_skipped).items()]
        if not self.complete:
            lines.append("stopped before the end: run again to continue")
        return "\n".join(lines)


def compute_organ_doses(
    registry: Registry,
    job: FluoroDoseJob,
    *,
    batch_size: int = 500,
    max_batches: int | None = None,
    progress: Progress | None = None,
) -> ComputeSummary:
    """Compute and store the organ doses of every fluoroscopy exposure that lacks them.

    Parameters
    ----------
    batch_size
        Exposures per batch (one transaction each).
    max_batches
        Stop after this many batches (the rest is left for a later run).
    progress
        Called with (exposures processed, exposures pending at the start) after each batch.
    """
    started = time.perf_counter()
    version = job.method_version
    summary = ComputeSummary(version, job.table_name)
    ctx = Context(registry, job)
    common = job.common_inputs()
    with registry.engine.connect() as connection:
        summary.pending = pending_count(connection, METHODS, version)
    last, processed, skipped = 0, 0, [summary.skipped]
    while max_batches is None or summary.batches < max_batches:
        with registry.engine.connect() as connection:
            exposures = exposure_frame(connection, done=(METHODS, version), after_id=last,
                                       limit=batch_size)  # fmt: skip
            rdsr = exposures.loc[exposures["record_era"] == "rdsr", "exposure_id"]
            events = event_frame(connection, rdsr.tolist())
        if exposures.empty:
            summary.complete = True
            break
        parts, left = batch_doses(job, ctx, exposures, events)
        rows = [row for part in parts for row in organ_dose_rows(part, common, version)]
        with registry.connect() as connection:
            if rows:
                connection.execute(insert(_organ_dose), rows)
        for part in parts:
            summary.exposures[part.method] += len(part.dose_gy)
            summary.dosed += [int(i) for i in part.dose_gy.index]
        summary.rows += len(rows)
        skipped.append(left)
        summary.batches += 1
        last = int(exposures["exposure_id"].max())
        processed += len(exposures)
        if progress is not None:
            progress(processed, summary.pending)
    summary.skipped = pd.concat(skipped, ignore_index=True).astype({"exposure_id": np.int64})
    summary.seconds = time.perf_counter() - started
    return summary


def coefficient_rel_sd(table: ConversionTable) -> dict[str, float]:
    """Relative SD (Monte Carlo statistics) of each organ's coefficient, for the
    ``coefficient_table`` error source: at every node, the SD of the bin-summed dose per KAP of
    the grid-mean spectrum (bins independent), relative to it; the median over nodes.
    Interpolation error is not included."""
    bins = table.spectral.photons_per_kap.shape[-1]
    q = table.spectral.photons_per_kap.reshape(-1, bins).mean(axis=0)
    dose = np.einsum("...ko,k->...o", table.response, q)
    sd = np.where(table.response > 0, table.response * table.rel_sd, 0.0)  # no deposit: 0
    variance = np.einsum("...ko,k->...o", np.nan_to_num(sd) ** 2, q**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(dose > 0, np.sqrt(variance) / dose, np.nan)
    per_organ = np.nanmedian(rel.reshape(-1, len(table.organs)), axis=0)
    return {o: float(np.nan_to_num(v)) for o, v in zip(table.organs, per_organ, strict=True)}


def default_realisations_dir(database_url: str) -> Path:
    """``realisations/`` beside a SQLite registry file; other databases need a folder given.

    Raises
    ------
    ConfigurationError
        For a server database or an in-memory SQLite database.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        raise ConfigurationError(
            "the registry is not a SQLite file: give the folder for the realisations "
            "(--realisations-dir)"
        )
    return Path(str(url.database)).resolve().parent / "realisations"


@dataclass(frozen=True)
class RealisationSummary:
    """What :func:`realise_organ_doses` wrote: the store, its registry row, rows updated."""

    path: Path
    realisation_set_id: int
    n_realisations: int
    seed: int
    rows: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"path": str(self.path), "realisation_set_id": self.realisation_set_id,
                "n_realisations": self.n_realisations, "seed": self.seed, "rows": self.rows,
                "seconds": round(self.seconds, 2)}  # fmt: skip


def realisation_frame(stored: pd.DataFrame) -> pd.DataFrame:
    """The dose frame of :func:`~doseline.dosimetry.fluoro.uncertainty.iter_realisations`
    from stored rows (:func:`~doseline.dosimetry.fluoro.registry_events.stored_doses`).

    ``dose_gy`` is the central dose of the row's ``inputs``; ``era`` the calendar era (the
    ``centre_era`` unit of the KAP-meter calibration error); ``legacy_log_sd`` is
    ``share x ln(GSD)`` of the legacy stratum, ``share`` being the part of the dose that came
    through the technique distribution (first order in the log: ``ln(1 - s + s X) ~ s ln X``);
    ``imputation_log_sd`` the log-SD of an imputed KAP; ``table_fraction`` the share of the dose
    of events whose beam crosses the table (1 where unknown: legacy and imputed).
    """
    inputs = stored["inputs"]

    def get(key: str) -> pd.Series:
        return pd.Series([d.get(key) for d in inputs], index=stored.index, dtype=np.float64)

    share = get("legacy_share").where(stored["method"] == METHODS[0], 1.0)
    gsd = get("legacy_gsd")
    return pd.DataFrame({
        "exposure_id": stored["exposure_id"].astype(np.int64),
        "patient_id": stored["patient_id"].astype(np.int64),
        "centre_id": stored["centre_id"].astype(np.int64),
        "era": [str(d.get("era") or "unknown") for d in inputs],
        "organ": stored["organ"].astype(str),
        "dose_gy": get("central_dose_gy").fillna(stored["dose_gy"].astype(np.float64)),
        "legacy_log_sd": (share.fillna(0.0) * np.log(gsd.where(gsd >= 1.0))).fillna(0.0),
        "imputation_log_sd": get("imputation_log_sd").fillna(0.0),
        "table_fraction": get("table_fraction").fillna(1.0).clip(0.0, 1.0),
    })  # fmt: skip


def realise_organ_doses(
    registry: Registry,
    job: FluoroDoseJob,
    n_realisations: int,
    *,
    seed: int,
    directory: Path,
    exposure_ids: Sequence[int] | None = None,
) -> RealisationSummary:
    """Two-dimensional Monte Carlo of the stored organ doses of ``job``'s method version.

    Draws ``n_realisations`` of every organ dose (or of ``exposure_ids`` only) with the
    documented error sources (:meth:`ErrorModel.from_csv`, the table's per-organ relative SD,
    :func:`coefficient_rel_sd`), writes the Parquet store to ``directory``, registers it as a
    ``dose_realisation_set`` and writes each row's mean, median, 5th/95th percentiles and GSD
    into its ``organ_dose`` row, in one transaction (docs/fluoro_uncertainty.md). The factors
    are lognormal with mean one, so the mean of the realisations estimates the central dose.
    """
    from doseline.dosimetry.fluoro.realisations import (
        register_realisation_set,
        update_organ_doses,
        write_realisations,
    )
    from doseline.dosimetry.fluoro.uncertainty import ErrorModel

    started = time.perf_counter()
    version = job.method_version
    with registry.engine.connect() as connection:
        stored = stored_doses(connection, METHODS, version)
    if exposure_ids is not None:
        stored = stored[stored["exposure_id"].isin(list(exposure_ids))]
    if stored.empty:
        raise ConfigurationError(f"no organ doses of version {version} to realise: run "
                                 "'doseline dose compute' first")  # fmt: skip
    model = ErrorModel.from_csv().with_coefficient_rel_sd(coefficient_rel_sd(job.table))
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path = (directory / f"fluoro-{version}-{stamp}-seed{seed}-k{n_realisations}.parquet").resolve()
    # mean-one factors: the central doses are unbiased estimates (Monte Carlo statistics, meter
    # calibrated on average), so the realisations keep their mean rather than their median
    summary = write_realisations(realisation_frame(stored), path, n_realisations, seed=seed,
                                 model=model, mean_one=True)  # fmt: skip
    methods = stored[["exposure_id", "organ", "method"]]
    summary = summary.merge(methods, on=["exposure_id", "organ"], how="left")
    rows = 0
    with registry.session() as session:
        row = register_realisation_set(
            session, uri=str(path), n_realisations=n_realisations,
            description=f"fluoroscopy organ doses {version}, seed {seed}",
        )  # fmt: skip
        for method, part in summary.groupby("method"):
            rows += update_organ_doses(session, part.drop(columns="method"), method=str(method),
                                       method_version=version, realisation_set=row)  # fmt: skip
        set_id = int(row.id)
    return RealisationSummary(path, set_id, n_realisations, seed, rows,
                              time.perf_counter() - started)  # fmt: skip
