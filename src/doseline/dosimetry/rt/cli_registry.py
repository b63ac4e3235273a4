"""Command line: the radiotherapy commands that read or write the registry."""

from __future__ import annotations

from doseline.dosimetry.rt.cli import app

__all__ = ["app"]
