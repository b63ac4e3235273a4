"""Files of a synthetic cohort: RDSRs, legacy CSV tables (REDCap data dictionary) and truth.

Layout written by :func:`write_cohort` under the chosen directory::

    truth_procedures.csv    one row per procedure: the recorded data, the true doses and the
                            RDSR file of the procedure (relative path), if any
    truth_patients.csv      one row per child (latent growth z-scores included)
    <centre>/rdsr/<procedure_id>.dcm
                            X-Ray Radiation Dose SR of each procedure of the RDSR era, in the
                            centre's vendor conventions
    <centre>/legacy_patients.csv, <centre>/legacy_procedures.csv
                            forms ``patients`` and ``procedures`` of
                            ``doseline/data/data_dictionary.csv`` for the earlier procedures

Writing the RDSR files is the slow part (some 15 ms for a report of 30 events, by
:mod:`doseline.dicom.sr_encode`); ``jobs`` worker processes share it.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from doseline.dicom.rdsr_write import write_rdsr

if TYPE_CHECKING:
    from doseline.cohort.synth import SyntheticCohort

__all__ = ["CohortFiles", "dictionary_fields", "legacy_tables", "write_cohort"]

# Has Intent written in the RDSR of each procedure type (CID 3629).
_INTENTS = {
    "interventional_catheterisation": "therapeutic",
    "diagnostic_catheterisation": "diagnostic",
}


@cache
def dictionary_fields(form: str) -> tuple[str, ...]:
    """Field names of ``form`` in doseline's REDCap data dictionary, in dictionary order."""
    text = files("doseline.data").joinpath("data_dictionary.csv").read_text("utf-8")
    rows = csv.DictReader(text.splitlines())
    names = tuple(row["Variable / Field Name"] for row in rows if row["Form Name"] == form)
    if not names:
        raise ValueError(f"form {form!r} is not in the data dictionary")
    return names


@dataclass(frozen=True)
class CohortFiles:
    """What :func:`write_cohort` wrote: paths under ``root``, by centre where per centre."""

    root: Path
    truth_procedures: Path
    truth_patients: Path
    rdsr: dict[str, list[Path]] = field(default_factory=dict)
    legacy_procedures: dict[str, Path] = field(default_factory=dict)
    legacy_patients: dict[str, Path] = field(default_factory=dict)


