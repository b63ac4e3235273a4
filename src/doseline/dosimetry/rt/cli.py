"""Command line: ``doseline rt ...``."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from doseline.errors import DoselineError

__all__ = ["app", "dvh_command", "exit_with_error"]

app = typer.Typer(
    help="Radiotherapy dosimetry: DVHs, organ doses, plan sums.", no_args_is_help=True
)


def exit_with_error(error: DoselineError) -> typer.Exit:
    """Print ``error`` on stderr; the exit (status 2) the caller raises."""
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(2)


def _check_plan(plan: Path, dose: Any) -> dict[str, str | None]:
    """The plan's identity, after checking that the dose was computed for it."""
    from doseline.dicom.rt_common import FrameOfReferenceMismatchError
    from doseline.dicom.rt_plan import read_rt_plan
    from doseline.errors import InvalidInputError

    found = read_rt_plan(plan)
    uid, frame = found.sop_instance_uid, found.frame_of_reference_uid
    if dose.referenced_plan_uid is not None and uid != dose.referenced_plan_uid:
        raise InvalidInputError(
            f"the dose references RT Plan {dose.referenced_plan_uid}, not this plan ({uid})",
            source=dose.source,
            field="ReferencedRTPlanSequence",
        )
    if frame is not None and frame != dose.frame_of_reference_uid:
        raise FrameOfReferenceMismatchError(
            f"plan frame of reference {frame} differs from the dose's "
            f"{dose.frame_of_reference_uid}",
            source=str(plan),
            field="FrameOfReferenceUID",
        )
    return {"sop_instance_uid": uid, "label": found.plan_label}


def _text_table(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'ROI':<20} {'vol cm3':>9} {'cover':>6} {'mean':>7} {'max':>7} {'min':>7} "
        f"{'D2%':>7} {'D50%':>7} {'D98%':>7}   (doses in Gy)"
    )

    def number(value: float | None, width: int, digits: int) -> str:
        return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"

    lines = [header]
    for row in rows:
        lines.append(
            f"{row['roi_name'][:20]:<20} {row['volume_cm3']:>9.2f} "
            f"{row['covered_fraction']:>6.3f} "
            + " ".join(
                number(row[key], 7, 3)
                for key in ("mean_gy", "max_gy", "min_gy", "d2_gy", "d50_gy", "d98_gy")
            )
        )
    return "\n".join(lines)


def _load_dose(
    paths: list[Path], fractions: list[int] | None, alpha_beta_gy: float | None
) -> tuple[Any, dict[str, Any]]:
    """One dose, a physical plan sum, or an EQD2 sum, and a description of it for the output."""
    from doseline.dicom.rt_dose import read_rt_dose
    from doseline.dosimetry.rt.eqd2 import Course, eqd2_sum
    from doseline.dosimetry.rt.plansum import sum_doses
    from doseline.errors import InvalidInputError

    doses = [read_rt_dose(path) for path in paths]
    if alpha_beta_gy is None:
        if fractions:
            raise InvalidInputError("--fractions needs --alpha-beta (EQD2)", field="fractions")
        if len(doses) == 1:
            return doses[0], {"kind": "physical"}
        summed = sum_doses(doses)
        return summed.dose, {"kind": "physical sum", "coverage": list(summed.coverage)}
    if not fractions or len(fractions) != len(doses):
        raise InvalidInputError(
            f"EQD2 needs one --fractions per --dose ({len(doses)} doses, "
            f"{len(fractions or [])} fraction counts)",
            field="fractions",
        )
    courses = [Course(dose, n) for dose, n in zip(doses, fractions, strict=True)]
    summed = eqd2_sum(courses, alpha_beta_gy)
    kind = {"kind": "EQD2", "alpha_beta_gy": alpha_beta_gy, "fractions": fractions}
    return summed.dose, kind | {"coverage": list(summed.coverage)}


@app.command("dvh")
def dvh_command(
    *,
    dose_paths: Annotated[
        list[Path], typer.Option("--dose", help="RT Dose file in Gy (repeat to sum plans).")
    ],
    struct_path: Annotated[Path, typer.Option("--struct", help="RT Structure Set file.")],
    plan_path: Annotated[
        Path | None, typer.Option("--plan", help="RT Plan the dose must reference (checked).")
    ] = None,
    roi: Annotated[
        list[str] | None, typer.Option("--roi", help="ROI name or number (repeatable).")
    ] = None,
    supersample: Annotated[
        int, typer.Option(min=1, max=64, help="Lattice points per voxel side in plane.")
    ] = 1,
    z_supersample: Annotated[
        int, typer.Option(min=1, max=64, help="Sub-slabs per contour slab.")
    ] = 1,
    slab: Annotated[
        str, typer.Option(help="Slab convention: dicompyler, midpoint or truncated.")
    ] = "dicompyler",
    bin_width_gy: Annotated[float, typer.Option(help="DVH bin width in Gy.")] = 0.01,
    fractions: Annotated[
        list[int] | None, typer.Option("--fractions", help="Fractions of each --dose (EQD2).")
    ] = None,
    alpha_beta_gy: Annotated[
        float | None, typer.Option("--alpha-beta", help="alpha/beta in Gy: DVH of EQD2.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """DVHs and dose metrics of the ROIs of a structure set in an RT Dose grid.

    Defaults reproduce dicompyler-core 0.5.6 (voxel centres, contour spacing as slab
    thickness); use --supersample 4 --z-supersample 3 for sub-voxel accuracy. Several --dose
    are summed on the first one's grid; with --alpha-beta and one --fractions per dose, the
    DVH is of the EQD2 sum. See docs/rt_dvh.md.
    """
    from doseline.dicom.rt_struct import read_rt_structure_set
    from doseline.dosimetry.rt.dvh import DVHSettings, compute_dvhs
    from doseline.errors import InvalidInputError

    try:
        settings = DVHSettings(supersample, z_supersample, bin_width_gy, slab)  # type: ignore[arg-type]
        if plan_path is not None and len(dose_paths) != 1:
            raise InvalidInputError("--plan checks a single --dose", field="plan")
        dose, dose_kind = _load_dose(dose_paths, fractions, alpha_beta_gy)
        plan = _check_plan(plan_path, dose) if plan_path is not None else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            structures = read_rt_structure_set(struct_path)
            keys = [int(key) if key.isdigit() else key for key in roi] if roi else None
            dvhs = compute_dvhs(dose, structures, keys, settings)
    except DoselineError as error:
        raise exit_with_error(error) from None
    notes = [str(warning.message) for warning in caught]
    rows = [dvh.to_dict(include_histogram=as_json) for dvh in dvhs]
    if not as_json:
        for note in notes:
            typer.echo(f"warning: {note}", err=True)
        sys.stdout.write(_text_table(rows) + "\n")
        return
    out = {
        "dose": [str(path) for path in dose_paths],
        "dose_kind": dose_kind,
        "struct": str(struct_path),
        "plan": plan,
        "settings": {"supersample": supersample, "z_supersample": z_supersample,
                     "slab": slab, "bin_width_gy": bin_width_gy},
        "warnings": notes,
        "rois": rows,
    }  # fmt: skip
    sys.stdout.write(json.dumps(out, indent=2) + "\n")


# The registry commands (ingest, organ doses) live in their own module and register on ``app``.
from doseline.dosimetry.rt import cli_registry as _cli_registry  # noqa: E402

__all__ += ["_cli_registry"]
