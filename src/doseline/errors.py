"""The exception and warning classes of doseline.

A small set, in the manner of pydicom's ``errors.py``: every error about an input names the
*source* (file or table), the *record* inside it (irradiation event, row) and the *field*, so a
data manager can find and fix the value.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "ConflictError",
    "DoselineError",
    "DoselineWarning",
    "ImplausibleValueError",
    "InvalidInputError",
    "LenientDecodingWarning",
    "MalformedDicomError",
    "NotADoseReportError",
    "UnitError",
]


class DoselineError(Exception):
    """Base class of all doseline errors."""


class ConfigurationError(DoselineError):
    """The deployment is not set up as the operation needs (no key, no database, ...)."""


class InvalidInputError(DoselineError, ValueError):
    """An input could not be accepted.

    Parameters
    ----------
    reason
        What is wrong, in words a data manager understands.
    source
        The file (or table) the value came from.
    record
        Where in the source: an irradiation event, a table row, a content item.
    field
        The field (DICOM concept name, column name).
    """

    code = "invalid input"

    def __init__(
        self,
        reason: str,
        *,
        source: str | None = None,
        record: str | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.source = source
        self.record = record
        self.field = field
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = [part for part in (self.source, self.record, self.field) if part]
        return f"{': '.join(where)}: {self.reason}" if where else self.reason

    def with_source(self, source: str) -> InvalidInputError:
        """Return the same error, naming ``source`` (when the raiser did not know it)."""
        if self.source is None:
            self.source = source
            self.args = (self._compose(),)
        return self


class MalformedDicomError(InvalidInputError):
    """The bytes are not a well-formed DICOM file (truncated, corrupt, bad lengths)."""

    code = "malformed DICOM"


class NotADoseReportError(InvalidInputError):
    """A readable DICOM file that is not an X-Ray Radiation Dose SR of a supported template."""

    code = "not a dose report"


class UnitError(InvalidInputError):
    """A measured value has a missing, unknown or incompatible unit."""

    code = "unit"


class ImplausibleValueError(InvalidInputError):
    """A value is impossible (negative dose) or far outside any clinical range.

    ``reject`` is true where the whole record must be refused, false where only the value is
    to be treated as unknown (see :mod:`doseline.plausibility`).
    """

    code = "implausible value"

    def __init__(
        self,
        reason: str,
        *,
        source: str | None = None,
        record: str | None = None,
        field: str | None = None,
        reject: bool = True,
    ) -> None:
        self.reject = reject
        super().__init__(reason, source=source, record=record, field=field)


class ConflictError(InvalidInputError):
    """The input contradicts what the registry holds (one UID with two different contents)."""

    code = "conflict"


class DoselineWarning(UserWarning):
    """Base class of doseline warnings."""


class LenientDecodingWarning(DoselineWarning):
    """A vendor deviation was accepted in lenient mode; the value was left out."""
