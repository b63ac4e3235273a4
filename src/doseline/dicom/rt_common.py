"""Shared pieces of the DICOM-RT readers: file access, typed attribute access, RT errors.

pydicom converts values lazily and raises many exception types on corrupt input; every access
to a DICOM-RT dataset goes through :func:`read_rt_dataset` and the ``*_attribute`` helpers here,
so that a bad file ends as an :class:`~doseline.errors.InvalidInputError` (or subclass) naming
the file, the record (ROI, contour, DVH item) and the DICOM attribute.

References
----------
DICOM PS3.3 (2024), sections C.8.8.3 (RT Dose Module), C.8.8.5-C.8.8.8 (Structure Set,
ROI Contour, RT ROI Observations) and C.7.4.1 (Frame of Reference).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from doseline.errors import DoselineWarning, InvalidInputError, MalformedDicomError

__all__ = [
    "RT_DOSE_STORAGE",
    "RT_PLAN_STORAGE",
    "RT_STRUCTURE_SET_STORAGE",
    "ContourGeometryError",
    "EmptyROIError",
    "FrameOfReferenceMismatchError",
    "MissingAttributeError",
    "OpenContourWarning",
    "RTWarning",
    "SelfIntersectingContourWarning",
    "UnsupportedGeometryError",
    "WrongRTObjectError",
    "float_array",
    "optional_float",
    "optional_text",
    "quiet_pydicom",
    "read_rt_dataset",
    "read_rt_object",
]

RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
"""SOP Class UID of RT Dose Storage (DICOM PS3.4, table B.5-1)."""
RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
"""SOP Class UID of RT Structure Set Storage (DICOM PS3.4, table B.5-1)."""
RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"
"""SOP Class UID of RT Plan Storage (DICOM PS3.4, table B.5-1)."""


class WrongRTObjectError(InvalidInputError):
    """A readable DICOM file that is not the RT object the caller asked for."""

    code = "wrong RT object"


class MissingAttributeError(InvalidInputError):
    """A DICOM attribute the computation needs is absent or empty (e.g. DoseGridScaling)."""

    code = "missing attribute"


class FrameOfReferenceMismatchError(InvalidInputError):
    """Two RT objects that must share a patient coordinate system do not (DICOM C.7.4.1)."""

    code = "frame of reference mismatch"


class ContourGeometryError(InvalidInputError):
    """A contour cannot be a closed planar polygon (too few points, not planar, not finite)."""

    code = "contour geometry"


class EmptyROIError(InvalidInputError):
    """An ROI was asked for a volume computation but has no closed planar contour."""

    code = "empty ROI"


class UnsupportedGeometryError(InvalidInputError):
    """A valid DICOM geometry this package does not handle (e.g. an oblique dose grid)."""

    code = "unsupported geometry"


class RTWarning(DoselineWarning):
    """Base class of the warnings of the DICOM-RT readers and DVH computation."""


class SelfIntersectingContourWarning(RTWarning):
    """A closed contour crosses itself; its inside is taken by the even-odd rule."""


class OpenContourWarning(RTWarning):
    """An ROI holds OPEN_PLANAR or OPEN_NONPLANAR contours; they enclose no volume."""


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's value-validation warnings (they are re-checked here where it matters)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\..*)?")
        yield


def read_rt_dataset(path: str | Path, sop_class_uid: str, what: str) -> Dataset:
    """Read a DICOM file and check that it is of the expected RT storage class.

    Parameters
    ----------
    path
        The file.
    sop_class_uid
        The expected SOP Class UID (one of the ``*_STORAGE`` constants).
    what
        The object's name for messages ("RT Dose").

    Raises
    ------
    InvalidInputError
        If the file does not exist.
    MalformedDicomError
        If the bytes are not readable DICOM.
    WrongRTObjectError
        If the file is DICOM of another class.
    """
    source = str(path)
    if not Path(path).is_file():
        raise InvalidInputError("no such file", source=source)
    try:
        with quiet_pydicom():
            dataset = pydicom.dcmread(path, force=True)
            found = str(dataset.get("SOPClassUID", "") or "")
            modality = str(dataset.get("Modality", "") or "")
    # pydicom raises many exception types on corrupt input (see the module docstring).
    except Exception as error:
        raise MalformedDicomError(f"unreadable DICOM ({error})", source=source) from error
    if found != sop_class_uid:
        raise WrongRTObjectError(
            f"not an {what} object (SOP Class UID {found or 'missing'}, modality "
            f"{modality or 'missing'}; expected {sop_class_uid})",
            source=source,
            field="SOPClassUID",
        )
    return dataset


_T = TypeVar("_T")


def read_rt_object(
    path: str | Path, sop_class_uid: str, what: str, build: Callable[[Dataset, str], _T]
) -> _T:
    """Read a DICOM-RT file and build its typed object with ``build(dataset, source)``.

    Every error names the file; the exceptions pydicom raises on corrupt nested content
    (missing sequence items, undecodable values) become :class:`MalformedDicomError`.
    """
    source = str(path)
    dataset = read_rt_dataset(path, sop_class_uid, what)
    try:
        with quiet_pydicom():
            return build(dataset, source)
    except InvalidInputError as error:
        raise error.with_source(source) from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as error:
        raise MalformedDicomError(f"unreadable {what} content ({error})", source=source) from error


def _raw(dataset: Dataset, keyword: str, source: str, record: str | None) -> Any:
    try:
        with quiet_pydicom():
            return dataset.get(keyword)
    except Exception as error:  # lazy conversion of a corrupt value
        raise MalformedDicomError(
            f"unreadable value ({error})", source=source, record=record, field=keyword
        ) from error


def optional_text(
    dataset: Dataset, keyword: str, source: str, record: str | None = None
) -> str | None:
    """Return an attribute as a stripped string, ``None`` where absent or empty."""
    value = _raw(dataset, keyword, source, record)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def optional_float(
    dataset: Dataset, keyword: str, source: str, record: str | None = None
) -> float | None:
    """Return a numeric attribute as a finite float, ``None`` where absent or empty."""
    value = _raw(dataset, keyword, source, record)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise MalformedDicomError(
            f"not a number: {value!r}", source=source, record=record, field=keyword
        ) from error
    if not np.isfinite(number):
        raise MalformedDicomError(
            f"not a finite number: {value!r}", source=source, record=record, field=keyword
        )
    return number


def float_array(
    dataset: Dataset,
    keyword: str,
    source: str,
    record: str | None = None,
    *,
    length: int | None = None,
) -> NDArray[np.float64]:
    """Return a multi-valued numeric attribute as a finite float64 array.

    Raises
    ------
    MissingAttributeError
        If the attribute is absent or empty.
    MalformedDicomError
        If a value is not a finite number, or the number of values is not ``length``.
    """
    value = _raw(dataset, keyword, source, record)
    if value is None or value == "":
        raise MissingAttributeError(
            "required attribute missing or empty", source=source, record=record, field=keyword
        )
    items = [value] if isinstance(value, str | int | float) else list(value)
    try:
        array = np.asarray([float(item) for item in items], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise MalformedDicomError(
            f"not a list of numbers ({error})", source=source, record=record, field=keyword
        ) from error
    if not np.all(np.isfinite(array)):
        raise MalformedDicomError("non-finite value", source=source, record=record, field=keyword)
    if length is not None and array.size != length:
        raise MalformedDicomError(
            f"expected {length} values, found {array.size}",
            source=source,
            record=record,
            field=keyword,
        )
    return array
