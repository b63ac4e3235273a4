"""Tabular ingest (CSV, XLSX, REDCap flat export) against the REDCap data dictionary.

Reference: synthetic records written by these tests, with the truth (pseudonyms from the
deployment key, ages as ``(date - birth_date).days`` computed here with :mod:`datetime`)
stated next to them. Tolerance: exact (integers, and floats that round-trip unchanged).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, text

from conftest import POSTGRES_URL, REQUIRE_POSTGRES, _postgres_database
from doseline.errors import InvalidInputError
from doseline.ingest import dictionary as dictionary_module
from doseline.ingest import tables
from doseline.ingest.dictionary import (
    REDCAP_COLUMNS,
    DataDictionary,
    FieldTypeValues,
    ValidationValues,
    dictionary_csv,
    dictionary_markdown,
    load_dictionary,
    write_redcap_csv,
)
from doseline.ingest.options import IngestOptions
from doseline.ingest.summary import IngestSummary
from doseline.ingest.tables import AGE_OF_DATE, check_routes, ingest_table, recognise_form
from doseline.registry.base import Base
from doseline.registry.database import Registry
from doseline.registry.pseudonym import Pseudonymiser, create_key_file, load_key

TABLES = (
    "centre",
    "patient",
    "exposure",
    "anthropometry",
    "condition",
    "treatment",
    "outcome",
    "follow_up",
)
BIRTH = {"A-1001": date(2010, 3, 4), "A-1002": date(2012, 2, 29), "A-1003": date(2015, 12, 31)}


# SQLite always; PostgreSQL too where one is configured (CI), as conftest's registries do.
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL or REQUIRE_POSTGRES else [])]


@pytest.fixture(params=BACKENDS)
def table_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """A fresh registry (a SQLite file, or a new PostgreSQL database) with a temporary key."""
    key = create_key_file(tmp_path / "keys" / "deployment.key")
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path / 'registry.sqlite'}"])
    else:
        urls = _postgres_database()
    for url in urls:  # one URL; the PostgreSQL database is dropped when the loop ends
        registry = Registry(url, Pseudonymiser(load_key(key)))
        registry.upgrade()
        registry.check_key()
        yield registry
        registry.dispose()


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(["" if value is None else value for value in row] for row in rows)
    return path


def counts(registry: Registry) -> dict[str, int]:
    with registry.connect() as connection:
        return {
            name: connection.execute(
                select(func.count()).select_from(Base.metadata.tables[name])
            ).scalar_one()
            for name in TABLES
        }


def rows(registry: Registry, table: str, order: str = "id") -> list[dict[str, Any]]:
    with registry.connect() as connection:
        result = connection.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))
        return [dict(row._mapping) for row in result]


def everything_stored(registry: Registry) -> str:
    """Every value of every registry table, as text."""
    with registry.connect() as connection:
        return "\n".join(
            repr(tuple(row))
            for table in Base.metadata.sorted_tables
            for row in connection.execute(select(table))
        )


def pseudonym(registry: Registry, patient_id: str, issuer: str | None = None) -> str:
    assert registry.pseudonymiser is not None
    return registry.pseudonymiser.patient(patient_id, issuer)


def patient_ids(registry: Registry) -> dict[str, int]:
    """Registry id of each test patient, found by its pseudonym."""
    stored = {row["pseudonym"]: row["id"] for row in rows(registry, "patient")}
    known = {pid: pseudonym(registry, pid) for pid in BIRTH}
    return {pid: stored[name] for pid, name in known.items() if name in stored}


def age(when: date, patient: str) -> int:
    return (when - BIRTH[patient]).days


def assert_ok(summary: IngestSummary) -> None:
    assert summary.rejections == [], [r.reason for r in summary.rejections]


def patients_csv(path: Path) -> Path:
    return write_csv(
        path / "patients.csv",
        ["patient_id", "sex", "birth_date"],
        [[pid, sex, BIRTH[pid].isoformat()] for pid, sex in zip(BIRTH, "MFO", strict=True)],
    )


PROCEDURE_HEADER = [
    "patient_id",
    "birth_date",
    "record_id",
    "procedure_type",
    "procedure_code",
    "modality",
    "procedure_date",
    "age_at_procedure_days",
    "procedure_weight_kg",
    "procedure_height_cm",
    "kap_gycm2",
    "air_kerma_rp_gy",
    "fluoro_time_s",
    "acquisition_frames",
    "dlp_mgycm",
    "device_manufacturer",
    "device_model",
]


def procedures_csv(path: Path, name: str = "procedures.csv") -> Path:
    return write_csv(
        path / name,
        PROCEDURE_HEADER,
        [
            [
                "A-1001",
                "2010-03-04",
                "CATH-1",
                "interventional_catheterisation",
                "37.21",
                "XA",
                "2010-09-01",
                None,
                7.4,
                66.5,
                12.25,
                0.085,
                310.5,
                1200,
                None,
                "Siemens",
                "Artis zee",
            ],
            [
                "A-1002",
                "2012-02-29",
                "CT-7",
                "ct",
                None,
                "CT",
                "2013-03-01",
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                145.0,
                None,
                None,
            ],
            [
                "A-1003",
                None,
                "OLD-3",
                "diagnostic_catheterisation",
                None,
                None,
                None,
                40,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            ],
            [
                "A-1003",
                None,
                "OLD-4",
                "other",
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            ],
        ],
    )


# -- the data dictionary ----------------------------------------------------------------------


def test_dictionary_has_typed_fields() -> None:
    dictionary = load_dictionary()
    assert dictionary.forms() == (
        "patients",
        "procedures",
        "anthropometry",
        "conditions",
        "treatments",
        "outcomes",
        "follow_up",
    )
    assert dictionary.record_id.name == "patient_id"
    sex = dictionary.field("sex")
    assert sex.field_type is FieldTypeValues.RADIO and sex.codes == ("M", "F", "O")
    weight = dictionary.field("weight_kg")
    assert (weight.validation, weight.minimum, weight.maximum) == (
        ValidationValues.NUMBER,
        0.2,
        650,
    )
    birth = dictionary.field("birth_date")
    assert birth.identifier and birth.minimum == date(1900, 1, 1)
    assert dictionary.field("record_id").required
    assert [f.name for f in dictionary.fields_of("anthropometry")] == [
        "measurement_date",
        "age_days",
        "weight_kg",
        "height_cm",
    ]
    with pytest.raises(KeyError, match="no form"):
        dictionary.fields_of("nope")


def test_dictionary_writes_back_as_redcap_csv(tmp_path: Path) -> None:
    shipped = Path(dictionary_module.__file__).parent.parent / "data" / "data_dictionary.csv"
    written = tmp_path / "dictionary.csv"
    write_redcap_csv(written)
    assert written.read_text(encoding="utf-8") == shipped.read_text(encoding="utf-8")
    assert load_dictionary(written).fields == load_dictionary().fields
    lines = list(csv.reader(io.StringIO(dictionary_csv(form="follow_up"))))
    assert tuple(lines[0]) == REDCAP_COLUMNS
    assert [line[0] for line in lines[1:]] == [
        f.name for f in load_dictionary().fields_of("follow_up")
    ]
    assert {line[1] for line in lines[1:]} == {"follow_up"}


def test_dictionary_markdown_lists_every_field() -> None:
    table = dictionary_markdown()
    for definition in load_dictionary().fields:
        assert f"| {definition.form} | `{definition.name}` |" in table
    assert "| procedures | `kap_gycm2` | number | 0 to 50000 |" in table


def test_documentation_shows_the_current_dictionary() -> None:
    docs = Path(__file__).parent.parent / "docs" / "data_dictionary.md"
    assert dictionary_markdown() in docs.read_text(encoding="utf-8")


def test_every_field_has_one_route_and_identifiers_are_never_stored() -> None:
    dictionary = load_dictionary()
    check_routes(dictionary)
    transformed = {"patient_id", "issuer_of_patient_id", "birth_date", "record_id", *AGE_OF_DATE}
    assert {f.name for f in dictionary.fields if f.identifier} <= transformed


def test_a_field_without_a_route_is_refused() -> None:
    dictionary = load_dictionary()
    extra = dataclasses.replace(dictionary.field("agent"), name="new_field")
    with pytest.raises(Exception, match="new_field"):
        check_routes(DataDictionary([*dictionary.fields, extra]))


# -- each form lands in its table -------------------------------------------------------------


def test_patients_are_pseudonymised_and_birth_date_reduced(
    table_registry: Registry, tmp_path: Path
) -> None:
    summary = ingest_table(table_registry, patients_csv(tmp_path), centre="Oslo")
    assert_ok(summary)
    assert summary.outcomes["imported:patients"] == 3
    stored = {row["pseudonym"]: row for row in rows(table_registry, "patient")}
    for pid, sex in zip(BIRTH, "MFO", strict=True):
        row = stored[pseudonym(table_registry, pid)]
        assert (row["sex"], row["birth_year"], row["birth_month"]) == (
            sex,
            BIRTH[pid].year,
            BIRTH[pid].month,
        )
    dump = everything_stored(table_registry)
    for pid, birth in BIRTH.items():
        assert pid not in dump and birth.isoformat() not in dump


def test_birth_year_and_month_without_a_date(table_registry: Registry, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "p.csv",
        ["patient_id", "issuer_of_patient_id", "birth_year", "birth_month"],
        [["77", "Hospital B", 2001, 7]],
    )
    assert_ok(ingest_table(table_registry, path, centre="Oslo"))
    (row,) = rows(table_registry, "patient")
    assert row["pseudonym"] == pseudonym(table_registry, "77")  # linked by value by default
    assert (row["birth_year"], row["birth_month"], row["sex"]) == (2001, 7, None)


def test_procedures_become_legacy_exposures(table_registry: Registry, tmp_path: Path) -> None:
    summary = ingest_table(table_registry, procedures_csv(tmp_path), centre="Oslo")
    assert_ok(summary)
    assert summary.outcomes["imported:procedures"] == 4
    ids = patient_ids(table_registry)
    assert table_registry.pseudonymiser is not None
    record = {
        table_registry.pseudonymiser.text(r, "legacy record"): r
        for r in ("CATH-1", "CT-7", "OLD-3", "OLD-4")
    }
    stored = {record[row["legacy_record_id"]]: row for row in rows(table_registry, "exposure")}
    cath = stored["CATH-1"]
    assert cath["patient_id"] == ids["A-1001"]
    assert (cath["era"], cath["procedure_type"], cath["procedure_code"], cath["modality"]) == (
        "legacy",
        "interventional_catheterisation",
        "37.21",
        "XA",
    )
    assert cath["age_at_exposure_days"] == age(date(2010, 9, 1), "A-1001") == 181
    assert cath["age_precision"] == "day" and cath["device_key"] == ""
    assert (cath["weight_kg"], cath["height_cm"], cath["kap_total_gycm2"]) == (7.4, 66.5, 12.25)
    assert (cath["air_kerma_rp_total_gy"], cath["fluoro_time_total_s"]) == (0.085, 310.5)
    assert (cath["acquisition_frames_total"], cath["dlp_total_mgycm"]) == (1200, None)
    assert (cath["device_manufacturer"], cath["device_model"]) == ("Siemens", "Artis zee")
    ct = stored["CT-7"]
    assert ct["age_at_exposure_days"] == age(date(2013, 3, 1), "A-1002") == 366
    assert ct["dlp_total_mgycm"] == 145.0
    assert stored["OLD-3"]["age_at_exposure_days"] == 40
    assert stored["OLD-4"]["age_at_exposure_days"] is None
    assert stored["OLD-4"]["age_precision"] is None
    (body,) = rows(table_registry, "anthropometry")
    assert body == {
        "id": body["id"],
        "patient_id": ids["A-1001"],
        "age_days": 181,
        "weight_kg": 7.4,
        "height_cm": 66.5,
        "source": "table",
    }
    centre = rows(table_registry, "centre")
    assert [c["name"] for c in centre] == ["Oslo"] and cath["centre_id"] == centre[0]["id"]


def test_anthropometry_rows(table_registry: Registry, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "a.csv",
        ["patient_id", "birth_date", "measurement_date", "age_days", "weight_kg", "height_cm"],
        [
            ["A-1001", "2010-03-04", "2011-03-04", None, 9.6, 75.0],
            ["A-1002", None, None, 1000, None, 95.5],
        ],
    )
    assert_ok(ingest_table(table_registry, path, centre="Oslo"))
    ids = patient_ids(table_registry)
    got = [
        (r["patient_id"], r["age_days"], r["weight_kg"], r["height_cm"], r["source"])
        for r in rows(table_registry, "anthropometry")
    ]
    assert got == [
        (ids["A-1001"], 365, 9.6, 75.0, "table"),
        (ids["A-1002"], 1000, None, 95.5, "table"),
    ]


def test_conditions_treatments_outcomes_follow_up(table_registry: Registry, tmp_path: Path) -> None:
    birth = ["birth_date"]
    files: dict[str, tuple[list[str], list[list[object]]]] = {
        "conditions": (
            [
                "patient_id",
                *birth,
                "condition_icd10",
                "onset_date",
                "age_at_onset_days",
                "condition_description",
            ],
            [
                ["A-1001", "2010-03-04", "Q90.9", None, 0, "Down syndrome"],
                ["A-1002", None, "z94.1", None, None, None],
            ],
        ),
        "treatments": (
            [
                "patient_id",
                *birth,
                "treatment_type",
                "agent",
                "cumulative_dose",
                "cumulative_dose_unit",
                "start_date",
                "end_date",
            ],
            [
                [
                    "A-1001",
                    "2010-03-04",
                    "chemotherapy",
                    "doxorubicin",
                    240,
                    "mg/m2",
                    "2012-03-04",
                    "2012-09-04",
                ]
            ],
        ),
        "outcomes": (
            [
                "patient_id",
                *birth,
                "outcome_type",
                "outcome_icd10",
                "icdo3_topography",
                "icdo3_morphology",
                "diagnosis_date",
                "outcome_source",
            ],
            [
                [
                    "A-1001",
                    "2010-03-04",
                    "cancer",
                    "C71.9",
                    "C71.9",
                    "9440/3",
                    "2020-01-15",
                    "national cancer registry",
                ],
                ["A-1002", None, "circulatory", "I42.0", None, None, None, None],
            ],
        ),
        "follow_up": (
            [
                "patient_id",
                *birth,
                "vital_status",
                "last_contact_date",
                "death_date",
                "cause_of_death_icd10",
                "follow_up_source",
            ],
            [
                ["A-1001", "2010-03-04", "dead", None, "2021-06-01", "C71.9", "death registry"],
                ["A-1002", "2012-02-29", "alive", "2024-02-29", None, None, "death registry"],
            ],
        ),
    }
    for form, (header, data) in files.items():
        summary = ingest_table(
            table_registry, write_csv(tmp_path / f"{form}.csv", header, data), centre="Oslo"
        )
        assert_ok(summary)
        assert summary.outcomes[f"imported:{form}"] == len(data)
    ids = patient_ids(table_registry)
    one, two = ids["A-1001"], ids["A-1002"]
    conditions = [
        (r["patient_id"], r["icd10_code"], r["age_at_onset_days"], r["description"])
        for r in rows(table_registry, "condition")
    ]
    assert conditions == [(one, "Q90.9", 0, "Down syndrome"), (two, "Z94.1", None, None)]
    (treatment,) = rows(table_registry, "treatment")
    assert treatment["patient_id"] == one
    assert (
        treatment["treatment_type"],
        treatment["agent"],
        treatment["cumulative_dose"],
        treatment["cumulative_dose_unit"],
    ) == ("chemotherapy", "doxorubicin", 240.0, "mg/m2")
    assert (treatment["age_at_start_days"], treatment["age_at_end_days"]) == (
        age(date(2012, 3, 4), "A-1001"),
        age(date(2012, 9, 4), "A-1001"),
    )
    outcomes = [
        (
            r["patient_id"],
            r["outcome_type"],
            r["icd10_code"],
            r["icdo3_topography"],
            r["icdo3_morphology"],
            r["age_at_diagnosis_days"],
            r["source"],
        )
        for r in rows(table_registry, "outcome")
    ]
    assert outcomes == [
        (
            one,
            "cancer",
            "C71.9",
            "C71.9",
            "9440/3",
            age(date(2020, 1, 15), "A-1001"),
            "national cancer registry",
        ),
        (two, "circulatory", "I42.0", None, None, None, None),
    ]
    follow = [
        (
            r["patient_id"],
            r["vital_status"],
            r["age_at_last_contact_days"],
            r["age_at_death_days"],
            r["cause_of_death_icd10"],
            r["source"],
        )
        for r in rows(table_registry, "follow_up")
    ]
    died = age(date(2021, 6, 1), "A-1001")
    assert follow == [
        (one, "dead", died, died, "C71.9", "death registry"),
        (two, "alive", age(date(2024, 2, 29), "A-1002"), None, None, "death registry"),
    ]


def test_ages_are_days_since_birth_across_leap_years(
    table_registry: Registry, tmp_path: Path
) -> None:
    dates = [date(2012, 2, 29), date(2012, 3, 1), date(2013, 2, 28), date(2016, 2, 29)]
    path = write_csv(
        tmp_path / "a.csv",
        ["patient_id", "birth_date", "measurement_date", "weight_kg"],
        [["A-1002", "2012-02-29", when.isoformat(), 3.5 + n] for n, when in enumerate(dates)],
    )
    assert_ok(ingest_table(table_registry, path, centre="Oslo"))
    assert [r["age_days"] for r in rows(table_registry, "anthropometry")] == [0, 1, 365, 1461]


# -- layouts ---------------------------------------------------------------------------------


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    book = Workbook()
    book.remove(book.active)
    for name, cells in sheets.items():
        sheet = book.create_sheet(name)
        for row in cells:
            sheet.append(row)
    book.save(path)
    return path


def full_workbook(path: Path) -> Path:
    return workbook(
        path,
        {
            "patients": [
                ["patient_id", "sex", "birth_date"],
                ["A-1001", "M", datetime(2010, 3, 4)],
                ["A-1002", "F", datetime(2012, 2, 29)],
            ],
            "procedures": [
                [
                    "patient_id",
                    "record_id",
                    "procedure_type",
                    "procedure_date",
                    "kap_gycm2",
                    "acquisition_frames",
                ],
                ["A-1001", "XL-1", "diagnostic_catheterisation", datetime(2011, 3, 4), 3.5, 400],
                ["A-1002", 5521, "ct", datetime(2012, 3, 30), None, None],
            ],
            "conditions": [
                ["patient_id", "condition_icd10", "onset_date"],
                ["A-1001", "Q90", datetime(2010, 3, 4)],
            ],
            "follow_up": [
                ["patient_id", "vital_status", "age_at_last_contact_days", "follow_up_source"],
                ["A-1002", "alive", 4000, "hospital"],
            ],
        },
    )


def test_xlsx_workbook_with_several_sheets(table_registry: Registry, tmp_path: Path) -> None:
    summary = ingest_table(table_registry, full_workbook(tmp_path / "cohort.xlsx"), centre="Oslo")
    assert_ok(summary)
    assert summary.outcomes["imported"] == 6
    assert counts(table_registry) | {"centre": 1} == {
        "centre": 1,
        "patient": 2,
        "exposure": 2,
        "anthropometry": 0,
        "condition": 1,
        "treatment": 0,
        "outcome": 0,
        "follow_up": 1,
    }
    ages = sorted(r["age_at_exposure_days"] for r in rows(table_registry, "exposure"))
    assert ages == sorted([age(date(2011, 3, 4), "A-1001"), age(date(2012, 3, 30), "A-1002")])
    assert table_registry.pseudonymiser is not None
    records = {r["legacy_record_id"] for r in rows(table_registry, "exposure")}
    assert table_registry.pseudonymiser.text("5521", "legacy record") in records
    (condition,) = rows(table_registry, "condition")
    assert (condition["icd10_code"], condition["age_at_onset_days"]) == ("Q90", 0)


def test_xlsx_is_all_or_nothing_and_names_the_sheet(
    table_registry: Registry, tmp_path: Path
) -> None:
    path = workbook(
        tmp_path / "bad.xlsx",
        {
            "patients": [["patient_id", "sex"], ["A-1001", "M"]],
            "conditions": [["patient_id", "condition_icd10"], ["A-1001", "Q90"], ["A-1001", "Q9"]],
        },
    )
    before = counts(table_registry)
    summary = ingest_table(table_registry, path, centre="Oslo")
    assert counts(table_registry) == before
    (rejection,) = summary.rejections
    assert "bad.xlsx: sheet conditions, row 3: condition_icd10: 'Q9' is not an ICD-10 code" in (
        rejection.reason
    )


def test_xlsx_sheet_not_named_after_a_form(table_registry: Registry, tmp_path: Path) -> None:
    path = workbook(tmp_path / "s.xlsx", {"Sheet1": [["patient_id"], ["A-1001"]]})
    summary = ingest_table(table_registry, path, centre="Oslo")
    (rejection,) = summary.rejections
    assert "sheet Sheet1, row 1: the sheet is not named after a form" in rejection.reason
    assert counts(table_registry)["patient"] == 0


REDCAP_HEADER = [
    "patient_id",
    "redcap_repeat_instrument",
    "redcap_repeat_instance",
    "sex",
    "birth_date",
    "patients_complete",
    "record_id",
    "procedure_type",
    "procedure_date",
    "kap_gycm2",
    "procedures_complete",
    "condition_icd10",
    "age_at_onset_days",
    "conditions_complete",
    "vital_status",
    "age_at_last_contact_days",
    "follow_up_source",
    "follow_up_complete",
]


def redcap_export(path: Path) -> Path:
    def row(
        pid: str, instrument: str = "", instance: object = "", **values: object
    ) -> list[object]:
        cells = {
            "patient_id": pid,
            "redcap_repeat_instrument": instrument,
            "redcap_repeat_instance": instance,
            **values,
        }
        return [cells.get(name, "") for name in REDCAP_HEADER]

    return write_csv(
        path,
        REDCAP_HEADER,
        [
            # follow_up is not repeating in this project: its fields sit on the patient's row
            row(
                "A-1001",
                sex="M",
                birth_date="2010-03-04",
                patients_complete=2,
                vital_status="alive",
                age_at_last_contact_days=5000,
                follow_up_source="hospital",
            ),
            row(
                "A-1001",
                "procedures",
                1,
                record_id="R-1",
                procedure_type="ct",
                procedure_date="2010-04-04",
                kap_gycm2="",
                procedures_complete=2,
            ),
            row(
                "A-1001",
                "procedures",
                2,
                record_id="R-2",
                procedure_type="radiography",
                procedure_date="2011-04-04",
                procedures_complete=2,
            ),
            row("A-1001", "conditions", 1, condition_icd10="Q90.9", age_at_onset_days=0),
            row("A-1003", sex="O", birth_date="2015-12-31", patients_complete=1),
            row(
                "A-1003",
                "procedures",
                1,
                record_id="R-9",
                procedure_type="other",
                procedure_date="2016-01-30",
                kap_gycm2=2.5,
            ),
        ],
    )


def test_redcap_flat_export(table_registry: Registry, tmp_path: Path) -> None:
    summary = ingest_table(table_registry, redcap_export(tmp_path / "export.csv"), centre="Oslo")
    assert_ok(summary)
    assert (
        summary.outcomes["imported:patients"],
        summary.outcomes["imported:procedures"],
        summary.outcomes["imported:conditions"],
        summary.outcomes["imported:follow_up"],
    ) == (2, 3, 1, 1)
    ids = patient_ids(table_registry)
    exposures = sorted(
        (r["patient_id"], r["age_at_exposure_days"], r["kap_total_gycm2"])
        for r in rows(table_registry, "exposure")
    )
    assert exposures == sorted(
        [
            (ids["A-1001"], age(date(2010, 4, 4), "A-1001"), None),
            (ids["A-1001"], age(date(2011, 4, 4), "A-1001"), None),
            (ids["A-1003"], age(date(2016, 1, 30), "A-1003"), 2.5),
        ]
    )
    (follow,) = rows(table_registry, "follow_up")
    assert (follow["patient_id"], follow["age_at_last_contact_days"]) == (ids["A-1001"], 5000)


def test_redcap_export_with_an_unknown_instrument(table_registry: Registry, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "e.csv",
        REDCAP_HEADER[:4],
        [["A-1001", "", "", "M"], ["A-1001", "visits", 1, ""], ["A-1001", "procedures", "", ""]],
    )
    reasons = [r.reason for r in ingest_table(table_registry, path, centre="Oslo").rejections]
    assert any(
        "row 3: redcap_repeat_instrument: 'visits' is not a repeating form" in r for r in reasons
    )
    assert any(
        "row 4: redcap_repeat_instance: a repeating form needs an instance" in r for r in reasons
    )
    assert any("the procedures table has no record_id column" in r for r in reasons)
    assert counts(table_registry)["patient"] == 0


def test_redcap_row_may_only_fill_its_own_form(table_registry: Registry, tmp_path: Path) -> None:
    header = [*REDCAP_HEADER[:3], "record_id", "procedure_type", "condition_icd10"]
    path = write_csv(
        tmp_path / "e.csv",
        header,
        [
            ["A-1001", "", "", "", "", ""],
            ["A-1001", "procedures", 1, "R-1", "ct", "Q90"],
            ["A-1001", "procedures", 1, "R-2", "ct", ""],
        ],
    )
    reasons = [r.reason for r in ingest_table(table_registry, path, centre="Oslo").rejections]
    assert any(
        "row 3: condition_icd10: a field of form conditions is filled on a row of form "
        "procedures" in r
        for r in reasons
    )
    assert any(
        "row 4: redcap_repeat_instance: this instance of the form is on an earlier row" in r
        for r in reasons
    )
    assert sum(counts(table_registry).values()) == 0


def test_form_recognition(table_registry: Registry, tmp_path: Path) -> None:
    dictionary = load_dictionary()
    for form in dictionary.forms():
        own = [f.name for f in dictionary.fields_of(form) if f.name != "patient_id"]
        assert recognise_form(["patient_id", "birth_date", *own[:2]]) == form
    assert recognise_form(["patient_id"]) == "patients"
    with pytest.raises(
        InvalidInputError,
        match=r"several forms: procedures \(kap_gycm2\); "
        r"anthropometry \(weight_kg\)",
    ):
        recognise_form(["patient_id", "kap_gycm2", "weight_kg"])
    with pytest.raises(InvalidInputError, match="not in the data dictionary: colour"):
        recognise_form(["patient_id", "colour"])
    path = write_csv(
        tmp_path / "t.csv",
        ["patient_id", "treatment_type", "age_at_start_days"],
        [["A-1001", "transplant", 100]],
    )
    assert ingest_table(table_registry, path, centre="Oslo").outcomes["imported:treatments"] == 1
    assert counts(table_registry)["treatment"] == 1


def test_ambiguous_columns_are_refused(table_registry: Registry, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "m.csv", ["patient_id", "kap_gycm2", "weight_kg"], [["A-1001", 1, 2]]
    )
    (rejection,) = ingest_table(table_registry, path, centre="Oslo").rejections
    assert "m.csv: row 1: the columns belong to several forms" in rejection.reason
    assert sum(counts(table_registry).values()) == 0


def test_given_form_names_columns_of_other_forms(table_registry: Registry, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "x.csv", ["patient_id", "weight_kg", "kap_gycm2"], [["A-1001", 2, 1]]
    )
    summary = ingest_table(table_registry, path, centre="Oslo", form="anthropometry")
    reasons = [r.reason for r in summary.rejections]
    assert any(
        "row 1: kap_gycm2: the column is a field of form procedures, not of anthropometry" in r
        for r in reasons
    )
    with pytest.raises(InvalidInputError, match="no form 'visits'"):
        ingest_table(table_registry, path, centre="Oslo", form="visits")
    book = full_workbook(tmp_path / "cohort.xlsx")
    with pytest.raises(InvalidInputError, match="form= is for a CSV"):
        ingest_table(table_registry, book, centre="Oslo", form="patients")


# -- bad input -------------------------------------------------------------------------------

BAD_INPUTS = {
    "bad date": (
        ["patient_id", "birth_date", "record_id", "procedure_type", "procedure_date"],
        [["A-1", "2010-01-01", "R1", "ct", "2010-02-30"]],
        "row 2: procedure_date: the value is not a date written YYYY-MM-DD",
    ),
    "date out of range": (
        ["patient_id", "birth_date", "sex"],
        [["A-1", "1899-12-31", "M"]],
        "row 2: birth_date: the value is below the minimum 1900-01-01",
    ),
    "out-of-range number": (
        ["patient_id", "weight_kg", "age_days"],
        [["A-1", "700", "3"]],
        "row 2: weight_kg: '700' is above the maximum 650",
    ),
    "not a number": (
        ["patient_id", "height_cm", "age_days"],
        [["A-1", "1,20", "3"]],
        "row 2: height_cm: '1,20' is not a number",
    ),
    "not an integer": (
        ["patient_id", "weight_kg", "age_days"],
        [["A-1", "3", "3.5"]],
        "row 2: age_days: '3.5' is not an integer",
    ),
    "bad choice": (
        ["patient_id", "sex"],
        [["A-1", "male"]],
        "row 2: sex: 'male' is not one of the codes M, F, O",
    ),
    "bad ICD-10": (
        ["patient_id", "condition_icd10"],
        [["A-1", "Q9"]],
        "row 2: condition_icd10: 'Q9' is not an ICD-10 code",
    ),
    "bad ICD-O-3 topography": (
        ["patient_id", "outcome_type", "icdo3_topography"],
        [["A-1", "cancer", "C81.0"]],
        "row 2: icdo3_topography: 'C81.0' is not an ICD-O-3 topography",
    ),
    "bad ICD-O-3 morphology": (
        ["patient_id", "outcome_type", "icdo3_morphology"],
        [["A-1", "cancer", "9440-3"]],
        "row 2: icdo3_morphology: '9440-3' is not an ICD-O-3 morphology",
    ),
    "missing required field": (
        ["patient_id", "treatment_type", "agent"],
        [["A-1", "", "x"]],
        "row 2: treatment_type: a value is required",
    ),
    "missing record id": (
        ["patient_id", "record_id", "procedure_type"],
        [["", "R", "ct"]],
        "row 2: patient_id: a value is required",
    ),
    "missing required column": (
        ["patient_id", "procedure_type"],
        [["A-1", "ct"]],
        "row 1: record_id: the procedures table has no record_id column",
    ),
    "unknown column": (
        ["patient_id", "sex", "favourite_colour"],
        [["A-1", "M", "blue"]],
        "row 1: favourite_colour: the column is not a field of the data dictionary",
    ),
    "duplicate record id": (
        ["patient_id", "record_id", "procedure_type"],
        [["A-1", "R1", "ct"], ["A-2", "R2", "ct"], ["A-1", "R1", "other"]],
        "row 4: record_id: the record appears twice in the file (first on row 2)",
    ),
    "duplicate patient": (
        ["patient_id", "sex"],
        [["A-1", "M"], ["A-1", "F"]],
        "row 3: patient_id: the record appears twice in the file (first on row 2)",
    ),
    "date without birth date": (
        ["patient_id", "condition_icd10", "onset_date"],
        [["A-1", "Q90", "2011-01-01"]],
        "row 2: onset_date: a date needs the patient's birth_date",
    ),
    "negative age": (
        ["patient_id", "birth_date", "vital_status", "last_contact_date", "follow_up_source"],
        [["A-1", "2011-01-02", "alive", "2011-01-01", "registry"]],
        "row 2: last_contact_date: the date is before the birth date",
    ),
    "age disagrees with date": (
        ["patient_id", "birth_date", "measurement_date", "age_days", "weight_kg"],
        [["A-1", "2011-01-01", "2011-01-11", "9", "4"]],
        "row 2: age_days: '9' disagrees with measurement_date (10 days",
    ),
    "death of the living": (
        [
            "patient_id",
            "vital_status",
            "age_at_last_contact_days",
            "age_at_death_days",
            "follow_up_source",
        ],
        [["A-1", "alive", "100", "90", "registry"]],
        "row 2: vital_status: death details are given but vital_status",
    ),
    "treatment ends before it starts": (
        ["patient_id", "treatment_type", "age_at_start_days", "age_at_end_days"],
        [["A-1", "other", "10", "5"]],
        "row 2: age_at_end_days: the treatment ends before",
    ),
    "anthropometry without age": (
        ["patient_id", "weight_kg"],
        [["A-1", "4"]],
        "row 2: age_days: an age is required",
    ),
    "text too long": (
        ["patient_id", "treatment_type", "agent"],
        [["A-1", "other", "x" * 65]],
        "row 2: agent: the text is longer than 64 characters",
    ),
    "birth year disagrees": (
        ["patient_id", "birth_date", "birth_year"],
        [["A-1", "2010-05-05", "2011"]],
        "row 2: birth_year: birth_year disagrees with birth_date",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_rejected_whole(table_registry: Registry, tmp_path: Path, case: str) -> None:
    assert_ok(ingest_table(table_registry, patients_csv(tmp_path), centre="Oslo"))
    header, data, expected = BAD_INPUTS[case]
    good = [["A-1001", *([""] * (len(header) - 1))]] if case == "duplicate patient" else []
    path = write_csv(tmp_path / "bad.csv", header, [*data, *good])
    before = counts(table_registry)
    summary = ingest_table(table_registry, path, centre="Oslo")
    assert counts(table_registry) == before
    assert summary.imported == 0 and summary.rejected >= 1
    reasons = [rejection.reason for rejection in summary.rejections]
    assert any(reason.startswith(f"{path}: {expected}") for reason in reasons), reasons


def test_all_problems_of_a_file_are_listed(table_registry: Registry, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "many.csv",
        ["patient_id", "birth_date", "record_id", "procedure_type", "kap_gycm2", "modality"],
        [
            ["A-1001", "2010-03-04", "R1", "ct", "1.5", "CT"],
            [],  # a blank line: rows keep the numbers a spreadsheet shows
            ["A-1002", "2012-02-30", "R2", "ct", "-3", "CT"],
            ["A-1003", "", "R3", "scan", "abc", "MR"],
        ],
    )
    summary = ingest_table(table_registry, path, centre="Oslo")
    got = sorted((r.reason.split(": ")[1], r.reason.split(": ")[2]) for r in summary.rejections)
    assert got == [
        ("row 4", "birth_date"),
        ("row 4", "kap_gycm2"),
        ("row 5", "kap_gycm2"),
        ("row 5", "modality"),
        ("row 5", "procedure_type"),
    ]
    assert {r.category for r in summary.rejections} == {"invalid input"}
    assert sum(counts(table_registry).values()) == 0
    for rejection in summary.rejections:  # identifiers are never echoed
        assert "A-100" not in rejection.reason and "2012-02-30" not in rejection.reason


def test_unreadable_file(table_registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"not a zip file")
    (rejection,) = ingest_table(table_registry, path, centre="Oslo").rejections
    assert rejection.category == "unreadable" and "broken.xlsx" in rejection.reason
    assert sum(counts(table_registry).values()) == 0


def test_plausibility_limits_apply(
    table_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a dictionary range, doseline.plausibility still refuses or drops a value."""
    shipped = load_dictionary()
    loose = {"kap_gycm2", "procedure_weight_kg"}
    fields = [
        dataclasses.replace(f, minimum=None, maximum=None) if f.name in loose else f
        for f in shipped.fields
    ]
    monkeypatch.setattr(tables, "load_dictionary", lambda: DataDictionary(fields))
    header = ["patient_id", "record_id", "procedure_type", "kap_gycm2", "procedure_weight_kg"]
    bad = write_csv(tmp_path / "kap.csv", header, [["A-1001", "R1", "ct", "60000", ""]])
    (rejection,) = ingest_table(table_registry, bad, centre="Oslo").rejections
    assert rejection.category == "implausible value"
    assert "row 2: kap_gycm2: 60000 is outside [0, 50000]" in rejection.reason
    dropped = write_csv(tmp_path / "w.csv", header, [["A-1001", "R1", "ct", "5", "0"]])
    summary = ingest_table(table_registry, dropped, centre="Oslo")
    assert_ok(summary)
    assert "row 2: procedure_weight_kg: 0 is outside (0, 650]" in summary.warnings[0]
    (exposure,) = rows(table_registry, "exposure")
    assert (exposure["kap_total_gycm2"], exposure["weight_kg"]) == (5.0, None)


