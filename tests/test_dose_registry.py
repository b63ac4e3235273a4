"""The registry job of fluoroscopy organ doses (``doseline dose compute``), ``dose show``,
``dose event`` and the demo's dose summary, on SQLite and PostgreSQL.

References:

- independent recomputation: each RDSR exposure's organ doses against the sum over its
  irradiation events of :func:`event_organ_doses`, with the events read here by plain SQL and
  turned into an event frame by this file's own code (field width x height, rotational arcs
  split as ``scripts/make_default_technique.py`` documents); legacy records against
  :func:`legacy_organ_doses` with the built-in technique distribution (the registry of 30
  synthetic children has no stratum of 20 procedures, so every record falls back to it).
  Tolerance 1e-9 relative: the same float64 operations, summed in another order, and stored
  as float64.
- synthetic truths: the KAP calibration scales every dose by its value; extra inherent
  aluminium is the same spectrum as extra added aluminium; a rotational arc keeps its KAP.
- numpy: the percentiles written to ``organ_dose`` against ``numpy.percentile`` of the
  Parquet store.

The conversion table is a small synthetic one (2 nodes per axis, 3 energy bins, random
positive responses): every reference evaluates the same table, so its values do not matter,
and the tests do not depend on the shipped table's build.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text, update
from typer.testing import CliRunner

from conftest import _postgres_database
from doseline.cli import app
from doseline.cohort import CohortConfig, generate_cohort
from doseline.config import Settings
from doseline.demo import organ_dose_distribution
from doseline.dosimetry.fluoro.compute import (
    DeploymentSource,
    FluoroDoseJob,
    compute_organ_doses,
    realise_organ_doses,
)
from doseline.dosimetry.fluoro.direct import DirectMonteCarlo
from doseline.dosimetry.fluoro.dose_paths import METHODS
from doseline.dosimetry.fluoro.doses import DoseFactors, event_organ_doses
from doseline.dosimetry.fluoro.events import FluoroEvent
from doseline.dosimetry.fluoro.geometry import DEFAULT_TABLE_PMMA_EQUIVALENT_MM
from doseline.dosimetry.fluoro.legacy import TechniqueDistribution, legacy_organ_doses
from doseline.dosimetry.fluoro.registry_events import (
    ARC_STEPS,
    calendar_era,
    event_frame,
    technique_problems,
)
from doseline.dosimetry.fluoro.spectral import INHERENT_AL_MM, SpectralGrid
from doseline.dosimetry.fluoro.table import ConversionTable
from doseline.ingest import ingest
from doseline.organs import ORGANS
from doseline.registry.database import Registry
from doseline.registry.exposures import irradiation_event
from doseline.registry.pseudonym import Pseudonymiser, create_key_file, load_key

REL = 1e-9
SEX = {"M": "male", "F": "female"}
PATIENT = ("age_y", "sex", "height_cm", "weight_kg")
OTHER_SEX = {"male": ("ovaries", "uterus"), "female": ("testes", "prostate")}


def synthetic_table(seed: int = 3) -> ConversionTable:
    """Two nodes per axis, 3 energy bins, every ICRP organ but the whole body."""
    rng = np.random.default_rng(seed)
    organs = tuple(o for o in ORGANS if o != "whole_body")
    edges = np.array([10.0, 40.0, 70.0, 130.0])
    q = rng.uniform(1e10, 3e10, size=(2, 2, 2, 3))
    spectral = SpectralGrid(np.array([50.0, 125.0]), np.array([0.0, 4.0]), np.array([0.0, 1.2]),
                            edges, q, INHERENT_AL_MM)  # fmt: skip
    shape = (2, 2, 2, 2, 3, len(organs))
    axes = (np.array([0.0, 20.0]), np.array([-90.0, 90.0]), np.array([-40.0, 40.0]),
            np.array([5.0, 16.0]))  # fmt: skip
    metadata = {"built_at_utc": "2026-01-01T00:00:00Z", "note": "synthetic test table"}
    response = rng.uniform(1e-14, 5e-13, size=shape)
    return ConversionTable(*axes, organs, response, np.full(shape, 0.02), np.ones(shape[:4]),
                           spectral, metadata)  # fmt: skip


TABLE = synthetic_table()
SOURCE = replace(TABLE, support_pmma_equivalent_mm=DEFAULT_TABLE_PMMA_EQUIVALENT_MM)


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cohort")
    return generate_cohort(CohortConfig(n_patients=30, seed=5)).write(root / "data", jobs=1).root


@pytest.fixture(scope="module")
def table_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("table") / "synthetic_cc.npz"
    TABLE.save(path)
    return path


def _load(registry: Registry, cohort_dir: Path) -> dict[str, int]:
    """Ingest the cohort centre by centre, then make three RDSR exposures imperfect: events
    without kVp, an event without KAP, and an exposure whose events all lack a KAP."""
    for folder in sorted(p for p in cohort_dir.iterdir() if p.is_dir()):
        ingest(registry, [folder], centre=folder.name, jobs=1)
    with registry.connect() as connection:
        ids = connection.execute(text("SELECT id FROM exposure WHERE era = 'rdsr' ORDER BY id"))
        first, second, third = [int(i) for i in ids.scalars().all()[:3]]
        c = irradiation_event.c
        for where, values in (
            ((c.exposure_id == first, c.event_index.in_([0, 1, 2])), {"kvp": None}),
            ((c.exposure_id == second, c.event_index == 0), {"kap_gycm2": None}),
            ((c.exposure_id == third,), {"kap_gycm2": None}),
        ):
            connection.execute(update(irradiation_event).where(*where).values(**values))
    return {"no_kvp": first, "one_without_kap": second, "no_event_kap": third}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def computed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, cohort_dir: Path
) -> Iterator[tuple[Registry, dict[str, int], object]]:
    """One registry per backend, loaded and computed once for the read-only tests."""
    root = tmp_path_factory.mktemp(f"computed-{request.param}")
    key = create_key_file(root / "keys" / "deployment.key")
    sqlite = iter([f"sqlite:///{root / 'registry.sqlite'}"])
    urls = sqlite if request.param == "sqlite" else _postgres_database()
    registry = Registry(next(urls), Pseudonymiser(load_key(key)))
    registry.upgrade()
    registry.check_key()
    marked = _load(registry, cohort_dir)
    summary = compute_organ_doses(registry, FluoroDoseJob(TABLE))
    yield registry, marked, summary
    registry.dispose()
    for _ in urls:  # drop the PostgreSQL database
        pass


def _stored(registry: Registry) -> pd.DataFrame:
    query = (
        "SELECT exposure_id, organ, method, method_version, dose_gy, dose_median_gy, "
        "dose_p05_gy, dose_p95_gy, geometric_sd, realisation_set_id, inputs "
        "FROM organ_dose ORDER BY exposure_id, organ"
    )
    with registry.engine.connect() as connection:
        return pd.read_sql_query(text(query), connection)


def _exposures(registry: Registry) -> pd.DataFrame:
    query = (
        "SELECT e.id AS exposure_id, e.era, e.age_at_exposure_days, e.height_cm, "
        "e.weight_kg, e.kap_total_gycm2, p.sex FROM exposure e "
        "JOIN patient p ON p.id = e.patient_id ORDER BY e.id"
    )
    with registry.engine.connect() as connection:
        frame = pd.read_sql_query(text(query), connection).set_index("exposure_id")
    frame["age_y"] = frame["age_at_exposure_days"] / 365.25
    frame["sex"] = frame["sex"].map(SEX)
    return frame


def _events_by_sql(registry: Registry, exposure_id: int) -> pd.DataFrame:
    """The exposure's events as an event frame, by this file's own mapping."""
    query = (
        "SELECT event_index, event_type, kap_gycm2, kvp, filter_cu_mm, filter_al_mm, "
        "primary_angle_deg, primary_end_angle_deg, secondary_angle_deg, "
        "collimated_field_width_mm AS field_width_mm, "
        "collimated_field_height_mm AS field_height_mm, distance_source_to_detector_mm, "
        "distance_source_to_isocenter_mm FROM irradiation_event WHERE exposure_id = :id "
        "ORDER BY event_index"
    )
    with registry.engine.connect() as connection:
        raw = pd.read_sql_query(text(query), connection, params={"id": exposure_id})
    assert raw["field_width_mm"].notna().all()  # the synthetic reports give width x height
    rows = []
    for record in raw.to_dict("records"):
        end = record.pop("primary_end_angle_deg")
        if record["event_type"] == "rotational_acquisition" and pd.notna(end):
            start = record["primary_angle_deg"]
            for k in range(ARC_STEPS):
                angle = (start + (k + 0.5) / ARC_STEPS * (end - start) + 180.0) % 360.0 - 180.0
                share = record["kap_gycm2"] / ARC_STEPS
                rows.append(record | {"primary_angle_deg": angle, "kap_gycm2": share})
        else:
            rows.append(record)
    return pd.DataFrame(rows)


def _expected_table_doses(
    registry: Registry, exposure_ids: list[int], patients: pd.DataFrame
) -> pd.DataFrame:
    """Per exposure, the sum over its events (with kVp and KAP) of the event doses."""
    frames = [_events_by_sql(registry, i).assign(exposure_id=i) for i in exposure_ids]
    events = pd.concat(frames, ignore_index=True).join(patients[list(PATIENT)], on="exposure_id")
    usable = events["kvp"].notna() & events["kap_gycm2"].notna()
    doses = event_organ_doses(events[usable], SOURCE, DoseFactors(1.0))
    return doses.groupby(events.loc[usable, "exposure_id"]).sum(min_count=1)


def _assert_close_where_stored(stored: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal where a row is stored; the organs of the other sex are never stored."""
    have = stored.stack().dropna()
    wanted = expected.loc[stored.index, stored.columns].stack()[have.index]
    np.testing.assert_allclose(have, wanted, rtol=REL)
    assert stored.notna().sum().sum() >= 0.9 * stored.size


