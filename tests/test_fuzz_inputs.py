"""Bounded fuzzing of the tabular and text inputs.

Contract (DESIGN.md, "Bad input"): each reader gives a result or one of doseline's input errors
(``InvalidInputError`` and subclasses) whose message names the file or table; never another
exception. Covered: the ``doseline cohort tabulate`` frames (:class:`CohortFrames` and the
person-time table), ``doseline cohort fit`` tables (:class:`PoissonModel`), the SIR reference
rates CSV, the ICRP 110 phantom files, the Monte Carlo scenario YAML and the risk exposures CSV.

References: synthetic inputs only. Values and structure are drawn by hypothesis with
``derandomize=True`` and bounded example counts (reproducible in CI, shrinking on failure), as
in ``tests/test_fuzz_rdsr.py``. Where a result is returned, the test also checks a synthetic
truth it can (person-years equal to the follow-up the frames describe).
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from doseline.cli import app
from doseline.cohort.frames import CohortFrames
from doseline.cohort.persontime import PersonTimeSpec, person_time_table
from doseline.cohort.poisson import PoissonModel
from doseline.cohort.sir import ReferenceRates, sir
from doseline.errors import InvalidInputError
from doseline.physics import scenario
from doseline.physics.phantoms import read_icrp110_phantom
from doseline.risk.sources import read_exposures_csv

FUZZ = settings(
    max_examples=80,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A scratch folder shared by the hypothesis examples of this module."""
    with tempfile.TemporaryDirectory(prefix="doseline-fuzz-inputs-") as folder:
        yield Path(folder)


def _outcome(call: Callable[[], Any], *names: str) -> Any:
    """Run ``call``; return its result, or the input error after checking it names a source."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    except InvalidInputError as error:
        assert any(name in str(error) for name in names), f"names none of {names}: {error}"
        return error


# --- cohort tabulate: CohortFrames and the person-time table --------------------------------

_BAD_AGES = [float("nan"), -1.0, -0.001, float("inf"), None, "x", ""]
_BAD_DOSES = [float("nan"), -0.1, float("inf"), None, "abc"]
_GRAYS = st.floats(min_value=0, max_value=5)
_CORRUPTIONS = ["cell", "duplicate_id", "exit_before_entry", "drop_column", "unknown_person"]


@st.composite
def _cohorts(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A valid small cohort, then up to two corruptions of its values or structure."""
    n = draw(st.integers(min_value=1, max_value=6))
    ages = st.floats(min_value=0, max_value=40)
    entry = draw(st.lists(ages, min_size=n, max_size=n))
    length = draw(st.lists(st.floats(min_value=0, max_value=40), min_size=n, max_size=n))
    persons = pd.DataFrame(
        {
            "person_id": list(range(1, n + 1)),
            "sex": draw(st.lists(st.sampled_from(["M", "F"]), min_size=n, max_size=n)),
            "entry_age_y": entry,
            "end_age_y": [a + b for a, b in zip(entry, length, strict=True)],
        }
    )
    people = st.integers(min_value=1, max_value=n)
    m = draw(st.integers(min_value=0, max_value=6))
    exposures = pd.DataFrame(
        {
            "person_id": draw(st.lists(people, min_size=m, max_size=m)),
            "age_y": draw(st.lists(ages, min_size=m, max_size=m)),
            "red_bone_marrow_gy": draw(
                st.lists(st.floats(min_value=0, max_value=5), min_size=m, max_size=m)
            ),
        }
    )
    k = draw(st.integers(min_value=0, max_value=3))
    outcomes = pd.DataFrame(
        {
            "person_id": draw(st.lists(people, min_size=k, max_size=k)),
            "age_y": draw(st.lists(ages, min_size=k, max_size=k)),
            "outcome": ["leukaemia"] * k,
        }
    )
    frames = [persons.astype(object), exposures.astype(object), outcomes.astype(object)]
    for corruption in draw(st.lists(st.sampled_from(_CORRUPTIONS), max_size=2)):
        which = draw(st.integers(min_value=0, max_value=2))
        frame = frames[which]
        if len(frame) == 0:
            continue
        row = draw(st.integers(min_value=0, max_value=len(frame) - 1))
        if corruption == "cell":
            column = draw(st.sampled_from([c for c in frame.columns if c != "outcome"]))
            bad = _BAD_DOSES if column.endswith("_gy") else _BAD_AGES
            frame.loc[row, column] = draw(st.sampled_from([*bad, "7", 1e308]))
        elif corruption == "duplicate_id":
            frames[0] = pd.concat([frames[0], frames[0].iloc[[0]]], ignore_index=True)
        elif corruption == "exit_before_entry":
            frames[0].loc[0, "entry_age_y"] = float(persons["end_age_y"].iloc[0]) + 1.0
        elif corruption == "drop_column":
            frames[which] = frame.drop(columns=draw(st.sampled_from(list(frame.columns))))
        elif "person_id" in frame.columns:
            frame.loc[row, "person_id"] = n + 1
    return frames[0], frames[1], frames[2]


