"""How an ingest treats its input: one object, passed from the command line to the workers."""

from __future__ import annotations

from dataclasses import dataclass

from doseline.config import Settings

__all__ = ["IngestOptions"]


@dataclass(frozen=True, slots=True)
class IngestOptions:
    """Options of an ingest run.

    Attributes
    ----------
    strict
        Reject a dose report with a missing or unknown unit or an impossible value (default),
        or keep it without the offending values, with a warning.
    store_shifted_dates, date_shift_max_days, link_by_issuer
        The deployment's choices (:class:`doseline.config.Settings`).
    """

    strict: bool = True
    store_shifted_dates: bool = False
    date_shift_max_days: int = 182
    link_by_issuer: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, *, strict: bool = True) -> IngestOptions:
        """The options a deployment's settings give, with ``strict`` chosen per run."""
        return cls(
            strict=strict,
            store_shifted_dates=settings.store_shifted_dates,
            date_shift_max_days=settings.date_shift_max_days,
            link_by_issuer=settings.link_by_issuer,
        )
