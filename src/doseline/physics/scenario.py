"""Custom transport scenarios from YAML (``doseline mc run SCENARIO.yaml``).

Schema (lengths in mm; see ``docs/physics.md``)::

    phantom:                      # one of
      stylised: {age: 5y, voxel_size_mm: 2.0}
      box: {size_mm: [300, 200, 400], voxel_size_mm: 5.0, material: soft_tissue}
    spectrum:                     # one of
      energy_kev: 60
      kvp: 70                     # with anode_angle_deg (12) and filters_mm ({Al: 2.5}),
      hvl_mm_al: 3.5              #   optionally matched to this HVL by added Al
    geometry:
      primary_angle_deg: 0        # DICOM Positioner Primary Angle (+ = LAO)
      secondary_angle_deg: 0      # DICOM Positioner Secondary Angle (+ = cranial)
      distance_source_to_isocentre_mm: 700
      distance_source_to_detector_mm: 1000
      field_size_mm: [100, 100]
      field_at: detector          # or isocentre
      isocentre_mm: [x, y, z]     # default: heart centroid, else the grid centre
    table:                        # optional support slabs, first against the patient's back
      - {name: mattress, material: pmma, thickness_mm: 40, density_g_cm3: 0.05}
      - {name: table, material: aluminium, thickness_mm: 1.0}
    histories: 1000000
    seed: 1
    batches: 10
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from doseline.errors import InvalidInputError
from doseline.physics.geometry import Slab, add_patient_support
from doseline.physics.phantoms.voxel import Label, VoxelPhantom
from doseline.physics.source import c_arm_source
from doseline.physics.spectra import Spectrum, from_spekpy, match_hvl, monoenergetic
from doseline.physics.transport.api import TransportResult, simulate

__all__ = ["run_scenario", "scenario_phantom", "scenario_spectrum"]


def _section(data: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"missing section {key!r}", source=source, field=key)
    return value


_MAX_VOXELS = 2**28
"""Largest phantom grid a scenario may ask for (1 GiB of int32 labels; the ICRP 110 adult
female phantom has 299 x 137 x 348 = 14.3 million voxels). A resource guard, not physics."""


def _positive(value: Any, source: str, field: str) -> float:
    """A finite number > 0 (``bool`` is refused: YAML ``yes`` is not a length)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInputError(f"expected a number, got {value!r}", source=source, field=field)
    try:
        number = float(value)
    except ValueError:
        raise InvalidInputError(
            f"expected a number, got {value!r}", source=source, field=field
        ) from None
    if not 0 < number < np.inf:
        raise InvalidInputError(
            f"must be a finite number > 0, got {value!r}", source=source, field=field
        )
    return number


def _count(data: Mapping[str, Any], key: str, default: int, source: str, minimum: int) -> int:
    """A whole number >= ``minimum`` (histories, batches, seed)."""
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(
            f"must be a whole number >= {minimum}, got {value!r}", source=source, field=key
        )
    return value


def _check_voxels(shape: tuple[int, ...], source: str, field: str) -> None:
    if float(np.prod(np.asarray(shape, dtype=np.float64))) > _MAX_VOXELS:
        raise InvalidInputError(
            f"grid of {' x '.join(map(str, shape))} voxels is larger than {_MAX_VOXELS}",
            source=source,
            field=field,
        )


