"""Speed of fluoroscopy organ doses: the table path against direct Monte Carlo, and 2DMC.

Issue 4 targets: organ doses for 1e6 irradiation events in under 60 s on 2 cores, and 100
realisations for a 1e5-patient cohort. In one run the script times:

1. ``event_organ_doses`` with the conversion-coefficient table (``default_table()`` or
   ``--table``) on ``--events`` synthetic events (ages 0-20 y, angles, fields, kVp and filters
   of paediatric cardiac procedures, a lognormal KAP, both sexes), and its parts: the event
   checks, the table's ``dose_per_kap`` and the numba interpolation kernel alone;
2. the baseline, direct Monte Carlo (:class:`~doseline.dosimetry.fluoro.direct.DirectMonteCarlo`,
   one transport run per event) on ``--direct-events`` events with ``--direct-histories``
   histories, its phantom already built (the transport alone, the part that does not
   amortise), extrapolated per event; the ratio direct / table per event is printed;
3. 100 (``--realisations``) 2DMC realisations of every organ dose of a ``--patients`` cohort
   (one exposure per patient, organ doses from the table path) with
   :func:`doseline.dosimetry.fluoro.uncertainty.iter_realisations` (all documented error
   sources; blocks consumed, nothing kept), and with ``--write`` the Parquet store of
   :func:`doseline.dosimetry.fluoro.realisations.write_realisations` in a temporary folder.

Run::

    .venv/bin/python benchmarks/dose.py [--events 1000000] [--direct-events 3]
        [--direct-histories 1000000] [--patients 100000] [--realisations 100] [--write]
        [--table FILE]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numba
import numpy as np
import pandas as pd

from doseline.dosimetry.fluoro.direct import DirectMonteCarlo, reference_size
from doseline.dosimetry.fluoro.doses import event_organ_doses
from doseline.dosimetry.fluoro.events import check_events
from doseline.dosimetry.fluoro.realisations import write_realisations
from doseline.dosimetry.fluoro.table import ConversionTable, _interpolate, default_table
from doseline.dosimetry.fluoro.uncertainty import ErrorModel, iter_realisations

T = TypeVar("T")


def synthetic_events(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` irradiation events of paediatric cardiac procedures (distributions chosen to span
    the table's grid, not fitted to any registry)."""
    rng = np.random.default_rng(seed)
    primary = np.where(rng.random(n) < 0.5, rng.normal(0.0, 20.0, n), rng.normal(90.0, 5.0, n))
    side_mm = rng.uniform(80.0, 220.0, n)
    return pd.DataFrame({
        "age_y": rng.uniform(0.0, 20.0, n),
        "sex": rng.choice(np.array(["male", "female"], dtype=object), n),
        "kvp": rng.uniform(60.0, 110.0, n),
        "filter_cu_mm": rng.choice([0.0, 0.1, 0.2, 0.3, 0.6, 0.9], n),
        "filter_al_mm": rng.choice([0.0, 1.0], n),
        "primary_angle_deg": np.clip(primary, -90.0, 90.0),
        "secondary_angle_deg": np.clip(rng.normal(0.0, 15.0, n), -40.0, 40.0),
        "field_width_mm": side_mm, "field_height_mm": side_mm,
        "distance_source_to_detector_mm": 1000.0, "distance_source_to_isocenter_mm": 750.0,
        "kap_gycm2": rng.lognormal(np.log(0.5), 1.0, n),
    })  # fmt: skip


