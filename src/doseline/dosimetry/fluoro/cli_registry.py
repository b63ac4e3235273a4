"""Command line: ``doseline dose compute``, ``doseline dose show PATIENT`` and
``doseline dose event`` (registered in :mod:`doseline.dosimetry.fluoro.cli`).

``compute`` fills the registry's ``organ_dose`` table for fluoroscopy exposures
(:func:`doseline.dosimetry.fluoro.compute.compute_organ_doses`) and, with ``--realisations K``,
their two-dimensional Monte Carlo uncertainty; ``show`` prints what the registry holds for one
patient; ``event`` gives the organ doses of one irradiation event without a registry.
The registry and the deployment's factors come from the settings (``DOSELINE_*``), as for the
other registry commands; ``--database-url`` overrides the registry's URL.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from doseline.errors import ConfigurationError, DoselineError, InvalidInputError

if TYPE_CHECKING:
    from doseline.config import Settings

__all__ = ["compute_command", "event_command", "parse_field_cm", "show_command"]

_FIELD = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*[xX]\s*(\d+(?:\.\d*)?|\.\d+)\s*$")
TableOption = Annotated[
    Path | None,
    typer.Option("--table", help="Conversion table file (default: the one shipped)."),
]
DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="Registry URL (default: settings).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _fail(error: DoselineError | ValueError) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(2)


def _settings(database_url: str | None = None) -> Settings:
    from pydantic import ValidationError

    from doseline.config import get_settings

    try:
        settings = get_settings()
    except ValidationError as error:
        raise ConfigurationError(f"invalid DOSELINE_* setting: {error}") from error
    if database_url is not None:
        settings = settings.model_copy(update={"database_url": database_url})
    return settings


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def compute_command(
    *,
    realisations: Annotated[
        int, typer.Option(min=0, help="Also draw K realisations (2-D Monte Carlo); 0: none.")
    ] = 0,
    realisations_dir: Annotated[
        Path | None,
        typer.Option(help="Folder of the Parquet store (default: beside a SQLite registry)."),
    ] = None,
    realise_new: Annotated[
        bool,
        typer.Option(help="Realise only the exposures dosed by this run (default: all)."),
    ] = False,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the realisations.")] = 1,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="Threads of the coefficient interpolation.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Exposures per transaction.")] = 500,
    max_batches: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many batches (resume later).")
    ] = None,
    table: TableOption = None,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compute the organ doses of every fluoroscopy exposure that lacks them (resumable)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from doseline.dosimetry.fluoro.compute import (
        FluoroDoseJob,
        compute_organ_doses,
        default_realisations_dir,
        realise_organ_doses,
    )
    from doseline.registry.database import Registry

    console = Console(stderr=True)
    try:
        settings = _settings(database_url)
        registry = Registry.open(settings)
        job = FluoroDoseJob.from_settings(settings, table)
        if realisations and realisations_dir is None:
            realisations_dir = default_realisations_dir(settings.database_url)
        if jobs is not None:
            import numba

            numba.set_num_threads(min(jobs, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
        columns = (TextColumn("organ doses"), BarColumn(), MofNCompleteColumn())
        hide = as_json or not console.is_terminal
        with Progress(*columns, console=console, transient=True, disable=hide) as progress:
            task = progress.add_task("organ doses", total=None)
            summary = compute_organ_doses(
                registry, job, batch_size=batch_size, max_batches=max_batches,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )  # fmt: skip
        realised = None
        if realisations and realisations_dir is not None:
            only = summary.dosed if realise_new else None
            realised = realise_organ_doses(
                registry, job, realisations, seed=seed, directory=realisations_dir,
                exposure_ids=only,
            )  # fmt: skip
    except (DoselineError, ValueError) as error:
        raise _fail(error) from None
    if as_json:
        _print_json({"compute": summary.to_dict(),
                     "realisations": realised.to_dict() if realised else None})  # fmt: skip
        return
    sys.stdout.write(summary.to_text() + "\n")
    if realised is not None:
        sys.stdout.write(f"realisations: {realised.n_realisations} per organ dose, "
                         f"{realised.rows} rows updated, store {realised.path} "
                         f"(set {realised.realisation_set_id})\n")  # fmt: skip


def show_command(
    patient: Annotated[str, typer.Argument(help="The patient's pseudonym.")],
    *,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """A patient's fluoroscopy organ doses: per exposure and cumulative, effective dose."""
    from doseline.dosimetry.fluoro.dose_paths import METHODS
    from doseline.dosimetry.fluoro.registry_events import patient_doses
    from doseline.registry.database import Registry

    try:
        registry = Registry.open(_settings(database_url), writable=False)
        with registry.engine.connect() as connection:
            data = patient_doses(connection, patient, METHODS)
        if data is None:
            raise InvalidInputError("no patient with this pseudonym", source="registry",
                                    record=f"patient {patient}")  # fmt: skip
    except DoselineError as error:
        raise _fail(error) from None
    if as_json:
        _print_json(data)
        return
    sys.stdout.write(_show_text(data) + "\n")


