"""Ingest of dose reports into the registry, on SQLite and PostgreSQL.

References: the shared example files (their event counts and totals, checked against OpenREM
in test_rdsr_reference.py) and variants of them made by the tests, whose truth is known by
construction (rdsr_edit.py): a cumulative series of one study, separate partial reports, and
corrupted files.
"""

from __future__ import annotations

import math
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from sqlalchemy import func, select

from conftest import RDSR_DIR, shared_rdsr
from doseline.dicom.rdsr import read_rdsr
from doseline.ingest import IngestOptions, ingest
from doseline.ingest.files import ingest_paths
from doseline.registry.audit import audit_phi
from doseline.registry.database import Registry
from doseline.registry.exposures import (
    DoseReportRecord,
    Exposure,
    accumulated_dose,
    ct_event,
    irradiation_event,
)
from doseline.registry.people import Patient
from rdsr_edit import events, numeric, save, variant

ZEE = "openrem/RF-RDSR-Siemens-Zee.dcm"
TABLES = [
    Patient.__table__,
    Exposure.__table__,
    DoseReportRecord.__table__,
    irradiation_event,
    ct_event,
    accumulated_dose,
]


def counts(registry: Registry) -> dict[str, int]:
    with registry.engine.connect() as connection:
        return {
            t.name: int(connection.execute(select(func.count()).select_from(t)).scalar_one())
            for t in TABLES
        }


def exposure_rows(registry: Registry) -> list[dict[str, object]]:
    with registry.engine.connect() as connection:
        rows = connection.execute(select(Exposure.__table__).order_by(Exposure.id)).mappings()
        return [dict(row) for row in rows]


def test_shared_examples_ingest_once(registry: Registry) -> None:
    if not RDSR_DIR.exists():
        pytest.skip("shared RDSR examples not found")
    summary = ingest_paths(registry, [RDSR_DIR], centre="examples")
    dicom_files = sorted(RDSR_DIR.glob("*/*.dcm"))
    readable = []
    for path in dicom_files:
        try:
            readable.append(read_rdsr(path))
        except Exception:  # the Varic summary report is not an RDSR
            continue
    # Zee_adjusted reuses Zee's SOP Instance UID with other content: a conflict.
    assert summary.imported == len(readable) - 1
    categories = sorted(r.category for r in summary.rejections)
    assert categories == ["conflict", "not a dose report", "not a dose report", "not a dose report"]
    stored = counts(registry)
    imported = [r for r in readable if "Zee_adjusted" not in r.source]
    assert stored["exposure"] == len(imported)
    assert stored["irradiation_event"] == sum(len(r.events) for r in imported)
    assert stored["ct_event"] == sum(len(r.ct_events) for r in imported)
    assert stored["patient"] == len({r.patient.patient_id for r in imported})

    again = ingest_paths(registry, [RDSR_DIR], centre="examples", jobs=2)
    assert again.imported == 0
    assert again.outcomes["duplicate"] == len(imported)
    assert counts(registry) == stored


def test_no_identifier_reaches_the_registry(registry: Registry) -> None:
    if not RDSR_DIR.exists():
        pytest.skip("shared RDSR examples not found")
    ingest_paths(registry, [RDSR_DIR], centre="examples")
    assert audit_phi(registry, sources=[RDSR_DIR]) == []


def test_audit_finds_a_planted_identifier(registry: Registry) -> None:
    """The audit can fail: a patient name written into a text column is found."""
    ingest_paths(registry, [shared_rdsr(ZEE)], centre="examples")
    name = str(pydicom.dcmread(shared_rdsr(ZEE)).PatientName)
    with registry.connect() as connection:
        connection.execute(Exposure.__table__.update().values(procedure_description=name))
    findings = audit_phi(registry, sources=[shared_rdsr(ZEE)])
    assert [(f.table, f.column, f.check) for f in findings] == [
        ("exposure", "procedure_description", "sources")
    ]


def test_cumulative_reports_end_as_one_study(registry: Registry, tmp_path: Path) -> None:
    zee = shared_rdsr(ZEE)
    early = save(variant(zee, keep_events=slice(0, 5), content_time="101800"), tmp_path / "a.dcm")
    late = save(variant(zee, content_time="102600"), tmp_path / "b.dcm")

    first = ingest_paths(registry, [early], centre="c")
    assert first.outcomes["imported"] == 1
    second = ingest_paths(registry, [late], centre="c")
    assert second.outcomes["updated"] == 1
    stored = counts(registry)
    assert stored["exposure"] == 1
    assert stored["irradiation_event"] == 8
    assert exposure_rows(registry)[0]["kap_total_gycm2"] == pytest.approx(0.16, rel=1e-12)

    # The earlier report arriving again, or late, changes nothing.
    assert ingest_paths(registry, [early], centre="c").outcomes["duplicate"] == 1
    assert counts(registry) == stored
    with registry.engine.connect() as connection:
        statuses = sorted(connection.execute(select(DoseReportRecord.status)).scalars())
    assert statuses == ["current", "superseded"]


