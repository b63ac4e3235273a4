"""Command line: the radiotherapy commands that read or write the registry.

``doseline rt compute``: organ doses of an ingested course from its RT Dose and RT Structure Set
files (and IGRT imaging), stored in the registry; ``doseline rt organ-doses PATIENT``: what the
registry holds for a patient's courses. The RT objects themselves are ingested by
``doseline ingest`` (see ``docs/rt_registry.md``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from doseline.dosimetry.rt.cli import app, exit_with_error
from doseline.errors import DoselineError

__all__ = ["app", "compute_command", "organ_doses_command"]


def _registry(*, writable: bool) -> Any:
    from doseline.config import get_settings
    from doseline.registry.database import Registry

    return Registry.open(get_settings(), writable=writable)


def _parse_images(values: list[str]) -> dict[str, int]:
    images: dict[str, int] = {}
    for value in values:
        name, _, count = value.rpartition("=")
        if not name or not count.isdigit():
            raise typer.BadParameter(f"{value!r}: expected PROTOCOL=NUMBER_OF_IMAGES")
        images[name] = images.get(name, 0) + int(count)
    return images


@app.command("compute")
def compute_command(
    *,
    dose_path: Annotated[Path, typer.Option("--dose", help="The course's RT Dose file.")],
    struct_path: Annotated[Path, typer.Option("--struct", help="Its RT Structure Set file.")],
    names: Annotated[
        Path | None, typer.Option(help="Extra TG-263 name mapping CSV (site names).")
    ] = None,
    imaging: Annotated[
        list[str] | None,
        typer.Option(help="Images of an IGRT protocol in the course: PROTOCOL=N (repeatable)."),
    ] = None,
    protocols: Annotated[
        Path | None, typer.Option(help="Imaging protocol CSV (organ dose per image, source).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Compute and store the organ doses of an ingested course (replacing earlier ones)."""
    from doseline.dosimetry.rt.course_doses import compute_course_organ_doses
    from doseline.dosimetry.rt.imaging import read_imaging_protocols

    images = _parse_images(imaging or [])
    try:
        if images and protocols is None:
            raise typer.BadParameter("--imaging needs --protocols")
        known = read_imaging_protocols(protocols) if protocols is not None else {}
        result = compute_course_organ_doses(
            _registry(writable=True),
            dose_path,
            struct_path,
            names=names,
            images=images,
            protocols=known,
        )
    except DoselineError as error:
        raise exit_with_error(error) from None
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
        return
    for note in result.warnings:
        typer.echo(f"warning: {note}", err=True)
    sys.stdout.write(result.organs.summary_frame.to_string(index=False) + "\n")
    if result.organs.not_estimated:
        sys.stdout.write(f"not estimated: {', '.join(result.organs.not_estimated)}\n")


@app.command("organ-doses")
def organ_doses_command(
    patient: Annotated[str, typer.Argument(help="The patient's pseudonym.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Organ doses of a patient's radiotherapy courses, by method, with per-organ totals."""
    from doseline.dosimetry.rt.course_doses import course_organ_doses

    try:
        courses = course_organ_doses(_registry(writable=False), patient)
    except DoselineError as error:
        raise exit_with_error(error) from None
    if not courses:
        typer.echo(f"no radiotherapy course for patient {patient}", err=True)
        raise typer.Exit(1)
    if as_json:
        out = {"pseudonym": patient, "courses": courses}
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
        return
    for course in courses:
        sys.stdout.write(
            f"course (exposure {course['exposure_id']}): {course['radiation_types']}, "
            f"{course['prescription_dose_gy']} Gy in {course['fractions_planned']} fractions\n"
        )
        for organ, total in sorted(course["total_gy"].items()):
            sys.stdout.write(f"  {organ:<32} {total:10.4f} Gy\n")
