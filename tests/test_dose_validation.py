"""The shipped conversion-coefficient table against published factors and direct Monte Carlo.

References and tolerances:

1. E/KAP by age against ``../shared/data/mc/paediatric_cardiac_E_per_KAP.csv`` (see its
   PROVENANCE.md): Karambatsakidou et al. 2009 (single factors newborn to 15 y, ICRP 60),
   Ubeda et al. 2017 (medians by age band), Kawasaki et al. 2019 (5-y phantom, PA and LAT).
   Tolerance 30 %, the issue's: the published factors come from other phantoms (PCXMC, a
   physical 5-y phantom) and other spectra and fields. Conventions as in
   ``tests/test_physics_validation.py``: 70 kVp, 3 mm Al + 0.2 mm Cu in total (2.5 mm inherent
   + 0.5 mm added Al), isocentre at the heart, 700/1000 mm, 120 x 120 mm at the detector (8.4 cm
   at the isocentre), no patient support (as in PCXMC); each factor with its own tissue
   weighting (ICRP 60 where the source says so, ICRP 103 otherwise); a factor for all
   projections is compared with the PA/LAT mean. Age bands are taken at their middle
   (<1 y at 0.5 y, 1-<5 y at 3 y, 5-<10 y at 7.5 y, 10-<16 y at 13 y), an assumption: the
   abstracts give no age distribution within the bands. Every comparison is printed
   (``pytest -s``). Known discrepancies are strict xfails with their reason.
2. Table path vs direct Monte Carlo (:class:`~doseline.dosimetry.fluoro.direct.DirectMonteCarlo`,
   one full-spectrum transport run per event, 1e6 histories) on seeded random events at the
   phantom ages, with angles, field, kVp and filters drawn within the table's grid; compared:
   the ICRP 103 effective dose, and the organs with w_T >= 0.12 plus the heart where both
   relative SDs are below 2 %. Tolerance 5 % (the issue's) + 3 sigma of the two paths'
   combined Monte Carlo statistics (the table's from the SDs of its nodes).
3. At grid nodes, the table against a direct energy-response run of the same node (5 sigma,
   no margin: only statistics separate them); at held-back mid-points of the angle and field
   axes, the same comparison shows the interpolation error
   (``scripts/table_interpolation_error.py`` prints its full distribution), tolerance as in 2.

The comparisons with the shipped table's grid fail (interpolation error, see
``_GRID_TOO_COARSE``) and are strict xfails until the grid is refined.
All tests skip with the reason when the shipped table or the reference data are absent.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from doseline.dosimetry.fluoro.body_size import PHANTOM_AGE_Y
from doseline.dosimetry.fluoro.direct import DirectMonteCarlo
from doseline.dosimetry.fluoro.table import DEFAULT_TABLE_NAME, ConversionTable, default_table
from doseline.organs import effective_dose, effective_dose_icrp60

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mc"
REFERENCE = SHARED / "paediatric_cardiac_E_per_KAP.csv"

#: Age (years) at which each age group of the reference table is evaluated (see docstring).
AGE_OF_GROUP = {"neonate": 0.0, "1y": 1.0, "5y": 5.0, "10y": 10.0, "15y": 15.0,
                "<1y": 0.5, "1-<5y": 3.0, "5-<10y": 7.5, "10-<16y": 13.0}  # fmt: skip
#: Beam of the E/KAP comparisons (tests/test_physics_validation.py): total 3 mm Al + 0.2 mm Cu.
BEAM = {
    "kvp": 70.0, "filter_al_mm": 0.5, "filter_cu_mm": 0.2, "secondary_angle_deg": 0.0,
    "field_width_mm": 120.0, "field_height_mm": 120.0,
    "distance_source_to_isocenter_mm": 700.0, "distance_source_to_detector_mm": 1000.0,
}  # fmt: skip
PROJECTIONS = {"PA": 0.0, "LAT": 90.0}
TOLERANCE = 0.30

#: Known discrepancies of the E/KAP comparison, (source_id, age_group, projection_or_mode),
#: found 2026-11-26 with the shipped table (figures: ``pytest -s -k print_e_per_kap``).
_UBEDA = (
    "Ubeda 2017 medians are 35-55 % below Karambatsakidou 2009 at the same ages (1.70 for <1 y "
    "against 3.7 newborn / 1.9 at 1 y; 0.58 for 5-<10 y against 1.0 at 5 y and 0.6 at 10 y), "
    "which the table matches within 12 % at newborn, 1, 5 and 10 y (table +96 to +111 % above "
    "Ubeda); the abstract gives neither the tissue weighting, nor the beam, nor the projection "
    "mix, so the cause cannot be separated"
)
KNOWN_DISCREPANCIES: dict[tuple[str, str, str], str] = {
    ("karambatsakidou2009", "15y", "all (single factor)"): (
        "table 0.22 against 0.40 (-46 %): E/KAP falls 2.9-fold from the 10-y phantom (32 kg) to "
        "the 15-y phantom, whose value is adult-like (adult 0.19); direct transport in the 15-y "
        "phantom gives the same (0.21 PA, 0.22 LAT), so the phantom, not the table, is the "
        "cause; suspect: the 15-y base phantom weighs 66 kg against ICRP 89's 56 kg (male)"
    ),
    ("kawasaki2019", "5y", "LAT cineangiography"): (
        "table 1.96 against 1.5 (+30.5 %), as direct transport in the same phantom "
        "(tests/test_physics_validation.py: 1.97, +31 %); the breast (w_T 0.12) dominates LAT; "
        "suspects: the slim derived 5-y trunk (semi-axes 105 x 60 mm) and the side the tube is "
        "on (the abstract does not say)"
    ),
    ("ubeda2017", "<1y", "all procedures (median)"): _UBEDA,
    ("ubeda2017", "1-<5y", "all procedures (median)"): _UBEDA,
    ("ubeda2017", "5-<10y", "all procedures (median)"): _UBEDA,
}

#: Organs compared between the paths: w_T >= 0.12 in ICRP 103 (Table 3), and the heart.
COMPARED_ORGANS = ("red_bone_marrow", "colon", "lung", "stomach", "breast", "heart")
MAX_REL_SD = 0.02
PATH_TOLERANCE = 0.05


def _shipped_table() -> ConversionTable:
    ref = resources.files("doseline") / "data" / "dosimetry" / DEFAULT_TABLE_NAME
    if not ref.is_file():
        pytest.skip(f"shipped table {DEFAULT_TABLE_NAME} not built yet (doseline dose build-table)")
    return default_table()


@cache
def _script() -> ModuleType:
    path = REPO / "scripts" / "table_interpolation_error.py"
    spec = importlib.util.spec_from_file_location("table_interpolation_error", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- 1. E/KAP against published factors ------------------------------------------------------


def _references() -> list[dict[str, str]]:
    if not REFERENCE.exists():
        return []
    with REFERENCE.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _weighting(row: dict[str, str]) -> str:
    return "ICRP60" if row["tissue_weighting"] == "ICRP60" else "ICRP103"


@cache
def _organ_doses_per_kap(age_y: float) -> dict[str, dict[str, float]]:
    """Organ dose per KAP (Gy per Gy cm2) through the table path, PA and LAT, no support."""
    table = replace(_shipped_table(), support_pmma_equivalent_mm=0.0)
    events = pd.DataFrame(
        [{"age_y": age_y, "primary_angle_deg": angle, **BEAM} for angle in PROJECTIONS.values()],
        index=list(PROJECTIONS),
    )
    per_kap = table.dose_per_kap(events)
    return {
        p: dict(zip(table.organs, per_kap.loc[p].to_numpy(float), strict=True)) for p in PROJECTIONS
    }


def _e_per_kap_msv(age_y: float, projection: str, weighting: str) -> float:
    doses = _organ_doses_per_kap(age_y)[projection]
    if weighting == "ICRP60":
        return 1000.0 * effective_dose_icrp60(doses)
    return 1000.0 * float(effective_dose(doses))


def _ours(row: dict[str, str]) -> float:
    age = AGE_OF_GROUP[row["age_group"]]
    mode = row["projection_or_mode"]
    if mode.startswith(("PA", "LAT")):
        return _e_per_kap_msv(age, mode.split()[0], _weighting(row))
    return float(np.mean([_e_per_kap_msv(age, p, _weighting(row)) for p in PROJECTIONS]))


def _case(row: dict[str, str]) -> object:
    key = (row["source_id"], row["age_group"], row["projection_or_mode"])
    reason = KNOWN_DISCREPANCIES.get(key)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(row, id="-".join(key), marks=marks)


def test_print_e_per_kap_comparison() -> None:
    rows = _references()
    if not rows:
        pytest.skip(f"reference table {REFERENCE.name} not found under {SHARED}")
    _shipped_table()
    lines = [f"{'source':<20} {'age':<8} {'projection':<26} {'weights':<8} {'ref':>6} "
             f"{'table':>7} {'diff':>7}"]  # fmt: skip
    for row in rows:
        ours, reference = _ours(row), float(row["value"])
        lines.append(
            f"{row['source_id']:<20} {row['age_group']:<8} {row['projection_or_mode']:<26} "
            f"{_weighting(row):<8} {reference:6.2f} {ours:7.3f} {ours / reference - 1:+7.1%}"
        )
    print("\nE/KAP, mSv/(Gy cm2), table path, 70 kVp 3 mm Al + 0.2 mm Cu:\n" + "\n".join(lines))
    assert len(rows) >= 13


@pytest.mark.parametrize("row", [_case(row) for row in _references()])
def test_e_per_kap_against_published_factors(row: dict[str, str]) -> None:
    ours = _ours(row)
    assert ours == pytest.approx(float(row["value"]), rel=TOLERANCE), (row, ours)


# --- 2. table path vs direct Monte Carlo -----------------------------------------------------


def _random_events(table: ConversionTable, n_per_age: int, seed: int) -> pd.DataFrame:
    """Events at the phantom ages, geometry and spectrum uniform within the table's grid."""
    rng = np.random.default_rng(seed)
    ages = np.repeat(list(PHANTOM_AGE_Y.values()), n_per_age)
    n = ages.size
    sod, sid = _script().table_distances_mm(table)
    side_cm = rng.uniform(table.field_axis_cm[0], table.field_axis_cm[-1], n)
    width = side_cm * 10.0 * sid / sod
    return pd.DataFrame({
        "age_y": ages,
        "primary_angle_deg": rng.uniform(table.primary_axis_deg[0], table.primary_axis_deg[-1], n),
        "secondary_angle_deg": rng.uniform(
            table.secondary_axis_deg[0], table.secondary_axis_deg[-1], n
        ),
        "field_width_mm": width, "field_height_mm": width,
        "distance_source_to_isocenter_mm": sod, "distance_source_to_detector_mm": sid,
        "kvp": rng.uniform(60.0, 110.0, n), "filter_cu_mm": rng.uniform(0.0, 0.9, n),
        "filter_al_mm": rng.uniform(0.0, 2.0, n),
    })  # fmt: skip