def _builtin_all() -> TechniqueDistribution:
    return replace(TechniqueDistribution.builtin(), levels=((),))


def test_rows_per_organ_with_method_version_and_inputs(computed: tuple) -> None:
    registry, _, summary = computed
    rows = _stored(registry)
    exposures = _exposures(registry)
    assert set(rows["method"]) == set(METHODS)
    assert summary.rows == len(rows) and summary.complete
    assert rows["method_version"].nunique() == 1
    assert rows["method_version"].iloc[0] == FluoroDoseJob(TABLE).method_version
    for exposure_id, part in rows.groupby("exposure_id"):
        sex = exposures.at[exposure_id, "sex"]
        expected = set(TABLE.organs) - set(OTHER_SEX.get(sex, ()))
        assert set(part["organ"]) == expected, exposure_id
        inputs = [json.loads(t) for t in part["inputs"]]
        assert all(d["method"] == part["method"].iloc[0] for d in inputs)
        assert {d["table"]["fingerprint"] for d in inputs} == {inputs[0]["table"]["fingerprint"]}
        factors = {"kap_calibration": 1.0, "table_pmma_mm": 12.5, "inherent_filtration_al_mm": 2.5}
        assert all(d["factors"] == factors for d in inputs)
        central = [d["central_dose_gy"] for d in inputs]
        np.testing.assert_allclose(central, part["dose_gy"], rtol=REL)
    assert summary.skipped.empty
    assert sorted(summary.dosed) == sorted(rows["exposure_id"].unique())