def legacy_tables(cohort: SyntheticCohort, centre_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The centre's legacy records as the data dictionary lays them out.

    Returns ``(patients, procedures)``: form ``patients`` for the children with a legacy
    procedure at the centre, and form ``procedures`` (``patient_id`` and ``birth_date`` first)
    for its procedures
    without an RDSR: kind ``tabular`` (dose indicators as recorded, some missing) and kind
    ``no_dose_record`` (the oldest era: the procedure is listed, its dose fields are empty).
    Values are strings, empty where unknown; dates are ISO ``YYYY-MM-DD`` (REDCap
    ``date_ymd``). Built with column operations, without a loop over rows.
    """
    table = cohort.procedures
    proc = table[(table["centre_id"] == centre_id) & (table["record_kind"] != "rdsr")]
    centre = cohort.centre(centre_id)
    values: dict[str, pd.Series] = {
        "patient_id": proc["patient_id"],
        "record_id": proc["procedure_id"],
        "procedure_type": proc["procedure_type"],
        "modality": _const(proc, "XA"),
        "procedure_date": proc["procedure_date"].dt.strftime("%Y-%m-%d"),
        "procedure_weight_kg": _text(proc["recorded_weight_kg"]),
        "procedure_height_cm": _text(proc["recorded_height_cm"]),
        "kap_gycm2": _text(proc["recorded_kap_gycm2"]),
        "air_kerma_rp_gy": _text(proc["recorded_air_kerma_rp_gy"]),
        "fluoro_time_s": _text(proc["recorded_fluoro_time_s"]),
        "acquisition_frames": _text(proc["recorded_acquisition_frames"], integer=True),
        "device_manufacturer": _const(proc, centre.conventions.manufacturer),
        "device_model": _const(proc, centre.conventions.model_name),
    }
    kids = cohort.patients[cohort.patients["patient_id"].isin(proc["patient_id"].unique())]
    # The birth date travels with the procedures so that their dates become ages (the registry
    # keeps only the ages); the data dictionary allows it beside any form.
    birth = kids.set_index("patient_id")["birth_date"].dt.strftime("%Y-%m-%d")
    values["birth_date"] = proc["patient_id"].map(birth)
    columns = [
        "patient_id",
        "birth_date",
        *[f for f in dictionary_fields("procedures") if f != "patient_id"],
    ]
    procedures = pd.DataFrame({c: values.get(c, _const(proc, "")) for c in columns})
    kid_values: dict[str, pd.Series] = {
        "patient_id": kids["patient_id"],
        "issuer_of_patient_id": kids["issuer_of_patient_id"],
        "sex": kids["sex"],
        "birth_date": kids["birth_date"].dt.strftime("%Y-%m-%d"),
    }
    patients = pd.DataFrame(
        {c: kid_values.get(c, _const(kids, "")) for c in dictionary_fields("patients")}
    )
    return patients.reset_index(drop=True), procedures.reset_index(drop=True)


def write_cohort(
    cohort: SyntheticCohort,
    directory: str | os.PathLike[str],
    *,
    parquet: bool = False,
    jobs: int = 1,
) -> CohortFiles:
    """Write ``cohort`` under ``directory`` (layout in the module docstring).

    Parameters
    ----------
    cohort
        The cohort.
    directory
        Created if missing; existing files of the same names are replaced.
    parquet
        Also write the truth tables as Parquet (``truth_procedures.parquet``, ...).
    jobs
        Worker processes writing RDSR files (1: in this process).
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    out = CohortFiles(root, root / "truth_procedures.csv", root / "truth_patients.csv")
    manifest = cohort.truth_manifest()
    manifest.to_csv(out.truth_procedures, index=False)
    cohort.patients.to_csv(out.truth_patients, index=False)
    if parquet:
        manifest.to_parquet(root / "truth_procedures.parquet", index=False)
        cohort.patients.to_parquet(root / "truth_patients.parquet", index=False)
    for centre in cohort.config.centres:
        folder = root / centre.centre_id
        (folder / "rdsr").mkdir(parents=True, exist_ok=True)
        patients, procedures = legacy_tables(cohort, centre.centre_id)
        out.legacy_patients[centre.centre_id] = folder / "legacy_patients.csv"
        out.legacy_procedures[centre.centre_id] = folder / "legacy_procedures.csv"
        patients.to_csv(out.legacy_patients[centre.centre_id], index=False)
        procedures.to_csv(out.legacy_procedures[centre.centre_id], index=False)
        out.rdsr[centre.centre_id] = []
    rdsr = manifest[manifest["record_kind"] == "rdsr"]
    for centre_id, relative in zip(rdsr["centre_id"], rdsr["rdsr_file"], strict=True):
        out.rdsr[centre_id].append(root / relative)
    tasks = list(zip(rdsr["procedure_id"], rdsr["rdsr_file"], strict=True))
    if jobs <= 1 or len(tasks) < 2:
        _write_reports(cohort, root, tasks)
    else:
        chunks = [tasks[i::jobs] for i in range(jobs)]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(_write_reports, [cohort] * jobs, [root] * jobs, chunks))
    return out


def _write_reports(cohort: SyntheticCohort, root: Path, tasks: Sequence[tuple[str, str]]) -> None:
    """Write the RDSR files of ``tasks`` (procedure ID, path relative to ``root``)."""
    table = cohort.procedures.set_index("procedure_id")
    for procedure_id, relative in tasks:
        row = table.loc[procedure_id]
        write_rdsr(
            cohort.dose_report(procedure_id),
            root / relative,
            conventions=cohort.centre(str(row["centre_id"])).conventions,
            patient_name=cohort.patient_name(str(row["patient_id"])),
            intent=_INTENTS[str(row["procedure_type"])],
        )


def _const(frame: pd.DataFrame, value: str) -> pd.Series:
    return pd.Series(value, index=frame.index, dtype=object)


def _text(values: pd.Series, *, integer: bool = False) -> pd.Series:
    """Numbers as text for a CSV cell ('' where missing), shortest form (``repr``)."""
    numbers = values.astype(float)
    text = numbers.round(0).astype("Int64").astype(str) if integer else numbers.map(repr)
    return text.where(numbers.notna(), "").astype(object)