def _path_comparison(table: ConversionTable, events: pd.DataFrame) -> pd.DataFrame:
    """Long frame: event, organ (and effective dose), table, direct, both rel SDs, error."""
    script = _script()
    tabulated = table.dose_per_kap(events)[list(table.organs)]
    tab_rel = script.table_rel_sd(table, events)
    direct, direct_rel = DirectMonteCarlo(n_histories=1_000_000, seed=100).dose_per_kap_with_rel_sd(
        events
    )
    direct, direct_rel = direct[list(table.organs)], direct_rel[list(table.organs)]
    weights = script.effective_dose_weights(table.organs)
    rows = []
    for i, label in enumerate(events.index):
        t, d, d_rel = (
            tabulated.loc[label].to_numpy(),
            direct.loc[label].to_numpy(),
            direct_rel.loc[label].to_numpy(),
        )
        for organ in COMPARED_ORGANS:
            j = table.organs.index(organ)
            rows.append((label, organ, t[j], d[j], tab_rel[i, j], d_rel[j]))
        e_rel = (script.combined_rel_sd(weights, t, tab_rel[i]),
                 script.combined_rel_sd(weights, d, d_rel))  # fmt: skip
        rows.append((label, "effective_dose", float(weights @ t), float(weights @ d), *e_rel))
    out = pd.DataFrame(
        rows, columns=["event", "organ", "table", "direct", "table_rel_sd", "direct_rel_sd"]
    )
    out["error"] = out["table"] / out["direct"] - 1.0
    out["sigma"] = np.hypot(out["table_rel_sd"], out["direct_rel_sd"])
    return out