def scenario_phantom(spec: Mapping[str, Any], source: str) -> VoxelPhantom:
    """The phantom of a scenario's ``phantom`` section."""
    if "stylised" in spec:
        from doseline.physics.phantoms.stylised import build_phantom, phantom_regions
        from doseline.physics.phantoms.voxelise import grid_bounds

        s = _section(spec, "stylised", source)
        age = str(s["age"])
        voxel = _positive(s.get("voxel_size_mm", 2.0), source, "phantom.stylised.voxel_size_mm")
        bounds = grid_bounds([r.solid for r in phantom_regions(age)], voxel)
        shape = tuple(round((hi - lo) / voxel) for lo, hi in bounds)
        _check_voxels(shape, source, "phantom.stylised.voxel_size_mm")
        return build_phantom(age, voxel)
    if "box" in spec:
        b = _section(spec, "box", source)
        sizes = b["size_mm"]
        if not isinstance(sizes, list) or len(sizes) != 3:
            raise InvalidInputError(
                f"expected 3 lengths, got {sizes!r}", source=source, field="phantom.box.size_mm"
            )
        size = np.array([_positive(v, source, "phantom.box.size_mm") for v in sizes])
        voxel = _positive(b.get("voxel_size_mm", 5.0), source, "phantom.box.voxel_size_mm")
        shape = tuple(int(n) for n in np.maximum(np.round(size / voxel), 1))
        _check_voxels(shape, source, "phantom.box")
        mat = str(b.get("material", "soft_tissue"))
        from doseline.physics.materials import material

        density = float(b.get("density_g_cm3", material(mat).nominal_density_g_cm3))
        air = Label("air", "air", material("air").nominal_density_g_cm3)
        return VoxelPhantom(
            np.ones(shape, dtype=np.int32), (voxel, voxel, voxel),
            (air, Label("box", mat, density)),
            origin_mm=tuple(float(v) for v in -size / 2), name="box",  # type: ignore[arg-type]
        )  # fmt: skip
    raise InvalidInputError("phantom needs 'stylised' or 'box'", source=source, field="phantom")


def scenario_spectrum(spec: Mapping[str, Any], source: str) -> Spectrum:
    """The spectrum of a scenario's ``spectrum`` section."""
    if "energy_kev" in spec:
        return monoenergetic(float(spec["energy_kev"]))
    if "kvp" not in spec:
        raise InvalidInputError("spectrum needs energy_kev or kvp", source=source, field="spectrum")
    kvp = float(spec["kvp"])
    angle = float(spec.get("anode_angle_deg", 12.0))
    filters = {str(k): float(v) for k, v in dict(spec.get("filters_mm", {"Al": 2.5})).items()}
    if "hvl_mm_al" in spec:
        return match_hvl(kvp, float(spec["hvl_mm_al"]), angle, filters)[0]
    return from_spekpy(kvp, angle, filters)


def run_scenario(path: Path) -> tuple[TransportResult, dict[str, Any]]:
    """Run a scenario file; returns the result and the parsed scenario."""
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InvalidInputError(f"cannot read scenario: {error}", source=source) from error
    if not isinstance(data, Mapping):
        raise InvalidInputError("scenario must be a mapping", source=source)
    try:
        phantom = scenario_phantom(_section(data, "phantom", source), source)
        spectrum = scenario_spectrum(_section(data, "spectrum", source), source)
        slabs = [Slab(str(s["name"]), str(s["material"]), float(s["thickness_mm"]),
                      float(s["density_g_cm3"]) if "density_g_cm3" in s else None)
                 for s in data.get("table", [])]  # fmt: skip
        g = _section(data, "geometry", source)
        if "isocentre_mm" in g:
            iso = np.asarray(g["isocentre_mm"], dtype=np.float64)
        elif "heart" in [r.name for r in phantom.regions]:
            iso = phantom.centroid_mm("heart")
        else:
            iso = np.asarray(phantom.origin_mm) + np.asarray(phantom.shape) * np.asarray(
                phantom.voxel_size_mm) / 2  # fmt: skip
        beam = c_arm_source(
            iso,
            float(g.get("primary_angle_deg", 0.0)),
            float(g.get("secondary_angle_deg", 0.0)),
            distance_source_to_isocentre_mm=float(g["distance_source_to_isocentre_mm"]),
            distance_source_to_detector_mm=float(g["distance_source_to_detector_mm"]),
            field_size_mm=(float(g["field_size_mm"][0]), float(g["field_size_mm"][1])),
            field_at=str(g.get("field_at", "detector")),
        )
        result = simulate(
            add_patient_support(phantom, slabs),
            beam,
            spectrum,
            _count(data, "histories", 1_000_000, source, 1),
            seed=_count(data, "seed", 1, source, 0),
            n_batches=_count(data, "batches", 10, source, 1),
        )
    # KeyError: a required key is absent; the others: a value of the wrong type or range.
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
        if isinstance(error, InvalidInputError):
            raise
        raise InvalidInputError(f"invalid scenario: {error!r}", source=source) from error
    return result, dict(data)
