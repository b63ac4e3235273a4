"""Reader of voxel phantoms in the ICRP Publication 110 / 143 file layout.

ICRP 110 (2009, Adult Reference Computational Phantoms) and ICRP 143 (2020, Paediatric
Reference Computational Phantoms) distribute each phantom as text files (ICRP 110, Annex A/B
and the README of its electronic supplement):

- ``<name>.dat``: the organ identification number of every voxel, "slice by slice, within each
  slice row by row, within each row column by column", i.e. the column index varies fastest,
  then the row, then the slice; slices run from the toes up to the vertex, rows from front to
  back and columns from the phantom's right to its left. That is exactly DICOM LPS: column ->
  +x (left), row -> +y (posterior), slice -> +z (head). The numbers are white-space separated
  (the files carry 16 per line, which a white-space reader need not know).
- ``<name>_organs.dat``: one line per organ: organ ID, organ name (may contain blanks and
  commas), medium number, density in g/cm^3; heading lines are skipped.
- ``<name>_media.dat``: one line per medium: medium number, medium name, then the mass
  percentages of the elements named in the heading line (H, C, N, O, ...).

The array dimensions and voxel sizes are not in the files (ICRP 110 gives them in a table:
adult male 254 x 127 x 222 voxels of 2.137 x 2.137 x 8.0 mm; adult female 299 x 137 x 348
voxels of 1.775 x 1.775 x 4.84 mm); the caller passes them. doseline ships none of these files:
users who hold the ICRP licence point the reader at their copy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from doseline.errors import InvalidInputError
from doseline.physics.materials import material
from doseline.physics.phantoms.voxel import Label, VoxelPhantom

__all__ = [
    "ICRP110_ADULT_FEMALE",
    "ICRP110_ADULT_MALE",
    "Icrp110Phantom",
    "read_icrp110_phantom",
]

#: (columns, rows, slices) and voxel size (mm) of the ICRP 110 adult phantoms.
ICRP110_ADULT_MALE = ((254, 127, 222), (2.137, 2.137, 8.0))
ICRP110_ADULT_FEMALE = ((299, 137, 348), (1.775, 1.775, 4.84))

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_ELEMENT = re.compile(r"^[A-Z][a-z]?$")
_ORGAN_ID = re.compile(r"^[0-9]{1,9}$")  # ICRP 110 IDs are 0-141; 9 digits fit in int32


@dataclass(frozen=True)
class Icrp110Phantom:
    """A phantom read from ICRP 110 files.

    Attributes
    ----------
    phantom
        The voxel phantom; region ``i`` is organ ``organ_ids[i]`` (region 0 is the outside,
        organ ID 0), its material ``icrp110_medium_<n>``.
    organ_ids
        ICRP organ ID of each region.
    media_mass_fractions
        Material name -> element symbol -> mass fraction (percentages / 100).
    """

    phantom: VoxelPhantom
    organ_ids: tuple[int, ...]
    media_mass_fractions: Mapping[str, Mapping[str, float]]


def _read_organs(path: Path) -> dict[int, tuple[str, int, float]]:
    organs: dict[int, tuple[str, int, float]] = {}
    for line_no, line in enumerate(_read_text(path).splitlines(), start=1):
        tokens = line.split()
        if len(tokens) < 4 or not tokens[0].isdecimal():
            continue
        if not (tokens[-2].isdecimal() and _NUMBER.match(tokens[-1])):
            raise InvalidInputError(
                "expected '<ID> <name> <medium> <density>'",
                source=str(path),
                record=f"line {line_no}",
                field="organ",
            )
        organ_id, medium, density = int(tokens[0]), int(tokens[-2]), float(tokens[-1])
        if organ_id in organs:
            raise InvalidInputError(
                f"organ ID {organ_id} listed twice",
                source=str(path),
                record=f"line {line_no}",
                field="organ ID",
            )
        if not 0 < density < np.inf:
            raise InvalidInputError(
                f"density {density} is not a finite number > 0",
                source=str(path),
                record=f"line {line_no}",
                field="density",
            )
        organs[organ_id] = (" ".join(tokens[1:-2]), medium, density)
    if not organs:
        raise InvalidInputError("no organ lines found", source=str(path))
    return organs


def _read_media(path: Path) -> dict[int, dict[str, float]]:
    elements: list[str] = []
    media: dict[int, dict[str, float]] = {}
    for line_no, line in enumerate(_read_text(path).splitlines(), start=1):
        tokens = line.split()
        symbols = [t for t in tokens if _ELEMENT.match(t)]
        if not elements and len(symbols) >= 3 and len(symbols) >= len(tokens) - 3:
            elements = symbols
            continue
        if not elements or not tokens or not tokens[0].isdecimal():
            continue
        values = tokens[-len(elements) :]
        if len(tokens) < len(elements) + 2 or not all(_NUMBER.match(v) for v in values):
            raise InvalidInputError(
                f"expected a medium number, a name and {len(elements)} mass percentages",
                source=str(path),
                record=f"line {line_no}",
                field="composition",
            )
        percent = np.array([float(v) for v in values])
        # the tables print each element to 0.1 %, so sums stray from 100 by rounding
        if abs(percent.sum() - 100.0) > 1.0:
            raise InvalidInputError(
                f"mass percentages add up to {percent.sum():.2f}, not 100",
                source=str(path),
                record=f"line {line_no}",
                field="composition",
            )
        fractions = percent / percent.sum()
        media[int(tokens[0])] = {
            el: float(w) for el, w in zip(elements, fractions, strict=True) if w > 0
        }
    if not elements:
        raise InvalidInputError("no heading line with element symbols", source=str(path))
    return media


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as error:
        raise InvalidInputError(f"cannot read ({error.strerror})", source=str(path)) from error


def _read_ids(path: Path, shape: tuple[int, int, int]) -> npt.NDArray[np.int32]:
    tokens = _read_text(path).split()
    try:
        flat = np.array(tokens, dtype=np.int64)
        in_range = bool(flat.size == 0 or (flat.min() >= 0 and flat.max() < 2**31))
    except (ValueError, OverflowError):
        in_range = False
    if not in_range:  # only now look for the bad token, in Python
        bad = next((i for i, token in enumerate(tokens) if not _ORGAN_ID.match(token)), 0)
        raise InvalidInputError(
            f"{tokens[bad]!r} is not an organ ID (a whole number of at most 9 digits)",
            source=str(path),
            record=f"value {bad + 1}",
            field="organ ID",
        )
    expected = shape[0] * shape[1] * shape[2]
    if flat.size != expected:
        raise InvalidInputError(
            f"{flat.size} organ IDs for {shape[0]} x {shape[1]} x {shape[2]} = {expected} voxels",
            source=str(path),
            field="organ ID array",
        )
    # column fastest, then row, then slice -> C order (slice, row, column)
    grid = flat.astype(np.int32).reshape(shape[2], shape[1], shape[0])
    ids: npt.NDArray[np.int32] = grid.transpose(2, 1, 0)
    return np.ascontiguousarray(ids)


def read_icrp110_phantom(
    ids_path: str | Path,
    organs_path: str | Path,
    media_path: str | Path,
    shape: tuple[int, int, int],
    voxel_size_mm: tuple[float, float, float],
    *,
    red_marrow_mass_fractions: Mapping[int, float] | None = None,
    endosteum_mass_fractions: Mapping[int, float] | None = None,
    name: str = "ICRP 110 voxel phantom",
) -> Icrp110Phantom:
    """Read an ICRP 110/143-format voxel phantom.

    Parameters
    ----------
    ids_path, organs_path, media_path
        The organ-ID array, organ list and media files.
    shape
        (columns, rows, slices), e.g. ``ICRP110_ADULT_MALE[0]``.
    voxel_size_mm
        Voxel size along (column, row, slice) = (x, y, z).
    red_marrow_mass_fractions, endosteum_mass_fractions
        Organ ID -> mass fraction for spongiosa and medullary-cavity regions (ICRP 110 gives
        them in its ``*_spongiosa.dat`` file, which users pass here after reading it); 0 where
        not given.
    name
        Phantom name.

    Raises
    ------
    InvalidInputError
        Naming the file, line and field of the first problem: a voxel ID missing from the
        organ list, a medium missing from the media file, a wrong count of voxels.
    """
    ids_path, organs_path, media_path = Path(ids_path), Path(organs_path), Path(media_path)
    organs = _read_organs(organs_path)
    media = _read_media(media_path)
    ids = _read_ids(ids_path, shape)
    present = np.unique(ids)
    missing = [int(i) for i in present if i != 0 and int(i) not in organs]
    if missing:
        raise InvalidInputError(
            f"organ IDs {missing[:10]} appear in the voxels but not in {organs_path.name}",
            source=str(ids_path),
            field="organ ID",
        )
    order = [0, *sorted(organs)]
    # Every voxel ID is 0 or a listed organ (checked above): its region is its rank in order.
    labels = np.searchsorted(np.asarray(order, dtype=np.int64), ids).astype(np.int32)
    marrow = red_marrow_mass_fractions or {}
    endosteum = endosteum_mass_fractions or {}
    regions = [Label("outside", "air", material("air").nominal_density_g_cm3)]
    for organ_id in order[1:]:
        organ_name, medium, density = organs[organ_id]
        if medium not in media:
            raise InvalidInputError(
                f"medium {medium} of organ {organ_id} ({organ_name}) is not in {media_path.name}",
                source=str(organs_path),
                record=f"organ {organ_id}",
                field="medium",
            )
        regions.append(
            Label(
                f"{organ_id}: {organ_name}",
                f"icrp110_medium_{medium}",
                density,
                red_marrow_mass_fraction=marrow.get(organ_id, 0.0),
                endosteum_mass_fraction=endosteum.get(organ_id, 0.0),
            )
        )
    phantom = VoxelPhantom(labels, voxel_size_mm, tuple(regions), (0.0, 0.0, 0.0), name=name)
    fractions = {f"icrp110_medium_{n}": composition for n, composition in media.items()}
    return Icrp110Phantom(phantom, tuple(order), fractions)