def test_older_report_after_newer_is_superseded(registry: Registry, tmp_path: Path) -> None:
    zee = shared_rdsr(ZEE)
    early = save(variant(zee, keep_events=slice(0, 5), content_time="101800"), tmp_path / "a.dcm")
    late = save(variant(zee, content_time="102600"), tmp_path / "b.dcm")
    ingest_paths(registry, [late], centre="c")
    summary = ingest_paths(registry, [early], centre="c")
    assert summary.outcomes["superseded"] == 1
    assert counts(registry)["irradiation_event"] == 8


def test_separate_partial_reports_are_merged(registry: Registry, tmp_path: Path) -> None:
    zee = shared_rdsr(ZEE)
    parts = [
        save(variant(zee, keep_events=slice(0, 3), consistent_totals=True), tmp_path / "1.dcm"),
        save(variant(zee, keep_events=slice(3, 8), consistent_totals=True), tmp_path / "2.dcm"),
    ]
    summary = ingest_paths(registry, parts, centre="c")
    assert summary.outcomes["imported"] == 1
    assert summary.outcomes["merged"] == 1
    assert counts(registry)["irradiation_event"] == 8
    dataset = pydicom.dcmread(zee)
    truth = sum(float(numeric(e, "122130").NumericValue) for e in events(dataset)) * 1e4
    assert exposure_rows(registry)[0]["kap_total_gycm2"] == pytest.approx(truth, rel=1e-12)
    assert exposure_rows(registry)[0]["number_of_events"] == 8


def test_overlapping_partial_report_is_a_conflict(registry: Registry, tmp_path: Path) -> None:
    zee = shared_rdsr(ZEE)
    ingest_paths(
        registry, [save(variant(zee, keep_events=slice(0, 5)), tmp_path / "1.dcm")], centre="c"
    )
    before = counts(registry)
    summary = ingest_paths(
        registry, [save(variant(zee, keep_events=slice(3, 8)), tmp_path / "2.dcm")], centre="c"
    )
    assert [r.category for r in summary.rejections] == ["conflict"]
    assert "shares 2 of its 5 irradiation events" in summary.rejections[0].reason
    assert counts(registry) == before


def test_one_uid_with_two_contents_is_a_conflict(registry: Registry, tmp_path: Path) -> None:
    zee = shared_rdsr(ZEE)
    ingest_paths(registry, [zee], centre="c")
    changed = variant(zee, new_sop=False)
    numeric(events(changed)[0], "122130").NumericValue = "2e-006"
    summary = ingest_paths(registry, [save(changed, tmp_path / "changed.dcm")], centre="c")
    assert [r.category for r in summary.rejections] == ["conflict"]
    assert "SOPInstanceUID" in summary.rejections[0].reason


def _ct_image(path: Path) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = pydicom.Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = CTImageStorage
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.PatientID = "SYNTH-CT"
    dataset.save_as(path, enforce_file_format=True)
    return path


