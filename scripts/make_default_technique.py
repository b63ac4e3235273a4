"""Write the default technique distribution of the legacy dose path from public example RDSRs.

Reads the projection RDSRs of ``../shared/data/rdsr/pyskindose`` (MIT-licensed PySkinDose
example data; see that folder's PROVENANCE.md; the OpenREM examples are not used because the
OpenREM repository is GPL-3.0 and nothing GPL-derived goes into the installed package) with
:func:`doseline.dicom.rdsr.read_rdsr` and writes one row
per irradiation event to ``src/doseline/data/dosimetry/default_technique.csv``. The rules, applied
to every file (the printed table says what each file gave):

1. the file is a TID 10001 projection dose report (CT reports and the Enhanced SR summary of
   ``RF-ESR-Siemens-Varic.dcm`` are not) and not a copy of another procedure
   (:data:`DUPLICATES`);
2. an event is kept when it has a KAP, a kVp, both positioner angles and a collimated field:
   width x height, or else the collimated field area as a square of equal area (the organ-dose
   field summary, ``field_side_at_isocentre_cm``, uses only the area);
3. a rotational acquisition is split into :data:`ARC_STEPS` events at the midpoints of equal
   steps from its start to its end primary angle, each with an equal share of its KAP
   (assumption: uniform KAP rate along the arc; the RDSR gives only start and end angles);
4. a file is left out when any of these events fails the event frame's checks
   (``doseline.dosimetry.fluoro.events.check_events``: a zero or negative field, a field
   wider than 600 mm, a secondary angle outside +-90 deg): such a value shows that the file
   does not follow the DICOM definition it is read under, so its other values are not trusted
   either;
5. a procedure is kept when its kept events carry at least :data:`MIN_KAP_FRACTION` of its
   KAP, so that the KAP weighting is not decided by a small, non-random part of the procedure.

Missing filtration and distances are written as empty; the event frame's documented defaults
(0 mm filter; ``DEFAULT_SID_MM``/``DEFAULT_SOD_MM``) apply when the table is loaded.

Usage: ``python scripts/make_default_technique.py [--rdsr-dir DIR] [--output FILE]``
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from doseline.dicom.rdsr import read_rdsr
from doseline.dicom.report import ProjectionEvent
from doseline.dosimetry.fluoro.events import check_events
from doseline.errors import InvalidInputError

REPO = Path(__file__).resolve().parents[1]
RDSR_DIR = REPO.parent / "shared" / "data" / "rdsr"
OUTPUT = REPO / "src" / "doseline" / "data" / "dosimetry" / "default_technique.csv"
FOLDERS = ("pyskindose",)
#: Files that repeat another file's procedure (PROVENANCE.md of the RDSR folder: the Zee file
#: with the study date moved two days and the Study Instance UID changed by one digit).
DUPLICATES = {"openrem/RF-RDSR-Siemens-Zee_adjusted.dcm": "openrem/RF-RDSR-Siemens-Zee.dcm"}
ARC_STEPS = 8
MIN_KAP_FRACTION = 0.5
COLUMNS = (
    "procedure_id",
    "event_index",
    "event_type",
    "kap_gycm2",
    "kvp",
    "filter_cu_mm",
    "filter_al_mm",
    "primary_angle_deg",
    "secondary_angle_deg",
    "field_width_mm",
    "field_height_mm",
    "distance_source_to_detector_mm",
    "distance_source_to_isocenter_mm",
    "field_from",
    "manufacturer",
    "model",
    "study_description",
)


def _field(event: ProjectionEvent) -> tuple[float, float, str] | None:
    width, height = event.collimated_field_width_mm, event.collimated_field_height_mm
    if width is not None and height is not None:
        return width, height, "width_height"
    if event.collimated_field_area_cm2 is not None:
        side_mm = math.sqrt(event.collimated_field_area_cm2) * 10.0
        return side_mm, side_mm, "area"
    return None


def _rows(relative: str, events: tuple[ProjectionEvent, ...]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for index, event in enumerate(events):
        field = _field(event)
        needed = (event.kap_gycm2, event.kvp, event.primary_angle_deg, event.secondary_angle_deg)
        if field is None or any(value is None for value in needed):
            continue
        row: dict[str, object] = {
            "procedure_id": relative,
            "event_index": index,
            "event_type": event.event_type,
            "kap_gycm2": event.kap_gycm2,
            "kvp": event.kvp,
            "filter_cu_mm": event.filter_cu_mm,
            "filter_al_mm": event.filter_al_mm,
            "primary_angle_deg": event.primary_angle_deg,
            "secondary_angle_deg": event.secondary_angle_deg,
            "field_width_mm": field[0],
            "field_height_mm": field[1],
            "distance_source_to_detector_mm": event.distance_source_to_detector_mm,
            "distance_source_to_isocenter_mm": event.distance_source_to_isocenter_mm,
            "field_from": field[2],
        }
        end = event.primary_end_angle_deg
        if event.event_type == "rotational_acquisition" and end is not None:
            start = float(event.primary_angle_deg or 0.0)
            steps = start + (np.arange(ARC_STEPS) + 0.5) / ARC_STEPS * (end - start)
            share = float(event.kap_gycm2 or 0.0) / ARC_STEPS
            rows += [{**row, "primary_angle_deg": a, "kap_gycm2": share} for a in steps]
        else:
            rows.append(row)
    return rows


def build_table(rdsr_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The event table and a per-file report (kept or why not, KAP fraction kept)."""
    rows: list[dict[str, object]] = []
    report: list[dict[str, object]] = []
    for path in sorted(p for folder in FOLDERS for p in (rdsr_dir / folder).glob("*.dcm")):
        relative = path.relative_to(rdsr_dir).as_posix()
        if relative in DUPLICATES:
            report.append({"file": relative, "status": f"duplicate of {DUPLICATES[relative]}"})
            continue
        try:
            dose_report = read_rdsr(path)
        except InvalidInputError as error:
            report.append({"file": relative, "status": f"not read: {error.code}"})
            continue
        if dose_report.kind != "projection" or not dose_report.events:
            report.append({"file": relative, "status": f"not projection ({dose_report.kind})"})
            continue
        kept = _rows(relative, dose_report.events)
        try:
            check_events(pd.DataFrame(kept, columns=list(COLUMNS)).assign(age_y=0.0))
        except InvalidInputError as error:
            reason = f"implausible {error.field} ({error.record}: {error.reason})"
            report.append({"file": relative, "status": reason})
            continue
        total = math.fsum(e.kap_gycm2 or 0.0 for e in dose_report.events)
        fraction = math.fsum(float(str(r["kap_gycm2"])) for r in kept) / total if total else 0.0
        status = "kept" if fraction >= MIN_KAP_FRACTION else "too little KAP with technique"
        report.append(
            {"file": relative, "status": status, "events": len(dose_report.events),
             "events_with_technique": len({r["event_index"] for r in kept}),
             "kap_fraction": round(fraction, 4),
             "study_description": dose_report.study_description},
        )  # fmt: skip
        if status == "kept":
            device = dose_report.device
            description = dose_report.study_description
            for row in kept:
                row.update(
                    manufacturer=device.manufacturer, model=device.model_name,
                    study_description=description,
                )  # fmt: skip
            rows += kept
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    return table, pd.DataFrame(report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rdsr-dir", type=Path, default=RDSR_DIR)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    table, report = build_table(args.rdsr_dir)
    text = table.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    if "#" in text:
        raise SystemExit("a value contains '#', which the loader reads as a comment")
    header = (
        "# Default technique distribution of the legacy dose path (one row per irradiation\n"
        "# event). Generated by scripts/make_default_technique.py from the public example\n"
        "# RDSRs of shared/data/rdsr/pyskindose (MIT); adult/mixed procedures, NOT\n"
        "# paediatric. See PROVENANCE.md in this folder.\n"
    )
    args.output.write_text(header + text, encoding="utf-8")
    with pd.option_context("display.width", 200, "display.max_colwidth", 40):
        print(report.to_string(index=False))
    print(f"{len(table)} rows, {table['procedure_id'].nunique()} procedures -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
