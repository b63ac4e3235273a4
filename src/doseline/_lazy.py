"""Lazy public names for packages (PEP 562), so that importing a package stays cheap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports each public name from its home module on first use.

    Parameters
    ----------
    package
        The package's dotted name (for the error message).
    homes
        Public name -> fully qualified module that defines it.
    namespace
        The package's ``globals()``; a loaded name is cached there, so the next access does not
        come back here.
    """

    def module_getattr(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(homes[name]), name)
        namespace[name] = value
        return value

    return module_getattr