# -- re-import, linkage, conflicts -----------------------------------------------------------


def test_reimport_is_a_no_op(table_registry: Registry, tmp_path: Path) -> None:
    files = [
        full_workbook(tmp_path / "cohort.xlsx"),
        redcap_export(tmp_path / "export.csv"),
        procedures_csv(tmp_path),
    ]
    first = [ingest_table(table_registry, path, centre="Oslo") for path in files]
    for summary in first:
        assert_ok(summary)
    after_first = counts(table_registry)
    again = [ingest_table(table_registry, path, centre="Oslo") for path in files]
    assert counts(table_registry) == after_first
    for summary in again:
        assert_ok(summary)
        assert summary.imported == 0 and summary.outcomes["updated"] == 0
    assert again[0].duplicates == first[0].imported == 6


def test_rows_with_null_keys_are_duplicates_on_reimport(
    table_registry: Registry, tmp_path: Path
) -> None:
    """SQL UNIQUE lets NULLs repeat: the check must treat a missing onset age as equal."""
    path = write_csv(
        tmp_path / "c.csv",
        ["patient_id", "condition_icd10"],
        [["A-1001", "Z94.1"], ["A-1001", "Z94.1"], ["A-1002", "Z94.1"]],
    )
    first = ingest_table(table_registry, path, centre="Oslo")
    assert (first.imported, first.duplicates) == (2, 1)
    second = ingest_table(table_registry, path, centre="Oslo")
    assert (second.imported, second.duplicates) == (0, 3)
    assert counts(table_registry)["condition"] == 2


