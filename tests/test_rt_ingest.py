"""DICOM-RT ingest into the registry, on SQLite and PostgreSQL.

Reference: the coherent dicompyler-core example set of ../shared/data/rt (RTPLAN, RTDOSE,
RTSTRUCT and one CT slice of one anonymised patient; see its PROVENANCE.md). Its own UIDs say
how the objects are linked (dose -> plan -> structure set -> CT series); the registry must
hold the same links between pseudonyms, none of the original identifiers, the same beams and
ROIs, and must refuse inconsistent objects whole.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pydicom
import pytest
from sqlalchemy import select

from doseline.ingest import ingest_paths
from doseline.ingest.rt_store import count_rt_rows
from doseline.registry import radiotherapy as rt
from doseline.registry.audit import audit_phi
from doseline.registry.database import Registry
from doseline.registry.exposures import Exposure

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "rt" / "dicompyler_core_example"
FILES = ("rtplan.dcm", "rtdose.dcm", "rtss.dcm", "ct.0.dcm")


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the example set (tests modify files in their copy)."""
    if not all((EXAMPLE / name).exists() for name in FILES):
        pytest.skip(f"dicompyler-core example set not found under {EXAMPLE}")
    folder = tmp_path / "example"
    folder.mkdir()
    for name in FILES:
        shutil.copy(EXAMPLE / name, folder / name)
    return folder


def _rows(registry: Registry, table: Any) -> list[dict[str, Any]]:
    with registry.engine.connect() as connection:
        return [dict(r) for r in connection.execute(select(table.__table__)).mappings()]


def _counts(registry: Registry) -> dict[str, int]:
    with registry.connect() as connection:
        return count_rt_rows(connection)


def test_example_course_is_stored_linked_and_pseudonymised(
    registry: Registry, example: Path
) -> None:
    summary = ingest_paths(registry, [example], centre="c")
    assert summary.rejections == []
    assert summary.imported == 4
    assert _counts(registry) == {
        "rt_course": 1,
        "rt_plan": 1,
        "rt_beam": 4,
        "rt_dose_grid": 1,
        "rt_structure_set": 1,
        "rt_structure": 10,
        "rt_image": 1,
    }
    plan = _rows(registry, rt.RTPlanRecord)[0]
    dose = _rows(registry, rt.RTDoseGrid)[0]
    sset = _rows(registry, rt.RTStructureSet)[0]
    image = _rows(registry, rt.RTImage)[0]
    course = _rows(registry, rt.RTCourse)[0]
    # Links between pseudonyms mirror the links between the original UIDs.
    assert dose["referenced_plan_uid"] == plan["sop_instance_uid"]
    assert plan["referenced_structure_set_uid"] == sset["sop_instance_uid"]
    assert sset["referenced_series_uid"] == image["series_uid"]
    frames = {r["frame_of_reference_uid"] for r in (plan, dose, sset, image)}
    assert len(frames) == 1 and next(iter(frames)).startswith("2.25.")
    # PROVENANCE.md: 7 fractions, 4 beams x 0.5 Gy, target 14 Gy; RTDOSE 194 x 129 x 98 at
    # 2.5 mm in-plane, 3 mm between frames, scaling 1.4e-5, GY, PHYSICAL, PLAN.
    assert (course["fractions_planned"], course["prescription_dose_gy"]) == (7, 14.0)
    assert course["radiation_types"] == "PHOTON"
    beams = sorted(_rows(registry, rt.RTBeam), key=lambda b: b["beam_number"])
    assert [b["dose_per_fraction_gy"] for b in beams] == [0.5] * 4
    assert [b["nominal_energy_mev"] for b in beams] == [10.0, 6.0, 6.0, 10.0]
    grid = (dose["columns"], dose["rows"], dose["frames"])
    assert grid == (194, 129, 98)
    assert (dose["pixel_spacing_x_mm"], dose["frame_spacing_mm"]) == (2.5, 3.0)
    assert dose["dose_grid_scaling"] == pytest.approx(1.4e-5)
    assert (dose["dose_units"], dose["summation_type"]) == ("GY", "PLAN")
    exposure = _rows(registry, Exposure)[0]
    assert (exposure["modality"], exposure["report_kind"]) == ("RT", "rt_course")
    assert course["exposure_id"] == exposure["id"]
    # No original identifier anywhere in the RT tables.
    originals = set()
    for name in FILES:
        ds = pydicom.dcmread(example / name, stop_before_pixels=True)
        originals |= {str(ds.PatientID), str(ds.SOPInstanceUID), str(ds.StudyInstanceUID)}
        originals |= {str(ds.get("SeriesInstanceUID")), str(ds.get("FrameOfReferenceUID"))}
    originals.discard("None")
    stored = [
        str(value)
        for table in (
            rt.RTCourse,
            rt.RTPlanRecord,
            rt.RTBeam,
            rt.RTDoseGrid,
            rt.RTStructureSet,
            rt.RTStructure,
        )
        for row in _rows(registry, table)
        for value in row.values()
    ] + [str(v) for row in _rows(registry, rt.RTImage) for v in row.values()]
    assert not originals.intersection(stored)
    # The registry's own PHI audit, told the identifiers read from the files, finds nothing.
    assert audit_phi(registry, sources=[example]) == []


