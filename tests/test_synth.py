"""The synthetic cohort: reproducibility, plausibility, calibration, files against the truth.

References: the OPRIPALC paediatric interventional-cardiology DRLs in
../shared/data/drl/opripalc_2022_paediatric_ic_regional_drl.csv (third quartile of KAP by
weight band; Ubeda et al., J Radiol Prot 2022), the CDC 2000 growth charts (percentiles printed
next to the LMS parameters in the same CDC files), doseline's REDCap data dictionary, and the
truth manifest the generator writes (ingest of the written files must give it back).

Tolerances: dose totals read from the RDSR files agree with the truth to a relative 1e-9 (the
truth is in integer micro-units, the file holds decimal text in the vendor's unit); the
calibration checks allow what sampling and the weight mix within a band do (stated per test).
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pydicom
import pytest

from conftest import SHARED_DATA
from doseline.cohort import (
    CohortConfig,
    SyntheticCohort,
    dictionary_fields,
    generate_cohort,
    generate_patients,
)
from doseline.cohort.growth import growth_reference, lms_value, weight_height
from doseline.cohort.technique import (
    DRL_Q3_DIAGNOSTIC_GYCM2,
    DRL_Q3_THERAPEUTIC_GYCM2,
    DRL_WEIGHT_BANDS_KG,
)
from doseline.dicom.rdsr import read_rdsr
from doseline.dicom.rdsr_write import write_rdsr

DRL_CSV = SHARED_DATA / "drl" / "opripalc_2022_paediatric_ic_regional_drl.csv"
DICTIONARY = Path(__file__).resolve().parents[1] / "src/doseline/data/data_dictionary.csv"


@pytest.fixture(scope="module")
def large() -> SyntheticCohort:
    """Tables only (no files): enough procedures per weight band for the distribution checks."""
    return generate_cohort(20_000, seed=11)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticCohort, Path]:
    cohort = generate_cohort(40, seed=3)
    root = tmp_path_factory.mktemp("cohort")
    cohort.write(root, parquet=True, jobs=2)
    return cohort, root


def test_same_seed_same_cohort_other_seed_other_cohort() -> None:
    first, second = generate_cohort(300, seed=7), generate_cohort(300, seed=7)
    for name in ("patients", "procedures", "truth"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))
    rdsr = first.procedures.loc[first.procedures["record_kind"] == "rdsr", "procedure_id"]
    assert first.dose_report(rdsr.iloc[0]) == second.dose_report(rdsr.iloc[0])
    other = generate_cohort(300, seed=8)
    assert not first.truth["kap_gycm2"].equals(other.truth["kap_gycm2"])


def test_files_are_reproducible_byte_for_byte(tmp_path: Path) -> None:
    cohort = generate_cohort(30, seed=5)
    procedure = cohort.procedures.loc[cohort.procedures["record_kind"] == "rdsr"].iloc[0]
    centre = cohort.centre(procedure["centre_id"])
    contents = []
    for again in (cohort, generate_cohort(30, seed=5)):
        buffer = io.BytesIO()
        write_rdsr(
            again.dose_report(procedure["procedure_id"]), buffer, conventions=centre.conventions
        )
        contents.append(buffer.getvalue())
    assert contents[0] == contents[1]


def test_patient_table_of_100000_children_is_made_by_array_operations() -> None:
    patients = generate_patients(CohortConfig(n_patients=100_000, seed=1))
    assert len(patients) == 100_000
    assert patients["patient_id"].is_unique
    assert not patients.isna().any().any()
    assert set(patients["sex"]) == {"M", "F"}


def test_ages_sexes_and_growth_are_plausible(large: SyntheticCohort) -> None:
    procedures, truth = large.procedures, large.truth
    age_years = procedures["age_days"] / 365.25
    assert age_years.min() >= 0 and age_years.max() < 18
    assert (age_years < 1).mean() > 0.2  # many infants: paediatric cardiology
    assert age_years.median() < 6
    assert 0.45 < (large.patients["sex"] == "M").mean() < 0.6
    by_age = truth.groupby(pd.cut(age_years, [0, 1, 2, 5, 10, 15, 18]), observed=True)
    medians = by_age[["weight_kg", "height_cm"]].median()
    assert medians["weight_kg"].is_monotonic_increasing
    assert medians["height_cm"].is_monotonic_increasing
    assert truth["weight_kg"].between(1.0, 150.0).all()
    assert set(procedures["procedure_type"]) == {
        "diagnostic_catheterisation",
        "interventional_catheterisation",
    }
    assert (large.patients["n_procedures"] > 1).mean() > 0.1  # repeat procedures
    kinds = procedures.groupby("centre_id")["record_kind"].unique()
    assert all(set(k) == {"rdsr", "tabular", "no_dose_record"} for k in kinds)
    events = truth.loc[procedures["record_kind"] == "rdsr", "number_of_events"]
    assert 25 < events.mean() < 35  # about 30 events per RDSR


def test_later_eras_have_lower_doses_rates_and_more_copper(large: SyntheticCohort) -> None:
    truth, procedures = large.truth, large.procedures
    per_kg = truth["kap_gycm2"] / truth["weight_kg"]
    early, late = procedures["year"] < 2000, procedures["year"] >= 2016
    assert per_kg[early].median() > 1.2 * per_kg[late].median()
    for rate in ("fluoro_pulse_rate", "cine_frame_rate"):
        assert truth.loc[early, rate].mean() > truth.loc[late, rate].mean()
    copper = {}
    for era in (2, 3):  # the eras with RDSR files: 2010-2015 and from 2016
        chosen = procedures[(procedures["record_kind"] == "rdsr") & (procedures["era"] == era)]
        events = [
            e
            for pid in chosen["procedure_id"].iloc[:40]
            for e in large.dose_report(pid).events
            if e.event_type == "fluoroscopy"
        ]
        copper[era] = np.mean([e.filter_cu_mm for e in events])
    assert copper[3] > copper[2]


def _drl_from_shared_data() -> dict[tuple[str, str], float]:
    if not DRL_CSV.exists():
        pytest.skip(f"{DRL_CSV} not found")
    with DRL_CSV.open(encoding="utf-8") as handle:
        return {
            (row["procedure_class"], row["band_id"]): float(row["value"])
            for row in csv.DictReader(handle)
            if row["grouping"] == "weight"
        }


def test_calibration_constants_are_the_shared_drl_table() -> None:
    drl = _drl_from_shared_data()
    bands = [f"W{i}" for i in range(1, 6)]
    assert tuple(drl[("diagnostic", b)] for b in bands) == DRL_Q3_DIAGNOSTIC_GYCM2
    assert tuple(drl[("therapeutic", b)] for b in bands) == DRL_Q3_THERAPEUTIC_GYCM2


@pytest.mark.parametrize(
    "procedure_type", ["diagnostic_catheterisation", "interventional_catheterisation"]
)
def test_kap_per_weight_band_against_the_drl_third_quartile(
    large: SyntheticCohort, procedure_type: str
) -> None:
    """Median KAP of every weight band below the DRL (third quartile) and within a factor of 4
    of it; in the latest era (from 2015, the DRL survey's era) the simulated third quartile
    within a factor 1.5 of the DRL (the weight mix inside a band moves it)."""
    drl = _drl_from_shared_data()
    drl_class = "diagnostic" if procedure_type.startswith("diag") else "therapeutic"
    selected = large.procedures["procedure_type"] == procedure_type
    truth = large.truth[selected]
    modern = large.procedures.loc[selected, "year"] >= 2015
    for number, (low, high) in enumerate(DRL_WEIGHT_BANDS_KG, start=1):
        band = truth["weight_kg"].between(low, high, inclusive="left")
        q3 = drl[(drl_class, f"W{number}")]
        assert band.sum() >= 100, (number, band.sum())
        median = truth.loc[band, "kap_gycm2"].median()
        assert q3 / 4 < median < q3, (number, median, q3)
        recent = truth.loc[band & modern, "kap_gycm2"].quantile(0.75)
        assert q3 / 1.5 < recent < q3 * 1.5, (number, recent, q3)


def test_growth_reference_lms_matches_printed_percentiles() -> None:
    """The transcribed CDC LMS parameters give the CDC's printed 5th and 95th percentiles
    (relative 1e-6; the files print 10 significant digits)."""
    z5, z95 = NormalDist().inv_cdf(0.05), NormalDist().inv_cdf(0.95)
    checked = 0
    for (measure, sex), table in growth_reference().items():
        printed = ~np.isnan(table.p5)
        for z, column in ((z5, table.p5), (z95, table.p95)):
            values = lms_value(measure, sex == "M", table.age_months[printed], z)
            np.testing.assert_allclose(values, column[printed], rtol=1e-6)
            checked += int(printed.sum())
    assert checked == 4 * 19 * 2


def test_growth_medians_at_birth_are_the_cdc_values() -> None:
    weight, height = weight_height([0, 0], [True, False], [0, 0], [0, 0])
    np.testing.assert_allclose(weight, [3.530203168, 3.39918645])
    np.testing.assert_allclose(height, [49.98888408, 49.28639612])


def test_rdsr_files_read_back_with_the_truth_totals(written: tuple[SyntheticCohort, Path]) -> None:
    cohort, root = written
    manifest = pd.read_csv(root / "truth_procedures.csv", keep_default_na=False)
    rdsr = manifest[manifest["record_kind"] == "rdsr"]
    assert len(rdsr) >= 8
    assert {path.parent.parent.name for path in root.glob("*/rdsr/*.dcm")} <= set(
        manifest["centre_id"]
    )
    names = (
        "kap_gycm2",
        "air_kerma_rp_gy",
        "fluoro_kap_gycm2",
        "acquisition_kap_gycm2",
        "fluoro_air_kerma_rp_gy",
        "acquisition_air_kerma_rp_gy",
        "fluoro_time_s",
        "acquisition_time_s",
        "acquisition_frames",
    )
    for row in rdsr.itertuples():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            report = read_rdsr(root / str(row.rdsr_file))
        assert report.warnings == ()
        totals = report.totals()
        for name in names:
            assert math.isclose(totals[name] or 0.0, getattr(row, name), rel_tol=1e-9), name
        assert totals["number_of_events"] == row.number_of_events
        events_sum = math.fsum(e.kap_gycm2 or 0.0 for e in report.events)
        assert math.isclose(events_sum, totals["kap_gycm2"] or 0.0, rel_tol=1e-12)
        centre = cohort.centre(str(row.centre_id))
        assert report.device.manufacturer == centre.conventions.manufacturer
        assert len(report.planes) == (2 if centre.biplane else 1)
        assert report.patient.patient_id == row.patient_id
        assert report.study_instance_uid == row.study_instance_uid


def test_rdsr_files_carry_the_vendor_units_and_synthetic_names(
    written: tuple[SyntheticCohort, Path],
) -> None:
    cohort, root = written
    for centre in cohort.config.centres:
        paths = sorted((root / centre.centre_id / "rdsr").glob("*.dcm"))
        if not paths:
            continue
        ds = pydicom.dcmread(paths[0])
        assert str(ds.PatientName).startswith("SYNTH^CHILD")
        assert str(ds.PatientID).startswith("SYN")
        assert ds.file_meta.TransferSyntaxUID == centre.conventions.transfer_syntax
        event = next(
            item
            for item in ds.ContentSequence
            if item.ConceptNameCodeSequence[0].CodeValue == "113706"
        )
        units = {
            str(i.ConceptNameCodeSequence[0].CodeValue): str(
                i.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue
            )
            for i in event.ContentSequence
            if i.ValueType == "NUM"
        }
        assert units["122130"] == centre.conventions.kap_unit
        assert units["113738"] == centre.conventions.air_kerma_unit


def _dictionary(form: str) -> list[str]:
    with DICTIONARY.open(encoding="utf-8") as handle:
        return [
            row["Variable / Field Name"]
            for row in csv.DictReader(handle)
            if row["Form Name"] == form
        ]


def test_legacy_csv_has_the_dictionary_columns_and_the_recorded_values(
    written: tuple[SyntheticCohort, Path],
) -> None:
    cohort, root = written
    assert list(dictionary_fields("procedures")) == _dictionary("procedures")
    truth = cohort.truth_manifest().set_index("procedure_id")
    for centre in cohort.config.centres:
        procedures = pd.read_csv(
            root / centre.centre_id / "legacy_procedures.csv", dtype=str, keep_default_na=False
        )
        patients = pd.read_csv(
            root / centre.centre_id / "legacy_patients.csv", dtype=str, keep_default_na=False
        )
        # the birth date rides along so that procedure dates become ages at ingest
        assert list(procedures.columns) == [
            "patient_id",
            "birth_date",
            *[f for f in _dictionary("procedures") if f != "patient_id"],
        ]
        assert list(patients.columns) == _dictionary("patients")
        expected = truth[
            (truth["centre_id"] == centre.centre_id) & (truth["record_kind"] != "rdsr")
        ]
        assert sorted(procedures["record_id"]) == sorted(expected.index)
        assert set(procedures["patient_id"]) == set(patients["patient_id"])
        for row in procedures.itertuples():
            true = truth.loc[row.record_id]
            if true["record_kind"] == "no_dose_record":
                assert row.kap_gycm2 == row.fluoro_time_s == ""
            if row.kap_gycm2:
                assert float(row.kap_gycm2) == round(true["kap_gycm2"], 2)
            if row.fluoro_time_s:
                assert float(row.fluoro_time_s) == round(true["fluoro_time_s"])
            assert row.modality == "XA"


def test_truth_tables_are_written_as_csv_and_parquet(written: tuple[SyntheticCohort, Path]) -> None:
    cohort, root = written
    csv_table = pd.read_csv(root / "truth_procedures.csv")
    parquet_table = pd.read_parquet(root / "truth_procedures.parquet")
    assert len(csv_table) == len(parquet_table) == len(cohort.procedures)
    np.testing.assert_allclose(parquet_table["kap_gycm2"], cohort.truth["kap_gycm2"])
    patients = pd.read_csv(root / "truth_patients.csv")
    assert len(patients) == len(cohort.patients)


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="age_mix"):
        CohortConfig(age_mix=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="centres"):
        CohortConfig(centres=())
    cohort = generate_cohort(20, seed=1)
    with pytest.raises(KeyError):
        cohort.dose_report("no such procedure")
    legacy = cohort.procedures.loc[cohort.procedures["record_kind"] != "rdsr", "procedure_id"]
    with pytest.raises(ValueError, match="no RDSR"):
        cohort.dose_report(legacy.iloc[0])
