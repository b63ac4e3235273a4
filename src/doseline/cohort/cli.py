"""Command line: ``doseline cohort ...`` (``fit`` here; tables and SIR in :mod:`.cli_tables`)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from doseline.errors import DoselineError, InvalidInputError

__all__ = ["app", "fit_command", "fit_report"]

app = typer.Typer(
    help="Cohort analysis: person-time tables, dose-response models, SIR.", no_args_is_help=True
)


def _limit(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def fit_report(results: Any, ci: str = "profile") -> dict[str, Any]:
    """The JSON object printed by ``doseline cohort fit --json`` for a :class:`PoissonResults`.

    ``err_per_unit_dose`` (and ``err_per_unit_dose_ci95``) are filled for the plain linear ERR
    model only (form linear, no effect modifiers); a limit that does not exist is ``null``.
    """
    spec = results.model.spec
    intervals = results.conf_int(method=ci)
    parameters = {}
    for name in results.params.index:
        row = intervals.loc[name]
        parameters[name] = {
            "estimate": float(results.params[name]),
            "std_err": float(results.bse[name]),
            "ci95": [_limit(row["lower"]), _limit(row["upper"])],
            "lower_status": row["lower_status"],
            "upper_status": row["upper_status"],
        }
    report: dict[str, Any] = {
        "model": spec.describe(),
        "ci_method": ci,
        "n_cells": results.n_cells,
        "cases": float(results.model.design.cases.sum()),
        "person_years": float(results.model.design.pyr.sum()),
        "deviance": results.deviance,
        "loglik": results.loglik,
        "aic": results.aic,
        "n_params": results.n_params,
        "converged": results.converged,
        "parameters": parameters,
        "err_per_unit_dose": None,
        "err_per_unit_dose_ci95": None,
    }
    plain = spec.excess == "err" and spec.form == "linear" and not spec.modifiers
    if plain and spec.dose is not None:
        slope = parameters["err:dose"]
        report["err_per_unit_dose"] = slope["estimate"]
        report["err_per_unit_dose_ci95"] = slope["ci95"]
        if slope["lower_status"] == "boundary":
            low, _ = results.profile_limits("err:dose")
            report["err_per_unit_dose_lower_boundary"] = low.boundary
    return report


@app.command("fit")
def fit_command(  # noqa: PLR0917 (typer options)
    table: Annotated[Path, typer.Argument(help="Grouped person-time table (CSV).")],
    cases: Annotated[str, typer.Option(help="Column of case counts.")] = "cases",
    pyr: Annotated[str, typer.Option(help="Column of person-years.")] = "pyr",
    dose: Annotated[str, typer.Option(help="Column of (person-year-weighted mean) dose.")] = "dose",
    strata: Annotated[
        str, typer.Option(help="Comma-separated columns of a fully stratified background.")
    ] = "",
    modifier: Annotated[
        list[str] | None,
        typer.Option(help="Effect modifier of the ERR (column or expression); repeatable."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model specification (see docs/cohort_models.md); overrides "
            "--dose/--strata/--modifier."
        ),
    ] = None,
    ci: Annotated[str, typer.Option(help="Interval method: profile or wald.")] = "profile",
    html: Annotated[Path | None, typer.Option(help="Write the summary as HTML here.")] = None,
    png: Annotated[Path | None, typer.Option(help="Write the dose-response plot here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Fit a grouped Poisson excess-risk model (linear ERR by default) to a table."""
    import pandas as pd

    from doseline.cohort.poisson import PoissonModel

    if ci not in ("profile", "wald"):
        raise typer.BadParameter("use 'profile' or 'wald'", param_hint="--ci")
    try:
        try:
            frame = pd.read_csv(table)
        # pandas raises ValueError subclasses (ParserError, EmptyDataError, UnicodeDecodeError)
        except ValueError as error:
            raise InvalidInputError(f"unreadable table ({error})", source=str(table)) from error
        if model is not None:
            fitted = PoissonModel(frame, model, cases=cases, pyr=pyr, source=str(table))
        else:
            fitted = PoissonModel.linear_err(
                frame,
                cases=cases,
                pyr=pyr,
                dose=dose,
                strata=[s.strip() for s in strata.split(",") if s.strip()],
                modifiers=modifier or [],
                source=str(table),
            )
        results = fitted.fit()
        report = fit_report(results, ci)
    except (DoselineError, FileNotFoundError, pd.errors.ParserError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if html is not None:
        html.write_text(results.summary(method=ci).as_html(), encoding="utf-8")  # type: ignore[arg-type]
    if png is not None:
        _plot(results, png)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        typer.echo(str(results.summary(method=ci)))  # type: ignore[arg-type]


def _plot(results: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = results.plot_dose_response()
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(ax.figure)


# The person-time and SIR commands live in their own module and register on ``app``.
from doseline.cohort import cli_tables as _cli_tables  # noqa: E402

__all__ += ["_cli_tables"]