def test_bad_files_are_rejected_with_reasons_and_the_rest_goes_on(
    registry: Registry, tmp_path: Path
) -> None:
    zee = shared_rdsr(ZEE)
    data = zee.read_bytes()
    (tmp_path / "truncated.dcm").write_bytes(data[: len(data) // 2])
    _ct_image(tmp_path / "ct_image.dcm")
    unknown_unit = variant(zee)
    events(unknown_unit)[2].ContentSequence[7].MeasuredValueSequence[
        0
    ].MeasurementUnitsCodeSequence[0].CodeValue = "furlong"
    save(unknown_unit, tmp_path / "unknown_unit.dcm")
    negative = variant(zee)
    numeric(events(negative)[1], "122130").NumericValue = "-1e-006"
    save(negative, tmp_path / "negative.dcm")
    no_unit = variant(zee)
    del numeric(events(no_unit)[0], "122130").MeasurementUnitsCodeSequence
    save(no_unit, tmp_path / "no_unit.dcm")
    (tmp_path / "good.dcm").write_bytes(data)

    summary = ingest_paths(registry, [tmp_path], centre="c")
    assert summary.imported == 1
    reasons = {Path(r.source).name: (r.category, r.reason) for r in summary.rejections}
    assert reasons["truncated.dcm"][0] == "malformed DICOM"
    assert reasons["ct_image.dcm"][0] == "not a dose report"
    assert "CT Image Storage" in reasons["ct_image.dcm"][1]
    assert reasons["unknown_unit.dcm"][0] == "unit"
    assert "irradiation event 3" in reasons["unknown_unit.dcm"][1]
    assert "'furlong'" in reasons["unknown_unit.dcm"][1]
    assert reasons["negative.dcm"][0] == "implausible value"
    assert "irradiation event 2: kap_gycm2" in reasons["negative.dcm"][1]
    assert reasons["no_unit.dcm"][0] == "unit"
    assert "no unit" in reasons["no_unit.dcm"][1]
    assert counts(registry)["irradiation_event"] == 8  # only the good file


def test_parallel_ingest_matches_serial(
    database_url: str, tmp_path: Path, pseudonymiser: object
) -> None:
    if not RDSR_DIR.exists():
        pytest.skip("shared RDSR examples not found")
    results = []
    for jobs in (1, 2):
        registry = Registry(
            database_url if jobs == 1 else f"sqlite:///{tmp_path / 'jobs2.sqlite'}",
            pseudonymiser,  # type: ignore[arg-type]
        )
        registry.upgrade()
        registry.check_key()
        ingest_paths(registry, [RDSR_DIR], centre="c", jobs=jobs)
        with registry.engine.connect() as connection:
            rows = connection.execute(
                select(
                    Exposure.study_uid, Exposure.kap_total_gycm2, Exposure.content_hash
                ).order_by(Exposure.study_uid)
            ).all()
        results.append(
            [(r[0], None if r[1] is None or math.isnan(r[1]) else r[1], r[2]) for r in rows]
        )
        registry.dispose()
    assert results[0] == results[1]


def test_ingest_dispatches_tables_and_reports(sqlite_registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text("patient_id,sex,birth_year\nSYNTH-1,F,2015\n")
    (tmp_path / "zee.dcm").write_bytes(shared_rdsr(ZEE).read_bytes())
    summary = ingest(sqlite_registry, [tmp_path], centre="c")
    assert summary.imported >= 1
    assert counts(sqlite_registry)["patient"] == 2


def test_identifiers_link_by_value_unless_scoped_by_issuer(
    registry: Registry, tmp_path: Path
) -> None:
    # The Canon DX and the Eurocolumbus examples share a Patient ID; only the first gives an
    # Issuer of Patient ID ('Random').
    files = [
        shared_rdsr("openrem/DX-RDSR-Canon_CXDI.dcm"),
        shared_rdsr("openrem/RF-RDSR-Eurocolumbus.dcm"),
    ]
    ingest_paths(registry, files, centre="c")
    assert counts(registry)["patient"] == 1
    scoped = Registry(f"sqlite:///{tmp_path / 'scoped.sqlite'}", registry.pseudonymiser)
    scoped.upgrade()
    scoped.check_key()
    ingest_paths(scoped, files, centre="c", options=IngestOptions(link_by_issuer=True))
    assert counts(scoped)["patient"] == 2
    scoped.dispose()


def test_cumulative_dose_over_two_weeks_as_openrem_alerts(
    registry: Registry, tmp_path: Path
) -> None:
    """OpenREM's RFHighDoseAlert test (expected_values.json): the Zee study of 2016-05-12 and its
    copy moved to 2016-05-10 sum to 3.2e-5 Gy.m2 and 0.00504 Gy over two weeks; the earlier one
    alone is 1.6e-5 Gy.m2 and 0.00252 Gy. The copy reuses the original's SOP Instance UID with
    other content, which doseline refuses, so the test gives it a new one."""
    from doseline.registry.queries import cumulative_totals

    adjusted = save(
        variant(shared_rdsr("openrem/RF-RDSR-Siemens-Zee_adjusted.dcm")), tmp_path / "adjusted.dcm"
    )
    summary = ingest_paths(registry, [shared_rdsr(ZEE), adjusted], centre="c")
    assert summary.imported == 2
    totals = cumulative_totals(registry, window_days=14).sort_values("age_at_exposure_days")
    assert list(totals["exposures_in_window"]) == [1, 2]
    assert totals["kap_window_gycm2"].tolist() == pytest.approx([1.6e-5 * 1e4, 3.2e-5 * 1e4])
    assert totals["air_kerma_rp_window_gy"].tolist() == pytest.approx([0.00252, 0.00504])
    assert int(totals["age_at_exposure_days"].diff().iloc[1]) == 2
