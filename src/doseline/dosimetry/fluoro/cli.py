"""Command line: ``doseline dose ...`` (organ and skin doses of fluoroscopy procedures)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from doseline.dosimetry.fluoro.cli_registry import compute_command, event_command, show_command
from doseline.dosimetry.fluoro.cli_skin import skin_command

__all__ = ["app"]

app = typer.Typer(
    help="Organ and skin doses of fluoroscopy procedures (cardiac catheterisation).",
    no_args_is_help=True,
)
app.command("skin")(skin_command)
app.command("compute")(compute_command)
app.command("show")(show_command)
app.command("event")(event_command)


@app.command("build-table")
def build_table_command(  # noqa: PLR0917
    out: Annotated[Path, typer.Argument(help="Table file to write (.npz).")],
    histories: Annotated[int, typer.Option(help="Histories per grid node.")] = 500_000,
    workers: Annotated[int, typer.Option(help="Local Dask worker processes.")] = 2,
    threads: Annotated[int, typer.Option(help="numba threads per task.")] = 1,
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a running Dask scheduler (default: local).")
    ] = None,
    ages: Annotated[
        str | None, typer.Option(help="Comma-separated phantom ages (default: all six).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Base seed of the node seeds.")] = 20261126,
) -> None:
    """Build a conversion-coefficient table with the Monte Carlo engine on a Dask cluster."""
    from dataclasses import replace

    from doseline.dosimetry.fluoro.build import TableSpec, build_table

    spec = replace(TableSpec(), histories_per_node=histories, seed=seed)
    if ages:
        spec = replace(spec, ages=tuple(a.strip() for a in ages.split(",")))
    command = f"doseline dose build-table {out.name} --histories {histories} --seed {seed}"
    spec = replace(spec, extra={"command": command + (f" --ages {ages}" if ages else "")})

    def progress(done: int, total: int) -> None:
        typer.echo(f"{done}/{total} tasks", err=True)

    table = build_table(
        spec,
        scheduler_address=scheduler,
        n_workers=workers,
        threads_per_worker=threads,
        progress=progress,
    )
    table.save(out)
    typer.echo(f"wrote {out} ({table.metadata['build_seconds']} s)")
