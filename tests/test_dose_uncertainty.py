"""Two-dimensional Monte Carlo realisations of fluoroscopy organ doses, against synthetic truths.

References and tolerances:
- sharing structure (synthetic truth, exact): a shared factor is the same number for every row
  of its group in one realisation; the only difference allowed is float32 rounding of the
  stored dose (relative 2**-24 each for dose and central value, so rtol 1e-6);
- independence: with K draws the Pearson correlation of two independent normal series has SD
  1/sqrt(K) (Fisher 1915); the bound is 5 SD, so a correct engine fails with probability
  below 1e-6 per pair (the seeds are fixed, so the test is deterministic anyway);
- variance: for one organ dose the log of its realisations is normal with SD the root-sum-
  square of the documented log-SDs (error_sources.csv, parsed here independently of the
  engine), so (K-1) s^2 / sigma^2 is chi-square with K-1 degrees of freedom; the test accepts
  the central 99.9 % of that distribution;
- normality of the counter-based draws: Kolmogorov-Smirnov against N(0, 1), p > 1e-3;
- Parquet layout: the column types and sort order of docs/registry.md, "Dose realisations";
- summaries: numpy's quantile (linear interpolation) and the SD of the logs, to 1e-9;
- cohort format: the array subjects x K of doseline.cohort.uncertainty, equal to the sum of
  the in-memory realisations of each subject's exposures (float32 sums, rtol 1e-6).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from doseline.cohort.poisson import PoissonModel
from doseline.cohort.uncertainty import naive_fit
from doseline.dosimetry.fluoro import uncertainty as unc
from doseline.dosimetry.fluoro.realisations import (
    read_realisation_matrix,
    register_realisation_set,
    subject_realisations,
    update_organ_doses,
    write_realisations,
)
from doseline.dosimetry.fluoro.uncertainty import ErrorModel, realise
from doseline.errors import InvalidInputError
from doseline.registry.database import Registry
from doseline.registry.doses import DoseRealisationSet, OrganDose
from doseline.registry.exposures import Exposure
from doseline.registry.people import Centre, Patient

ORGANS = ("heart", "lung", "red_bone_marrow", "thyroid")
CSV_PATH = Path(unc.__file__).parents[2] / "data" / "dosimetry" / "error_sources.csv"
PROVENANCE = CSV_PATH.with_name("PROVENANCE.md")
REL_SD = {"heart": 0.02, "lung": 0.03, "red_bone_marrow": 0.05, "thyroid": 0.10}


def cohort(n_patients: int = 60, *, seed: int = 0) -> pd.DataFrame:
    """Two exposures per patient, every organ; 3 centres, 2 eras, lognormal doses."""
    rng = np.random.default_rng(seed)
    exposure = np.arange(2 * n_patients) * 7 + 3
    patient = np.repeat(np.arange(n_patients) + 1000, 2)
    frame = pd.DataFrame({
        "exposure_id": np.repeat(exposure, len(ORGANS)),
        "patient_id": np.repeat(patient, len(ORGANS)),
        "organ": np.tile(ORGANS, exposure.size),
    })  # fmt: skip
    frame["centre_id"] = frame["patient_id"] % 3
    frame["era"] = np.where(frame["exposure_id"] % 2 == 0, "1995-2004", "2005-2014")
    frame["dose_gy"] = rng.lognormal(np.log(5e-3), 1.0, len(frame))
    return frame


def log_ratio(block: unc.RealisationBlock) -> np.ndarray:
    return np.log(block.dose_gy.astype(np.float64) / block.central_dose_gy[:, None])


def documented_log_sd() -> dict[str, float]:
    """Fixed log-SDs as written in the CSV (read here without the engine's parser)."""
    with CSV_PATH.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out = {}
    for row in rows:
        match = re.fullmatch(r"log_sd=([0-9.]+)", row["parameters"])
        if match:
            out[row["source"]] = float(match.group(1))
    return out


def model(*names: str) -> ErrorModel:
    return ErrorModel.from_csv().with_coefficient_rel_sd(REL_SD).only(*names)


def max_abs_offdiagonal_correlation(series: np.ndarray) -> float:
    corr = np.corrcoef(series)
    return float(np.max(np.abs(corr[~np.eye(len(corr), dtype=bool)])))


def test_csv_documents_every_source() -> None:
    loaded = ErrorModel.from_csv().sources
    with CSV_PATH.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [s.name for s in loaded] == [r["source"] for r in rows]
    provenance = PROVENANCE.read_text(encoding="utf-8")
    for row in rows:
        assert row["citation"].strip(), row["source"]
        assert row["checked_against_source"] in {"yes", "no"}, row["source"]
        assert f"`{row['source']}`" in provenance, f"{row['source']} missing from PROVENANCE.md"
    sharing = {s.name: (s.sharing, s.applies_to) for s in loaded}
    assert sharing["kap_calibration"] == ("centre_era", "all")
    assert sharing["table_transmission"] == ("centre", "all")
    assert sharing["phantom_alignment"] == ("global", "organ")
    assert sharing["coefficient_table"] == ("global", "organ")
    assert sharing["body_size"] == ("patient", "all")
    assert sharing["individual_geometry"] == ("exposure", "all")


def test_shared_factor_is_one_draw_per_centre_and_independent_between_centres() -> None:
    doses = cohort()
    block = realise(doses, 3000, seed=11, model=model("table_transmission"))
    ratio = block.dose_gy / block.central_dose_gy[:, None]
    frame = unc.check_doses(doses)
    centre = frame["centre_id"].to_numpy()
    firsts = []
    for c in range(3):
        rows = np.flatnonzero(centre == c)
        np.testing.assert_allclose(ratio[rows], np.broadcast_to(ratio[rows[0]], (rows.size, 3000)),
                                   rtol=1e-6)  # fmt: skip
        firsts.append(np.log(ratio[rows[0]].astype(np.float64)))
    assert max_abs_offdiagonal_correlation(np.array(firsts)) < 5 / np.sqrt(3000)


def test_centre_era_factor_differs_between_eras_of_one_centre() -> None:
    doses = cohort()
    block = realise(doses, 2000, seed=5, model=model("kap_calibration"))
    logs = log_ratio(block)
    frame = unc.check_doses(doses)
    groups = frame.groupby(["centre_id", "era"]).indices
    assert len(groups) == 6
    firsts = []
    for rows in groups.values():
        np.testing.assert_allclose(logs[rows], np.broadcast_to(logs[rows[0]], logs[rows].shape),
                                   atol=1e-6)  # fmt: skip
        firsts.append(logs[rows[0]])
    assert max_abs_offdiagonal_correlation(np.array(firsts)) < 5 / np.sqrt(2000)


def test_unshared_body_size_is_one_draw_per_patient() -> None:
    doses = cohort().assign(body_size_log_sd=0.2)
    block = realise(doses, 2000, seed=3, model=model("body_size"))
    logs = log_ratio(block)
    frame = unc.check_doses(doses)
    groups = frame.groupby("patient_id").indices
    firsts = []
    for rows in groups.values():
        assert rows.size == 2 * len(ORGANS)  # two exposures, every organ: one draw
        np.testing.assert_allclose(logs[rows], np.broadcast_to(logs[rows[0]], logs[rows].shape),
                                   atol=1e-6)  # fmt: skip
        firsts.append(logs[rows[0]])
    assert max_abs_offdiagonal_correlation(np.array(firsts)) < 5 / np.sqrt(2000)


def test_exposure_and_organ_level_sharing() -> None:
    doses = cohort(10).assign(legacy_log_sd=0.3)
    geometry = log_ratio(realise(doses, 2000, seed=8, model=model("individual_geometry")))
    frame = unc.check_doses(doses)
    by_exposure = frame.groupby("exposure_id").indices
    for rows in by_exposure.values():  # same draw for every organ of one exposure
        np.testing.assert_allclose(geometry[rows], np.broadcast_to(geometry[rows[0]],
                                   geometry[rows].shape), atol=1e-6)  # fmt: skip
    firsts = np.array([geometry[rows[0]] for rows in by_exposure.values()])
    assert max_abs_offdiagonal_correlation(firsts) < 5 / np.sqrt(2000)
    phantom = log_ratio(realise(doses, 2000, seed=8, model=model("phantom_alignment")))
    by_organ = frame.groupby("organ", observed=True).indices
    for rows in by_organ.values():  # one global draw per organ, whatever the patient
        np.testing.assert_allclose(phantom[rows], np.broadcast_to(phantom[rows[0]],
                                   phantom[rows].shape), atol=1e-6)  # fmt: skip
    firsts = np.array([phantom[rows[0]] for rows in by_organ.values()])
    assert max_abs_offdiagonal_correlation(firsts) < 5 / np.sqrt(2000)


def test_log_sd_is_root_sum_square_of_documented_log_sds() -> None:
    k = 6000
    doses = cohort(6).assign(legacy_log_sd=0.25, body_size_log_sd=0.15, imputation_log_sd=0.4)
    block = realise(doses, k, seed=21, model=ErrorModel.from_csv().with_coefficient_rel_sd(REL_SD))
    fixed = documented_log_sd()
    assert set(fixed) == {"kap_calibration", "table_transmission", "phantom_alignment"}
    logs = log_ratio(block)
    low, high = stats.chi2.ppf([0.0005 / 3, 1 - 0.0005 / 3], k - 1)  # 3 rows, Bonferroni
    for row in (0, 5, len(block.organ) - 1):
        rel = REL_SD[str(block.organ[row])]
        variance = sum(v**2 for v in fixed.values()) + np.log1p(rel**2) + 0.25**2 + 0.15**2 + 0.4**2
        statistic = (k - 1) * logs[row].var(ddof=1) / variance
        assert low < statistic < high, (row, np.sqrt(variance), logs[row].std())
        assert abs(logs[row].mean()) < 4 * np.sqrt(variance / k)  # median-one factors


def test_mean_one_centres_factors_on_arithmetic_mean_one() -> None:
    k = 20000
    doses = cohort(2).assign(body_size_log_sd=0.5)
    block = realise(doses, k, seed=2, model=model("body_size", "kap_calibration"), mean_one=True)
    ratio = block.dose_gy[0] / block.central_dose_gy[0]
    sigma2 = 0.5**2 + documented_log_sd()["kap_calibration"] ** 2
    standard_error = np.sqrt((np.exp(sigma2) - 1) / k)  # SD of a lognormal with mean one
    assert abs(ratio.mean() - 1) < 4 * standard_error


def test_reproducible_chunk_and_order_invariant() -> None:
    doses = cohort(40).assign(legacy_log_sd=0.3, body_size_log_sd=0.2, imputation_log_sd=0.1)
    full = ErrorModel.from_csv().with_coefficient_rel_sd(REL_SD)
    reference = realise(doses, 80, seed=7, model=full)
    again = realise(doses, 80, seed=7, model=full)
    chunked = realise(doses, 80, seed=7, model=full, chunk_rows=7)
    shuffled = realise(doses.sample(frac=1.0, random_state=1), 80, seed=7, model=full)
    shorter = realise(doses, 50, seed=7, model=full)
    for other in (again, chunked, shuffled):
        np.testing.assert_array_equal(other.dose_gy, reference.dose_gy)
        np.testing.assert_array_equal(other.exposure_id, reference.exposure_id)
    np.testing.assert_array_equal(shorter.dose_gy, reference.dose_gy[:, :50])
    # a patient's realisations do not depend on who else is in the cohort (keys are ids)
    subset = realise(doses[doses["patient_id"] % 4 == 1], 80, seed=7, model=full)
    keep = np.isin(reference.exposure_id, subset.exposure_id)
    np.testing.assert_array_equal(subset.dose_gy, reference.dose_gy[keep])
    other_seed = realise(doses, 80, seed=8, model=full)
    assert not np.allclose(other_seed.dose_gy, reference.dose_gy)


def test_counter_based_normals_are_standard_normal() -> None:
    keys = np.arange(4000, dtype=np.uint64)
    z = unc._normals(keys, np.uint64(12345), 50)
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    # no correlation between neighbouring keys or neighbouring realisations (5 SD bounds)
    assert abs(np.corrcoef(z[:-1].ravel(), z[1:].ravel())[0, 1]) < 5 / np.sqrt(z[1:].size)
    assert abs(np.corrcoef(z[:, :-1].ravel(), z[:, 1:].ravel())[0, 1]) < 5 / np.sqrt(z.size)


def test_kap_draws_table_fraction_and_shift() -> None:
    doses = cohort(5)
    exposures = np.unique(doses["exposure_id"])[:3]
    draws = pd.DataFrame(np.random.default_rng(1).lognormal(0, 0.3, (3, 20)), index=exposures)
    block = realise(doses, 20, seed=1, model=model(), kap_draws=draws)
    ratio = block.dose_gy / block.central_dose_gy[:, None]
    for exposure in exposures:
        rows = block.exposure_id == exposure
        np.testing.assert_allclose(ratio[rows], np.broadcast_to(draws.loc[exposure].to_numpy(),
                                   (rows.sum(), 20)), rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(ratio[~np.isin(block.exposure_id, exposures)], 1.0, rtol=1e-6)

    half = doses.assign(table_fraction=np.where(doses["organ"] == "heart", 0.5, 1.0))
    table = realise(half, 200, seed=4, model=model("table_transmission"))
    ratio = table.dose_gy / table.central_dose_gy[:, None]
    frame = unc.check_doses(half)
    for _, rows in frame.groupby(["exposure_id"]).indices.items():
        organ = frame["organ"].to_numpy()[rows]
        full, part = rows[organ == "lung"][0], rows[organ == "heart"][0]
        np.testing.assert_allclose(ratio[part], 0.5 + 0.5 * ratio[full], rtol=1e-6)

    shifted = doses.assign(imputation_log_sd=0.0, imputation_log_shift=0.3)
    block = realise(shifted, 5, seed=1, model=model("missing_technique"))
    np.testing.assert_allclose(block.dose_gy / block.central_dose_gy[:, None], np.exp(0.3),
                               rtol=1e-6)  # fmt: skip


def test_parquet_layout_and_summary(tmp_path: Path) -> None:
    doses = cohort(20).assign(body_size_log_sd=0.2)
    doses.loc[0, "dose_gy"] = 0.0  # a zero dose stays zero, with no geometric SD
    full = ErrorModel.from_csv().with_coefficient_rel_sd(REL_SD)
    path = tmp_path / "realisations.parquet"
    summary = write_realisations(doses, path, 30, seed=9, model=full, chunk_rows=13)
    block = realise(doses, 30, seed=9, model=full)
    table = pq.read_table(path)
    assert table.schema.names == ["exposure_id", "organ", "realisation", "dose_gy"]
    assert table.schema.field("exposure_id").type == pa.int64()
    assert table.schema.field("organ").type == pa.dictionary(pa.int32(), pa.string())
    assert table.schema.field("realisation").type == pa.int32()
    assert table.schema.field("dose_gy").type == pa.float32()
    ids = table.column("exposure_id").to_numpy()
    organ = np.asarray(table.column("organ").to_pylist())
    real = table.column("realisation").to_numpy()
    assert np.array_equal(np.lexsort((real, organ, ids)), np.arange(ids.size))  # sorted
    assert np.array_equal(real, np.tile(np.arange(30), len(doses)))
    np.testing.assert_array_equal(table.column("dose_gy").to_numpy(), block.dose_gy.ravel())
    values = block.dose_gy.astype(np.float64)
    np.testing.assert_allclose(summary["dose_gy"], values.mean(axis=1), rtol=1e-9)
    for column, q in (("dose_median_gy", 0.5), ("dose_p05_gy", 0.05), ("dose_p95_gy", 0.95)):
        np.testing.assert_allclose(summary[column], np.quantile(values, q, axis=1), rtol=1e-9)
    positive = block.central_dose_gy > 0
    gsd = np.exp(np.log(values[positive]).std(axis=1, ddof=1))
    np.testing.assert_allclose(summary["geometric_sd"].to_numpy()[positive], gsd, rtol=1e-9)
    assert summary["geometric_sd"].isna().sum() == 1
    assert (values[~positive] == 0).all()


def test_reading_back_into_the_cohort_uncertainty_format(tmp_path: Path) -> None:
    doses = cohort(50).assign(body_size_log_sd=0.3)
    full = ErrorModel.from_csv().with_coefficient_rel_sd(REL_SD)
    path = tmp_path / "store.parquet"
    write_realisations(doses, path, 12, seed=4, model=full)
    block = realise(doses, 12, seed=4, model=full)
    marrow = block.organ == "red_bone_marrow"
    exposures = doses.drop_duplicates("exposure_id").set_index("exposure_id")["patient_id"]
    subjects = [*range(1049, 999, -1), 5555]  # reversed order, one without exposures
    matrix = subject_realisations(path, "red_bone_marrow", exposures, subjects)
    assert matrix.shape == (51, 12)
    expected = np.zeros((51, 12))
    owner = exposures.loc[block.exposure_id[marrow]].to_numpy()
    for i, subject in enumerate(subjects):
        expected[i] = block.dose_gy[marrow][owner == subject].astype(np.float64).sum(axis=0)
    np.testing.assert_allclose(matrix, expected, rtol=1e-6)
    _, per_exposure = read_realisation_matrix(path, "red_bone_marrow", [exposures.index[3]])
    np.testing.assert_array_equal(per_exposure[0], block.dose_gy[marrow][3])

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"stratum": np.arange(51) % 3, "pyr": rng.uniform(500, 5000, 51)})
    table["dose"] = matrix.mean(axis=1) * 100  # in units of 10 mGy, so ERR is estimable
    table["cases"] = rng.poisson(table["pyr"] * 1e-3 * (1 + 0.5 * table["dose"]))
    fitted = PoissonModel.linear_err(table, strata=["stratum"])
    result = naive_fit(fitted, matrix * 100)
    plain = fitted.fit().params["err:dose"]
    assert result.estimate == pytest.approx(plain, rel=1e-6)