def timed(label: str, action: Callable[[], T], repeat: int = 1) -> tuple[float, T]:
    """Run ``action`` ``repeat`` times; print and return the shortest wall time (and the
    result of the last run)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    shown = f"{label} (best of {repeat})" if repeat > 1 else label
    print(f"{shown:<56} {best:9.2f} s")
    return best, result


def table_path(table: ConversionTable, n_events: int) -> tuple[float, pd.DataFrame]:
    """Time the table path on ``n_events`` events; returns seconds per event and the doses."""
    events = synthetic_events(n_events)
    event_organ_doses(events.iloc[:100], table)  # compile the kernel, load caches
    response, index, frac, q, _ = table.kernel_inputs(check_events(events))
    shape = (n_events, len(table.organs))
    t_kernel, _ = timed(  # a fresh output each run: the kernel accumulates into it
        "  interpolation kernel alone",
        lambda: _interpolate(response, index, frac, q, np.zeros(shape)),
        2,
    )
    timed("  check_events", lambda: check_events(events), 2)
    timed("  ConversionTable.dose_per_kap", lambda: table.dose_per_kap(events), 2)
    t_total, doses = timed(f"table path: event_organ_doses, {n_events:.3g} events",
                           lambda: event_organ_doses(events, table), 2)  # fmt: skip
    print(f"{'  events per second':<56} {n_events / t_total:9.3g}")
    print(f"{'  kernel share of the total':<56} {t_kernel / t_total:9.1%}")
    return t_total / n_events, doses


def direct_path(n_events: int, histories: int) -> float:
    """Time direct Monte Carlo per event (phantoms built beforehand); seconds per event."""
    events = synthetic_events(n_events, seed=1)
    events["age_y"] = 5.0  # one phantom: its build (timed apart) amortises over a patient's events
    engine = DirectMonteCarlo(n_histories=histories, seed=1)
    timed("  phantom build + compile (once per patient size)",
          lambda: DirectMonteCarlo(n_histories=1000).dose_per_kap(events.iloc[:1]))  # fmt: skip
    seconds, _ = timed(f"direct Monte Carlo: {n_events} events x {histories:.3g} histories",
                       lambda: engine.dose_per_kap(events))  # fmt: skip
    height, mass = reference_size(5.0)
    print(f"{'  phantom':<56} 5 y, {height:.0f} cm, {mass:.1f} kg")
    return seconds / n_events


def realisations(
    doses: pd.DataFrame, organs: list[str], k: int, table: ConversionTable, write: bool
) -> None:
    """Time K realisations of the cohort's organ doses (one exposure per patient)."""
    n = len(doses)
    frame = pd.DataFrame({
        "exposure_id": np.repeat(np.arange(n, dtype=np.int64), len(organs)),
        "organ": np.tile(np.array(organs, dtype=object), n),
        "dose_gy": doses[organs].to_numpy(np.float64).ravel(),
    })  # fmt: skip
    frame = frame[frame["dose_gy"].notna()].reset_index(drop=True)  # organs of the other sex
    frame["patient_id"] = frame["exposure_id"] + 10_000_000
    frame["centre_id"] = frame["exposure_id"] % 20
    frame["era"] = np.array(["2000-2009", "2010-2019", "2020-2029"])[frame["exposure_id"] % 3]
    frame["body_size_log_sd"] = 0.2
    rel = np.nanmedian(table.rel_sd, axis=(0, 1, 2, 3, 4))
    model = ErrorModel.from_csv().with_coefficient_rel_sd(dict(zip(table.organs, rel, strict=True)))
    values = len(frame) * k
    print(f"2DMC: {n:.3g} patients, {len(frame):.3g} organ doses x {k} realisations "
          f"= {values:.3g} values")  # fmt: skip
    list(iter_realisations(frame.iloc[: 10 * len(organs)], k, seed=1, model=model))  # compile

    def engine() -> None:
        for _ in iter_realisations(frame, k, seed=1, model=model):
            pass

    t_engine, _ = timed("  iter_realisations (all blocks, float32)", engine)
    print(f"{'  values per second':<56} {values / t_engine:9.3g}")
    if write:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "realisations.parquet"
            timed("  write_realisations (engine + summary + Parquet)",
                  lambda: write_realisations(frame, path, k, seed=1, model=model))  # fmt: skip
            print(f"{'  Parquet size (MB)':<56} {path.stat().st_size / 1e6:9.1f}")


def main() -> None:
    """Parse options, run, print the figures and the summary table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--direct-events", type=int, default=3)
    parser.add_argument("--direct-histories", type=int, default=1_000_000)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--realisations", type=int, default=100)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--table", type=Path, default=None, help="default: the shipped table")
    args = parser.parse_args()
    table = default_table() if args.table is None else ConversionTable.load(args.table)
    grid = "x".join(str(a.size) for a in table.axes)
    print(f"numba threads: {numba.get_num_threads()}; table grid {grid}, "
          f"{table.response.shape[4]} energy bins, {len(table.organs)} organs")  # fmt: skip
    per_event_table, doses = table_path(table, args.events)
    per_event_direct = direct_path(args.direct_events, args.direct_histories)
    organs = [o for o in table.organs if o in doses]
    realisations(doses.iloc[: args.patients], organs, args.realisations, table, args.write)
    print("\nsummary")
    print(f"{'  table path, per event':<56} {per_event_table * 1e6:9.2f} us")
    label = "  table path, 1e6 events (extrapolated if fewer run)"
    verdict = "meets" if per_event_table * 1e6 < 60.0 else "MISSES"
    print(f"{label:<56} {per_event_table * 1e6:9.1f} s ({verdict} the 60 s target)")
    print(f"{'  direct Monte Carlo, per event':<56} {per_event_direct:9.2f} s")
    print(f"{'  ratio direct / table per event':<56} {per_event_direct / per_event_table:9.3g}")


if __name__ == "__main__":
    main()