def test_structure_names_are_mapped_to_tg263_and_unknown_names_warn(
    registry: Registry, example: Path
) -> None:
    summary = ingest_paths(registry, [example], centre="c")
    rois = {r["roi_label"]: r for r in _rows(registry, rt.RTStructure)}
    assert (rois["Heart"]["tg263_term"], rois["Heart"]["organ"]) == ("Heart", "heart")
    assert (rois["Lt Lung"]["tg263_term"], rois["Lt Lung"]["organ"]) == ("Lung_L", "lung")
    assert rois["BODY"]["tg263_term"] == "External" and rois["BODY"]["organ"] is None
    # Targets (interpreted type CTV/GTV) are not organs and are not looked up.
    assert rois["Tumor Bed"]["interpreted_type"] == "CTV" and rois["Tumor Bed"]["organ"] is None
    unknown = [w for w in summary.warnings if "no TG-263 name" in w]
    assert sorted(w.split("'")[1] for w in unknown) == ["Areola", "Nodes", "Scar"]
    assert rois["Scar"]["tg263_term"] is None


def test_reimport_is_a_no_op_and_order_does_not_matter(
    registry: Registry, example: Path, tmp_path: Path
) -> None:
    # The dose and the CT first, the plan and structure set afterwards, in two runs.
    first = tmp_path / "first"
    first.mkdir()
    for name in ("rtdose.dcm", "ct.0.dcm"):
        (example / name).rename(first / name)
    early = ingest_paths(registry, [first], centre="c")
    assert early.imported == 1  # the CT waits for a structure set, then is refused
    assert [r.category for r in early.rejections] == ["not a dose report"]
    ingest_paths(registry, [example, first], centre="c")
    after = _counts(registry)
    assert after["rt_image"] == 1 and after["rt_course"] == 1
    again = ingest_paths(registry, [example, first], centre="c")
    assert again.imported == 0 and again.outcomes["duplicate"] == 4
    assert _counts(registry) == after


def _edit(path: Path, **changes: Any) -> None:
    dataset = pydicom.dcmread(path)
    for keyword, value in changes.items():
        if value is None:
            delattr(dataset, keyword)
        else:
            setattr(dataset, keyword, value)
    dataset.save_as(path)


def test_mismatched_frame_of_reference_is_refused_and_nothing_written(
    registry: Registry, example: Path
) -> None:
    ingest_paths(registry, [example / "rtplan.dcm", example / "rtss.dcm"], centre="c")
    before = _counts(registry)
    _edit(example / "rtdose.dcm", FrameOfReferenceUID="1.2.3.4.5.6.7")
    summary = ingest_paths(registry, [example / "rtdose.dcm"], centre="c")
    assert [r.category for r in summary.rejections] == ["frame of reference mismatch"]
    assert "rtdose.dcm" in summary.rejections[0].reason
    assert "FrameOfReferenceUID" in summary.rejections[0].reason
    assert _counts(registry) == before


def test_dose_without_scaling_and_conflicting_content_are_refused(
    registry: Registry, example: Path
) -> None:
    ingest_paths(registry, [example], centre="c")
    before = _counts(registry)
    _edit(example / "rtplan.dcm", RTPlanLabel="B2")  # same SOP Instance UID, other content
    _edit(example / "rtdose.dcm", DoseGridScaling=None, SOPInstanceUID="1.2.3.4.99")
    summary = ingest_paths(registry, [example], centre="c")
    reasons = {Path(r.source).name: r for r in summary.rejections}
    assert reasons["rtplan.dcm"].category == "conflict"
    assert reasons["rtdose.dcm"].category == "missing attribute"
    assert "DoseGridScaling" in reasons["rtdose.dcm"].reason
    assert _counts(registry) == before


def test_objects_of_two_patients_cannot_be_linked(registry: Registry, example: Path) -> None:
    ingest_paths(registry, [example / "rtplan.dcm"], centre="c")
    before = _counts(registry)
    _edit(example / "rtdose.dcm", PatientID="SOMEONE-ELSE")
    summary = ingest_paths(registry, [example / "rtdose.dcm"], centre="c")
    assert [r.category for r in summary.rejections] == ["conflict"]
    assert "another patient" in summary.rejections[0].reason
    assert _counts(registry) == before


def test_roi_outside_the_structure_sets_frames_is_refused(
    registry: Registry, example: Path
) -> None:
    dataset = pydicom.dcmread(example / "rtss.dcm")
    dataset.StructureSetROISequence[4].ReferencedFrameOfReferenceUID = "1.2.3.4.5.6.7"
    dataset.save_as(example / "rtss.dcm")
    summary = ingest_paths(registry, [example / "rtss.dcm"], centre="c")
    [rejection] = summary.rejections
    assert rejection.category == "frame of reference mismatch"
    assert "ROI 5 (Heart): ReferencedFrameOfReferenceUID" in rejection.reason
    assert _counts(registry)["rt_structure_set"] == 0


@pytest.mark.parametrize("scaling", ["NaN", "inf"])
def test_dose_with_non_finite_scaling_is_refused(
    registry: Registry, example: Path, scaling: str
) -> None:
    # Synthetic truth: a non-finite DoseGridScaling (DICOM PS3.3 C.8.8.3) turns every stored
    # value into NaN or inf; the reader (read_rt_dose) refuses it, so must the ingest.
    with pytest.warns(UserWarning):  # pydicom warns on writing an invalid DS
        _edit(example / "rtdose.dcm", DoseGridScaling=scaling)
    summary = ingest_paths(registry, [example / "rtdose.dcm"], centre="c")
    [rejection] = summary.rejections
    assert rejection.category == "malformed DICOM"
    assert "rtdose.dcm" in rejection.reason and "DoseGridScaling" in rejection.reason
    assert _counts(registry)["rt_dose_grid"] == 0