def test_partitioned_store_equals_one_run(tmp_path: Path) -> None:
    """Partitions by patient (as Dask workers would write them) read back as one run."""
    doses = cohort(30).assign(legacy_log_sd=0.2, body_size_log_sd=0.1)
    full = ErrorModel.from_csv().with_coefficient_rel_sd(REL_SD)
    folder = tmp_path / "store"
    folder.mkdir()
    for part in range(3):
        subset = doses[doses["patient_id"] % 3 == part]
        write_realisations(subset, folder / f"part-{part}.parquet", 16, seed=2, model=full)
    ids, matrix = read_realisation_matrix(folder, "lung")
    block = realise(doses, 16, seed=2, model=full)
    lung = block.organ == "lung"
    np.testing.assert_array_equal(ids, block.exposure_id[lung])
    np.testing.assert_array_equal(matrix, block.dose_gy[lung])


def test_many_given_kap_draws() -> None:
    """More than 4096 exposures with given draws: the per-block path of large tables."""
    n = 5000
    ids = np.arange(n)
    doses = pd.DataFrame({"exposure_id": ids, "patient_id": ids, "centre_id": 1, "era": "x",
                          "organ": "heart", "dose_gy": 1.0})  # fmt: skip
    draws = pd.DataFrame(np.random.default_rng(3).lognormal(0, 0.2, (n, 3)), index=np.arange(n))
    block = realise(doses, 3, seed=1, model=model(), kap_draws=draws, chunk_rows=1000)
    np.testing.assert_allclose(block.dose_gy, draws.to_numpy(), rtol=1e-6)


