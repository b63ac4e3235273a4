"""Command line: ``doseline risk ...`` (lifetime attributable risk)."""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from doseline.errors import DoselineError, InvalidInputError

__all__ = ["app"]

app = typer.Typer(
    help="Radiation risk projection: lifetime attributable risk.", no_args_is_help=True
)


class ModelName(StrEnum):
    """Cancer risk models."""

    beir7 = "beir7"
    radrat = "radrat"


class SexName(StrEnum):
    """Sex of the person."""

    male = "male"
    female = "female"


class Outcome(StrEnum):
    """LAR of incidence or of death."""

    incidence = "incidence"
    mortality = "mortality"


def _fail(error: Exception) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(2)


def _model(name: ModelName) -> Any:
    from doseline.risk.models import BEIR7Model, RadRATModel

    return BEIR7Model() if name is ModelName.beir7 else RadRATModel()


def _baseline(name: str, csv_path: Path | None) -> Any:
    from doseline.risk.baseline import Baseline
    from doseline.risk.baseline_sources import load_baseline

    return Baseline.from_csv(csv_path) if csv_path is not None else load_baseline(name)


def _parse_organ_doses(items: list[str]) -> dict[str, float]:
    doses: dict[str, float] = {}
    for item in items:
        # without "=" the value is "", which float() rejects like any other bad number
        organ, _, value = item.partition("=")
        try:
            doses[organ.strip()] = float(value)
        except ValueError:
            raise InvalidInputError(
                f"{item!r} is not ORGAN=GY", source="--organ-dose", field=organ
            ) from None
    return doses


def beir_rows(result: Any) -> dict[str, Any]:
    """JSON of a result with ``lar_per_100000`` over the BEIR VII rows (Table 12D-1).

    For the RadRAT model, "other" is the sum of its sites that BEIR VII counts in "other".
    """
    import numpy as np

    from doseline.risk.sites import BEIR7_SITES, RADRAT_SITES, REPORT_ROWS

    out: dict[str, Any] = result.to_dict()
    lar = dict(result.lar_per_100000)
    draws = dict(result.draws) if result.draws is not None else None
    if "other" not in lar:
        parts = [
            s for s in RADRAT_SITES if s not in BEIR7_SITES and s in lar and math.isfinite(lar[s])
        ]
        lar["other"] = float(sum(lar[s] for s in parts))
        if draws is not None:
            draws["other"] = np.sum([draws[s] for s in parts], axis=0)
        out["lar_per_100000_by_model_site"] = out["lar_per_100000"]

    def clean(value: float) -> float | None:
        return None if not math.isfinite(value) else round(float(value), 4)

    out["lar_per_100000"] = {row: clean(lar.get(row, math.nan)) for row in REPORT_ROWS}
    if draws is not None:
        out["median_per_100000"] = {
            row: clean(float(np.median(draws[row]))) if row in draws else None
            for row in REPORT_ROWS
        }
        out["interval_90_per_100000"] = {
            row: [clean(float(q)) for q in np.quantile(draws[row], [0.05, 0.95])]
            if row in draws
            else None
            for row in REPORT_ROWS
        }
    return out


def _emit(result: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(beir_rows(result), indent=2))
    else:
        typer.echo(result.summary())


def _save_plot(result: Any, png: Path) -> None:
    """Write the result's plot of excess risk by attained age to ``png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4))
    result.plot(ax=ax)
    figure.savefig(png, dpi=120, bbox_inches="tight")
    plt.close(figure)


@app.command("lar")
def lar_command(
    *,
    sex: Annotated[SexName, typer.Option(help="Sex of the person.")],
    age_at_exposure: Annotated[float, typer.Option(help="Age at exposure (years).")],
    organ_dose: Annotated[
        list[str] | None, typer.Option(help="ORGAN=GY, repeat for each organ.")
    ] = None,
    uniform_dose_gy: Annotated[
        float | None, typer.Option(help="The same absorbed dose (Gy) to every organ.")
    ] = None,
    model: Annotated[ModelName, typer.Option(help="Risk model.")] = ModelName.beir7,
    baseline: Annotated[str, typer.Option(help="Named baseline (see 'baselines').")] = (
        "canepirisk-aus-nz-europe-northern-america"
    ),
    baseline_csv: Annotated[
        Path | None, typer.Option(help="Your own baseline CSV (docs/risk.md).")
    ] = None,
    outcome: Annotated[Outcome, typer.Option(help="LAR of incidence or death.")] = (
        Outcome.incidence
    ),
    draws: Annotated[int, typer.Option(help="Monte Carlo draws (0: none).")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    dose_gsd: Annotated[float, typer.Option(help="Geometric SD of organ doses.")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Lifetime attributable risk of one exposure at one age."""
    from doseline.risk.projection import Exposure, lar

    try:
        if (organ_dose is None) == (uniform_dose_gy is None):
            raise InvalidInputError("give either --organ-dose ... or --uniform-dose-gy")
        doses = (
            {"whole_body": uniform_dose_gy}
            if uniform_dose_gy is not None
            else _parse_organ_doses(organ_dose or [])
        )
        result = lar(
            [Exposure(age_at_exposure, doses)],
            sex=sex.value,
            model=_model(model),
            baseline=_baseline(baseline, baseline_csv),
            outcome=outcome.value,
            draws=draws,
            seed=seed,
            dose_gsd=dose_gsd,
        )
    except (DoselineError, KeyError, ValueError) as error:
        raise _fail(error) from None
    _emit(result, as_json)


