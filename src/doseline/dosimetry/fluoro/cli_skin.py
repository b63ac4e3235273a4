"""Command line: ``doseline dose skin FILE [--png OUT] [--json]`` (registered by the CLI).

Peak skin dose and skin dose map of one RDSR with
:func:`doseline.dosimetry.fluoro.skin.skin_dose` and PySkinDose's cylinder phantom.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["skin_command"]


def skin_command(
    file: Annotated[
        Path, typer.Argument(help="RDSR file (projection X-ray dose report).", exists=True)
    ],
    png: Annotated[
        Path | None, typer.Option("--png", help="Write the unfolded skin dose map to this PNG.")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON (doses in Gy) instead of text.")
    ] = False,
    *,
    events: Annotated[
        bool, typer.Option("--events", help="List every event's factors and doses.")
    ] = False,
    table_transmission: Annotated[
        float | None,
        typer.Option(
            "--table-transmission",
            help="Constant table + pad transmission (e.g. 0.8, PySkinDose's example); "
            "default: 12.5 mm PMMA equivalent along each ray.",
        ),
    ] = None,
    medium: Annotated[
        str, typer.Option("--medium", help="skin | water | soft_tissue | air")
    ] = "skin",
    cell_mm: Annotated[float, typer.Option("--cell-mm", help="Skin cell size (mm).")] = 10.0,
) -> None:
    """Peak skin dose and skin dose map of one procedure (RDSR), per plane."""
    from doseline.dosimetry.fluoro.skin import SkinDoseSettings, skin_dose_from_file
    from doseline.dosimetry.fluoro.skin_factors import TableTransmission
    from doseline.dosimetry.fluoro.skin_phantom import elliptic_cylinder
    from doseline.errors import InvalidInputError

    try:
        settings = SkinDoseSettings(
            surface=elliptic_cylinder(cell_mm=cell_mm),
            medium=None if medium == "air" else medium,
            table=TableTransmission(constant=table_transmission),
        )
        result = skin_dose_from_file(file, settings)
    except (InvalidInputError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    if png is not None:
        from doseline.dosimetry.fluoro.skin_plot import save_skin_map_png

        save_skin_map_png(result, png)
    if json_output:
        summary = json.loads(result.to_json(include_events=events))
        if png is not None:
            summary["png"] = str(png)
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(_text(result.summary(include_events=events), png))


def _text(summary: dict[str, Any], png: Path | None) -> str:
    psd = summary["psd_gy"]
    lines = [
        str(summary["source"]),
        "peak skin dose: "
        + ("not computed (no event had what is needed)" if psd is None
           else f"{float(psd) * 1000:.2f} mGy"),
        f"phantom: {summary['phantom']}",
        f"events: {summary['events_computed']} computed of {summary['events_total']}",
        f"{'plane':8s} {'events':>7s} {'skipped':>8s} {'K_IRP mGy':>10s} {'max event mGy':>14s}"
        f" {'at PSD mGy':>11s}",
    ]  # fmt: skip
    for p in summary["per_plane"]:
        lines.append(
            f"{p['plane']:8s} {p['events_computed']:7d} {p['events_skipped']:8d} "
            f"{p['air_kerma_rp_gy'] * 1000:10.2f} {p['max_event_dose_gy'] * 1000:14.2f} "
            f"{p['dose_at_psd_gy'] * 1000:11.2f}"
        )
    lines += [f"{k}: {v}" for k, v in summary["factors"].items()]
    for s in summary["skipped"]:
        lines.append(f"skipped event {s['index'] + 1} (plane {s['plane']}): {s['reason']}")
    for e in summary.get("events", []):
        lines.append(
            f"event {e['event']:3d} {e['plane']!s:6s} K_IRP {e['air_kerma_rp_gy'] * 1000:7.3f} mGy"
            f" kVp {e['kvp']:5.1f} HVL {e['hvl_mm_al']:5.2f} cells {e['n_cells_hit']:5d}"
            f" max {e['max_dose_gy'] * 1000:7.3f} mGy at PSD {e['dose_at_psd_gy'] * 1000:7.3f}"
        )
    if png is not None:
        lines.append(f"map: {png}")
    return "\n".join(lines)