def test_register_set_and_update_organ_doses(sqlite_registry: Registry) -> None:
    doses = cohort(2)
    with sqlite_registry.session() as session:
        centre = Centre(name="A")
        patient = Patient(pseudonym="p")
        session.add_all([centre, patient])
        session.flush()
        ids = {}
        for old in sorted(set(doses["exposure_id"])):
            exposure = Exposure(patient_id=patient.id, centre_id=centre.id, era="rdsr",
                                legacy_record_id=str(old))  # fmt: skip
            session.add(exposure)
            session.flush()
            ids[old] = exposure.id
        doses["exposure_id"] = doses["exposure_id"].map(ids)
        for row in doses.itertuples():
            session.add(OrganDose(exposure_id=row.exposure_id, organ=row.organ, method="tables",
                                  method_version="1", dose_gy=row.dose_gy))  # fmt: skip
    summary = summarise_for(doses)
    with sqlite_registry.session() as session:
        row = register_realisation_set(session, uri="realisations/set1.parquet", n_realisations=10)
        assert (row.method, row.method_version) == (unc.METHOD, unc.METHOD_VERSION)
        count = update_organ_doses(session, summary, method="tables", method_version="1",
                                   realisation_set=row)  # fmt: skip
        assert count == len(doses)
        set_id = row.id
    with sqlite_registry.session() as session:
        stored = session.query(OrganDose).order_by(OrganDose.exposure_id, OrganDose.organ).all()
        assert {s.realisation_set_id for s in stored} == {set_id}
        expected = summary.sort_values(["exposure_id", "organ"])
        np.testing.assert_allclose([s.dose_p95_gy for s in stored], expected["dose_p95_gy"])
        assert session.get(DoseRealisationSet, set_id).n_realisations == 10
        with pytest.raises(InvalidInputError, match="no organ_dose row"):
            update_organ_doses(session, summary, method="tables", method_version="2",
                               realisation_set=row)  # fmt: skip