def test_same_patient_in_two_files_links(table_registry: Registry, tmp_path: Path) -> None:
    assert_ok(ingest_table(table_registry, patients_csv(tmp_path), centre="Oslo"))
    assert_ok(ingest_table(table_registry, procedures_csv(tmp_path), centre="Bergen"))
    path = write_csv(tmp_path / "c.csv", ["patient_id", "condition_icd10"], [["A-1001", "Q90"]])
    assert_ok(ingest_table(table_registry, path, centre="Oslo"))
    assert counts(table_registry)["patient"] == 3
    ids = patient_ids(table_registry)
    assert {r["patient_id"] for r in rows(table_registry, "exposure")} == set(ids.values())
    assert rows(table_registry, "condition")[0]["patient_id"] == ids["A-1001"]
    scoped = write_csv(
        tmp_path / "s.csv",
        ["patient_id", "issuer_of_patient_id", "condition_icd10"],
        [["A-1001", "Hospital B", "Q90"]],
    )
    assert_ok(ingest_table(table_registry, scoped, centre="Bergen"))
    assert counts(table_registry)["patient"] == 3  # identifiers link by value by default
    options = IngestOptions(link_by_issuer=True)
    assert_ok(ingest_table(table_registry, scoped, centre="Bergen", options=options))
    assert counts(table_registry)["patient"] == 4  # scoped by issuer: another child
    assert pseudonym(table_registry, "A-1001", "Hospital B") in {
        r["pseudonym"] for r in rows(table_registry, "patient")
    }