def _expected_pyr(persons: pd.DataFrame, exposures: pd.DataFrame, outcomes: pd.DataFrame) -> float:
    """Follow-up without lag or exclusion (persontime module docstring): from the later of entry
    and first exposure to the earlier of exit and first outcome; persons without exposure, or
    with the outcome before follow-up starts, contribute nothing."""
    first_exposure = exposures.groupby("person_id")["age_y"].min()
    first_outcome = outcomes.groupby("person_id")["age_y"].min()
    ids = persons["person_id"]
    entry = persons["entry_age_y"] if "entry_age_y" in persons.columns else 0.0 * ids
    start = np.maximum(entry.to_numpy(float), ids.map(first_exposure).to_numpy(float))
    stop = np.fmin(persons["end_age_y"].to_numpy(float), ids.map(first_outcome).to_numpy(float))
    keep = np.isfinite(start) & ~(ids.map(first_outcome).to_numpy(float) < start)
    return float(np.sum(np.clip(stop - start, 0.0, None)[keep]))


def _tabulate(persons: pd.DataFrame, exposures: pd.DataFrame, outcomes: pd.DataFrame) -> Any:
    frames = CohortFrames(persons, exposures, outcomes, source="fuzzed-cohort.csv")
    frames.check_doses(("red_bone_marrow_gy",))
    spec = PersonTimeSpec("leukaemia", ("red_bone_marrow_gy",), lag_y=0.0, exclusion_y=0.0)
    return person_time_table(frames, spec)


@FUZZ
@given(cohort=_cohorts())
def test_cohort_frames_give_a_table_or_a_named_error(
    cohort: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    persons, exposures, outcomes = cohort
    result = _outcome(lambda: _tabulate(persons, exposures, outcomes), "fuzzed-cohort.csv")
    if isinstance(result, InvalidInputError):
        return
    # Synthetic truth: the follow-up the frames describe (the default age bands are open-ended).
    frames = [f.copy() for f in (persons, exposures, outcomes)]
    for frame in frames:
        for column in ("entry_age_y", "end_age_y", "age_y"):
            if column in frame.columns:
                frame[column] = pd.to_numeric(frame[column])
    assert float(result["pyr"].sum()) == pytest.approx(_expected_pyr(*frames), abs=1e-9)


def test_exit_before_entry_contributes_no_person_time() -> None:
    # entry_age_y is the earliest age follow-up may start (frames module docstring), so a
    # person whose follow-up ended before it is a valid record with no person-time, like a
    # person first exposed after exit. Hand-computed truth: person 1 is followed from the
    # exposure at 1.5 y to exit at 3 y (no lag or exclusion); person 2 adds nothing.
    persons = pd.DataFrame(
        {"person_id": [1, 2], "sex": ["M", "F"], "entry_age_y": [1.0, 5.0], "end_age_y": [3, 4]}
    )
    exposures = pd.DataFrame(
        {"person_id": [1, 2], "age_y": [1.5, 1.5], "red_bone_marrow_gy": [0.01, 0.02]}
    )
    table = _tabulate(persons, exposures, _empty_outcomes())
    assert float(table["pyr"].sum()) == pytest.approx(1.5, abs=1e-12)


def _empty_outcomes() -> pd.DataFrame:
    return pd.DataFrame({"person_id": [], "age_y": [], "outcome": []})


_CSV_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.lists(
            st.one_of(
                st.sampled_from(["person_id", "sex", "end_age_y", "1", "M", "nan", "-3", ""]),
                st.text(alphabet='abc0123456789.,;"\n -', max_size=8),
            ),
            max_size=5,
        ),
        max_size=6,
    ).map(lambda rows: "\n".join(",".join(row) for row in rows)),
)


