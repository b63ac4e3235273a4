"""The main job end to end (``doseline demo``), checked against the synthetic cohort's truth.

Reference: the truth manifest the generator writes beside the files (every procedure, its
centre, era and recorded dose-area product), and the real example files' own counts.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy

from conftest import RDSR_DIR
from doseline.config import Settings
from doseline.demo import SHARED_EXAMPLES_CENTRE, run_demo
from doseline.reports.summary import band_labels


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("demo")
    # Shifted dates on, so that the deployment's choices can be seen in every centre's rows.
    settings = Settings(key_file=out / "keys" / "deployment.key", store_shifted_dates=True)
    shared = RDSR_DIR if RDSR_DIR.exists() else None
    result = run_demo(
        out / "run", n_patients=40, seed=11, shared_rdsr=shared, jobs=1, settings=settings
    )
    return out / "run", result


def test_every_synthetic_procedure_is_in_the_registry(demo: tuple[Path, object]) -> None:
    out, result = demo
    truth = pd.read_csv(out / "data" / "truth_procedures.csv")
    by_centre = result.summary.by_centre  # type: ignore[attr-defined]
    synthetic = by_centre[by_centre["centre"] != SHARED_EXAMPLES_CENTRE]
    expected = (
        truth.assign(era=truth["record_kind"].map(lambda k: "rdsr" if k == "rdsr" else "legacy"))
        .groupby("era")
        .size()
    )
    assert synthetic.groupby("era")["procedures"].sum().to_dict() == expected.to_dict()
    assert result.ingest.rejected == (4 if RDSR_DIR.exists() else 0)  # type: ignore[attr-defined]


def test_weight_bands_cover_every_procedure_with_a_dose(demo: tuple[Path, object]) -> None:
    _, result = demo
    kap = result.summary.kap_by_weight_band  # type: ignore[attr-defined]
    assert list(kap["weight_band"])[: len(band_labels())] == band_labels()
    procedures = result.summary.by_centre["procedures"].sum()  # type: ignore[attr-defined]
    assert kap["procedures"].sum() <= procedures
    assert (kap["median"].dropna() <= kap["q3"].dropna()).all()


def test_demo_text_names_centres_eras_and_bands(demo: tuple[Path, object]) -> None:
    _, result = demo
    text = result.to_text()  # type: ignore[attr-defined]
    for needle in ("C1 (FR)", "rdsr", "legacy", "5-15 kg", "imported"):
        assert needle in text


@pytest.mark.skipif(not RDSR_DIR.exists(), reason="../shared/data/rdsr is not present")
def test_shared_examples_follow_the_deployment_settings(demo: tuple[Path, object]) -> None:
    # Synthetic truth: the demo's settings ask for shifted dates, and the example reports carry
    # study dates; their exposures were once ingested with default options (no dates).
    out, _ = demo
    engine = sqlalchemy.create_engine(f"sqlite:///{out / 'registry.sqlite'}")
    query = (
        "SELECT count(e.shifted_date) FROM exposure e JOIN centre c ON c.id = e.centre_id "
        "WHERE c.name = :centre"
    )
    with engine.connect() as connection:
        dated = connection.execute(
            sqlalchemy.text(query), {"centre": SHARED_EXAMPLES_CENTRE}
        ).scalar_one()
    engine.dispose()
    assert dated > 0
