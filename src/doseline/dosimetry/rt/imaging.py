"""Imaging dose of image-guided radiotherapy (IGRT): kV and MV planar images and cone-beam CT.

The dose an image gives an organ depends on the imaging system, the protocol and the child's
size; no single table fits every centre. doseline therefore ships no coefficients: a centre
gives its protocols as a CSV (``protocol, modality, organ, dose_mgy_per_image, source``), each
row naming the publication or measurement its value comes from (for example the per-protocol
organ doses of AAPM TG-75, Murphy et al. 2007, Med Phys 34:4041-4063, or of AAPM TG-180,
Ding et al. 2018, Med Phys 45:e84-e99, or a centre's own phantom measurements). A schedule says
how many images of each protocol the course used (from the record-and-verify system or user
input); :func:`imaging_doses` multiplies out, per organ and protocol.

AAPM TG-180 (Ding et al. 2018) recommends accounting for imaging dose when it exceeds 5 % of
the therapeutic target dose: :func:`imaging_doses` flags a course whose imaging dose to any
organ exceeds :data:`TG180_FRACTION` of the prescription, with an :class:`ImagingDoseWarning`
and ``exceeds_tg180`` in the result.
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doseline.errors import DoselineWarning, InvalidInputError
from doseline.organs import ORGANS

__all__ = [
    "IMAGING_MODALITIES",
    "TG180_FRACTION",
    "ImagingDoseResult",
    "ImagingDoseWarning",
    "ImagingProtocol",
    "imaging_doses",
    "read_imaging_protocols",
]

#: AAPM TG-180 (Ding et al. 2018, Med Phys 45:e84): imaging dose above 5 % of the therapeutic
#: target dose should be accounted for.
TG180_FRACTION = 0.05
IMAGING_MODALITIES = frozenset({"kV_planar", "MV_planar", "kV_CBCT", "MV_CBCT", "CT"})


class ImagingDoseWarning(DoselineWarning):
    """Imaging dose exceeds the TG-180 level (5 % of the prescription)."""


@dataclass(frozen=True)
class ImagingProtocol:
    """Organ doses of one image of one protocol, each with its source."""

    name: str
    modality: str
    dose_gy_per_image: Mapping[str, float]
    sources: Mapping[str, str]

    def __post_init__(self) -> None:
        where = f"protocol {self.name!r}"
        if self.modality not in IMAGING_MODALITIES:
            raise InvalidInputError(
                f"modality {self.modality!r} is not one of {sorted(IMAGING_MODALITIES)}",
                record=where,
                field="modality",
            )
        for organ, dose in self.dose_gy_per_image.items():
            if organ not in ORGANS:
                raise InvalidInputError(f"unknown organ {organ!r}", record=where, field="organ")
            if not (math.isfinite(dose) and dose >= 0):
                raise InvalidInputError(
                    f"{organ}: dose {dose} is not >= 0", record=where, field="dose_mgy_per_image"
                )
            if not self.sources.get(organ, "").strip():
                raise InvalidInputError(
                    f"{organ}: every value needs its source", record=where, field="source"
                )


def read_imaging_protocols(path: Path | str) -> dict[str, ImagingProtocol]:
    """Read a protocol CSV (columns ``protocol, modality, organ, dose_mgy_per_image, source``).

    Raises
    ------
    InvalidInputError
        Naming the file, line and column of a bad value.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError("no such protocol file", source=str(path))
    rows: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        needed = {"protocol", "modality", "organ", "dose_mgy_per_image", "source"}
        missing = needed - set(reader.fieldnames or ())
        if missing:
            raise InvalidInputError(
                f"missing column(s) {', '.join(sorted(missing))}", source=str(path), field="header"
            )
        for line, record in enumerate(reader, start=2):
            try:
                dose_gy = float(record["dose_mgy_per_image"]) / 1000.0
            except ValueError as error:
                raise InvalidInputError(
                    f"{record['dose_mgy_per_image']!r} is not a number",
                    source=str(path),
                    record=f"line {line}",
                    field="dose_mgy_per_image",
                ) from error
            entry = rows.setdefault(
                record["protocol"].strip(),
                {"modality": record["modality"].strip(), "doses": {}, "sources": {}},
            )
            entry["doses"][record["organ"].strip()] = dose_gy
            entry["sources"][record["organ"].strip()] = record["source"]
    try:
        return {
            name: ImagingProtocol(name, e["modality"], e["doses"], e["sources"])
            for name, e in rows.items()
        }
    except InvalidInputError as error:
        raise error.with_source(str(path)) from None


@dataclass(frozen=True)
class ImagingDoseResult:
    """Imaging dose of a course: per protocol and organ, and the TG-180 check."""

    dose_gy: Mapping[str, Mapping[str, float]]  # protocol -> organ -> Gy for the course
    images: Mapping[str, int]
    prescription_dose_gy: float | None
    exceeds_tg180: bool

    def total_gy(self, organ: str) -> float:
        """Imaging dose to ``organ`` from all protocols."""
        return sum(doses.get(organ, 0.0) for doses in self.dose_gy.values())

    @property
    def organs(self) -> tuple[str, ...]:
        return tuple(sorted({o for doses in self.dose_gy.values() for o in doses}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": dict(self.images),
            "dose_gy": {p: dict(d) for p, d in self.dose_gy.items()},
            "prescription_dose_gy": self.prescription_dose_gy,
            "exceeds_tg180": self.exceeds_tg180,
        }


def imaging_doses(
    images: Mapping[str, int],
    protocols: Mapping[str, ImagingProtocol],
    prescription_dose_gy: float | None,
) -> ImagingDoseResult:
    """Organ doses of ``images`` (protocol -> number of images in the course).

    Warns with :class:`ImagingDoseWarning` when any organ's imaging dose exceeds
    :data:`TG180_FRACTION` of ``prescription_dose_gy``.

    Raises
    ------
    InvalidInputError
        If a protocol is unknown or a count negative.
    """
    doses: dict[str, dict[str, float]] = {}
    for name, count in images.items():
        if name not in protocols:
            raise InvalidInputError(
                f"unknown imaging protocol {name!r} (known: {', '.join(sorted(protocols))})",
                field="imaging",
            )
        if count < 0:
            raise InvalidInputError(f"{name}: {count} images", field="imaging")
        per_image = protocols[name].dose_gy_per_image
        doses[name] = {organ: dose * count for organ, dose in per_image.items()}
    result = ImagingDoseResult(doses, dict(images), prescription_dose_gy, False)
    if prescription_dose_gy:
        worst = max((result.total_gy(o) for o in result.organs), default=0.0)
        if worst > TG180_FRACTION * prescription_dose_gy:
            warnings.warn(
                f"imaging dose {worst:.3g} Gy exceeds {TG180_FRACTION:.0%} of the prescription "
                f"({prescription_dose_gy:.3g} Gy): account for it (AAPM TG-180)",
                ImagingDoseWarning,
                stacklevel=2,
            )
            result = ImagingDoseResult(doses, dict(images), prescription_dose_gy, True)
    return result
