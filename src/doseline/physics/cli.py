"""Command line: ``doseline mc ...``."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Monte Carlo photon transport: scenarios and benchmark cases.", no_args_is_help=True
)