@settings(FUZZ, max_examples=40)
@given(persons_text=_CSV_TEXT)
def test_tabulate_cli_reports_bad_files_by_name(persons_text: str, workdir: Path) -> None:
    persons = workdir / "fuzzed-persons.csv"
    persons.write_text(persons_text, encoding="utf-8")
    exposures = workdir / "exposures.csv"
    exposures.write_text("person_id,age_y,red_bone_marrow_gy\n1,1.0,0.01\n", encoding="utf-8")
    args = ["cohort", "tabulate", "--outcome", "leukaemia", "--organ", "red_bone_marrow"]
    args += ["--persons", str(persons), "--exposures", str(exposures)]
    args += ["--out", str(workdir / "table.csv")]
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 2)
    if result.exit_code == 2:
        assert "fuzzed-persons.csv" in result.output or "exposures.csv" in result.output


# --- cohort fit: grouped tables --------------------------------------------------------------


def _mostly(valid: st.SearchStrategy[Any], bad: list[Any], odds: int = 20) -> Any:
    """``valid`` values, and one of ``bad`` about once in ``odds`` draws."""
    return st.integers(min_value=1, max_value=odds).flatmap(
        lambda i: st.sampled_from(bad) if i == 1 else valid
    )


_COUNT = _mostly(
    st.integers(min_value=0, max_value=30), [-1, 0.5, 2.7, float("nan"), float("inf"), "3x", None]
)
_PYR = _mostly(st.floats(min_value=1.0, max_value=1e4), [0.0, -5.0, float("nan"), "many", None])


@st.composite
def _fit_tables(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=1, max_value=8))
    table = pd.DataFrame(
        {
            "cases": draw(st.lists(_COUNT, min_size=n, max_size=n)),
            "pyr": draw(st.lists(_PYR, min_size=n, max_size=n)),
            "dose": draw(st.lists(_mostly(_GRAYS, _BAD_DOSES), min_size=n, max_size=n)),
            "sex": draw(st.lists(st.sampled_from(["M", "F"]), min_size=n, max_size=n)),
        }
    )
    dropped = draw(_mostly(st.none(), ["cases", "pyr", "dose", "sex"], odds=8))
    return table.drop(columns=[dropped]) if dropped else table


@settings(FUZZ, max_examples=60)
@given(table=_fit_tables())
def test_fit_tables_give_results_or_a_named_error(table: pd.DataFrame) -> None:
    def fit() -> Any:
        model = PoissonModel.linear_err(table, strata=["sex"], source="fuzzed-fit.csv")
        return model.fit()

    result = _outcome(fit, "fuzzed-fit.csv")
    if not isinstance(result, InvalidInputError):
        # Only valid tables are fitted: non-negative counts (non-integer counts are allowed:
        # expected-value tables, tests/test_cohort_poisson.py) and positive person-years.
        assert np.all(pd.to_numeric(table["cases"]).to_numpy(float) >= 0)
        assert np.all(pd.to_numeric(table["pyr"]).to_numpy(float) > 0)