@app.command("baselines")
def baselines_command(
    *,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the named baselines (the default first) and whether their tables are found."""
    from doseline.risk.baseline_sources import DEFAULT_BASELINE, list_baselines

    infos = list_baselines()
    if as_json:
        typer.echo(
            json.dumps(
                [dict(i.__dict__, default=i.name == DEFAULT_BASELINE) for i in infos], indent=2
            )
        )
        return
    for info in infos:
        mark = "*" if info.name == DEFAULT_BASELINE else " "
        state = "available" if info.available else "tables not found"
        typer.echo(f"{mark} {info.name:45s} {'/'.join(info.outcomes):20s} {state}")
        typer.echo(f"    {info.description}; {info.source}")


@app.command("patient")
def patient_command(
    pseudonym: Annotated[str, typer.Argument(help="Patient pseudonym.")],
    *,
    exposures: Annotated[
        Path | None, typer.Option(help="CSV of organ doses (docs/risk.md) instead of the registry.")
    ] = None,
    sex: Annotated[SexName | None, typer.Option(help="Sex, if not recorded.")] = None,
    method: Annotated[str | None, typer.Option(help="Organ-dose method in the registry.")] = None,
    model: Annotated[ModelName, typer.Option(help="Risk model.")] = ModelName.beir7,
    baseline: Annotated[str, typer.Option(help="Named baseline.")] = (
        "canepirisk-aus-nz-europe-northern-america"
    ),
    baseline_csv: Annotated[Path | None, typer.Option(help="Your own baseline CSV.")] = None,
    outcome: Annotated[Outcome, typer.Option(help="LAR of incidence or death.")] = (
        Outcome.incidence
    ),
    draws: Annotated[int, typer.Option(help="Monte Carlo draws (0: none).")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    png: Annotated[Path | None, typer.Option(help="Write a plot of risk by attained age.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Lifetime attributable risk of one patient from all their exposures."""
    from doseline.risk.projection import lar
    from doseline.risk.sources import exposures_from_registry, read_exposures_csv

    try:
        if exposures is not None:
            people = read_exposures_csv(exposures)
            if pseudonym not in people:
                raise InvalidInputError(f"no rows for {pseudonym!r}", source=str(exposures))
            recorded_sex, person = people[pseudonym]
        else:
            from doseline.cli import _registry

            registry = _registry(writable=False)
            try:
                recorded_sex, person = exposures_from_registry(registry, pseudonym, method=method)
            finally:
                registry.dispose()
        chosen = sex.value if sex is not None else recorded_sex
        if chosen is None:
            raise InvalidInputError(f"sex of {pseudonym} unknown: pass --sex", field="sex")
        result = lar(
            person,
            sex=chosen,
            model=_model(model),
            baseline=_baseline(baseline, baseline_csv),
            outcome=outcome.value,
            draws=draws,
            seed=seed,
        )
    except (DoselineError, KeyError, ValueError) as error:
        raise _fail(error) from None
    if png is not None:
        _save_plot(result, png)
    _emit(result, as_json)


@app.command("circulatory")
def circulatory_command(
    *,
    sex: Annotated[SexName, typer.Option(help="Sex of the person.")],
    age_at_exposure: Annotated[float, typer.Option(help="Age at exposure (years).")],
    heart_dose_gy: Annotated[float, typer.Option(help="Mean heart dose (Gy).")],
    brain_dose_gy: Annotated[float, typer.Option(help="Mean brain dose (Gy).")],
    baseline_csv: Annotated[
        Path, typer.Option(help="Baseline CSV with 'ihd' and 'cerebrovascular' mortality.")
    ],
    source: Annotated[str, typer.Option(help="little2012_random or little2012_fixed.")] = (
        "little2012_random"
    ),
    draws: Annotated[int, typer.Option(help="Monte Carlo draws (0: none).")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Lifetime attributable risk of circulatory-disease death (IHD, cerebrovascular)."""
    from doseline.risk.baseline import Baseline
    from doseline.risk.circulatory import CirculatoryModel, circulatory_lar
    from doseline.risk.projection import Exposure

    try:
        result = circulatory_lar(
            [Exposure(age_at_exposure, {"heart": heart_dose_gy, "brain": brain_dose_gy})],
            sex=sex.value,
            baseline=Baseline.from_csv(baseline_csv),
            model=CirculatoryModel(source),
            draws=draws,
            seed=seed,
        )
    except (DoselineError, KeyError, ValueError) as error:
        raise _fail(error) from None
    typer.echo(json.dumps(result.to_dict(), indent=2) if as_json else result.summary())
