"""Command line: ``doseline cohort tabulate``, ``sir`` and ``simulate``.

Thin layers over :mod:`doseline.cohort.persontime`, :mod:`doseline.cohort.sir`,
:mod:`doseline.cohort.harmonic` and :mod:`doseline.cohort.distributed`; see
``docs/cohort_persontime.md``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from doseline.cohort.cli import app
from doseline.errors import DoselineError

if TYPE_CHECKING:  # pandas loads in the commands, so that `doseline --help` stays fast
    import pandas as pd

    from doseline.cohort.frames import CohortFrames

__all__ = ["app"]

_TABLE_FILES = ("persons", "exposures", "outcomes", "covariates")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@contextmanager
def _errors() -> Iterator[None]:
    """Bad input becomes a one-line message and exit status 2."""
    try:
        yield
    except (DoselineError, ValueError, FileNotFoundError) as error:
        raise _fail(str(error)) from None


def _numbers(text: str | None, name: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise _fail(f"--{name}: expected comma-separated numbers, got {text!r}") from None


def _read_table(path: Path) -> pd.DataFrame:
    import pandas as pd

    from doseline.errors import InvalidInputError

    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    # pandas and pyarrow raise ValueError subclasses (ParserError, EmptyDataError,
    # UnicodeDecodeError, ArrowInvalid) or OSError on unreadable files.
    except (ValueError, OSError) as error:
        raise InvalidInputError(f"unreadable table ({error})", source=str(path)) from error


def _write_table(table: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        table.to_csv(path, index=False)
    else:
        raise _fail(f"--out: use a .csv or .parquet file name, got {path.name!r}")


def _dose_column(organ: str) -> str:
    return organ if organ.endswith("_gy") else f"{organ}_gy"


def _load_frames(
    *,
    registry: bool,
    dose_method: str | None,
    persons: Path | None,
    exposures: Path | None,
    outcomes: Path | None,
    covariates: Path | None,
) -> CohortFrames:
    """The cohort from the registry or from files."""
    from doseline.cohort.frames import CohortFrames

    if registry:
        from doseline.cli import _registry
        from doseline.cohort.registry_frames import frames_from_registry

        opened = _registry(writable=False)
        try:
            return frames_from_registry(opened, dose_method=dose_method)
        finally:
            opened.dispose()
    assert persons is not None and exposures is not None
    optional = {
        name: _read_table(path)
        for name, path in (("outcomes", outcomes), ("covariates", covariates))
        if path is not None
    }
    return CohortFrames(
        _read_table(persons), _read_table(exposures), **optional, source=str(persons)
    )


@app.command("tabulate")
def tabulate(
    *,
    outcome: Annotated[str, typer.Option(help="Outcome type of interest, e.g. leukaemia.")],
    organ: Annotated[
        list[str], typer.Option(help="Organ dose to accumulate (repeat; the first is banded).")
    ],
    out: Annotated[Path, typer.Option(help="Output table, .csv or .parquet.")],
    registry: Annotated[bool, typer.Option("--registry", help="Read the registry.")] = False,
    persons: Annotated[Path | None, typer.Option(help="Persons file (.csv/.parquet).")] = None,
    exposures: Annotated[Path | None, typer.Option(help="Exposures file.")] = None,
    outcomes: Annotated[Path | None, typer.Option(help="Outcomes file.")] = None,
    covariates: Annotated[Path | None, typer.Option(help="Covariate onsets file.")] = None,
    partitioned: Annotated[
        Path | None, typer.Option(help="Partitioned cohort folder (run on Dask).")
    ] = None,
    lag_y: Annotated[
        float | None, typer.Option(help="Dose lag (default 2 y leukaemia, 5 y solid).")
    ] = None,
    exclusion_y: Annotated[
        float | None, typer.Option(help="Exclusion after first exposure (default: the lag).")
    ] = None,
    age_bands: Annotated[
        str | None, typer.Option(help="Attained-age edges, e.g. 0,5,10,20.")
    ] = None,
    period_bands: Annotated[str | None, typer.Option(help="Calendar-year edges.")] = None,
    tsfe_bands: Annotated[str | None, typer.Option(help="Time-since-first-exposure edges.")] = None,
    dose_bands: Annotated[str | None, typer.Option(help="Cumulative-dose edges (Gy).")] = None,
    age_limit_y: Annotated[float, typer.Option(help="End follow-up at this age.")] = float("inf"),
    strata: Annotated[
        str, typer.Option(help="Constant person columns as keys, comma-separated.")
    ] = "sex",
    covariate: Annotated[
        list[str] | None, typer.Option(help="Time-dependent covariate key (repeat).")
    ] = None,
    censor_at: Annotated[
        list[str] | None, typer.Option(help="End follow-up at this covariate's onset.")
    ] = None,
    dose_method: Annotated[str | None, typer.Option(help="Registry organ-dose method.")] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (default: local cluster).")
    ] = None,
    local_threads: Annotated[
        bool, typer.Option("--local-threads", help="Local cluster of threads, not processes.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Build a grouped person-time table (cases, person-years, mean doses per cell)."""
    from doseline.cohort.persontime import PersonTimeSpec, person_time_table

    sources = [registry, persons is not None, partitioned is not None]
    if sum(sources) != 1:
        raise _fail("give exactly one of --registry, --persons/--exposures/... or --partitioned")
    if persons is not None and exposures is None:
        raise _fail("--persons needs --exposures")
    options: dict[str, Any] = {
        "age_bands_y": _numbers(age_bands, "age-bands"),
        "period_bands_year": _numbers(period_bands, "period-bands"),
        "tsfe_bands_y": _numbers(tsfe_bands, "tsfe-bands"),
        "dose_bands": _numbers(dose_bands, "dose-bands"),
    }
    with _errors():
        spec = PersonTimeSpec(
            outcome,
            tuple(_dose_column(o) for o in organ),
            lag_y=lag_y,
            exclusion_y=exclusion_y,
            age_limit_y=age_limit_y,
            strata=tuple(s for s in strata.split(",") if s),
            covariates=tuple(covariate or ()),
            censor_at=tuple(censor_at or ()),
            **{k: v for k, v in options.items() if v is not None},
        )
        if partitioned is not None or scheduler is not None:
            from doseline.cohort.distributed import (
                dask_client,
                tabulate_frames,
                tabulate_partitioned,
            )

            client_context: Any = dask_client(
                scheduler, **({"processes": False} if local_threads else {})
            )
        else:
            client_context = nullcontext(None)
        with client_context as client:
            if partitioned is not None:
                table = tabulate_partitioned(partitioned, spec, client)
            else:
                frames = _load_frames(
                    registry=registry,
                    dose_method=dose_method,
                    persons=persons,
                    exposures=exposures,
                    outcomes=outcomes,
                    covariates=covariates,
                )
                table = (
                    person_time_table(frames, spec)
                    if client is None
                    else tabulate_frames(frames, spec, client)
                )
        _write_table(table, out)
    summary = {
        "out": str(out),
        "cells": len(table),
        "cases": int(table["cases"].sum()),
        "person_years": float(table["pyr"].sum()),
        "lag_y": spec.lag,
        "exclusion_y": spec.exclusion,
        "persons": table.attrs.get("counts", {}),
    }
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        typer.echo(
            f"{summary['cells']} cells, {summary['cases']} cases, "
            f"{summary['person_years']:.1f} person-years -> {out}"
        )