@settings(FUZZ, max_examples=30)
@given(text=_CSV_TEXT)
def test_fit_cli_reports_bad_files_by_name(text: str, workdir: Path) -> None:
    path = workdir / "fuzzed-table.csv"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["cohort", "fit", str(path), "--ci", "wald", "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 2)
    if result.exit_code == 2:
        assert "fuzzed-table.csv" in result.output


# --- SIR reference rates ---------------------------------------------------------------------

_BAD_CELLS = ["x", "", "nan", "-1", "inf", "1e999", '"', "male,female"]


@st.composite
def _rates_csv(draw: st.DrawFn) -> str:
    """Rates of both sexes in age bands [0,5) and [5,10) (optionally in 2000-2005), which
    cover the cells of ``_PERSON_TIME``; then garbled cells, columns or lines."""
    period = draw(st.booleans())
    columns = ["sex", "age_lo_y", "age_hi_y", "rate_per_100000"]
    columns += ["period_lo_year", "period_hi_year"] if period else []
    rows = []
    for sex in ("male", "female"):
        for lo, hi in ((0, 5), (5, 10)):
            rate = draw(st.floats(min_value=0, max_value=1e3))
            rows.append([sex, str(lo), str(hi), repr(rate), *(["2000", "2005"] if period else [])])
    for row in rows:
        for i in range(len(row)):
            row[i] = draw(_mostly(st.just(row[i]), _BAD_CELLS, odds=30))
    if draw(_mostly(st.just(False), [True], odds=6)):
        dropped = draw(st.integers(min_value=0, max_value=len(columns) - 1))
        columns.pop(dropped)
        rows = [row[:dropped] + row[dropped + 1 :] for row in rows]
    lines = [",".join(columns), *(",".join(row) for row in rows)]
    if draw(_mostly(st.just(False), [True], odds=6)):
        lines.append(draw(st.text(max_size=30)))  # a garbled last line
    return "\n".join(lines) + "\n"


_PERSON_TIME = pd.DataFrame(
    {
        "sex": ["male", "female"],
        "age_band": ["[0,5)", "[5,10)"],
        "period_band": ["[2000,2005)", "[2000,2005)"],
        "cases": [1, 0],
        "pyr": [100.0, 50.0],
    }
)


@FUZZ
@given(text=_rates_csv())
def test_sir_rates_csv_gives_rates_or_a_named_error(text: str, workdir: Path) -> None:
    path = workdir / "fuzzed-rates.csv"
    path.write_text(text, encoding="utf-8")
    rates = _outcome(lambda: ReferenceRates.from_csv(path), "fuzzed-rates.csv")
    if isinstance(rates, InvalidInputError):
        return
    rate = rates.frame["rate_per_person_year"].to_numpy(float)
    assert np.all(np.isfinite(rate) & (rate >= 0))
    result = _outcome(lambda: sir(_PERSON_TIME, rates), "fuzzed-rates.csv", "person-time table")
    if not isinstance(result, InvalidInputError):
        assert np.all(result.summary_frame["expected"].to_numpy(float) >= 0)


# --- ICRP 110 phantom files ------------------------------------------------------------------

_ORGANS = """Organ Organ                 Medium  Density
  1   Adrenal, left                3    1.030
 12   Bone, cortical               1    1.920
"""
_MEDIA = """Medium                H      C      N      O     Ca
  1 cortical bone    3.6   15.9    4.2   45.1   31.2
  3 soft tissue     10.5   25.6    2.7   61.2    0.0
"""
_SHAPE = (3, 2, 2)
_IDS = "0 1 1 12 0 0 1 1 0 0 12 0\n"


def _edit_text(text: str, data: st.DataObject) -> str:
    tokens = text.split(" ")
    kind = data.draw(st.sampled_from(["replace", "delete", "insert", "truncate", "none"]))
    i = data.draw(st.integers(min_value=0, max_value=len(tokens) - 1))
    new = data.draw(
        st.one_of(
            st.sampled_from(["-1", "0", "99", "nan", "1e999", "2147483648", "x", "\n", "3.5"]),
            st.text(max_size=6),
        )
    )
    if kind == "replace":
        tokens[i] = new
    elif kind == "delete":
        del tokens[i]
    elif kind == "insert":
        tokens.insert(i, new)
    elif kind == "truncate":
        tokens = tokens[:i]
    return " ".join(tokens)


@FUZZ
@given(which=st.integers(min_value=0, max_value=2), data=st.data())
def test_icrp110_files_give_a_phantom_or_a_named_error(
    which: int, data: st.DataObject, workdir: Path
) -> None:
    texts = [_IDS, _ORGANS, _MEDIA]
    texts[which] = _edit_text(texts[which], data)
    paths = [workdir / "FZ.dat", workdir / "FZ_organs.dat", workdir / "FZ_media.dat"]
    for path, text in zip(paths, texts, strict=True):
        path.write_text(text, encoding="utf-8")
    result = _outcome(
        lambda: read_icrp110_phantom(paths[0], paths[1], paths[2], _SHAPE, (1.0, 1.0, 1.0)),
        *(path.name for path in paths),
    )
    if not isinstance(result, InvalidInputError):
        # Every voxel maps to a listed organ with a positive, finite density.
        assert result.phantom.labels.shape == _SHAPE
        assert all(math.isfinite(r.density_g_cm3) for r in result.phantom.regions)


# --- Monte Carlo scenario YAML ---------------------------------------------------------------

_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.floats(min_value=-1e4, max_value=1e4), max_size=4),
)


