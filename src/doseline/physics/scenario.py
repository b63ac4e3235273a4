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


def scenario_phantom(spec: Mapping[str, Any], source: str) -> VoxelPhantom:
    """The phantom of a scenario's ``phantom`` section."""
    if "stylised" in spec:
        from doseline.physics.phantoms.stylised import build_phantom

        s = spec["stylised"]
        return build_phantom(str(s["age"]), float(s.get("voxel_size_mm", 2.0)))
    if "box" in spec:
        b = spec["box"]
        size = np.asarray(b["size_mm"], dtype=np.float64)
        voxel = float(b.get("voxel_size_mm", 5.0))
        shape = tuple(int(n) for n in np.maximum(np.round(size / voxel), 1))
        mat = str(b.get("material", "soft_tissue"))
        from doseline.physics.materials import material

        density = float(b.get("density_g_cm3", material(mat).nominal_density_g_cm3))
        return VoxelPhantom(
            np.ones(shape, dtype=np.int32), (voxel, voxel, voxel),
            (Label("air", "air", 0.001205), Label("box", mat, density)),
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
    except (OSError, yaml.YAMLError) as error:
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
            int(data.get("histories", 1_000_000)),
            seed=int(data.get("seed", 1)),
            n_batches=int(data.get("batches", 10)),
        )
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, InvalidInputError):
            raise
        raise InvalidInputError(f"invalid scenario: {error!r}", source=source) from error
    return result, dict(data)