def test_rdsr_dose_is_the_sum_of_its_event_doses(computed: tuple) -> None:
    registry, marked, _ = computed
    rows = _stored(registry)
    exposures = _exposures(registry)
    table_rows = rows[
        (rows["method"] == "fluoro_table") & (rows["exposure_id"] != marked["no_kvp"])
    ]  # next test
    ids = [int(i) for i in table_rows["exposure_id"].unique()]
    assert len(ids) >= 8
    expected = _expected_table_doses(registry, ids, exposures)
    stored = table_rows.pivot(index="exposure_id", columns="organ", values="dose_gy")
    _assert_close_where_stored(stored, expected)
    effective = (
        table_rows.groupby("exposure_id")["inputs"]
        .first()
        .map(lambda t: json.loads(t)["effective_dose_sv"])
    )
    np.testing.assert_allclose(
        effective, expected.loc[effective.index, "effective_dose_sv"], rtol=REL
    )
    one = json.loads(
        table_rows[table_rows["exposure_id"] == marked["one_without_kap"]]["inputs"].iloc[0]
    )
    assert one["events_not_in_table"] == {"no KAP": 1}


def test_events_without_technique_go_through_the_distribution(computed: tuple) -> None:
    registry, marked, _ = computed
    exposures = _exposures(registry)
    exposure_id = marked["no_kvp"]
    patient = exposures.loc[exposure_id]
    events = _events_by_sql(registry, exposure_id)
    kap_without_kvp = events.loc[events["kvp"].isna(), "kap_gycm2"].sum()
    record = pd.DataFrame([patient[list(PATIENT)].to_dict() | {"kap_gycm2": kap_without_kvp}])
    legacy = legacy_organ_doses(record, _builtin_all(), SOURCE, keep_samples=False)
    expected = _expected_table_doses(registry, [exposure_id], exposures).iloc[0]
    rows = _stored(registry)
    part = rows[rows["exposure_id"] == exposure_id].set_index("organ")
    assert set(part["method"]) == {"fluoro_table"}
    total = expected[part.index] + legacy.dose_gy.iloc[0][part.index]
    np.testing.assert_allclose(part["dose_gy"], total, rtol=REL)
    inputs = json.loads(part["inputs"].iloc[0])
    assert inputs["events_not_in_table"] == {"kvp missing": 3}
    assert math.isclose(inputs["kap_legacy_technique_gycm2"], kap_without_kvp, rel_tol=REL)
    assert inputs["legacy_technique"]["level"] == "default"