@st.composite
def _scenarios(draw: st.DrawFn) -> Any:
    base: dict[str, Any] = {
        "phantom": {"box": {"size_mm": [40, 40, 40], "voxel_size_mm": 10.0}},
        "spectrum": {"energy_kev": 60},
        "geometry": {
            "distance_source_to_isocentre_mm": 700,
            "distance_source_to_detector_mm": 1000,
            "field_size_mm": [100, 100],
        },
        "table": [{"name": "table", "material": "aluminium", "thickness_mm": 1.0}],
        "histories": 100,
        "seed": 1,
        "batches": 2,
    }
    paths = [
        ("phantom", "box", "size_mm"),
        ("phantom", "box", "voxel_size_mm"),
        ("phantom", "box", "material"),
        ("phantom", "box", "density_g_cm3"),
        ("phantom",),
        ("spectrum", "energy_kev"),
        ("spectrum",),
        ("geometry", "distance_source_to_isocentre_mm"),
        ("geometry", "field_size_mm"),
        ("geometry", "primary_angle_deg"),
        ("geometry", "isocentre_mm"),
        ("geometry", "field_at"),
        ("table",),
        ("histories",),
        ("seed",),
        ("batches",),
    ]
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3)):
        node: Any = base
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            if draw(st.booleans()):
                node.pop(path[-1], None)
            else:
                node[path[-1]] = draw(_VALUE)
    return base


def _fake_simulate(phantom: Any, beam: Any, spectrum: Any, n: int, **kwargs: Any) -> str:
    """Stands in for the transport: the fuzz target is the parsing, not the Monte Carlo."""
    return "simulated"


@settings(FUZZ, max_examples=100)
@given(spec=_scenarios())
def test_scenario_yaml_gives_a_run_or_a_named_error(spec: Any, workdir: Path) -> None:
    path = workdir / "fuzzed-scenario.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with mock.patch.object(scenario, "simulate", _fake_simulate):
        result = _outcome(lambda: scenario.run_scenario(path), "fuzzed-scenario.yaml")
    if not isinstance(result, InvalidInputError):
        assert result[0] == "simulated"
        assert isinstance(spec.get("histories", 1), int) and spec.get("histories", 1) > 0


@settings(FUZZ, max_examples=40)
@given(text=st.text(max_size=120))
def test_scenario_garbage_text(text: str, workdir: Path) -> None:
    path = workdir / "fuzzed-scenario.yaml"
    path.write_text(text, encoding="utf-8")
    with mock.patch.object(scenario, "simulate", _fake_simulate):
        _outcome(lambda: scenario.run_scenario(path), "fuzzed-scenario.yaml")


# --- risk exposures CSV ----------------------------------------------------------------------

_EXPOSURE_VALUES = [
    st.sampled_from(["P1", "P2"]),
    st.sampled_from(["female", "male", ""]),
    st.floats(min_value=0, max_value=99).map(repr),
    st.sampled_from(["thyroid", "colon", "red_bone_marrow", "breast"]),
    st.floats(min_value=0, max_value=10).map(repr),
]
_EXPOSURE_BAD = ["", "-1", "nan", "inf", "100", "x", "skin", "P1"]


_EXPOSURE_COLUMNS = ["pseudonym", "sex", "age_at_exposure_y", "organ", "dose_gy"]


