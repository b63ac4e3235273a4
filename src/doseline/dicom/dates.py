"""DICOM date, date-time and age strings (PS3.5 table 6.2-1: DA, DT, AS)."""

from __future__ import annotations

import re
from datetime import date, datetime

from pydicom.valuerep import DA, DT

__all__ = ["AGE_UNIT_DAYS", "age_string_days", "parse_da", "parse_dt"]

# Days per unit of an Age String. A year is 365.25 days (Julian year) and a month a twelfth of
# it; the registry records the precision alongside, so an age from "011M" is known to be
# approximate.
AGE_UNIT_DAYS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12.0, "Y": 365.25}
AGE_PRECISION = {"D": "day", "W": "week", "M": "month", "Y": "year"}


def parse_da(value: object) -> date | None:
    """A DA value (``YYYYMMDD``) as a date; ``None`` if empty or invalid."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        parsed = DA(text)
    except ValueError:
        return None
    return date(parsed.year, parsed.month, parsed.day) if parsed is not None else None


_FULL_DT = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,6}))?(?:[+-]\d{4})?$")


def parse_dt(value: object) -> datetime | None:
    """A DT value (``YYYYMMDDHHMMSS.FFFFFF&ZZXX``, trailing parts optional) as a datetime.

    A UTC offset, where given, is ignored: the times of a dose report are the modality's local
    times, and doseline keeps them so. The common full form is parsed directly; partial forms
    go through pydicom's DT.
    """
    text = str(value or "").strip()
    if not text:
        return None
    full = _FULL_DT.match(text)
    if full:
        year, month, day, hour, minute, second, fraction = full.groups()
        try:
            return datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second),
                int((fraction or "0").ljust(6, "0")),
            )
        except ValueError:
            return None
    try:
        parsed = DT(text)
    except ValueError:
        return None
    if parsed is None:
        return None
    return datetime(
        parsed.year,
        parsed.month,
        parsed.day,
        parsed.hour,
        parsed.minute,
        parsed.second,
        parsed.microsecond,
    )


def age_string_days(value: object) -> tuple[int, str] | None:
    """An AS value (``nnnD``, ``nnnW``, ``nnnM`` or ``nnnY``) as (days, precision)."""
    text = str(value or "").strip().upper()
    if len(text) < 2 or text[-1] not in AGE_UNIT_DAYS or not text[:-1].isdigit():
        return None
    unit = text[-1]
    return round(int(text[:-1]) * AGE_UNIT_DAYS[unit]), AGE_PRECISION[unit]