def test_legacy_and_kapless_rdsr_exposures_match_legacy_organ_doses(computed: tuple) -> None:
    registry, marked, _ = computed
    rows = _stored(registry)
    exposures = _exposures(registry)
    legacy_rows = rows[rows["method"] == "fluoro_legacy"]
    ids = legacy_rows["exposure_id"].unique()
    assert marked["no_event_kap"] in ids
    records = exposures.loc[ids, list(PATIENT)].assign(
        kap_gycm2=exposures.loc[ids, "kap_total_gycm2"]
    )
    expected = legacy_organ_doses(records, _builtin_all(), SOURCE, keep_samples=False).dose_gy
    stored = legacy_rows.pivot(index="exposure_id", columns="organ", values="dose_gy")
    _assert_close_where_stored(stored, expected)
    kapless = json.loads(
        legacy_rows[legacy_rows["exposure_id"] == marked["no_event_kap"]]["inputs"].iloc[0]
    )
    assert kapless["kap_from"].startswith("RDSR events carry no KAP")
    assert kapless["legacy"]["level"] == "default"


def test_imputed_kap_is_the_predictive_median(computed: tuple) -> None:
    registry, _, _ = computed
    rows = _stored(registry)
    exposures = _exposures(registry)
    imputed = rows[rows["method"] == "fluoro_imputed"]
    assert len(imputed)
    first = imputed.groupby("exposure_id").head(1)
    inputs = [json.loads(t) for t in first["inputs"]]
    assert all(pd.isna(exposures.at[i, "kap_total_gycm2"]) for i in first["exposure_id"])
    for d in inputs:
        guess = d["imputation"]
        assert d["legacy"]["kap_source"] == "imputed"
        assert math.isclose(d["legacy"]["kap_gycm2"], guess["kap_median_gycm2"], rel_tol=REL)
        assert guess["kap_p05_gycm2"] < guess["kap_median_gycm2"] < guess["kap_p95_gycm2"]
    ids = first["exposure_id"].to_numpy()
    records = exposures.loc[ids, list(PATIENT)].assign(
        kap_gycm2=[d["legacy"]["kap_gycm2"] for d in inputs]
    )
    expected = legacy_organ_doses(records, _builtin_all(), SOURCE, keep_samples=False).dose_gy
    stored = imputed.pivot(index="exposure_id", columns="organ", values="dose_gy")
    _assert_close_where_stored(stored, expected)


