"""A synthetic multi-centre cohort of children with cardiac catheterisations (HARMONIC-like).

:func:`generate_cohort` draws, from one seed, a :class:`SyntheticCohort`: children at several
centres (each with its own X-ray system and dose-record history), their catheterisations and
the true dose of each. :meth:`SyntheticCohort.write` writes what the centres would hand over
(RDSR files, legacy CSV tables in the layout of the REDCap data dictionary) and a truth
manifest, so that ingest and dose reconstruction can be checked against a known truth.

Tables are made with array operations, without loops over rows (only the UIDs of the RDSR
procedures are hashed one by one); irradiation events are made per procedure when a report is
needed (:mod:`doseline.cohort.events`). Each
table has its own random stream (``[seed, k]``, numpy ``SeedSequence``), so adding a column to
one table does not change another. Every parameter is a synthetic design choice unless its
comment cites a source; the dose calibration is in :mod:`doseline.cohort.technique`.

All names and identifiers are synthetic ('SYNTH^CHILD0000001', 'SYN0000001').
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.cohort.events import ProcedureDraw, dose_report, synthetic_uid
from doseline.cohort.files import CohortFiles, legacy_tables, write_cohort
from doseline.cohort.frames import DAYS_PER_YEAR
from doseline.cohort.growth import weight_height
from doseline.cohort.technique import (
    DEFAULT_CENTRES,
    CentreSpec,
    era_index,
    procedure_doses,
)
from doseline.dicom.report import DoseReport, PatientCharacteristics

__all__ = [
    "CohortConfig",
    "SyntheticCohort",
    "generate_cohort",
    "generate_patients",
    "generate_procedures",
]

ADULT_AGE_DAYS = 18 * DAYS_PER_YEAR  # the cohort's procedures are at ages 0-17
_PATIENT_STREAM, _PROCEDURE_STREAM, _DOSE_STREAM, _RECORD_STREAM = 1, 2, 3, 4


@dataclass(frozen=True)
class CohortConfig:
    """Parameters of a synthetic cohort. The defaults are synthetic design choices, set in the
    direction clinical experience suggests but not fitted to any data.

    Attributes
    ----------
    n_patients, seed
        Number of children; seed of every random stream.
    start, end
        Calendar period of the procedures.
    centres
        The centres (default :data:`~doseline.cohort.technique.DEFAULT_CENTRES`).
    p_male
        Share of boys (slightly more boys than girls).
    age_mix
        Shares of first procedures in infancy (< 1 y, ages skewed to the neonatal period), at
        1-4 y and at 5-17 y: many infants, as in paediatric cardiology.
    infant_mean_age_days
        Mean of the exponential age of first procedures in infancy.
    z_weight_mean, z_height_mean
        Mean weight- and height-for-age z-scores (below 0: these children are smaller than the
        CDC reference population).
    p_repeat, max_procedures, mean_gap_days
        Chance of each further procedure, the most per child, mean interval between them.
    """

    n_patients: int = 1000
    seed: int = 0
    start: date = date(1990, 1, 1)
    end: date = date(2022, 12, 31)
    centres: tuple[CentreSpec, ...] = DEFAULT_CENTRES
    p_male: float = 0.53
    age_mix: tuple[float, float, float] = (0.35, 0.30, 0.35)
    infant_mean_age_days: float = 60.0
    z_weight_mean: float = -0.7
    z_height_mean: float = -0.4
    p_repeat: float = 0.3
    max_procedures: int = 6
    mean_gap_days: float = 730.0

    def __post_init__(self) -> None:
        if self.n_patients < 0:
            raise ValueError(f"n_patients must be >= 0, got {self.n_patients}")
        if not self.centres:
            raise ValueError("centres: at least one centre is needed")
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        if abs(sum(self.age_mix) - 1.0) > 1e-9:
            raise ValueError(f"age_mix must sum to 1, got {self.age_mix}")
        if not 0.0 <= self.p_repeat < 1.0 or self.max_procedures < 1:
            raise ValueError("p_repeat must be in [0, 1) and max_procedures >= 1")


def _rng(config: CohortConfig, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, stream])


def _days(values: npt.NDArray[np.int64]) -> npt.NDArray[np.datetime64]:
    return values.astype("datetime64[D]")


def _ids(prefix: str, numbers: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.str_]:
    """``prefix`` + zero-padded numbers, without a Python loop (numpy string ufuncs)."""
    return np.strings.add(prefix, np.strings.zfill(numbers.astype(np.str_), width))


def generate_patients(config: CohortConfig) -> pd.DataFrame:
    """The children (vectorised): one row per child, with the age at the first procedure.

    Columns: ``patient_id``, ``patient_number``, ``centre_id``, ``issuer_of_patient_id``,
    ``sex``, ``birth_date``, ``first_procedure_date``, ``first_age_days``, ``z_weight``,
    ``z_height`` (the child's latent growth z-scores) and ``n_planned`` (procedures before the
    end of the period and the 18th birthday are cut).
    """
    rng = _rng(config, _PATIENT_STREAM)
    n = config.n_patients
    shares = np.array([c.share for c in config.centres])
    centre = rng.choice(len(config.centres), size=n, p=shares / shares.sum())
    male = rng.random(n) < config.p_male
    group = rng.choice(3, size=n, p=np.asarray(config.age_mix))
    infant = np.minimum(rng.exponential(config.infant_mean_age_days, n), 364.0)
    toddler = rng.uniform(365.0, 5 * DAYS_PER_YEAR, n)
    older = rng.uniform(5 * DAYS_PER_YEAR, ADULT_AGE_DAYS - 1.0, n)
    age = np.floor(np.choose(group, [infant, toddler, older])).astype(np.int64)
    start = np.datetime64(config.start, "D").astype(np.int64)
    end = np.datetime64(config.end, "D").astype(np.int64)
    first = rng.integers(start, end + 1, n)
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    # Weight and height z-scores correlated at 0.6 (synthetic).
    z_weight = config.z_weight_mean + z1
    z_height = config.z_height_mean + 0.6 * z1 + 0.8 * z2
    repeats = np.minimum(rng.geometric(1.0 - config.p_repeat, n) - 1, config.max_procedures - 1)
    centre_ids = np.array([c.centre_id for c in config.centres])
    issuers = np.array([c.issuer for c in config.centres])
    numbers = np.arange(1, n + 1, dtype=np.int64)
    return pd.DataFrame(
        {
            "patient_id": _ids("SYN", numbers, 7),
            "patient_number": numbers,
            "centre_id": centre_ids[centre],
            "issuer_of_patient_id": issuers[centre],
            "sex": np.where(male, "M", "F"),
            "birth_date": _days(first - age),
            "first_procedure_date": _days(first),
            "first_age_days": age,
            "z_weight": z_weight,
            "z_height": z_height,
            "n_planned": repeats + 1,
        }
    )


def generate_procedures(
    config: CohortConfig, patients: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The catheterisations of ``patients`` (vectorised): the recorded data and the truth.

    Returns ``(procedures, truth)``, one row per procedure in both, in the same order.
    ``procedures`` holds what the centre knows (date, type, record kind, values as recorded);
    ``truth`` the true weight, height and dose totals (see :meth:`SyntheticCohort.write`).
    """
    rng = _rng(config, _PROCEDURE_STREAM)
    planned = patients["n_planned"].to_numpy()
    owner = np.repeat(np.arange(len(patients)), planned)
    group_start = np.repeat(np.cumsum(planned) - planned, planned)
    sequence = np.arange(owner.shape[0]) - group_start
    gaps = np.where(sequence == 0, 0.0, 30.0 + rng.exponential(config.mean_gap_days, len(owner)))
    offset = np.cumsum(gaps)
    offset = np.rint(offset - offset[group_start]).astype(np.int64)
    first = patients["first_procedure_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    day = first[owner] + offset
    age = patients["first_age_days"].to_numpy()[owner] + offset
    end = np.datetime64(config.end, "D").astype(np.int64)
    keep = (day <= end) & (age < ADULT_AGE_DAYS)
    owner, sequence, day, age = owner[keep], sequence[keep], day[keep], age[keep]
    n = owner.shape[0]
    year = _days(day).astype("datetime64[Y]").astype(np.int64) + 1970

    centre_index = {c.centre_id: i for i, c in enumerate(config.centres)}
    centre = pd.Series(patients["centre_id"]).map(centre_index).to_numpy()[owner]

    def per_centre(name: str) -> npt.NDArray[np.float64]:
        values = np.array([float(getattr(c, name)) for c in config.centres])
        out: npt.NDArray[np.float64] = values[centre]
        return out

    male = patients["sex"].to_numpy()[owner] == "M"
    weight, height = weight_height(
        age,
        male,
        patients["z_weight"].to_numpy()[owner] + 0.3 * rng.standard_normal(n),
        patients["z_height"].to_numpy()[owner] + 0.2 * rng.standard_normal(n),
    )
    weight, height = np.round(weight, 1), np.round(height, 1)
    # Interventional share rising from 30% (1990) to 65% (2020): synthetic design choice.
    interventional = rng.random(n) < 0.30 + 0.35 * np.clip((year - 1990) / 30.0, 0.0, 1.0)
    record_kind = np.where(
        year >= per_centre("rdsr_start_year"),
        "rdsr",
        np.where(year >= per_centre("tabular_start_year"), "tabular", "no_dose_record"),
    )
    doses = procedure_doses(
        _rng(config, _DOSE_STREAM), weight, interventional, year, per_centre("practice_factor")
    )
    ids = _ids("SYNP", np.arange(1, n + 1, dtype=np.int64), 8)
    procedures = pd.DataFrame(
        {
            "procedure_id": ids,
            "procedure_index": np.arange(n, dtype=np.int64),
            "patient_id": patients["patient_id"].to_numpy()[owner],
            "centre_id": patients["centre_id"].to_numpy()[owner],
            "sequence": sequence + 1,
            "procedure_date": _days(day),
            "year": year,
            "age_days": age,
            "procedure_type": np.where(
                interventional, "interventional_catheterisation", "diagnostic_catheterisation"
            ),
            "record_kind": record_kind,
            "era": era_index(year),
        }
    )
    truth = pd.DataFrame({"procedure_id": ids, "weight_kg": weight, "height_cm": height, **doses})
    _add_totals(truth)
    _add_recorded(procedures, truth, per_centre("kap_meter_year"), _rng(config, _RECORD_STREAM))
    return procedures, truth


def _add_totals(truth: pd.DataFrame) -> None:
    """Totals in the canonical units of doseline from the integer micro-units."""
    truth["fluoro_kap_gycm2"] = truth["fluoro_kap_ugycm2"] * 1e-6
    truth["acquisition_kap_gycm2"] = truth["acquisition_kap_ugycm2"] * 1e-6
    truth["kap_gycm2"] = (truth["fluoro_kap_ugycm2"] + truth["acquisition_kap_ugycm2"]) * 1e-6
    truth["fluoro_air_kerma_rp_gy"] = truth["fluoro_air_kerma_ugy"] * 1e-6
    truth["acquisition_air_kerma_rp_gy"] = truth["acquisition_air_kerma_ugy"] * 1e-6
    truth["air_kerma_rp_gy"] = (
        truth["fluoro_air_kerma_ugy"] + truth["acquisition_air_kerma_ugy"]
    ) * 1e-6
    truth["fluoro_time_s"] = truth["fluoro_time_ms"] / 1000.0
    truth["acquisition_time_s"] = truth["acquisition_frames"] / truth["cine_frame_rate"]
    truth["number_of_events"] = truth["n_fluoro_events"] + truth["n_acquisition_events"]


def _add_recorded(
    procedures: pd.DataFrame,
    truth: pd.DataFrame,
    kap_meter_year: npt.NDArray[np.float64],
    rng: np.random.Generator,
) -> None:
    """What the centre recorded (NaN where not): completeness rates are synthetic choices."""
    n = len(procedures)
    tabular = (procedures["record_kind"] == "tabular").to_numpy()
    rdsr = (procedures["record_kind"] == "rdsr").to_numpy()
    has_meter = procedures["year"].to_numpy() >= kap_meter_year
    draws = rng.random((6, n))

    def kept(mask: npt.NDArray[np.bool_], values: pd.Series) -> npt.NDArray[np.float64]:
        return np.where(mask, values.to_numpy(dtype=float), np.nan)

    procedures["recorded_weight_kg"] = kept(
        (tabular & (draws[0] < 0.85)) | (rdsr & (draws[0] < 0.9)), truth["weight_kg"]
    )
    procedures["recorded_height_cm"] = kept(
        (tabular & (draws[1] < 0.6)) | (rdsr & (draws[1] < 0.7)), truth["height_cm"]
    )
    # Tabular dose indicators, rounded as written by hand in a cath-lab log (synthetic).
    procedures["recorded_kap_gycm2"] = kept(
        tabular & has_meter & (draws[2] < 0.9), truth["kap_gycm2"].round(2)
    )
    procedures["recorded_fluoro_time_s"] = kept(
        tabular & (draws[3] < 0.95), truth["fluoro_time_s"].round(0)
    )
    procedures["recorded_air_kerma_rp_gy"] = kept(
        tabular & has_meter & (procedures["year"].to_numpy() >= 2006) & (draws[4] < 0.5),
        truth["air_kerma_rp_gy"].round(3),
    )
    procedures["recorded_acquisition_frames"] = kept(
        tabular & has_meter & (draws[5] < 0.3), truth["acquisition_frames"]
    )


@dataclass
class SyntheticCohort:
    """A synthetic cohort: its configuration, tables and the truth.

    Attributes
    ----------
    config
        The parameters it was drawn with (seed included): the same config gives the same cohort.
    patients
        One row per child (:func:`generate_patients`).
    procedures
        One row per procedure, as the centre knows it (:func:`generate_procedures`), with the
        UIDs of the RDSR procedures.
    truth
        One row per procedure, in the order of ``procedures``: true weight, height, dose totals
        (``kap_gycm2``, ``air_kerma_rp_gy``, ``fluoro_time_s``, ``acquisition_frames`` ...) and
        the integer micro-unit totals the events split.
    """

    config: CohortConfig
    patients: pd.DataFrame
    procedures: pd.DataFrame
    truth: pd.DataFrame

    def centre(self, centre_id: str) -> CentreSpec:
        """The centre of that identifier."""
        for centre in self.config.centres:
            if centre.centre_id == centre_id:
                return centre
        raise KeyError(f"no centre {centre_id!r}")

    def dose_report(self, procedure_id: str) -> DoseReport:
        """The RDSR content of one procedure (record kind ``rdsr``), events included."""
        if procedure_id not in self._procedure_rows:
            raise KeyError(f"no procedure {procedure_id!r}")
        row = self._procedure_rows[procedure_id]
        p, t = self.procedures.iloc[row], self.truth.iloc[row]
        if p["record_kind"] != "rdsr":
            raise ValueError(f"procedure {procedure_id} has no RDSR ({p['record_kind']})")
        patient = self.patients.iloc[self._patient_rows[str(p["patient_id"])]]
        birth = pd.Timestamp(patient["birth_date"]).date()
        when = pd.Timestamp(p["procedure_date"]).date()
        draw = ProcedureDraw(
            procedure_id=procedure_id,
            procedure_index=int(p["procedure_index"]),
            procedure_date=when,
            interventional=p["procedure_type"] == "interventional_catheterisation",
            weight_kg=float(t["weight_kg"]),
            era=int(p["era"]),
            fluoro_kap_ugycm2=int(t["fluoro_kap_ugycm2"]),
            acquisition_kap_ugycm2=int(t["acquisition_kap_ugycm2"]),
            fluoro_air_kerma_ugy=int(t["fluoro_air_kerma_ugy"]),
            acquisition_air_kerma_ugy=int(t["acquisition_air_kerma_ugy"]),
            fluoro_time_ms=int(t["fluoro_time_ms"]),
            acquisition_frames=int(t["acquisition_frames"]),
            n_fluoro_events=int(t["n_fluoro_events"]),
            n_acquisition_events=int(t["n_acquisition_events"]),
            fluoro_pulse_rate=float(t["fluoro_pulse_rate"]),
            cine_frame_rate=float(t["cine_frame_rate"]),
            sop_instance_uid=str(p["sop_instance_uid"]),
            study_instance_uid=str(p["study_instance_uid"]),
            accession_number=f"SYNA{int(p['procedure_index']) + 1:08d}",
        )
        characteristics = PatientCharacteristics(
            patient_id=str(patient["patient_id"]),
            issuer_of_patient_id=str(patient["issuer_of_patient_id"]),
            sex=str(patient["sex"]),
            birth_date=birth,
            age_at_exposure_days=(when - birth).days,
            age_precision="day",
            weight_kg=_or_none(p["recorded_weight_kg"]),
            height_cm=_or_none(p["recorded_height_cm"]),
        )
        return dose_report(
            draw, characteristics, self.centre(str(p["centre_id"])), self.config.seed
        )

    @cached_property
    def _procedure_rows(self) -> dict[str, int]:
        return {pid: i for i, pid in enumerate(self.procedures["procedure_id"])}

    @cached_property
    def _patient_rows(self) -> dict[str, int]:
        return {pid: i for i, pid in enumerate(self.patients["patient_id"])}

    def patient_name(self, patient_id: str) -> str:
        """The synthetic Patient's Name of a child, e.g. 'SYNTH^CHILD0000001'."""
        return f"SYNTH^CHILD{patient_id.removeprefix('SYN')}"

    def legacy_tables(self, centre_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The centre's legacy records in the layout of the data dictionary
        (:func:`doseline.cohort.files.legacy_tables`)."""
        return legacy_tables(self, centre_id)

    def truth_manifest(self) -> pd.DataFrame:
        """Procedures and truth side by side, with the RDSR file of each (relative path)."""
        manifest = self.procedures.merge(self.truth, on="procedure_id", validate="one_to_one")
        is_rdsr = manifest["record_kind"] == "rdsr"
        manifest["rdsr_file"] = np.where(
            is_rdsr, manifest["centre_id"] + "/rdsr/" + manifest["procedure_id"] + ".dcm", ""
        )
        return manifest

    def write(
        self, directory: str | os.PathLike[str], *, parquet: bool = False, jobs: int = 1
    ) -> CohortFiles:
        """Write the centres' files and the truth manifest (:func:`doseline.cohort.files.
        write_cohort`; ``jobs`` processes write the RDSR files)."""
        return write_cohort(self, directory, parquet=parquet, jobs=jobs)


def generate_cohort(config: CohortConfig | int = 1000, seed: int = 0) -> SyntheticCohort:
    """Draw a synthetic cohort.

    Parameters
    ----------
    config
        The full configuration, or just the number of children (other fields default).
    seed
        The seed, where ``config`` is a number of children.
    """
    if isinstance(config, int):
        config = CohortConfig(n_patients=config, seed=seed)
    seed = config.seed
    patients = generate_patients(config)
    procedures, truth = generate_procedures(config, patients)
    rdsr = procedures["record_kind"] == "rdsr"
    procedures["sop_instance_uid"] = ""
    procedures["study_instance_uid"] = ""
    procedures.loc[rdsr, "sop_instance_uid"] = [
        synthetic_uid(seed, pid, "sop") for pid in procedures.loc[rdsr, "procedure_id"]
    ]
    procedures.loc[rdsr, "study_instance_uid"] = [
        synthetic_uid(seed, pid, "study") for pid in procedures.loc[rdsr, "procedure_id"]
    ]
    counts = procedures.groupby("patient_id").size()
    patients["n_procedures"] = patients["patient_id"].map(counts).fillna(0).astype(np.int64)
    return SyntheticCohort(config, patients, procedures, truth)


def _or_none(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return None if np.isnan(number) else number