def _exposures_csv(ragged: bool) -> st.SearchStrategy[str]:
    row = st.tuples(*(_mostly(value, _EXPOSURE_BAD) for value in _EXPOSURE_VALUES)).map(list)
    if ragged:
        row = st.tuples(row, st.integers(min_value=1, max_value=5)).map(lambda r: r[0][: r[1]])
    return st.lists(row, max_size=5).map(
        lambda rows: "\n".join([",".join(_EXPOSURE_COLUMNS), *(",".join(r) for r in rows)]) + "\n"
    )


def _read_exposures(text: str, folder: Path) -> None:
    path = folder / "fuzzed-exposures.csv"
    path.write_text(text, encoding="utf-8")
    _outcome(lambda: read_exposures_csv(path), "fuzzed-exposures.csv")


@FUZZ
@given(text=_exposures_csv(ragged=False))
def test_risk_exposures_csv_gives_exposures_or_a_named_error(text: str, workdir: Path) -> None:
    _read_exposures(text, workdir)


# Short rows and non-UTF-8 files gave AttributeError/TypeError/UnicodeDecodeError before
# read_exposures_csv checked them (found by this file).
@settings(FUZZ, report_multiple_bugs=False)
@given(text=_exposures_csv(ragged=True))
def test_risk_exposures_csv_with_short_rows(text: str, workdir: Path) -> None:
    _read_exposures(text, workdir)


def test_risk_exposures_csv_that_is_not_utf8(workdir: Path) -> None:
    path = workdir / "fuzzed-exposures.csv"
    path.write_bytes(b"\xff\xfe\x00pseudonym,sex\n")
    _outcome(lambda: read_exposures_csv(path), "fuzzed-exposures.csv")


# --- bytes that are not text -----------------------------------------------------------------


@settings(FUZZ, max_examples=20)
@given(data=st.binary(min_size=1, max_size=64).map(lambda b: b"\xff" + b))
def test_binary_garbage_gives_named_errors(data: bytes, workdir: Path) -> None:
    # Reference: none needed; a file that is not UTF-8 text must be refused by name.
    path = workdir / "fuzzed-binary"
    path.write_bytes(data)
    readers: list[Callable[[], Any]] = [
        lambda: ReferenceRates.from_csv(path),
        lambda: scenario.run_scenario(path),
        lambda: read_icrp110_phantom(path, path, path, _SHAPE, (1.0, 1.0, 1.0)),
    ]
    for read in readers:
        with mock.patch.object(scenario, "simulate", _fake_simulate):
            result = _outcome(read, "fuzzed-binary")
        assert isinstance(result, InvalidInputError)


def test_scenario_resource_guards(workdir: Path) -> None:
    # A grid too large to allocate, and run sizes that are not whole numbers, are refused
    # before any allocation or transport (the guard is _MAX_VOXELS = 2**28 voxels).
    geometry = {"distance_source_to_isocentre_mm": 700, "distance_source_to_detector_mm": 1000}
    base: dict[str, Any] = {
        "spectrum": {"energy_kev": 60},
        "geometry": {**geometry, "field_size_mm": [1, 1]},
    }
    cases: list[tuple[dict[str, Any], str]] = [
        ({"phantom": {"box": {"size_mm": [1e5, 1e5, 1e5], "voxel_size_mm": 1}}}, "phantom.box"),
        ({"phantom": {"stylised": {"age": "5y", "voxel_size_mm": 0.01}}}, "voxel_size_mm"),
        ({"phantom": {"box": {"size_mm": [10, 10, 10], "voxel_size_mm": True}}}, "voxel_size"),
        (
            {"phantom": {"box": {"size_mm": [10, 10, 10]}}, "histories": 1.5},
            "histories",
        ),
        ({"phantom": {"box": {"size_mm": [10, 10, 10]}}, "batches": 0}, "batches"),
    ]
    path = workdir / "guard.yaml"
    for extra, field in cases:
        spec = {**base, **extra}
        path.write_text(yaml.safe_dump(spec), encoding="utf-8")
        with mock.patch.object(scenario, "simulate", _fake_simulate):
            error = _outcome(lambda: scenario.run_scenario(path), "guard.yaml")
        assert isinstance(error, InvalidInputError), extra
        assert error.field is not None and field in error.field