def test_show_json_gives_the_registry_values(
    computed: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, _, _ = computed
    rows = _stored(registry)
    exposure_id = int(rows["exposure_id"].iloc[0])
    with registry.engine.connect() as connection:
        patient = connection.execute(text("SELECT patient_id FROM exposure WHERE id = :id"),
                                     {"id": exposure_id}).scalar_one()  # fmt: skip
        pseudonym = connection.execute(text("SELECT pseudonym FROM patient WHERE id = :id"),
                                       {"id": patient}).scalar_one()  # fmt: skip
        query = text("SELECT id FROM exposure WHERE patient_id = :id")
        patient_exposures = set(connection.execute(query, {"id": patient}).scalars())
    monkeypatch.setenv("DOSELINE_DATABASE_URL", registry.url)
    result = CliRunner().invoke(app, ["dose", "show", pseudonym, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    mine = rows[rows["exposure_id"].isin(patient_exposures)]
    assert {x["exposure_id"] for x in shown["exposures"]} == set(mine["exposure_id"])
    for x in shown["exposures"]:
        stored = mine[mine["exposure_id"] == x["exposure_id"]].set_index("organ")["dose_gy"]
        assert x["organ_dose_gy"] == pytest.approx(stored.to_dict(), rel=1e-12)
    total = mine.groupby("organ")["dose_gy"].sum()
    assert shown["cumulative"]["organ_dose_gy"] == pytest.approx(total.to_dict(), rel=1e-12)
    effective = sum(x["effective_dose_sv"] for x in shown["exposures"])
    assert shown["cumulative"]["effective_dose_sv"] == pytest.approx(effective, rel=1e-12)
    unknown = CliRunner().invoke(app, ["dose", "show", "no-such-pseudonym", "--json"])
    assert unknown.exit_code == 2 and "no patient" in unknown.output


def test_demo_distribution_summarises_the_stored_doses(computed: tuple) -> None:
    registry, _, summary = computed
    table = organ_dose_distribution(registry, summary.method_version)
    rows = _stored(registry)
    exposures = _exposures(registry)
    heart = rows[rows["organ"] == "heart"].join(exposures["age_y"], on="exposure_id")
    infants = heart.loc[heart["age_y"] < 1.0, "dose_gy"] * 1e3
    line = table[(table["organ"] == "heart") & (table["age_band"] == "<1 y")].iloc[0]
    assert line["procedures"] == len(infants)
    assert line["median"] == pytest.approx(float(np.median(infants)), rel=1e-12)
    assert list(dict.fromkeys(table["organ"])) == ["red_bone_marrow", "heart", "lung", "breast"]


@pytest.fixture
def loaded(registry: Registry, cohort_dir: Path) -> Registry:
    _load(registry, cohort_dir)
    return registry


def test_rerun_adds_nothing_and_an_interrupted_run_continues(loaded: Registry) -> None:
    job = FluoroDoseJob(TABLE)
    first = compute_organ_doses(loaded, job, batch_size=8, max_batches=1)
    assert not first.complete and first.rows > 0
    partial = len(_stored(loaded))
    rest = compute_organ_doses(loaded, job, batch_size=8)
    assert rest.complete and rest.rows == len(_stored(loaded)) - partial
    resumed = _stored(loaded)
    again = compute_organ_doses(loaded, job, batch_size=8)
    assert again.rows == 0 and len(_stored(loaded)) == len(resumed)
    with loaded.connect() as connection:
        connection.execute(text("DELETE FROM organ_dose"))
    compute_organ_doses(loaded, job, batch_size=500)
    at_once = _stored(loaded)
    # the same rows; floats equal to rounding (a prediction computed in another batch size)
    columns = ["exposure_id", "organ", "method", "method_version"]
    pd.testing.assert_frame_equal(resumed[columns], at_once[columns])
    np.testing.assert_allclose(resumed["dose_gy"], at_once["dose_gy"], rtol=1e-12)
    assert [_rounded(json.loads(t)) for t in resumed["inputs"]] == [
        _rounded(json.loads(t)) for t in at_once["inputs"]
    ]


def _rounded(value: object) -> object:
    """JSON values with floats to 10 significant digits."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return float(f"{value:.10g}") if isinstance(value, float) else value


@pytest.mark.slow
def test_kap_calibration_setting_scales_the_doses(loaded: Registry) -> None:
    plain = compute_organ_doses(loaded, FluoroDoseJob(TABLE))
    settings = Settings(database_url=loaded.url, fluoro_kap_calibration=1.1)
    scaled_job = replace(FluoroDoseJob.from_settings(settings), table=TABLE)
    scaled = compute_organ_doses(loaded, scaled_job)
    assert scaled.method_version != plain.method_version
    rows = _stored(loaded)
    assert set(rows["method"]) == set(METHODS)
    pivot = rows.pivot_table(
        index=["exposure_id", "organ"], columns="method_version", values="dose_gy"
    )
    ratio = pivot[scaled.method_version] / pivot[plain.method_version]
    np.testing.assert_allclose(ratio, 1.1, rtol=1e-12)


def test_compute_cli_with_realisations(
    loaded: Registry,
    table_file: Path,
    key_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOSELINE_DATABASE_URL", loaded.url)
    monkeypatch.setenv("DOSELINE_KEY_FILE", str(key_file))
    store = tmp_path / "realisations"
    args = ["dose", "compute", "--table", str(table_file), "--realisations", "40",
            "--realisations-dir", str(store), "--seed", "5", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = _stored(loaded)
    assert report["realisations"]["rows"] == len(rows) == report["compute"]["rows"]
    path = Path(report["realisations"]["path"])
    assert path.parent == store.resolve() and path.exists()
    with loaded.engine.connect() as connection:
        registered = connection.execute(
            text("SELECT id, uri, n_realisations FROM dose_realisation_set")
        ).all()
    assert [(r.uri, r.n_realisations) for r in registered] == [(str(path), 40)]
    assert (rows["realisation_set_id"] == registered[0].id).all()
    assert (rows["dose_p05_gy"] <= rows["dose_median_gy"]).all()
    assert (rows["dose_median_gy"] <= rows["dose_p95_gy"]).all()
    store_rows = pq.read_table(path).to_pandas()
    one = rows.iloc[len(rows) // 2]
    draws = store_rows[
        (store_rows["exposure_id"] == one["exposure_id"]) & (store_rows["organ"] == one["organ"])
    ]["dose_gy"].to_numpy()
    assert len(draws) == 40
    assert one["dose_p05_gy"] == pytest.approx(np.percentile(draws.astype(float), 5), rel=1e-6)
    assert one["dose_gy"] == pytest.approx(draws.astype(float).mean(), rel=1e-6)
    # a second realisation run starts again from the central doses (not from the means)
    again = realise_organ_doses(loaded, FluoroDoseJob(TABLE), 40, seed=5, directory=store)
    assert again.rows == len(rows)
    pd.testing.assert_series_equal(_stored(loaded)["dose_gy"], rows["dose_gy"])
    bad = CliRunner().invoke(app, ["dose", "compute", "--table", str(tmp_path / "none.npz")])
    assert bad.exit_code == 2 and "none.npz" in bad.output


def test_event_json_equals_the_library(
    table_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOSELINE_FLUORO_TABLE_PMMA_MM", "10")
    args = ["dose", "event", "--age-y", "3", "--sex", "female", "--kvp", "70", "--filter-cu-mm",
            "0.3", "--primary-angle-deg", "-30", "--secondary-angle-deg", "20", "--field-cm",
            "12x10", "--kap-gycm2", "2.5", "--table", str(table_file), "--method", "table",
            "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    event = FluoroEvent(age_y=3.0, sex="female", kvp=70.0, filter_cu_mm=0.3,
                        primary_angle_deg=-30.0, secondary_angle_deg=20.0, field_width_mm=120.0,
                        field_height_mm=100.0, kap_gycm2=2.5)  # fmt: skip
    # the table as the command reads it (responses stored as float32)
    source = replace(ConversionTable.load(table_file), support_pmma_equivalent_mm=10.0)
    expected = event_organ_doses(event.to_frame(), source, DoseFactors(1.0)).iloc[0] * 1e3
    assert set(shown["organ_dose_mgy"]) == set(TABLE.organs) - {"testes", "prostate"}
    for organ, value in shown["organ_dose_mgy"].items():
        assert value == pytest.approx(expected[organ], rel=1e-12)
    assert shown["effective_dose_msv"] == pytest.approx(expected["effective_dose_sv"], rel=1e-12)
    assert shown["factors"]["table_pmma_mm"] == 10.0
    assert shown["clamped_axes"] == []
    for option, value, needle in (
        ("--field-cm", "12", "WIDTHxHEIGHT"),
        ("--field-cm", "0x10", "WIDTHxHEIGHT"),
        ("--sex", "other", "male or female"),
        ("--kvp", "300", "kvp"),
        ("--method", "pcxmc", "table or mc"),
    ):
        changed = [*args]
        changed[changed.index(option) + 1] = value
        bad = CliRunner().invoke(app, changed)
        assert bad.exit_code == 2, (option, value, bad.output)
        assert needle in bad.output


def test_deployment_source_inherent_filtration_is_added_aluminium() -> None:
    # synthetic truth: inherent and added aluminium are the same material in the spectrum
    event = FluoroEvent(age_y=8.0, kvp=80.0, filter_al_mm=0.5, primary_angle_deg=0.0,
                        secondary_angle_deg=0.0, field_width_mm=150.0,
                        field_height_mm=150.0)  # fmt: skip
    frame = event.to_frame()
    shifted = DeploymentSource(SOURCE, inherent_al_mm=INHERENT_AL_MM + 1.0).dose_per_kap(frame)
    direct = SOURCE.dose_per_kap(frame.assign(filter_al_mm=1.5))
    pd.testing.assert_frame_equal(shifted, direct, rtol=1e-12)
    thinner = DeploymentSource(SOURCE, inherent_al_mm=1.0).events(frame)
    assert float(thinner["filter_al_mm"].iloc[0]) == 0.0  # clipped: 0.5 - 1.5 < 0


def test_settings_defaults_are_the_modules_constants() -> None:
    settings = Settings()
    assert settings.fluoro_table_pmma_mm == DEFAULT_TABLE_PMMA_EQUIVALENT_MM
    assert settings.fluoro_inherent_filtration_al_mm == INHERENT_AL_MM
    assert settings.fluoro_kap_calibration == 1.0


def test_event_frame_splits_arcs_and_names_technique_problems(
    sqlite_registry: Registry, cohort_dir: Path
) -> None:
    for folder in sorted(p for p in cohort_dir.iterdir() if p.is_dir())[:1]:
        ingest(sqlite_registry, [folder / "rdsr"], centre=folder.name, jobs=1)
    with sqlite_registry.engine.connect() as connection:
        ids = connection.execute(text("SELECT id FROM exposure")).scalars().all()
        raw = pd.read_sql_query(
            text("SELECT exposure_id, event_type, kap_gycm2 FROM irradiation_event"), connection
        )
        events = event_frame(connection, list(ids))
    # synthetic truth: splitting keeps each exposure's KAP
    np.testing.assert_allclose(
        events.groupby("exposure_id")["kap_gycm2"].sum(),
        raw.groupby("exposure_id")["kap_gycm2"].sum(),
        rtol=1e-12,
    )
    arcs = (raw["event_type"] == "rotational_acquisition").sum()
    assert (events["arc_step"] == ARC_STEPS - 1).sum() == arcs
    optional = ("filter_cu_mm", "filter_al_mm", "distance_source_to_detector_mm",
                "distance_source_to_isocenter_mm")  # fmt: skip
    frame = pd.DataFrame({"kvp": [70.0, np.nan, 200.0, 70.0], "primary_angle_deg": 0.0,
                          "secondary_angle_deg": [0.0, 0.0, 0.0, 120.0], "field_width_mm": 100.0,
                          "field_height_mm": 100.0, **dict.fromkeys(optional, np.nan)})  # fmt: skip
    assert technique_problems(frame).tolist() == ["", "kvp missing", "kvp outside 40-150",
                                                  "secondary_angle_deg outside -90-90"]  # fmt: skip


def test_calendar_era_labels() -> None:
    years = pd.Series([2009.99, 2010.0, 2014.9, np.nan])
    assert calendar_era(years).tolist() == ["2005-2009", "2010-2014", "2010-2014", None]


@pytest.mark.slow
def test_nothing_to_impute_from_is_a_skip_with_its_reason(
    sqlite_registry: Registry, cohort_dir: Path
) -> None:
    _load(sqlite_registry, cohort_dir)
    with sqlite_registry.connect() as connection:
        connection.execute(text("UPDATE exposure SET kap_total_gycm2 = NULL"))
    summary = compute_organ_doses(sqlite_registry, FluoroDoseJob(TABLE))
    reasons = set(summary.skipped["reason"])
    assert reasons == {"no exposure with a KAP to fit the KAP imputation model on"}
    assert summary.exposures["fluoro_imputed"] == 0 and summary.exposures["fluoro_table"] > 0


def test_realisations_of_a_server_registry_need_a_folder() -> None:
    from doseline.dosimetry.fluoro.compute import default_realisations_dir
    from doseline.errors import ConfigurationError

    assert default_realisations_dir("sqlite:///a/b/registry.sqlite").name == "realisations"
    with pytest.raises(ConfigurationError, match="realisations-dir"):
        default_realisations_dir("postgresql+psycopg://u@h/db")


@pytest.mark.slow
def test_event_json_direct_monte_carlo_equals_the_library() -> None:
    # reference: DirectMonteCarlo with the same histories and seed (the transport is seeded)
    args = ["dose", "event", "--age-y", "2", "--sex", "male", "--kvp", "70", "--field-cm",
            "15x15", "--primary-angle-deg", "0", "--secondary-angle-deg", "0", "--kap-gycm2", "2",
            "--method", "mc", "--histories", "5000", "--seed", "3", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    event = FluoroEvent(age_y=2.0, sex="male", kvp=70.0, primary_angle_deg=0.0,
                        secondary_angle_deg=0.0, field_width_mm=150.0, field_height_mm=150.0,
                        kap_gycm2=2.0)  # fmt: skip
    source = DirectMonteCarlo(n_histories=5000, seed=3)
    expected = event_organ_doses(event.to_frame(), source, DoseFactors(1.0)).iloc[0] * 1e3
    assert shown["organ_dose_mgy"]["heart"] == pytest.approx(expected["heart"], rel=1e-12)
    assert shown["effective_dose_msv"] == pytest.approx(expected["effective_dose_sv"], rel=1e-12)
    assert "ovaries" not in shown["organ_dose_mgy"] and shown["histories"] == 5000