def _compared(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows compared (the effective dose always, organs where both relative SDs are below
    2 %) and those outside 5 % + 3 sigma."""
    well_scored = (results["table_rel_sd"] < MAX_REL_SD) & (results["direct_rel_sd"] < MAX_REL_SD)
    compared = results[well_scored | (results["organ"] == "effective_dose")]
    beyond = compared["error"].abs() > PATH_TOLERANCE + 3.0 * compared["sigma"]
    return compared, compared[beyond]


#: Found 2026-11-26 with the shipped table; the grid is what needs refining, not the tolerance.
_GRID_TOO_COARSE = (
    "known: the shipped grid (primary angle in 15 deg steps, secondary 20 deg, field side "
    "5/6.5/8/10/12/14/16 cm) still interpolates a few organ doses near the field edge beyond "
    "5 % + 3 sigma: on the random events 2 of 56 comparisons (stomach +13 %, heart -6.7 %; the "
    "effective dose passes on all 12 events, largest +5.0 %); at the held-back points of this "
    "test 2 of 65 (red bone marrow +8.4/+8.8 % at one point between all axes); over the 48 "
    "held-back points (2 spectra each) of scripts/table_interpolation_error.py (6 ages) the "
    "effective dose error has median 2.4 %, 90th percentile 5.6 %, maximum 13.8 % (heart "
    "2.0/5.0/17.9 %, lung 1.3/4.2/12.1 %, red bone marrow 1.3/7.5/9.5 %). At the nodes the "
    "paths agree (test_table_equals_direct_at_nodes)"
)


@cache
def _random_comparison() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The seeded random events and their table-vs-direct comparison (computed once)."""
    table = _shipped_table()
    events = _random_events(table, n_per_age=2, seed=2026)
    return events, _path_comparison(table, events)


@pytest.mark.slow
def test_effective_dose_table_path_agrees_with_direct_monte_carlo() -> None:
    """The effective dose of every random event, table vs direct, within 5 % + 3 sigma."""
    _, results = _random_comparison()
    compared, failed = _compared(results[results["organ"] == "effective_dose"])
    assert len(compared) == 12
    assert failed.empty, "\n" + failed.round(4).to_string()


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=_GRID_TOO_COARSE)
def test_table_path_agrees_with_direct_monte_carlo() -> None:
    events, results = _random_comparison()
    pd.set_option("display.width", 160)
    print("\nevents:\n" + events.round(2).to_string())
    print("\ntable vs direct Monte Carlo (Gy per Gy cm2):\n" + results.round(5).to_string())
    compared, failed = _compared(results)
    print(f"{len(failed)} of {len(compared)} comparisons beyond 5 % + 3 sigma")
    assert (compared["organ"] == "effective_dose").sum() == len(events)
    assert failed.empty, "\n" + failed.round(4).to_string()