def summarise_for(doses: pd.DataFrame) -> pd.DataFrame:
    from doseline.dosimetry.fluoro.realisations import summarise

    return summarise(
        realise(doses.assign(body_size_log_sd=0.2), 10, seed=1, model=model("body_size"))
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.drop(columns="era"), "missing column"),
        (lambda d: d.assign(dose_gy=-d["dose_gy"]), "dose_gy"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "is repeated"),
        (lambda d: d.assign(centre_id=np.arange(len(d))), "differs within one exposure"),
        (lambda d: d.assign(table_fraction=1.5), "table_fraction"),
        (lambda d: d.assign(exposure_id=d["exposure_id"].astype(float)), "exposure_id"),
    ],
)
def test_bad_input_names_the_record(change, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError, match=message):
        realise(change(cohort(3)), 5, seed=1, model=model("kap_calibration"))


def test_missing_inputs_are_reported() -> None:
    with pytest.raises(InvalidInputError, match="no relative SD for organ"):
        realise(cohort(3), 5, seed=1, model=ErrorModel.from_csv())
    with pytest.raises(InvalidInputError, match="unknown error source"):
        model("kap_meter")
    draws = pd.DataFrame(np.ones((1, 4)), index=[3])
    with pytest.raises(InvalidInputError, match="expected K = 5"):
        realise(cohort(3), 5, seed=1, model=model(), kap_draws=draws)


def test_bad_csv_row_names_the_source(tmp_path: Path) -> None:
    text = CSV_PATH.read_text(encoding="utf-8").replace(",centre_era,", ",by_ward,", 1)
    bad = tmp_path / "sources.csv"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInputError, match="kap_calibration: sharing"):
        ErrorModel.from_csv(bad)