def _show_text(data: dict[str, Any]) -> str:
    if not data["exposures"] and not data["not_dosed"]:
        return f"patient {data['pseudonym']}: no fluoroscopy exposure"
    organs = ("red_bone_marrow", "heart", "lung", "breast")
    head = f"{'exposure':>9} {'age y':>6} {'method':<15} {'E mSv':>8} " + " ".join(
        f"{o[:10]:>10}" for o in organs
    )
    lines = [f"patient {data['pseudonym']} ({data['sex'] or 'sex unknown'}); organ doses in mGy",
             head]  # fmt: skip
    for x in data["exposures"]:
        doses = " ".join(f"{1e3 * x['organ_dose_gy'].get(o, float('nan')):10.3f}" for o in organs)
        age = f"{x['age_y']:6.2f}" if x["age_y"] is not None else f"{'?':>6}"
        e_msv = 1e3 * (x["effective_dose_sv"] or float("nan"))
        lines.append(f"{x['exposure_id']:>9} {age} {x['method']:<15} {e_msv:8.3f} {doses}")
    total = data["cumulative"]
    doses = " ".join(f"{1e3 * total['organ_dose_gy'].get(o, float('nan')):10.3f}" for o in organs)
    e_total = 1e3 * total["effective_dose_sv"]
    lines.append(f"{'total':>9} {'':>6} {'':<15} {e_total:8.3f} {doses}")
    if data["not_dosed"]:
        lines.append(f"no organ doses yet: exposures {', '.join(map(str, data['not_dosed']))}")
    return "\n".join(lines)


def parse_field_cm(text: str) -> tuple[float, float]:
    """``"WxH"`` (cm, e.g. ``"20x15"``) as (width, height) in mm; both must be > 0.

    Raises
    ------
    typer.BadParameter
        If the text is not two positive numbers joined by ``x``.
    """
    match = _FIELD.match(text)
    if match is None or float(match.group(1)) <= 0 or float(match.group(2)) <= 0:
        raise typer.BadParameter(f"{text!r}: expected WIDTHxHEIGHT in cm, e.g. 20x15")
    return float(match.group(1)) * 10.0, float(match.group(2)) * 10.0


