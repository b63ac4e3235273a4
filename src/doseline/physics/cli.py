"""Command line: ``doseline mc ...``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Monte Carlo photon transport: scenarios and benchmark cases.", no_args_is_help=True
)


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else value


@app.command("tg195")
def tg195_command(  # noqa: PLR0917 (typer options)
    case: Annotated[int, typer.Option("--case", help="TG-195 case: 1 or 2")],
    source: Annotated[
        str, typer.Option("--source", help="30keV|100keV|30kVp|100kVp|56.4keV|120kVp")
    ],
    mode: Annotated[
        str, typer.Option("--mode", help="radiography|tomosynthesis (case 2)")
    ] = "radiography",
    histories: Annotated[int, typer.Option("--histories")] = 1_000_000,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    spectrum_file: Annotated[
        Path | None, typer.Option("--spectrum-file", help="CSV energy_kev,photons (kVp sources)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run AAPM TG-195 case 1 (HVL/QVL) or case 2 (soft-tissue box with nine VOIs)."""
    from doseline.physics import tg195

    try:
        if case == 1:
            r1 = tg195.run_case1(source, histories, seed, spectrum_file)
            out: dict[str, object] = {
                "case": 1, "source": source, "histories": histories,
                "kerma_ratio_hvl": r1.kerma_ratio_hvl, "kerma_ratio_qvl": r1.kerma_ratio_qvl,
            }  # fmt: skip
        elif case == 2:
            ev, sd, _ = tg195.run_case2(
                source, histories, mode=mode, seed=seed, spectrum_file=spectrum_file
            )
            rel = {k: _clean(v) for k, v in sd.items()}
            out = {"case": 2, "source": source, "mode": mode, "histories": histories,
                   "ev_per_history": ev, "rel_sd": rel}  # fmt: skip
        else:
            raise ValueError("--case must be 1 or 2")
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(json.dumps(out, indent=2) if as_json else _text(out))


def _text(out: dict[str, object]) -> str:
    lines = []
    for key, value in out.items():
        if isinstance(value, dict):
            lines += [f"{key}:"] + [f"  {k}: {v:.6g}" if v is not None else f"  {k}: -"
                                    for k, v in value.items()]  # fmt: skip
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


@app.command("run")
def run_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML (see docs/physics.md)")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run a custom scenario: doses per label per history and per unit in-air KAP."""
    from doseline.errors import InvalidInputError
    from doseline.physics.scenario import run_scenario

    try:
        result, _ = run_scenario(scenario)
    except InvalidInputError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    per_kap = result.dose_gy_per_kap_gycm2()
    out = {
        "histories": result.n_histories,
        "backend": result.backend,
        "kap_gycm2_per_history": result.kap_gycm2_per_history,
        "dose_gy_per_kap_gycm2": {k: _clean(v) for k, v in per_kap.items()},
        "energy_ev_per_history": dict(
            zip(result.labels, result.energy_ev_per_history.tolist(), strict=True)
        ),
        "rel_sd": {
            k: _clean(v) for k, v in zip(result.labels, result.energy_rel_sd.tolist(), strict=True)
        },
        "red_marrow_rel_sd": _clean(result.red_marrow_rel_sd),
    }
    typer.echo(json.dumps(out, indent=2) if as_json else result.summary())
