"""The main job at this stage (``doseline demo``, run by ``make demo``).

Generate a synthetic multi-centre paediatric cardiology data set (RDSR files with several
vendors' conventions, legacy tabular records), ingest it with the real example dose reports of
``../shared/data/rdsr`` into a fresh embedded SQLite registry, and summarise the registry:
patients and procedures by centre and era, dose-area product by weight band. Then compute the
organ doses of every fluoroscopy exposure (:mod:`doseline.dosimetry.fluoro.compute`, with the
shipped conversion table) and summarise red bone marrow, heart, lung and breast doses by age
band.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from doseline.cohort import CohortConfig, generate_cohort
from doseline.config import Settings, get_settings
from doseline.deployment import init_deployment
from doseline.dosimetry.fluoro.compute import ComputeSummary, FluoroDoseJob, compute_organ_doses
from doseline.dosimetry.fluoro.dose_paths import METHODS
from doseline.dosimetry.fluoro.legacy import age_band
from doseline.errors import InvalidInputError
from doseline.ingest import IngestOptions, IngestSummary, ingest
from doseline.registry.database import Registry
from doseline.registry.doses import OrganDose
from doseline.registry.exposures import Exposure
from doseline.reports.summary import RegistrySummary, registry_summary

__all__ = [
    "DEMO_ORGANS",
    "DemoResult",
    "default_shared_rdsr",
    "organ_dose_distribution",
    "run_demo",
]

SHARED_EXAMPLES_CENTRE = "OpenREM and PySkinDose examples"
#: Organs whose dose distribution the demo prints (ICRP names).
DEMO_ORGANS = ("red_bone_marrow", "heart", "lung", "breast")


def default_shared_rdsr() -> Path | None:
    """``../shared/data/rdsr`` beside the working folder, if it is there."""
    candidate = Path.cwd().parent / "shared" / "data" / "rdsr"
    return candidate if candidate.is_dir() else None


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote things, what the ingest did, the registry summary, and the organ
    doses: what the job did (None if it could not run, with ``doses_note`` saying why) and
    their distribution by organ and age band (:func:`organ_dose_distribution`)."""

    data_dir: Path
    database_url: str
    ingest: IngestSummary
    summary: RegistrySummary
    seconds: float
    doses: ComputeSummary | None = None
    dose_distribution: pd.DataFrame | None = None
    doses_note: str = ""

    def to_text(self) -> str:
        return (
            f"Synthetic data: {self.data_dir}\n"
            f"Registry: {self.database_url}\n\n"
            f"Ingest\n{self.ingest.to_text(max_warnings=5, max_rejections=10)}\n\n"
            f"{self.summary.to_text()}\n\n"
            f"{self._doses_text()}\n\n"
            f"Done in {self.seconds:.0f} s."
        )

    def _doses_text(self) -> str:
        if self.doses is None or self.dose_distribution is None:
            return f"Organ doses: not computed ({self.doses_note})"
        table = self.dose_distribution.to_string(index=False, float_format=lambda v: f"{v:.3g}")
        return (
            f"Organ doses (fluoroscopy)\n{self.doses.to_text(max_skipped=5)}\n\n"
            f"Organ dose per procedure by age band (mGy)\n{table}"
        )


def run_demo(
    out: Path,
    *,
    n_patients: int = 400,
    seed: int = 2026,
    shared_rdsr: Path | None = None,
    jobs: int | None = None,
    settings: Settings | None = None,
) -> DemoResult:
    """Run the demo into ``out`` (its registry and data are made afresh each time).

    The deployment key is the one of ``settings`` (``DOSELINE_KEY_FILE``; created if missing),
    kept outside ``out``: the demo registry is an ordinary registry of this deployment.
    """
    started = time.perf_counter()
    jobs = jobs or max(1, os.cpu_count() or 1)
    data_dir = out / "data"
    for stale in (data_dir, out / "registry.sqlite"):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{out / 'registry.sqlite'}{suffix}").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)

    cohort = generate_cohort(CohortConfig(n_patients=n_patients, seed=seed))
    files = cohort.write(data_dir, jobs=jobs)

    settings = (settings or get_settings()).model_copy(
        update={"database_url": f"sqlite:///{(out / 'registry.sqlite').resolve()}"}
    )
    init_deployment(settings)
    registry = Registry.open(settings)
    options = IngestOptions.from_settings(settings)
    summary = IngestSummary()
    try:
        for centre in cohort.config.centres:
            folder = files.root / centre.centre_id
            summary.absorb(
                ingest(
                    registry,
                    [folder],
                    centre=f"{centre.centre_id} ({centre.country})",
                    jobs=jobs,
                    options=options,
                )
            )
        if shared_rdsr is not None and shared_rdsr.is_dir():
            summary.absorb(
                ingest(
                    registry,
                    [shared_rdsr],
                    centre=SHARED_EXAMPLES_CENTRE,
                    jobs=jobs,
                    options=options,
                )
            )
        result = registry_summary(registry)
        doses, distribution, note = _organ_doses(registry, settings)
    finally:
        registry.dispose()
    return DemoResult(
        data_dir, settings.database_url, summary, result, time.perf_counter() - started,
        doses, distribution, note,
    )  # fmt: skip


def _organ_doses(
    registry: Registry, settings: Settings
) -> tuple[ComputeSummary | None, pd.DataFrame | None, str]:
    """Run the organ-dose job with the shipped table (or say why it cannot run)."""
    try:
        job = FluoroDoseJob.from_settings(settings)
    except InvalidInputError as error:
        return None, None, f"no conversion table: {error}"
    done = compute_organ_doses(registry, job)
    return done, organ_dose_distribution(registry, done.method_version), ""


def organ_dose_distribution(
    registry: Registry, method_version: str, organs: tuple[str, ...] = DEMO_ORGANS
) -> pd.DataFrame:
    """Per organ and age band (``doseline.dosimetry.fluoro.legacy.age_band``): number of
    procedures and the minimum, quartiles and maximum of their organ dose (mGy)."""
    o, e = OrganDose.__table__.c, Exposure.__table__.c
    statement = (
        select(o.organ, o.dose_gy, e.age_at_exposure_days)
        .join_from(OrganDose.__table__, Exposure.__table__, e.id == o.exposure_id)
        .where(o.method.in_(METHODS), o.method_version == method_version, o.organ.in_(organs))
    )
    with registry.engine.connect() as connection:
        rows = pd.DataFrame(connection.execute(statement).all(),
                            columns=["organ", "dose_gy", "age_days"])  # fmt: skip
    rows["age_band"] = age_band(rows["age_days"].astype(float) / 365.25)
    rows["dose_mgy"] = rows["dose_gy"].astype(float) * 1e3
    grouped = rows.groupby(["organ", "age_band"], sort=False)["dose_mgy"]
    out = grouped.describe()[["count", "min", "25%", "50%", "75%", "max"]].reset_index()
    out = out.rename(columns={"count": "procedures", "25%": "q1", "50%": "median", "75%": "q3"})
    order = {name: i for i, name in enumerate(organs)}
    bands = list(dict.fromkeys(age_band(pd.Series([0.5, 3.0, 7.0, 12.0, 20.0]))))
    out["_o"], out["_b"] = out["organ"].map(order), out["age_band"].map(bands.index)
    out = out.sort_values(["_o", "_b"]).drop(columns=["_o", "_b"])
    return out.astype({"procedures": int}).reset_index(drop=True)
