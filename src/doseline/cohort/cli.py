"""Command line: ``doseline cohort ...``."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Cohort analysis: person-time tables, dose-response models, SIR.", no_args_is_help=True
)

# The person-time and SIR commands live in their own module and register on ``app``.
from doseline.cohort import cli_tables as _cli_tables  # noqa: E402

__all__ += ["_cli_tables"]
