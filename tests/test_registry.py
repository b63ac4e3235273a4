"""Registry schema, migrations, keys and pseudonyms, on SQLite and PostgreSQL.

References: Alembic's own comparison of the migrated database with the models (an empty diff
means the migrations build exactly the schema the code uses); RFC 2104 HMAC-SHA256 computed
with Python's ``hmac`` module independently of doseline's wrapper; DICOM PS3.5 section 9
(UIDs of at most 64 characters, digits and dots, no leading zero in a component).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import doseline.registry.schema  # noqa: F401
from doseline.errors import ConfigurationError
from doseline.registry.base import Base
from doseline.registry.database import Registry
from doseline.registry.pseudonym import Pseudonymiser, create_key_file, load_key

UID = re.compile(r"^(0|[1-9]\d*)(\.(0|[1-9]\d*))+$")


def test_migrations_match_the_models(database_url: str) -> None:
    registry = Registry(database_url)
    registry.upgrade()
    with registry.engine.connect() as connection:
        diff = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    assert registry.schema_is_current()
    registry.dispose()


def test_downgrade_and_upgrade_again(database_url: str) -> None:
    registry = Registry(database_url)
    registry.upgrade()
    registry.downgrade("base")
    assert set(inspect(registry.engine).get_table_names()) <= {"alembic_version"}
    registry.upgrade()
    assert "irradiation_event" in inspect(registry.engine).get_table_names()
    registry.dispose()


def test_registry_refuses_another_key(database_url: str, tmp_path: Path) -> None:
    first = Pseudonymiser(load_key(create_key_file(tmp_path / "a.key")))
    second = Pseudonymiser(load_key(create_key_file(tmp_path / "b.key")))
    registry = Registry(database_url, first)
    registry.upgrade()
    registry.check_key()
    registry.check_key()  # the same key again is fine
    other = Registry(database_url, second)
    with pytest.raises(ConfigurationError, match="another deployment key"):
        other.check_key()
    registry.dispose()
    other.dispose()


def test_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = create_key_file(tmp_path / "k" / "deployment.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(load_key(path)) == 32
    with pytest.raises(ConfigurationError, match="exists already"):
        create_key_file(path)


def test_missing_or_bad_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="doseline init"):
        load_key(tmp_path / "absent.key")
    (tmp_path / "bad.key").write_text("not hex")
    with pytest.raises(ConfigurationError, match="not hexadecimal"):
        load_key(tmp_path / "bad.key")
    (tmp_path / "short.key").write_text("abcd")
    with pytest.raises(ConfigurationError, match="shorter"):
        load_key(tmp_path / "short.key")


def test_patient_pseudonym_is_hmac_sha256(tmp_path: Path) -> None:
    key = load_key(create_key_file(tmp_path / "k.key"))
    expected = hmac.new(key, b"patient\x00" + b"098765", hashlib.sha256).hexdigest()
    pseudonymiser = Pseudonymiser(key)
    assert pseudonymiser.patient(" 098765 ") == expected
    assert pseudonymiser.patient("098765", "HOSP-A") != expected
    with pytest.raises(ValueError, match="empty"):
        pseudonymiser.patient("  ")


def test_pseudonyms_depend_on_the_key(tmp_path: Path) -> None:
    a = Pseudonymiser(load_key(create_key_file(tmp_path / "a.key")))
    b = Pseudonymiser(load_key(create_key_file(tmp_path / "b.key")))
    assert a.patient("123") != b.patient("123")
    assert a.uid("1.2.3") != b.uid("1.2.3")
    assert a.fingerprint != b.fingerprint


def test_uid_pseudonyms_are_valid_dicom_uids(pseudonymiser: Pseudonymiser) -> None:
    for source in ("1.2.840.10008.5.1.4.1.1.88.67", "1.3.6.1.4.1.5962.99.1.3.0", "x"):
        uid = pseudonymiser.uid(source)
        assert uid.startswith("2.25.")
        assert len(uid) <= 64
        assert UID.match(uid)
        assert pseudonymiser.uid(source) == uid


def test_date_shift_is_bounded_and_stable(pseudonymiser: Pseudonymiser) -> None:
    shifts = [pseudonymiser.date_shift_days(f"p{i}", 30) for i in range(2000)]
    assert all(1 <= abs(s) <= 30 for s in shifts)
    assert {s > 0 for s in shifts} == {True, False}
    assert pseudonymiser.date_shift_days("p1", 30) == shifts[1]


def test_open_needs_init_and_creates_nothing(tmp_path: Path) -> None:
    from doseline.config import Settings
    from doseline.deployment import init_deployment

    database = tmp_path / "registry.sqlite"
    settings = Settings(database_url=f"sqlite:///{database}", key_file=tmp_path / "k.key")
    with pytest.raises(ConfigurationError, match="doseline init"):
        Registry.open(settings)
    assert not database.exists()
    init_deployment(settings)
    Registry.open(settings).dispose()
    Registry.open(settings, writable=False).dispose()


def test_open_refuses_an_old_schema(database_url: str, tmp_path: Path) -> None:
    from doseline.config import Settings

    key = create_key_file(tmp_path / "k.key")
    Registry(database_url).upgrade("base")  # reachable, but never migrated
    with pytest.raises(ConfigurationError, match="schema"):
        Registry.open(Settings(database_url=database_url, key_file=key))