# --- 3. grid nodes and held-back grid points -------------------------------------------------


@pytest.mark.slow
def test_table_equals_direct_at_nodes() -> None:
    """At its own nodes the table is the direct response run up to Monte Carlo statistics
    (another run, other seeds). Tolerance 5 sigma without a margin: sigma comes from 10
    batches, a Student t with 9 degrees of freedom, P(|t| > 5) = 0.07 %; geometry or
    normalisation mistakes give differences of 10 % and more (> 10 sigma here)."""
    table = _shipped_table()
    script = _script()
    primary, secondary, sides = (
        table.primary_axis_deg,
        table.secondary_axis_deg,
        table.field_axis_cm,
    )
    nodes = [("1y", primary[-3], secondary[1], sides[0]), ("10y", primary[2], secondary[-2],
             sides[-1]), ("10y", primary[-1], secondary[2], sides[1])]  # fmt: skip
    frames = []
    for i, (age, primary, secondary, side) in enumerate(nodes):
        point = pd.Series({"age": age, "kind": "node", "primary_angle_deg": primary,
                           "secondary_angle_deg": secondary, "field_side_cm": side})  # fmt: skip
        frames.append(script.compare_point(table, point, 1_000_000, seed=900 + i))
    results = pd.concat(frames, ignore_index=True)
    well_scored = (results["table_rel_sd"] < MAX_REL_SD) & (results["direct_rel_sd"] < MAX_REL_SD)
    compared = results[well_scored | (results["organ"] == "effective_dose")]
    z = compared["error"] / compared["sigma"]
    print(f"\nnodes: {len(compared)} comparisons, z mean {z.mean():+.2f}, SD {z.std():.2f}")
    assert len(compared) >= 20
    assert (z.abs() <= 5.0).all(), "\n" + compared[z.abs() > 5.0].round(4).to_string()


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=_GRID_TOO_COARSE)
def test_interpolation_error_at_held_back_points() -> None:
    table = _shipped_table()
    script = _script()
    results = script.run(table, ["1y", "10y"], 4, 1_000_000, 7)
    main = results[results["organ"].isin([*COMPARED_ORGANS, "effective_dose"])]
    print("\nheld-back points, table / direct - 1:\n" + script.summarise(main).round(4).to_string())
    compared, failed = _compared(main)
    print(f"{len(failed)} of {len(compared)} comparisons beyond 5 % + 3 sigma")
    assert failed.empty, "\n" + failed.round(4).to_string()
