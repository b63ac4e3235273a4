"""The main job at this stage (``doseline demo``, run by ``make demo``).

Generate a synthetic multi-centre paediatric cardiology data set (RDSR files with several
vendors' conventions, legacy tabular records), ingest it with the real example dose reports of
``../shared/data/rdsr`` into a fresh embedded SQLite registry, and summarise the registry:
patients and procedures by centre and era, dose-area product by weight band.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from doseline.cohort import CohortConfig, generate_cohort
from doseline.config import Settings, get_settings
from doseline.deployment import init_deployment
from doseline.ingest import IngestOptions, IngestSummary, ingest
from doseline.registry.database import Registry
from doseline.reports.summary import RegistrySummary, registry_summary

__all__ = ["DemoResult", "default_shared_rdsr", "run_demo"]

SHARED_EXAMPLES_CENTRE = "OpenREM and PySkinDose examples"


def default_shared_rdsr() -> Path | None:
    """``../shared/data/rdsr`` beside the working folder, if it is there."""
    candidate = Path.cwd().parent / "shared" / "data" / "rdsr"
    return candidate if candidate.is_dir() else None


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote things, what the ingest did, and the registry summary."""

    data_dir: Path
    database_url: str
    ingest: IngestSummary
    summary: RegistrySummary
    seconds: float

    def to_text(self) -> str:
        return (
            f"Synthetic data: {self.data_dir}\n"
            f"Registry: {self.database_url}\n\n"
            f"Ingest\n{self.ingest.to_text(max_warnings=5, max_rejections=10)}\n\n"
            f"{self.summary.to_text()}\n\n"
            f"Done in {self.seconds:.0f} s."
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
    finally:
        registry.dispose()
    return DemoResult(
        data_dir, settings.database_url, summary, result, time.perf_counter() - started
    )
