"""Declarative base of the registry schema (SQLAlchemy 2), shared by SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "Deployment", "utcnow"]

# Constraint names fixed by convention, so that Alembic migrations are identical on SQLite and
# PostgreSQL (https://alembic.sqlalchemy.org/en/latest/naming.html).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Deployment(Base):
    """One row: which pseudonymisation key this registry was built with.

    ``key_fingerprint`` is an HMAC of a fixed label under the deployment key: it proves that a
    key is the right one without revealing it, so that records pseudonymised under another key
    (which would never link) cannot be mixed into the registry.
    """

    __tablename__ = "deployment"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