def event_command(
    *,
    age_y: Annotated[float, typer.Option("--age-y", help="Age at exposure (years).")],
    sex: Annotated[str, typer.Option(help="male or female.")],
    kvp: Annotated[float, typer.Option(help="Tube voltage (kV).")],
    primary_angle_deg: Annotated[float, typer.Option(help="Primary angle (LAO +, deg).")],
    secondary_angle_deg: Annotated[float, typer.Option(help="Secondary angle (cranial +).")],
    field_cm: Annotated[str, typer.Option(help="Field at the image receptor, WxH (cm).")],
    kap_gycm2: Annotated[float, typer.Option(help="Kerma-area product (Gy cm2).")],
    height_cm: Annotated[float | None, typer.Option(help="Height (cm).")] = None,
    weight_kg: Annotated[float | None, typer.Option(help="Weight (kg).")] = None,
    filter_cu_mm: Annotated[float, typer.Option(help="Added copper (mm).")] = 0.0,
    filter_al_mm: Annotated[float, typer.Option(help="Added aluminium (mm).")] = 0.0,
    sid_mm: Annotated[float | None, typer.Option(help="Source-to-detector (mm).")] = None,
    sod_mm: Annotated[float | None, typer.Option(help="Source-to-isocentre (mm).")] = None,
    method: Annotated[str, typer.Option(help="table or mc (direct Monte Carlo).")] = "table",
    histories: Annotated[int, typer.Option(min=1, help="Histories (mc).")] = 200_000,
    seed: Annotated[int, typer.Option(min=0, help="Seed (mc).")] = 1,
    table: TableOption = None,
    as_json: JsonOption = False,
) -> None:
    """Organ doses (mGy) and effective dose (mSv) of one irradiation event."""
    try:
        if sex not in ("male", "female"):
            raise typer.BadParameter(f"--sex {sex!r}: expected male or female")
        if method not in ("table", "mc"):
            raise typer.BadParameter(f"--method {method!r}: expected table or mc")
        width_mm, height_mm = parse_field_cm(field_cm)
        values = {"age_y": age_y, "sex": sex, "height_cm": height_cm, "weight_kg": weight_kg,
                  "kvp": kvp, "filter_cu_mm": filter_cu_mm, "filter_al_mm": filter_al_mm,
                  "primary_angle_deg": primary_angle_deg,
                  "secondary_angle_deg": secondary_angle_deg, "field_width_mm": width_mm,
                  "field_height_mm": height_mm, "kap_gycm2": kap_gycm2,
                  "distance_source_to_detector_mm": sid_mm,
                  "distance_source_to_isocenter_mm": sod_mm}  # fmt: skip
        result = event_doses(values, method=method, histories=histories, seed=seed, table=table)
    except typer.BadParameter as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except (DoselineError, ValueError) as error:
        raise _fail(error) from None
    if as_json:
        _print_json(result)
        return
    lines = [f"{o:<24} {d:10.4f} mGy" for o, d in result["organ_dose_mgy"].items()]
    lines.append(f"{'effective dose':<24} {result['effective_dose_msv']:10.4f} mSv")
    if result.get("clamped_axes"):
        lines.append(f"outside the table (clamped): {', '.join(result['clamped_axes'])}")
    sys.stdout.write("\n".join(lines) + "\n")


def event_doses(
    values: dict[str, Any], *, method: str, histories: int, seed: int, table: Path | None
) -> dict[str, Any]:
    """The ``dose event`` result: organ doses (mGy), effective dose (mSv), what was used."""
    from dataclasses import asdict

    from doseline.dosimetry.fluoro.compute import FluoroDoseJob
    from doseline.dosimetry.fluoro.direct import DirectMonteCarlo
    from doseline.dosimetry.fluoro.doses import DoseFactors, event_organ_doses
    from doseline.dosimetry.fluoro.events import FluoroEvent

    settings = _settings()
    given = {k: v for k, v in values.items() if v is not None}
    event = FluoroEvent(**given)
    frame = event.to_frame()
    out: dict[str, Any] = {"method": method, "event": asdict(event)}
    if method == "table":
        job = FluoroDoseJob.from_settings(settings, table)
        doses = event_organ_doses(frame, job.source, job.factors)
        clamped = job.source.clamped(frame).iloc[0]
        out |= {"table": job.common_inputs()["table"], "factors": job.factor_inputs(),
                "clamped_axes": [str(a) for a, v in clamped.items() if v]}  # fmt: skip
    else:
        source = DirectMonteCarlo(
            n_histories=histories, seed=seed,
            inherent_al_mm=settings.fluoro_inherent_filtration_al_mm,
            support_pmma_equivalent_mm=settings.fluoro_table_pmma_mm,
        )  # fmt: skip
        doses = event_organ_doses(frame, source, DoseFactors(settings.fluoro_kap_calibration))
        out |= {"histories": histories, "seed": seed,
                "factors": {"kap_calibration": settings.fluoro_kap_calibration,
                            "table_pmma_mm": settings.fluoro_table_pmma_mm,
                            "inherent_filtration_al_mm":
                                settings.fluoro_inherent_filtration_al_mm}}  # fmt: skip
    row = doses.iloc[0]
    organs = {str(o): 1e3 * float(v) for o, v in row.items() if o != "effective_dose_sv"}
    out["organ_dose_mgy"] = {o: v for o, v in organs.items() if math.isfinite(v)}  # not NaN:
    # the other sex's organs are left out
    out["effective_dose_msv"] = 1e3 * float(row["effective_dose_sv"])
    return out