def test_patient_details_are_filled_not_overwritten(
    table_registry: Registry, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "c.csv", ["patient_id", "condition_icd10"], [["A-1001", "Q90"]])
    assert_ok(ingest_table(table_registry, path, centre="Oslo"))
    summary = ingest_table(table_registry, patients_csv(tmp_path), centre="Oslo")
    assert (summary.outcomes["updated:patients"], summary.outcomes["imported:patients"]) == (1, 2)
    other = write_csv(tmp_path / "p2.csv", ["patient_id", "sex"], [["A-1001", "F"]])
    summary = ingest_table(table_registry, other, centre="Oslo")
    assert (summary.outcomes["updated"], summary.outcomes["duplicate:patients"]) == (0, 1)
    assert "sex: 'F' differs from the registry's 'M'" in summary.warnings[0]
    stored = {r["pseudonym"]: r for r in rows(table_registry, "patient")}
    assert stored[pseudonym(table_registry, "A-1001")]["sex"] == "M"


def test_changed_procedure_is_a_conflict(table_registry: Registry, tmp_path: Path) -> None:
    assert_ok(ingest_table(table_registry, procedures_csv(tmp_path), centre="Oslo"))
    before = counts(table_registry)
    changed = procedures_csv(tmp_path, "changed.csv")
    text_before = changed.read_text(encoding="utf-8")
    changed.write_text(text_before.replace("12.25", "13.25"), encoding="utf-8")
    summary = ingest_table(table_registry, changed, centre="Oslo")
    assert counts(table_registry) == before
    (rejection,) = summary.rejections
    assert rejection.category == "conflict"
    assert (
        "row 2: record_id: the registry holds this record of the centre with other values "
        "in kap_gycm2" in rejection.reason
    )
    assert_ok(ingest_table(table_registry, changed, centre="Bergen"))  # another centre's record


def test_later_follow_up_updates_vital_status(table_registry: Registry, tmp_path: Path) -> None:
    header = [
        "patient_id",
        "vital_status",
        "age_at_last_contact_days",
        "age_at_death_days",
        "follow_up_source",
    ]
    first = write_csv(tmp_path / "f1.csv", header, [["A-1001", "alive", 3000, None, "registry"]])
    later = write_csv(tmp_path / "f2.csv", header, [["A-1001", "dead", 4000, 4000, "registry"]])
    assert ingest_table(table_registry, first, centre="Oslo").imported == 1
    assert ingest_table(table_registry, later, centre="Oslo").outcomes["updated:follow_up"] == 1
    assert ingest_table(table_registry, first, centre="Oslo").outcomes["superseded"] == 1
    (row,) = rows(table_registry, "follow_up")
    assert (row["vital_status"], row["age_at_last_contact_days"], row["age_at_death_days"]) == (
        "dead",
        4000,
        4000,
    )
