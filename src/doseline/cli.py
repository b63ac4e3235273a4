"""The ``doseline`` command line.

Every command is a thin layer over the Python API (``doseline.*``): it parses options, calls
one function, and prints the result as text or, with ``--json``, as JSON.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from doseline.cohort.cli import app as cohort_app
from doseline.config import Settings, get_settings
from doseline.dosimetry.fluoro.cli import app as dose_app
from doseline.dosimetry.rt.cli import app as rt_app
from doseline.errors import DoselineError
from doseline.physics.cli import app as mc_app
from doseline.physics.phantoms.cli import app as phantom_app
from doseline.risk.cli import app as risk_app

if TYPE_CHECKING:
    from doseline.registry.database import Registry

__all__ = ["app", "main"]

app = typer.Typer(
    name="doseline",
    help="Follow-up of children exposed to medical ionising radiation: registry, dose "
    "reports, organ doses, risks.",
    no_args_is_help=True,
    add_completion=False,
    # Tracebacks with local variables could print patient data: keep them plain.
    pretty_exceptions_enable=False,
)
rdsr_app = typer.Typer(help="Read X-Ray Radiation Dose SR files.", no_args_is_help=True)
patients_app = typer.Typer(help="Look up patients in the registry.", no_args_is_help=True)
app.add_typer(rdsr_app, name="rdsr")
app.add_typer(patients_app, name="patients")
app.add_typer(phantom_app, name="phantom")
app.add_typer(mc_app, name="mc")
app.add_typer(risk_app, name="risk")
app.add_typer(cohort_app, name="cohort")
app.add_typer(rt_app, name="rt")
app.add_typer(dose_app, name="dose")

console = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str, ensure_ascii=False) + "\n")


def _registry(settings: Settings | None = None, *, writable: bool = True) -> Registry:
    from doseline.registry.database import Registry

    return Registry.open(settings or get_settings(), writable=writable)


@app.command()
def init(
    key_file: Annotated[
        Path | None, typer.Option(help="Where to create the deployment key.")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="Registry database URL.")] = None,
) -> None:
    """Create the deployment key (if none exists) and the registry schema."""
    from doseline.deployment import init_deployment

    settings = get_settings()
    if key_file is not None:
        settings = settings.model_copy(update={"key_file": key_file})
    if database_url is not None:
        settings = settings.model_copy(update={"database_url": database_url})
    info = init_deployment(settings)
    console.print(f"deployment key: {info.key_file} ({'created' if info.key_created else 'kept'})")
    console.print(f"registry: {info.database_url} (schema {info.schema_revision})")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (recursive).")],
    centre: Annotated[str, typer.Option(help="Centre the data come from.")] = "default",
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes reading files.")] = 1,
    lenient: Annotated[
        bool,
        typer.Option(help="Keep files with unreadable values (left out, with a warning)."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Ingest dose reports (DICOM) and tables (CSV, XLSX) into the registry."""
    from doseline.ingest import IngestOptions
    from doseline.ingest import ingest as run_ingest

    settings = get_settings()
    registry = _registry(settings)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=as_json or not console.is_terminal,
    ) as progress:
        task = progress.add_task("ingesting", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        summary = run_ingest(
            registry,
            paths,
            centre=centre,
            jobs=jobs,
            options=IngestOptions.from_settings(settings, strict=not lenient),
            progress=advance,
        )
    if as_json:
        _print_json(summary.to_dict())
    else:
        sys.stdout.write(summary.to_text() + "\n")


@rdsr_app.command("show")
def rdsr_show(
    path: Annotated[Path, typer.Argument(help="An X-Ray Radiation Dose SR file.")],
    identifiers: Annotated[
        bool, typer.Option(help="Also show patient ID, birth date and accession number.")
    ] = False,
    lenient: Annotated[bool, typer.Option(help="Leave unreadable values out.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Print the normalised report: patient characteristics, device, totals, events."""
    from doseline.dicom.rdsr import read_rdsr
    from doseline.reports.rdsr_text import report_text

    report = read_rdsr(path, strict=not lenient)
    if as_json:
        _print_json(report.to_dict(identifiers=identifiers))
    else:
        sys.stdout.write(report_text(report) + "\n")


@patients_app.command("list")
def patients_list(
    centre: Annotated[str | None, typer.Option(help="Only patients of this centre.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOption = False,
) -> None:
    """List patients (pseudonyms) with their number of exposures and dose totals."""
    from doseline.registry.queries import list_patients

    frame = list_patients(_registry(writable=False), centre=centre, limit=limit, offset=offset)
    if as_json:
        _print_json(json.loads(frame.to_json(orient="records")))
    else:
        sys.stdout.write(frame.to_string(index=False) + "\n")


@patients_app.command("show")
def patients_show(
    pseudonym: Annotated[str, typer.Argument(help="The patient's pseudonym.")],
    as_json: JsonOption = False,
) -> None:
    """A patient's dose history: every exposure by age, with its dose indicators."""
    from doseline.registry.queries import patient_history

    frame = patient_history(_registry(writable=False), pseudonym)
    if frame.empty:
        console.print(f"no patient with pseudonym {pseudonym}")
        raise typer.Exit(1)
    if as_json:
        _print_json(
            {"pseudonym": pseudonym, "exposures": json.loads(frame.to_json(orient="records"))}
        )
    else:
        sys.stdout.write(frame.to_string(index=False) + "\n")


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="Folder to write the files to.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    table: Annotated[
        list[str] | None, typer.Option(help="Only these tables (repeat the option).")
    ] = None,
) -> None:
    """Export the registry, one file per table."""
    from doseline.registry.export import export_registry

    written = export_registry(_registry(writable=False), out, fmt=fmt, tables=table)
    for name, path in written.items():
        sys.stdout.write(f"{name}\t{path}\n")


@app.command("audit-phi")
def audit_phi(
    source: Annotated[
        list[Path] | None,
        typer.Option(help="Source files or folders whose identifiers must not be in the registry."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Scan the registry for identifiers. Exits with status 1 if any are found."""
    from doseline.registry.audit import audit_phi as run_audit

    findings = run_audit(_registry(writable=False), sources=source or [])
    if as_json:
        _print_json([asdict(finding) for finding in findings])
    elif findings:
        for finding in findings:
            sys.stdout.write(
                f"{finding.table}.{finding.column}: {finding.what} ({finding.check}, "
                f"{finding.count} value(s))\n"
            )
    else:
        sys.stdout.write("no identifiers found\n")
    if findings:
        raise typer.Exit(1)


@app.command()
def dictionary(
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
    form: Annotated[str | None, typer.Option(help="Only this form.")] = None,
) -> None:
    """Print the REDCap data dictionary of the tabular inputs."""
    from doseline.ingest.dictionary import dictionary_csv

    text = dictionary_csv(form=form)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the synthetic data and registry.")] = Path(
        "demo-output"
    ),
    patients: Annotated[int, typer.Option(min=10, help="Number of synthetic children.")] = 400,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic cohort.")] = 2026,
    shared_rdsr: Annotated[
        Path | None,
        typer.Option(help="Real example dose reports to ingest too (default ../shared/data/rdsr)."),
    ] = None,
    jobs: Annotated[int | None, typer.Option(min=1, help="Worker processes.")] = None,
) -> None:
    """The main job: make a synthetic multi-centre data set, ingest it with the example RDSRs
    into a fresh SQLite registry, and print a summary."""
    from doseline.demo import default_shared_rdsr, run_demo

    examples = shared_rdsr or default_shared_rdsr()
    if examples is None:
        console.print("../shared/data/rdsr not found: only the synthetic data are ingested")
    with console.status("generating, writing and ingesting the demo data set..."):
        result = run_demo(out, n_patients=patients, seed=seed, shared_rdsr=examples, jobs=jobs)
    sys.stdout.write(result.to_text() + "\n")


def main() -> None:
    """Entry point: run the app and turn doseline's errors into a message and status 2."""
    try:
        app()
    except DoselineError as error:
        console.print(f"[red]error:[/red] {error}")
        sys.exit(2)
