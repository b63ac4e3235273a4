"""Setting up a deployment: the pseudonymisation key and the registry (``doseline init``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from doseline.config import Settings, get_settings
from doseline.registry.database import Registry
from doseline.registry.pseudonym import Pseudonymiser, create_key_file, load_key

__all__ = ["DeploymentInfo", "init_deployment"]


@dataclass(frozen=True)
class DeploymentInfo:
    """Where the key and the registry are, and what ``init`` did."""

    key_file: Path
    key_created: bool
    database_url: str
    schema_revision: str


def init_deployment(settings: Settings | None = None) -> DeploymentInfo:
    """Create the key if there is none, migrate the registry, and bind it to the key.

    Idempotent: running it again keeps the key and the data, and only applies new migrations.
    A registry already bound to another key is refused (see :meth:`Registry.check_key`).
    """
    settings = settings or get_settings()
    created = not settings.key_file.exists()
    if created:
        create_key_file(settings.key_file)
    registry = Registry(settings.database_url, Pseudonymiser(load_key(settings.key_file)))
    try:
        registry.upgrade()
        registry.check_key()
        revision = registry.current_revision() or "empty"
    finally:
        registry.dispose()
    return DeploymentInfo(settings.key_file, created, settings.database_url, revision)
