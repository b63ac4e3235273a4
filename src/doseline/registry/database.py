"""Opening a registry: engine, migrations and the deployment-key check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from doseline.config import Settings, get_settings
from doseline.errors import ConfigurationError
from doseline.registry.base import Deployment
from doseline.registry.pseudonym import Pseudonymiser, load_key

__all__ = ["Registry", "create_registry_engine"]


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    # WAL lets readers work during an ingest; NORMAL sync is durable across application
    # crashes in WAL mode (https://www.sqlite.org/pragma.html#pragma_synchronous).
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def create_registry_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their folder created and the pragmas set."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("doseline.registry") / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


class Registry:
    """A doseline registry: a database at a URL, with the schema of this version.

    Parameters
    ----------
    url
        SQLAlchemy database URL.
    pseudonymiser
        The deployment's pseudonymiser; needed to write, not to read.
    """

    def __init__(self, url: str, pseudonymiser: Pseudonymiser | None = None) -> None:
        self.url = url
        self.engine = create_registry_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.pseudonymiser = pseudonymiser

    @classmethod
    def open(cls, settings: Settings | None = None, *, writable: bool = True) -> Registry:
        """Open the registry of ``settings``, set up by ``doseline init``.

        Its schema must be current and, to write, the deployment key must be the one it was
        built with. Nothing is created or migrated here, so that a mistyped database URL gives
        an error rather than a new, empty registry.

        Raises
        ------
        ConfigurationError
            If the registry or the key is missing, or the schema is not current.
        """
        settings = settings or get_settings()
        url = make_url(settings.database_url)
        shown = url.render_as_string(hide_password=True)
        missing_file = (
            url.get_backend_name() == "sqlite"
            and url.database not in (None, "", ":memory:")
            and not Path(str(url.database)).exists()
        )
        if missing_file:
            raise ConfigurationError(f"{shown}: no registry here; run 'doseline init'")
        pseudonymiser = Pseudonymiser(load_key(settings.key_file)) if writable else None
        registry = cls(settings.database_url, pseudonymiser)
        if not registry.schema_is_current():
            registry.dispose()
            raise ConfigurationError(
                f"{shown}: the registry's schema is not that of this version of doseline; "
                "run 'doseline init' to set it up or migrate it"
            )
        if pseudonymiser is not None:
            registry.check_key(bind=False)
        return registry

    # -- schema ---------------------------------------------------------------------------

    def upgrade(self, revision: str = "head") -> None:
        """Apply the Alembic migrations up to ``revision``."""
        with self.engine.begin() as connection:
            config = _alembic_config(self.url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def downgrade(self, revision: str) -> None:
        with self.engine.begin() as connection:
            config = _alembic_config(self.url)
            config.attributes["connection"] = connection
            command.downgrade(config, revision)

    def current_revision(self) -> str | None:
        """The migration the database is at (``None`` for an empty database)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def schema_is_current(self) -> bool:
        """Whether the database is at the newest migration."""
        head = ScriptDirectory.from_config(_alembic_config(self.url)).get_current_head()
        return self.current_revision() == head

    def check_key(self, *, bind: bool = True) -> None:
        """Refuse a registry made with another key. A registry without a key yet is bound to
        this one where ``bind`` (``doseline init``), and refused otherwise."""
        if self.pseudonymiser is None:
            raise ConfigurationError("this registry was opened without a deployment key")
        fingerprint = self.pseudonymiser.fingerprint
        with self.sessions.begin() as session:
            known = session.scalars(select(Deployment.key_fingerprint)).first()
            if known is None:
                if not bind:
                    raise ConfigurationError(
                        "this registry is bound to no deployment key; run 'doseline init'"
                    )
                session.add(Deployment(key_fingerprint=fingerprint))
            elif known != fingerprint:
                raise ConfigurationError(
                    "this registry was built with another deployment key: its pseudonyms would "
                    "not link. Use the key file of this deployment (DOSELINE_KEY_FILE)."
                )

    # -- access ---------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction (committed on success, rolled back on error)."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A Core connection in one transaction."""
        with self.engine.begin() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()
