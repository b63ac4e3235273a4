"""Event frames, beam geometry factors and the conversion-coefficient table, on synthetic truths.

References and tolerances:

- events: the ranges and messages documented in :mod:`doseline.dosimetry.fluoro.events`;
- field side at the isocentre: the area-equivalent square scaled by SOD / SID (similar
  triangles), hand-computed, to 1e-12;
- equivalent age: the phantoms' own reference sizes (``age_scaling``) give back their ages, and
  a size index half-way between two phantoms gives the mid age (linear interpolation), to 1e-9;
- patient support: path ``t`` for a PA beam, ``t / |d_y|`` oblique, 0 above the table and
  within 15 deg of horizontal (the rule of :mod:`doseline.dosimetry.fluoro.geometry`), with
  ``d_y`` from the DICOM angle convention written out here (PS3.3 C.8.7.5.1.2), to 1e-12; the
  table attenuates each energy bin by ``exp(-mu_k path)``;
- table: multilinear interpolation reproduces exactly (to rounding, 1e-12) any function linear
  in each axis, so a table filled from a linear function must return that function between the
  nodes, and any table must return its node values at the nodes; inputs outside the grid take
  the value at the clamped edge;
- save/load: responses are stored as float32, so the round trip is exact to float32 rounding
  (relative 2**-24 per entry; 1e-6 on folded values);
- organ doses: ``CF x KAP x k_cal`` (the formula of
  :mod:`doseline.dosimetry.fluoro.doses`), to 1e-12.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from doseline.dosimetry.fluoro.body_size import equivalent_age_y
from doseline.dosimetry.fluoro.doses import DoseFactors, event_organ_doses
from doseline.dosimetry.fluoro.events import (
    DEFAULT_SID_MM,
    DEFAULT_SOD_MM,
    FluoroEvent,
    check_events,
    field_side_at_isocentre_cm,
)
from doseline.dosimetry.fluoro.geometry import (
    DEFAULT_TABLE_PMMA_EQUIVALENT_MM,
    pmma_attenuation_per_mm,
    support_path_mm,
)
from doseline.dosimetry.fluoro.spectral import SpectralGrid
from doseline.dosimetry.fluoro.table import ConversionTable
from doseline.errors import InvalidInputError
from doseline.organs import ORGANS, effective_dose
from doseline.physics.phantoms.stylised import age_scaling

F64 = npt.NDArray[np.float64]

AGES_Y = np.array([1.0, 5.0, 10.0])
PRIMARY_DEG = np.array([-30.0, 0.0, 30.0])
SECONDARY_DEG = np.array([-20.0, 0.0, 20.0])
SIDES_CM = np.array([5.0, 9.0, 16.0])
EDGES_KEV = np.array([10.0, 50.0, 90.0, 130.0])
KVP = np.array([60.0, 80.0, 100.0])
AL_MM = np.array([0.0, 2.0])
CU_MM = np.array([0.0, 0.3])
ORGAN_NAMES = tuple(o for o in ORGANS if o != "whole_body")
#: SOD / SID = 1/2, so a field of 20 x side mm at the detector is ``side`` cm at the isocentre.
SOD_MM, SID_MM = 500.0, 1000.0


def _grid(*axes: F64) -> list[F64]:
    return list(np.meshgrid(*axes, indexing="ij"))


def _linear_q(coef: F64, kvp: F64, al: F64, cu: F64) -> F64:
    """Photons per KAP linear in each spectral input: ``q_k = a_k + b_k kVp + c_k Al + d_k Cu``."""
    q: F64 = coef[0] * 1e9 + coef[1] * 1e7 * kvp[..., None] + coef[2] * 1e8 * al[..., None]
    q = q + coef[3] * 1e9 * cu[..., None]
    return q


def _spectral(linear: bool, rng: np.random.Generator) -> tuple[SpectralGrid, F64]:
    n_bins = EDGES_KEV.size - 1
    coef = rng.uniform(0.5, 1.5, (4, n_bins))
    if linear:
        q = _linear_q(coef, *_grid(KVP, AL_MM, CU_MM))
    else:
        q = rng.uniform(1e9, 5e9, (KVP.size, AL_MM.size, CU_MM.size, n_bins))
    return SpectralGrid(KVP, AL_MM, CU_MM, EDGES_KEV, q, inherent_al_mm=2.5), coef


def _table(linear: bool, seed: int = 3) -> tuple[ConversionTable, F64, F64]:
    """A synthetic table and (used when ``linear``) the coefficients of its per-cos response
    ``f_ko = (c0 + c1 age + c2 primary + c3 secondary + c4 side) / side^2`` and of its spectra.
    The table interpolates ``f x side^2`` (dose per air kerma at the isocentre) linearly, so
    this response is reproduced exactly between the nodes."""
    rng = np.random.default_rng(seed)
    n_bins, n_organs = EDGES_KEV.size - 1, len(ORGAN_NAMES)
    shape = (AGES_Y.size, PRIMARY_DEG.size, SECONDARY_DEG.size, SIDES_CM.size)
    inv_cos = rng.uniform(1.0, 1.1, shape)
    coef = (
        rng.uniform(0.5, 1.5, (5, n_bins, n_organs))
        * np.array([1e-12, 1e-13, 1e-15, 1e-15, 1e-13])[:, None, None]
    )
    if linear:
        age, primary, secondary, side = (g[..., None, None] for g in _grid(*_axes()))
        per_cos = coef[0] + coef[1] * age + coef[2] * primary + coef[3] * secondary
        per_cos = (per_cos + coef[4] * side) / side**2
    else:
        per_cos = rng.lognormal(np.log(1e-12), 1.0, (*shape, n_bins, n_organs))
    spectral, q_coef = _spectral(linear, rng)
    table = ConversionTable(
        *_axes(), organs=ORGAN_NAMES, response=per_cos * inv_cos[..., None, None],
        rel_sd=np.full((*shape, n_bins, n_organs), 0.02), mean_inverse_cosine=inv_cos,
        spectral=spectral, metadata={"made_by": "tests/test_dose_table.py"},
        support_pmma_equivalent_mm=0.0,
    )  # fmt: skip
    return table, coef, q_coef


def _axes() -> tuple[F64, F64, F64, F64]:
    return AGES_Y, PRIMARY_DEG, SECONDARY_DEG, SIDES_CM


def _events(*columns: F64, **extra: Any) -> pd.DataFrame:
    """Events from (age, primary, secondary, field side cm, kVp, Al mm, Cu mm) arrays."""
    age, primary, secondary, side_cm, kvp, al, cu = columns
    frame = pd.DataFrame({
        "age_y": age, "kvp": kvp, "filter_al_mm": al, "filter_cu_mm": cu,
        "primary_angle_deg": primary, "secondary_angle_deg": secondary,
        "field_width_mm": 20.0 * side_cm, "field_height_mm": 20.0 * side_cm,
        "distance_source_to_isocenter_mm": SOD_MM, "distance_source_to_detector_mm": SID_MM,
    })  # fmt: skip
    for column, values in extra.items():
        frame[column] = values
    return frame


def _random_events(n: int, seed: int = 9) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return _events(
        rng.uniform(1, 10, n), rng.uniform(-30, 30, n), rng.uniform(-20, 20, n),
        rng.uniform(5, 16, n), rng.uniform(60, 100, n), rng.uniform(0, 2, n),
        rng.uniform(0, 0.3, n),
    )  # fmt: skip


# --- events ----------------------------------------------------------------------------------


def test_check_events_fills_the_documented_defaults() -> None:
    frame = pd.DataFrame({
        "age_y": [4.0], "kvp": [70.0], "primary_angle_deg": [0.0], "secondary_angle_deg": [0.0],
        "field_width_mm": [150.0], "field_height_mm": [150.0],
    })  # fmt: skip
    checked = check_events(frame)
    assert checked.loc[0, "filter_cu_mm"] == 0.0
    assert checked.loc[0, "filter_al_mm"] == 0.0
    assert checked.loc[0, "distance_source_to_detector_mm"] == DEFAULT_SID_MM
    assert checked.loc[0, "distance_source_to_isocenter_mm"] == DEFAULT_SOD_MM
    assert checked["kap_gycm2"].isna().all()
    assert checked.loc[0, "sex"] is None


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("kvp", 200.0, "outside the plausible range 40.0-150.0"),
        ("kvp", "seventy", "is not a number"),
        ("age_y", np.nan, "is missing"),
        ("primary_angle_deg", 270.0, "outside the plausible range"),
        ("filter_cu_mm", -0.1, "outside the plausible range"),
        ("field_width_mm", 0.0, "outside the plausible range"),
        ("kap_gycm2", -1.0, "outside the plausible range"),
        ("sex", "M", "must be 'male' or 'female'"),
        ("distance_source_to_isocenter_mm", 1200.0, "must be < source-to-detector"),
    ],
)
def test_check_events_names_record_and_field(column: str, value: float | str, reason: str) -> None:
    frame = _events(*(np.full(3, v) for v in (5.0, 0.0, 0.0, 9.0, 70.0, 0.0, 0.1)))
    frame["kap_gycm2"] = 1.0
    frame["sex"] = "female"
    frame.index = pd.Index(["ev1", "ev2", "ev3"])
    frame[column] = frame[column].astype(object)
    frame.loc["ev2", column] = value
    with pytest.raises(InvalidInputError, match=reason) as raised:
        check_events(frame, source="study.dcm")
    assert raised.value.source == "study.dcm"
    assert raised.value.record == "event ev2"
    assert raised.value.field == column


def test_check_events_names_missing_columns() -> None:
    frame = _events(*(np.full(1, v) for v in (5.0, 0.0, 0.0, 9.0, 70.0, 0.0, 0.1)))
    with pytest.raises(InvalidInputError, match=r"missing column.*kvp") as raised:
        check_events(frame.drop(columns="kvp"), source="export.csv")
    assert raised.value.source == "export.csv"


def test_fluoro_event_is_checked_on_construction() -> None:
    event = FluoroEvent(age_y=3.0, kvp=70.0, primary_angle_deg=0.0, secondary_angle_deg=0.0,
                        field_width_mm=150.0, field_height_mm=150.0)  # fmt: skip
    assert event.to_frame().loc[0, "kvp"] == 70.0
    with pytest.raises(InvalidInputError) as raised:
        FluoroEvent(age_y=3.0, kvp=30.0, primary_angle_deg=0.0, secondary_angle_deg=0.0,
                    field_width_mm=150.0, field_height_mm=150.0)  # fmt: skip
    assert raised.value.field == "kvp"


def test_field_side_at_isocentre_is_the_equal_area_square_scaled_to_the_isocentre() -> None:
    frame = pd.DataFrame({
        "field_width_mm": [200.0, 100.0], "field_height_mm": [200.0, 400.0],
        "distance_source_to_isocenter_mm": [750.0, 600.0],
        "distance_source_to_detector_mm": [1000.0, 1200.0],
    })  # fmt: skip
    # 200 mm x 0.75 = 150 mm; sqrt(100 x 400) = 200 mm x 0.5 = 100 mm
    np.testing.assert_allclose(field_side_at_isocentre_cm(frame), [15.0, 10.0], rtol=1e-12)


# --- equivalent age --------------------------------------------------------------------------


def _size_index(age: str) -> float:
    ref = age_scaling(age)
    return math.sqrt(ref.body_mass_g / 1000.0 / ref.height_cm)


def test_equivalent_age_from_reference_sizes_and_clamping() -> None:
    ref5, ref10 = age_scaling("5y"), age_scaling("10y")
    mid_index = 0.5 * (_size_index("5y") + _size_index("10y"))
    frame = pd.DataFrame({
        "age_y": [8.0, 8.0, 8.0, 30.0, 0.5, 2.0],
        "height_cm": [ref5.height_cm, ref10.height_cm, 120.0, np.nan, 40.0, 90.0],
        "weight_kg": [ref5.body_mass_g / 1000, ref10.body_mass_g / 1000,
                      120.0 * mid_index**2, np.nan, 0.4, np.nan],
    })  # fmt: skip
    # 5y and 10y sizes; mid-size -> 7.5 y; no size -> age clamped to 20; a size below the
    # newborn's -> 0 (clamped); height without weight -> the age
    np.testing.assert_allclose(
        equivalent_age_y(frame), [5.0, 10.0, 7.5, 20.0, 0.0, 2.0], rtol=1e-9, atol=1e-9
    )


# --- patient support -----------------------------------------------------------------------


def _d_y(primary_deg: float, secondary_deg: float) -> float:
    """y (posterior) component of the isocentre-to-detector direction, DICOM LPS."""
    return -math.cos(math.radians(primary_deg)) * math.cos(math.radians(secondary_deg))


def test_support_path_rules() -> None:
    t_mm = 12.0
    angles = [(0.0, 0.0), (180.0, 0.0), (30.0, 0.0), (-45.0, 25.0), (80.0, 0.0), (90.0, 0.0),
              (0.0, 80.0), (100.0, 0.0)]  # fmt: skip
    frame = pd.DataFrame(angles, columns=["primary_angle_deg", "secondary_angle_deg"])
    expected = [
        t_mm,  # PA: source under the table, perpendicular path
        0.0,  # AP: source above the patient
        t_mm / abs(_d_y(30.0, 0.0)),  # LAO 30: oblique path, t / cos 30
        t_mm / abs(_d_y(-45.0, 25.0)),  # RAO 45 cranial 25
        0.0,  # 10 deg from horizontal: beside the table edge
        0.0,  # lateral
        0.0,  # steep cranial: 10 deg from horizontal
        0.0,  # source above the table
    ]
    np.testing.assert_allclose(support_path_mm(frame, t_mm), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="support thickness"):
        support_path_mm(frame, -1.0)


def test_table_attenuates_each_bin_by_the_support() -> None:
    """CF with a support = sum_k q_k exp(-mu_k t / |d_y|) R_k / <1/cos> at a node (the model of
    :mod:`doseline.dosimetry.fluoro.geometry`, mu of PMMA at the bin centres); a lateral beam
    is not attenuated."""
    bare, _, _ = _table(linear=False)
    table = replace(bare, support_pmma_equivalent_mm=12.5)
    events = _events(*(np.array([v, v]) for v in (5.0, 0.0, 0.0, 9.0, 80.0, 2.0, 0.3)))
    events["primary_angle_deg"] = [30.0, 30.0]
    events["secondary_angle_deg"] = [0.0, 20.0]
    mids = 0.5 * (EDGES_KEV[:-1] + EDGES_KEV[1:])
    got = table.dose_per_kap(events).to_numpy()
    for row, secondary in enumerate((0.0, 20.0)):
        node = (1, 2, 1 if secondary == 0.0 else 2, 1)
        path_mm = 12.5 / abs(_d_y(30.0, secondary))
        q = table.spectral.photons_per_kap[1, 1, 1] * np.exp(
            -pmma_attenuation_per_mm(mids) * path_mm
        )
        expected = q @ table.response[node] / table.mean_inverse_cosine[node]
        np.testing.assert_allclose(got[row], expected, rtol=1e-12)
    lateral = events.assign(primary_angle_deg=[90.0, -90.0], secondary_angle_deg=0.0)
    wide = replace(bare, primary_axis_deg=np.array([-90.0, 0.0, 90.0]))
    np.testing.assert_allclose(
        replace(wide, support_pmma_equivalent_mm=12.5).dose_per_kap(lateral).to_numpy(),
        wide.dose_per_kap(lateral).to_numpy(), rtol=1e-12,
    )  # fmt: skip


# --- table interpolation ---------------------------------------------------------------------


def test_table_is_exact_at_the_nodes() -> None:
    table, _, _ = _table(linear=False)
    nodes = np.array(np.meshgrid(AGES_Y, PRIMARY_DEG, SECONDARY_DEG, SIDES_CM, indexing="ij"))
    nodes = nodes.reshape(4, -1)
    n = nodes.shape[1]
    spectral_nodes = np.array(np.meshgrid(KVP, AL_MM, CU_MM, indexing="ij")).reshape(3, -1)
    pick = np.arange(n) % spectral_nodes.shape[1]
    kvp, al, cu = spectral_nodes[:, pick]
    got = table.dose_per_kap(_events(*nodes, kvp, al, cu)).to_numpy()
    a, p, s, f = (np.searchsorted(axis, v) for axis, v in zip(_axes(), nodes, strict=True))
    i, j, m = (np.searchsorted(axis, v) for axis, v in zip((KVP, AL_MM, CU_MM), (kvp, al, cu),
                                                            strict=True))  # fmt: skip
    q = table.spectral.photons_per_kap[i, j, m]
    per_cos = table.response[a, p, s, f] / table.mean_inverse_cosine[a, p, s, f][:, None, None]
    expected = np.einsum("nk,nko->no", q, per_cos)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_table_is_linear_between_the_nodes() -> None:
    table, coef, q_coef = _table(linear=True)
    events = _random_events(200)
    got = table.dose_per_kap(events).to_numpy()
    columns = ("age_y", "primary_angle_deg", "secondary_angle_deg")
    geometry = [*(events[c].to_numpy() for c in columns), field_side_at_isocentre_cm(events)]
    f = coef[0] + sum(coef[i + 1] * g[:, None, None] for i, g in enumerate(geometry))
    f = f / geometry[3][:, None, None] ** 2
    kvp, al, cu = (events[c].to_numpy() for c in ("kvp", "filter_al_mm", "filter_cu_mm"))
    q_truth = _linear_q(q_coef, kvp, al, cu)
    q = table.spectral.photons_per_kap_for(check_events(events))
    np.testing.assert_allclose(q, q_truth, rtol=1e-12)
    np.testing.assert_allclose(got, np.einsum("nk,nko->no", q_truth, f), rtol=1e-12)


def test_inputs_outside_the_grid_are_clamped_and_reported() -> None:
    table, _, _ = _table(linear=False)
    outside = _events(np.array([0.5, 5.0, 5.0]), np.array([0.0, 60.0, 0.0]),
                      np.array([0.0, 0.0, -40.0]), np.array([9.0, 3.0, 9.0]),
                      np.array([120.0, 80.0, 80.0]), np.array([1.0, 1.0, 5.0]),
                      np.array([0.1, 0.1, 0.1]))  # fmt: skip
    clamped = _events(np.array([1.0, 5.0, 5.0]), np.array([0.0, 30.0, 0.0]),
                      np.array([0.0, 0.0, -20.0]), np.array([9.0, 5.0, 9.0]),
                      np.array([100.0, 80.0, 80.0]), np.array([1.0, 1.0, 2.0]),
                      np.array([0.1, 0.1, 0.1]))  # fmt: skip
    np.testing.assert_allclose(
        table.dose_per_kap(outside).to_numpy(), table.dose_per_kap(clamped).to_numpy(),
        rtol=1e-12,
    )  # fmt: skip
    reported = table.out_of_range(outside)
    assert set(reported.iloc[0].split(",")) == {"kvp", "age_y"}
    assert set(reported.iloc[1].split(",")) == {"primary_angle_deg", "field_side_cm"}
    assert set(reported.iloc[2].split(",")) == {"filter_al_mm", "secondary_angle_deg"}
    assert (table.out_of_range(clamped) == "").all()


def test_table_uses_the_equivalent_age_of_height_and_weight() -> None:
    table, _, _ = _table(linear=False)
    ref = age_scaling("10y")
    base = [np.array([v]) for v in (5.0, 10.0, 5.0, 9.0, 80.0, 1.0, 0.1)]
    sized = _events(*base, height_cm=ref.height_cm, weight_kg=ref.body_mass_g / 1000.0)
    by_age = _events(np.array([10.0]), *base[1:])
    np.testing.assert_allclose(
        table.dose_per_kap(sized).to_numpy(), table.dose_per_kap(by_age).to_numpy(), rtol=1e-9
    )


def test_save_load_round_trip(tmp_path: Path) -> None:
    table, _, _ = _table(linear=False)
    path = tmp_path / "table.npz"
    table.save(path)
    loaded = ConversionTable.load(path)
    assert loaded.organs == table.organs
    assert loaded.metadata == table.metadata
    for name in ("age_axis_y", "primary_axis_deg", "secondary_axis_deg", "field_axis_cm",
                 "mean_inverse_cosine"):  # fmt: skip
        np.testing.assert_array_equal(getattr(loaded, name), getattr(table, name))
    np.testing.assert_array_equal(loaded.response, table.response.astype(np.float32))
    np.testing.assert_array_equal(loaded.spectral.photons_per_kap, table.spectral.photons_per_kap)
    assert loaded.spectral.inherent_al_mm == table.spectral.inherent_al_mm
    # the support is a setting of use, not of the file: a loaded table has the default
    assert loaded.support_pmma_equivalent_mm == DEFAULT_TABLE_PMMA_EQUIVALENT_MM
    events = _random_events(20)
    np.testing.assert_allclose(
        replace(loaded, support_pmma_equivalent_mm=0.0).dose_per_kap(events).to_numpy(),
        table.dose_per_kap(events).to_numpy(),
        rtol=1e-6,
    )


def test_malformed_table_files_raise_invalid_input(tmp_path: Path) -> None:
    text = tmp_path / "text.npz"
    text.write_text("not a table", encoding="utf-8")
    table, _, _ = _table(linear=False)
    good = tmp_path / "good.npz"
    table.save(good)
    with np.load(good) as data:
        arrays = {key: data[key] for key in data.files}
    missing = tmp_path / "missing.npz"
    np.savez(missing, **{k: v for k, v in arrays.items() if k != "response"})
    misshapen = tmp_path / "misshapen.npz"
    np.savez(misshapen, **{**arrays, "response": arrays["response"][:, :2]})
    bad_json = tmp_path / "bad_json.npz"
    np.savez(bad_json, **{**arrays, "metadata": np.array("{not json")})
    for path in (text, missing, misshapen, bad_json, tmp_path / "absent.npz"):
        with pytest.raises(InvalidInputError, match="not a conversion-coefficient table") as e:
            ConversionTable.load(path)
        assert e.value.source == str(path)


# --- organ doses -----------------------------------------------------------------------------


def test_event_organ_doses_is_coefficient_times_kap_times_calibration() -> None:
    table = replace(_table(linear=False)[0], support_pmma_equivalent_mm=12.5)
    events = _random_events(6)
    events["primary_angle_deg"] = [0.0, 30.0, -30.0, 0.0, 10.0, -20.0]
    events["kap_gycm2"] = [0.5, 2.0, 1.0, 3.5, 0.1, 7.0]
    events["sex"] = ["male", "female", None, "male", "female", None]
    events.index = pd.Index([10, 11, 12, 13, 14, 15])
    doses = event_organ_doses(events, table, DoseFactors(kap_calibration=1.2))
    scale = events["kap_gycm2"].to_numpy() * 1.2
    expected = table.dose_per_kap(events).mul(scale, axis=0)
    e_expected = effective_dose({o: expected[o].to_numpy() for o in expected.columns})
    np.testing.assert_allclose(doses["effective_dose_sv"], e_expected, rtol=1e-12)
    assert list(doses.index) == list(events.index)
    male, female = events["sex"] == "male", events["sex"] == "female"
    for organ in ("ovaries", "uterus"):
        assert doses.loc[male, organ].isna().all()
        np.testing.assert_allclose(doses.loc[~male, organ], expected.loc[~male, organ], rtol=1e-12)
    for organ in ("testes", "prostate"):
        assert doses.loc[female, organ].isna().all()
        np.testing.assert_allclose(
            doses.loc[~female, organ], expected.loc[~female, organ], rtol=1e-12
        )
    shared = [o for o in ORGAN_NAMES if o not in {"ovaries", "uterus", "testes", "prostate"}]
    np.testing.assert_allclose(doses[shared], expected[shared], rtol=1e-12)


def test_event_organ_doses_needs_kap() -> None:
    table, _, _ = _table(linear=False)
    events = _random_events(3)
    events["kap_gycm2"] = [1.0, np.nan, 2.0]
    with pytest.raises(InvalidInputError, match="no KAP") as raised:
        event_organ_doses(events, table)
    assert raised.value.record == "event 1"
    assert raised.value.field == "kap_gycm2"


@pytest.mark.parametrize("calibration", [0.3, 3.0, float("nan")])
def test_dose_factors_refuse_implausible_calibration(calibration: float) -> None:
    with pytest.raises(ValueError, match="kap_calibration"):
        DoseFactors(kap_calibration=calibration)
