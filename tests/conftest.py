"""Shared fixtures: reference data locations, deployment keys, registries on SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from doseline.registry.database import Registry
from doseline.registry.pseudonym import Pseudonymiser, create_key_file, load_key

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RDSR_DIR = Path(os.environ.get("DOSELINE_SHARED_DATA", SHARED_DATA)) / "rdsr"

POSTGRES_URL = os.environ.get("DOSELINE_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("DOSELINE_REQUIRE_POSTGRES") == "1"


def shared_rdsr(name: str) -> Path:
    """A file of ../shared/data/rdsr, or skip the test with the reason."""
    path = RDSR_DIR / name
    if not path.exists():
        pytest.skip(f"reference RDSR {name} not found under {RDSR_DIR}")
    return path


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return create_key_file(tmp_path / "keys" / "deployment.key")


@pytest.fixture
def pseudonymiser(key_file: Path) -> Pseudonymiser:
    return Pseudonymiser(load_key(key_file))


def _postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("DOSELINE_REQUIRE_POSTGRES=1 but DOSELINE_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured (set DOSELINE_TEST_POSTGRES_URL)")
    name = f"doseline_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, and a PostgreSQL database where configured."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.sqlite'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def registry(database_url: str, pseudonymiser: Pseudonymiser) -> Iterator[Registry]:
    """A migrated registry with a deployment key, on each database backend."""
    opened = Registry(database_url, pseudonymiser)
    opened.upgrade()
    opened.check_key()
    yield opened
    opened.dispose()


@pytest.fixture
def sqlite_registry(tmp_path: Path, pseudonymiser: Pseudonymiser) -> Iterator[Registry]:
    """A migrated SQLite registry (for tests that are not about the database backend)."""
    opened = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}", pseudonymiser)
    opened.upgrade()
    opened.check_key()
    yield opened
    opened.dispose()
