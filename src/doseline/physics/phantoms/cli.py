"""Command line: ``doseline phantom ...``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

__all__ = ["app"]

app = typer.Typer(help="Computational phantoms: organ masses and geometry.", no_args_is_help=True)


@app.command("info")
def info_command(
    age: Annotated[str, typer.Argument(help="newborn | 1y | 5y | 10y | 15y | adult")],
    voxel_mm: Annotated[float, typer.Option("--voxel-mm", help="Voxel edge (mm).")] = 2.0,
    organ_masses: Annotated[
        str,
        typer.Option(
            "--organ-masses",
            help="icrp89 (solid organs resized to ICRP 89) or similitude (scaled 15-year organs)",
        ),
    ] = "icrp89",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Organ masses of the stylised phantom of AGE: voxelised, analytic and ICRP 89."""
    from doseline.physics.phantoms.info import phantom_info

    try:
        info = phantom_info(age, voxel_mm, organ_masses)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(json.dumps(info, indent=2) if as_json else _text(info))


def _fmt(value: Any) -> str:
    return f"{'-':>10s}" if value is None else f"{value:10.1f}"


def _fmt_kg(value: Any) -> str:
    return "-" if value is None else f"{value / 1000:.2f} kg"


def _text(info: dict[str, Any]) -> str:
    lines = [
        f"{info['phantom']}",
        f"height {info['height_cm']:.1f} cm, total mass {info['total_mass_g'] / 1000:.2f} kg "
        f"(ICRP 89: {_fmt_kg(info['icrp89_total_mass_g'])}; ORNL phantom: "
        f"{_fmt_kg(info['ornl_phantom_total_mass_g'])}), voxel {info['voxel_mm']} mm, "
        f"grid {info['shape']}",
        f"{'organ':24s} {'voxel g':>10s} {'analytic g':>10s} {'ICRP 89 g':>10s}  "
        f"{'ORNL g':>10s}  note",
    ]
    for organ in info["organs"]:
        unverified = organ["icrp89_mass_g"] is not None and not organ["icrp89_checked"]
        lines.append(
            f"{organ['organ']:24s} {_fmt(organ['voxel_mass_g'])} "
            f"{_fmt(organ['analytic_mass_g'])} {_fmt(organ['icrp89_mass_g'])}"
            f"{'*' if unverified else ' '} {_fmt(organ['ornl_phantom_mass_g'])}  {organ['note']}"
        )
    lines.append("* ICRP 89 value not yet checked against a reproduction of the table")
    lines.append("ORNL g: mass in the ORNL phantom of this age (DCAL REGMASS; children only)")
    return "\n".join(lines)
