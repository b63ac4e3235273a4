"""Command line: ``doseline risk ...``."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Radiation risk projection: lifetime attributable risk.", no_args_is_help=True
)
