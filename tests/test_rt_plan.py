"""RT Plan reader: the example plans of ../shared/data/rt (values as stated in its PROVENANCE.md
and read with pydicom), an independent rasterised check of the MLC aperture, an RT Ion Plan
built from the photon plan, and bad input naming file, record and field."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from doseline.dicom.rt_plan import RT_ION_PLAN_STORAGE, plan_from_dataset, read_rt_plan
from doseline.errors import InvalidInputError, MalformedDicomError

RT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "rt"
EXAMPLE_PLAN = RT_DIR / "dicompyler_core_example" / "rtplan.dcm"
PYDICOM_PLAN = RT_DIR / "pydicom_testfiles" / "rtplan.dcm"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared RT example {path.name} not found under {path.parent}")
    return path


def test_example_breast_plan_matches_its_provenance() -> None:
    # PROVENANCE.md section 1: label B1, 7 fractions, 4 dynamic photon beams
    # (RAO 10 MV, AP 6 MV, LAO 6 MV, LPO 10 MV), 0.5 Gy per beam per fraction, target 14 Gy.
    plan = read_rt_plan(_need(EXAMPLE_PLAN))
    assert plan.plan_label == "B1"
    assert plan.fractions_planned == 7
    assert plan.prescription_dose_gy == pytest.approx(14.0)
    assert [b.name for b in plan.beams] == ["3 RAO", "4 AP", "5 LAO", "6 LPO"]
    assert [b.nominal_energy_mev for b in plan.beams] == [10.0, 6.0, 6.0, 10.0]
    assert {b.beam_type for b in plan.beams} == {"DYNAMIC"}
    assert {b.technique for b in plan.beams} == {"DYNAMIC"}  # sliding MLC at fixed gantry
    assert plan.radiation_types == ("PHOTON",)
    group = plan.fraction_groups[0]
    assert group.beam_dose_gy == {1: 0.5, 2: 0.5, 3: 0.5, 4: 0.5}
    assert group.beam_meterset == {1: 97.0, 2: 87.0, 3: 89.0, 4: 94.0}
    # 4 beams x 0.5 Gy x 7 fractions = 14 Gy: the beam doses agree with the prescription.
    assert group.fractions_planned * (group.dose_per_fraction_gy or 0) == pytest.approx(14.0)
    assert plan.referenced_structure_set_uid == "1.2.246.352.71.4.320687012.3190.20090511122144"
    assert plan.beams[0].gantry_angle_deg == pytest.approx(327.0)
    assert plan.beams[0].isocentre_mm == pytest.approx((72.5304715048, -304.3445582552, -9.3092401))


def test_pydicom_plan_static_jaw_field() -> None:
    # pydicom test file: one static 6 MV photon beam, 30 fractions, jaws +-100 mm.
    plan = read_rt_plan(_need(PYDICOM_PLAN))
    beam = plan.beams[0]
    assert (plan.fractions_planned, beam.nominal_energy_mev, beam.beam_type) == (30, 6.0, "STATIC")
    assert (beam.field_size_x_mm, beam.field_size_y_mm) == (200.0, 200.0)
    assert beam.field_area_mm2 == pytest.approx(40000.0)
    assert plan.prescription_dose_gy == pytest.approx(30.826203)


def _raster_area_mm2(dataset: Dataset, beam_index: int, step_mm: float = 0.05) -> float:
    """Open area of the first control point by sampling points on a fine grid (reference)."""
    beam = dataset.BeamSequence[beam_index]
    edges = next(
        np.asarray(d.LeafPositionBoundaries, dtype=float)
        for d in beam.BeamLimitingDeviceSequence
        if "LeafPositionBoundaries" in d
    )
    positions = {
        p.RTBeamLimitingDeviceType: [float(v) for v in p.LeafJawPositions]
        for p in beam.ControlPointSequence[0].BeamLimitingDevicePositionSequence
    }
    x1, x2 = positions["ASYMX"]
    y1, y2 = positions["ASYMY"]
    leaves = np.asarray(positions["MLCX"])
    pairs = len(edges) - 1
    xs = np.arange(x1 + step_mm / 2, x2, step_mm)
    ys = np.arange(y1 + step_mm / 2, y2, step_mm)
    pair = np.searchsorted(edges, ys) - 1
    inside = (pair >= 0) & (pair < pairs)
    ys, pair = ys[inside], pair[inside]
    open_ = (xs[None, :] > leaves[pair][:, None]) & (xs[None, :] < leaves[pairs + pair][:, None])
    return float(open_.sum() * step_mm * step_mm)


def test_mlc_aperture_area_agrees_with_rasterised_reference() -> None:
    # Synthetic truth: the aperture sampled point by point at 0.05 mm; the sampling error is
    # below one sample row per leaf edge (< 0.5 % of these 400-550 mm2 apertures).
    dataset = pydicom.dcmread(_need(EXAMPLE_PLAN))
    plan = plan_from_dataset(dataset, str(EXAMPLE_PLAN))
    for index, beam in enumerate(plan.beams):
        assert beam.field_area_mm2 == pytest.approx(_raster_area_mm2(dataset, index), rel=5e-3)


def _ion_plan(dataset: Dataset) -> Dataset:
    """An RT Ion Plan made from the photon plan (the attributes the reader uses)."""
    ion = copy.deepcopy(dataset)
    ion.SOPClassUID = RT_ION_PLAN_STORAGE
    items = []
    for beam in ion.BeamSequence:
        item = Dataset()
        item.BeamNumber = beam.BeamNumber
        item.BeamName = beam.BeamName
        item.BeamType = "STATIC"
        item.RadiationType = "PROTON"
        item.TreatmentDeliveryType = "TREATMENT"
        item.ScanMode = "MODULATED"
        item.VirtualSourceAxisDistances = [2000.0, 2100.0]
        point = Dataset()
        point.NominalBeamEnergy = 150.0
        point.GantryAngle = beam.ControlPointSequence[0].GantryAngle
        point.IsocenterPosition = beam.ControlPointSequence[0].IsocenterPosition
        item.IonControlPointSequence = DicomSequence([point])
        items.append(item)
    ion.IonBeamSequence = DicomSequence(items)
    del ion.BeamSequence
    return ion


def test_ion_plan_reads_ion_beams() -> None:
    plan = plan_from_dataset(_ion_plan(pydicom.dcmread(_need(EXAMPLE_PLAN))), "ion.dcm")
    assert plan.is_ion and plan.radiation_types == ("PROTON",)
    beam = plan.beams[0]
    assert (beam.nominal_energy_mev, beam.scan_mode, beam.source_axis_distance_mm) == (
        150.0,
        "MODULATED",
        2000.0,
    )
    assert beam.field_area_mm2 is None  # no aperture: pencil-beam scanning


def test_bad_plans_name_file_record_and_field(tmp_path: Path) -> None:
    dataset = pydicom.dcmread(_need(EXAMPLE_PLAN))
    broken = copy.deepcopy(dataset)
    broken.FractionGroupSequence[0].ReferencedBeamSequence[0].ReferencedBeamNumber = 9
    with pytest.raises(InvalidInputError, match=r"plan\.dcm: fraction group 1: .*beam\(s\) \[9\]"):
        plan_from_dataset(broken, "plan.dcm")
    broken = copy.deepcopy(dataset)
    broken.BeamSequence[1].RadiationType = "GAMMA"
    with pytest.raises(InvalidInputError, match=r"beam 2: RadiationType: unknown"):
        plan_from_dataset(broken, "plan.dcm")
    broken = copy.deepcopy(dataset)
    broken.FractionGroupSequence[0].NumberOfFractionsPlanned = 0
    with pytest.raises(InvalidInputError, match="NumberOfFractionsPlanned"):
        plan_from_dataset(broken, "plan.dcm")
    broken = copy.deepcopy(dataset)
    del broken.ReferencedStructureSetSequence
    with pytest.raises(InvalidInputError, match="ReferencedStructureSetSequence"):
        plan_from_dataset(broken, "plan.dcm")
    arc = copy.deepcopy(dataset)
    arc.BeamSequence[0].ControlPointSequence[0].GantryRotationDirection = "CW"
    arc.BeamSequence[0].HighDoseTechniqueType = "TBI"
    beam = plan_from_dataset(arc, "plan.dcm").beams[0]
    assert (beam.technique, beam.high_dose_technique) == ("ARC", "TBI")
    broken = copy.deepcopy(dataset)
    del broken.BeamSequence[0].ControlPointSequence[0].BeamLimitingDevicePositionSequence[2]
    plan = plan_from_dataset(broken, "plan.dcm")  # no MLC: the jaws give the field
    assert plan.beams[0].field_area_mm2 == pytest.approx((70 - 9) * 80)
    broken = copy.deepcopy(dataset)  # synthetic truth: a NaN isocentre is no position
    with pytest.warns(UserWarning):  # pydicom warns on an invalid DS value
        broken.BeamSequence[2].ControlPointSequence[0].IsocenterPosition = ["NaN", "0", "0"]
    with pytest.raises(InvalidInputError, match=r"plan\.dcm: beam 3: IsocenterPosition: .*finite"):
        plan_from_dataset(broken, "plan.dcm")
    not_a_plan = tmp_path / "junk.dcm"
    not_a_plan.write_bytes(b"\x00" * 10)
    with pytest.raises((MalformedDicomError, InvalidInputError), match=r"junk\.dcm"):
        read_rt_plan(not_a_plan)
