"""Command line: ``doseline cohort tabulate`` and ``doseline cohort sir``."""

from __future__ import annotations

from doseline.cohort.cli import app

__all__ = ["app"]