@app.command("sir")
def sir_command(
    *,
    table: Annotated[Path, typer.Option(help="Person-time table (.csv/.parquet).")],
    rates: Annotated[Path, typer.Option(help="Reference rates CSV (docs/cohort_persontime.md).")],
    site: Annotated[str | None, typer.Option(help="Use the rates rows of this 'site'.")] = None,
    by: Annotated[str | None, typer.Option(help="One SIR per value of this column.")] = None,
    conf_level: Annotated[float, typer.Option(help="Confidence level.")] = 0.95,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Standardised incidence (mortality) ratio with exact Poisson limits."""
    import pandas as pd

    from doseline.cohort.sir import ReferenceRates, sir

    with _errors():
        frame = pd.read_csv(rates)
        if site is not None:
            if "site" not in frame.columns:
                raise _fail(f"{rates}: --site given but the rates have no 'site' column")
            frame = frame[frame["site"] == site].drop(columns="site")
        result = sir(
            _read_table(table),
            ReferenceRates(frame, source=str(rates)),
            by=by,
            conf_level=conf_level,
        )
    if as_json:
        rows = result.summary_frame.reset_index().to_dict(orient="records")
        sys.stdout.write(json.dumps({"conf_level": conf_level, "groups": rows}, indent=2) + "\n")
    else:
        typer.echo(result.summary())


@app.command("simulate")
def simulate(
    *,
    children: Annotated[int, typer.Option(min=1, help="Number of children.")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    err_per_gy: Annotated[
        float | None, typer.Option(help="True ERR per Gy for every site (default: per site).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    background_multiplier: Annotated[float, typer.Option(help="Factor on background rates.")] = 1.0,
    partition_persons: Annotated[
        int | None, typer.Option(help="Write the partitioned layout, this many persons a part.")
    ] = None,
    file_format: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
) -> None:
    """Draw a known-truth HARMONIC-like cohort and write its tables and truth.json."""
    from doseline.cohort.distributed import write_partitioned
    from doseline.cohort.harmonic import HarmonicConfig, simulate_harmonic, write_frames

    if file_format not in ("parquet", "csv"):
        raise _fail(f"--format: parquet or csv, got {file_format!r}")
    with _errors():
        config = HarmonicConfig(
            n_children=children, seed=seed, background_multiplier=background_multiplier
        )
        if err_per_gy is not None:
            config = config.with_err(err_per_gy)
        frames = simulate_harmonic(config)
    if partition_persons is not None:
        write_partitioned(frames, out, partition_persons)
    else:
        write_frames(frames, out, file_format)
    truth = {
        "n_children": children,
        "seed": seed,
        "background_multiplier": background_multiplier,
        "sites": [asdict(site) for site in config.sites],
        "generator": "doseline.cohort.harmonic.simulate_harmonic",
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    typer.echo(
        f"{len(frames.persons)} children, {len(frames.exposures)} procedures, "
        f"{len(frames.outcomes)} first cancers -> {out}"
    )
