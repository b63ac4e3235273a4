"""Command line: ``doseline rt ...``."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Radiotherapy dosimetry: DVHs, organ doses, plan sums.", no_args_is_help=True
)

# The registry commands (ingest, organ doses) live in their own module and register on ``app``.
from doseline.dosimetry.rt import cli_registry as _cli_registry  # noqa: E402

__all__ += ["_cli_registry"]
