"""Registry tables for organ doses and the Monte Carlo realisations behind them.

Central values and an uncertainty summary live in SQL (one row per exposure, organ, method and
version); the realisations of two-dimensional Monte Carlo dosimetry (K per organ dose, billions
of numbers for a large cohort) live in a columnar Parquet dataset that
:class:`DoseRealisationSet` points to. The layout of that dataset is documented in
``docs/registry.md``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from doseline.registry.base import Base, utcnow

__all__ = ["DoseRealisationSet", "OrganDose"]


class DoseRealisationSet(Base):
    """A set of dose realisations stored as Parquet (``uri``), made by one method version."""

    __tablename__ = "dose_realisation_set"

    id: Mapped[int] = mapped_column(primary_key=True)
    method: Mapped[str] = mapped_column(String(64))
    method_version: Mapped[str] = mapped_column(String(32))
    uri: Mapped[str] = mapped_column(Text)
    n_realisations: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class OrganDose(Base):
    """Absorbed dose to one organ from one exposure, by one method and version.

    ``dose_gy`` is the central estimate (the mean of the realisations where there are any);
    the percentiles and geometric standard deviation summarise its uncertainty.
    """

    __tablename__ = "organ_dose"
    __table_args__ = (UniqueConstraint("exposure_id", "organ", "method", "method_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exposure_id: Mapped[int] = mapped_column(
        ForeignKey("exposure.id", ondelete="CASCADE"), index=True
    )
    organ: Mapped[str] = mapped_column(String(48))
    method: Mapped[str] = mapped_column(String(64))
    method_version: Mapped[str] = mapped_column(String(32))
    dose_gy: Mapped[float] = mapped_column(Float)
    dose_median_gy: Mapped[float | None] = mapped_column(Float)
    dose_p05_gy: Mapped[float | None] = mapped_column(Float)
    dose_p95_gy: Mapped[float | None] = mapped_column(Float)
    geometric_sd: Mapped[float | None] = mapped_column(Float)
    inputs: Mapped[str | None] = mapped_column(Text)  # JSON: what the estimate was made from
    realisation_set_id: Mapped[int | None] = mapped_column(
        ForeignKey("dose_realisation_set.id", ondelete="SET NULL")
    )
