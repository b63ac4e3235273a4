"""Command line: ``doseline phantom ...``."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(help="Computational phantoms: organ masses and geometry.", no_args_is_help=True)
