"""AAPM TG-195 benchmark cases 1 and 2 as runnable scenarios.

Reference: Sechopoulos I, Ali ESM, Badal A, et al. "Monte Carlo Reference Data Sets for Imaging
Research: The Report of AAPM Task Group 195", Med. Phys. 42(10) (2015) 5679-5691 and AAPM
Report No. 195 (2015). Geometry as defined there and as implemented in the DXMClib validation
program (Andersen, github.com/medicalphysics/DXMClib, ``validation`` sources), read, not copied:

* Case 1 (HVL/QVL): point source at the origin emitting along -z, collimated to a 1 cm wide
  beam at 100 cm; an aluminium filter (2.699 g/cm3) whose entrance face is 10 cm from the
  source; air kerma scored on a 1 cm diameter disc at 100 cm; world of dry air. The report's
  HVL and QVL thicknesses are used and the kerma ratios filter/no filter reported. Here the
  beam is collimated to the square circumscribing the disc (the disc scorer selects the same
  primary photons) and the filter is a 4 x 4 cm slab.
* Case 2 (radiography): a 39 x 39 x 20 cm box of ICRU-46 soft tissue (1.03 g/cm3) whose top
  face is 155 cm from the source, the beam collimated to the 39 x 39 cm detector area at
  180 cm, world of air; nine 3 x 3 x 3 cm VOIs (numbered as in the report: 3 at the centre,
  6, 7, 8, 9 along the beam axis at -6, -3, +3, +6 cm, 1, 5 at -/+15 cm along y, 2, 4 at -/+15 cm
  along x). Tomosynthesis mode: source moved to y = -180 tan(15 deg), beam still covering the
  detector. Results: energy deposited per history (eV) in the box and each VOI.

The report's x-ray spectra (30 kVp Mo/Mo RQR-M3, 100 kVp RQR-8, 120 kVp RQR-9) are AAPM
material and are not distributed here: the kVp cases need a user-supplied spectrum file
(``read_spectrum_csv``). The monoenergetic cases run exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from doseline.physics.phantoms.voxel import Label, VoxelPhantom
from doseline.physics.source import PointSource
from doseline.physics.spectra import Spectrum, monoenergetic, read_spectrum_csv
from doseline.physics.transport.api import TransportResult, simulate
from doseline.physics.transport.problem import ScoringDisc

__all__ = [
    "CASE1_REFERENCE",
    "CASE1_THICKNESS_MM",
    "CASE2_REFERENCE",
    "Case1Result",
    "case2_phantom",
    "case2_source",
    "run_case1",
    "run_case2",
    "tg195_spectrum",
]

CASE1_THICKNESS_MM = {
    "30keV": (2.273, 4.546),
    "100keV": (15.11, 30.22),
    "30kVp": (0.3431, 0.7663),
    "100kVp": (3.950, 9.840),
}
"""HVL and QVL aluminium thicknesses of TG-195 Case 1 (report section on Case 1)."""

CASE1_REFERENCE = {
    "30keV": (5.732642e-02, 2.868487e-02, 1.435717e-02),
    "100keV": (2.902460e-02, 1.448180e-02, 7.226802e-03),
    "30kVp": (1.857530e-01, 9.281901e-02, 4.642190e-02),
    "100kVp": (3.452395e-02, 1.725231e-02, 8.621281e-03),
}
"""TG-195 Case 1 mean results of the four codes (no filter, HVL, QVL), as tabulated in the
report and reproduced in DXMClib's validation program; only their ratios are used here."""

CASE2_REFERENCE = {
    ("56.4keV", "radiography"): (
        33171.400,
        (27.010506, 27.003098, 36.667360, 27.008295, 27.007973, 72.858791, 53.345097,
         23.832066, 14.595186),
    ),
    ("120kVp", "radiography"): (
        33125.975,
        (24.9681848, 24.9503038, 33.5210200, 24.9559023, 24.9661163, 72.7011165, 49.9880020,
         21.7295070, 13.4818183),
    ),
    ("56.4keV", "tomosynthesis"): (
        30883.825,
        (33.0807985, 25.4752720, 34.6257073, 25.5054213, 9.7906903, 70.8049988, 51.0616275,
         22.2764985, 13.5443103),
    ),
    ("120kVp", "tomosynthesis"): (
        30923.125,
        (30.3499448, 23.5176818, 31.6384508, 23.5156038, 8.8986803, 70.5268025, 47.7388610,
         20.3142663, 12.509331),
    ),
}  # fmt: skip
"""TG-195 Case 2 four-code mean energy deposited (eV per history): whole box, VOI 1-9."""

_VOI_CENTRES_MM = {  # relative to the box centre (x, y, z); z along the beam
    1: (0, -150, 0), 2: (-150, 0, 0), 3: (0, 0, 0), 4: (150, 0, 0), 5: (0, 150, 0),
    6: (0, 0, -60), 7: (0, 0, -30), 8: (0, 0, 30), 9: (0, 0, 60),
}  # fmt: skip
_BOX_Z0_MM = 1550.0
_DETECTOR_Z_MM = 1800.0
_HALF_SIDE_MM = 195.0


def tg195_spectrum(source: str, spectrum_file: Path | None = None) -> Spectrum:
    """The spectrum of a TG-195 source name; kVp sources need ``spectrum_file``."""
    if source.endswith("keV"):
        return monoenergetic(float(source[:-3]))
    if spectrum_file is None:
        raise ValueError(
            f"source {source}: the TG-195 {source} spectrum is AAPM material and is not shipped; "
            "pass the report's spectrum as a CSV file (energy_kev,photons)"
        )
    return read_spectrum_csv(spectrum_file)


@dataclass(frozen=True)
class Case1Result:
    """Air-kerma estimates (keV cm2/g per cm2 per history) and the TG-195 ratios."""

    kerma_none: tuple[float, float]
    kerma_hvl: tuple[float, float]
    kerma_qvl: tuple[float, float]

    @property
    def kerma_ratio_hvl(self) -> float:
        return self.kerma_hvl[0] / self.kerma_none[0]

    @property
    def kerma_ratio_qvl(self) -> float:
        return self.kerma_qvl[0] / self.kerma_none[0]


def run_case1(
    source: str, n_histories: int, seed: int = 1, spectrum_file: Path | None = None
) -> Case1Result:
    """TG-195 Case 1 for one source (``30keV``, ``100keV``, ``30kVp``, ``100kVp``)."""
    if source not in CASE1_THICKNESS_MM:
        raise ValueError(f"Case 1 source must be one of {sorted(CASE1_THICKNESS_MM)}")
    spectrum = tg195_spectrum(source, spectrum_file)
    beam = PointSource.rectangular((0.0, 0.0, 0.0), (0.0, 0.0, -1.0), (10.0, 10.0), 1000.0)
    disc = ScoringDisc((0.0, 0.0, -1000.0), (0.0, 0.0, -1.0), 5.0)
    results = []
    for thickness in (0.0, *CASE1_THICKNESS_MM[source]):
        t = max(thickness, 1e-3)
        material = "aluminium" if thickness > 0 else "air"
        density = 2.699 if thickness > 0 else 0.001205
        phantom = VoxelPhantom(
            labels=np.ones((1, 1, 1), dtype=np.int32),
            voxel_size_mm=(40.0, 40.0, t),
            regions=(Label("air", "air", 0.001205), Label("filter", material, density)),
            origin_mm=(-20.0, -20.0, -100.0 - t),
            name=f"TG-195 case 1 filter {thickness} mm",
        )
        result = simulate(
            phantom, beam, spectrum, n_histories, seed=seed, world_material="air",
            world_bounds_mm=((-200.0, -200.0, -1000.0), (200.0, 200.0, 10.0)), disc=disc,
        )  # fmt: skip
        area_cm2 = math.pi * 0.5**2
        results.append((result.disc_kerma[0] / area_cm2, result.disc_kerma[1]))
    return Case1Result(*results)


def case2_phantom() -> VoxelPhantom:
    """The TG-195 Case 2 soft-tissue box (5 mm voxels) with VOI labels 1-9 and the rest 10."""
    labels = np.full((78, 78, 40), 10, dtype=np.int32)
    for number, (cx, cy, cz) in _VOI_CENTRES_MM.items():
        i0 = round((cx - 15 + _HALF_SIDE_MM) / 5.0)
        j0 = round((cy - 15 + _HALF_SIDE_MM) / 5.0)
        k0 = round((cz - 15 + 100.0) / 5.0)
        labels[i0 : i0 + 6, j0 : j0 + 6, k0 : k0 + 6] = number
    regions = (
        Label("air", "air", 0.001205),
        *(Label(f"voi{n}", "soft_tissue", 1.03) for n in range(1, 10)),
        Label("box", "soft_tissue", 1.03),
    )
    return VoxelPhantom(
        labels=labels,
        voxel_size_mm=(5.0, 5.0, 5.0),
        regions=regions,
        origin_mm=(-_HALF_SIDE_MM, -_HALF_SIDE_MM, _BOX_Z0_MM),
        name="TG-195 case 2 box",
    )


def case2_source(mode: str = "radiography") -> PointSource:
    """Point source of Case 2 (radiography, or the 15 degree tomosynthesis projection)."""
    half = _HALF_SIDE_MM / _DETECTOR_Z_MM
    if mode == "radiography":
        return PointSource((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (-half, half),
                           (-half, half))  # fmt: skip
    if mode == "tomosynthesis":
        h = _DETECTOR_Z_MM * math.tan(math.radians(15.0))
        return PointSource(
            (0.0, -h, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (-half, half),
            ((h - _HALF_SIDE_MM) / _DETECTOR_Z_MM, (h + _HALF_SIDE_MM) / _DETECTOR_Z_MM),
        )  # fmt: skip
    raise ValueError("mode must be 'radiography' or 'tomosynthesis'")


def run_case2(
    source: str,
    n_histories: int,
    *,
    mode: str = "radiography",
    seed: int = 1,
    spectrum_file: Path | None = None,
    n_batches: int = 10,
) -> tuple[dict[str, float], dict[str, float], TransportResult]:
    """TG-195 Case 2: ``(ev_per_history, rel_sd, result)`` keyed ``total``, ``voi1``..``voi9``."""
    if source not in ("56.4keV", "120kVp"):
        raise ValueError("Case 2 source must be 56.4keV or 120kVp")
    spectrum = tg195_spectrum(source, spectrum_file)
    result = simulate(
        case2_phantom(), case2_source(mode), spectrum, n_histories, seed=seed,
        n_batches=n_batches, world_material="air",
        world_bounds_mm=((-1000.0, -1000.0, -10.0), (1000.0, 1000.0, _DETECTOR_Z_MM)),
    )  # fmt: skip
    ev = dict(zip(result.labels, result.energy_ev_per_history.tolist(), strict=True))
    sd = dict(zip(result.labels, result.energy_rel_sd.tolist(), strict=True))
    body = result.labels[1:]
    total = float(sum(ev[n] for n in body))
    batch_total_rel = _total_rel_sd(result)
    out_ev = {"total": total} | {f"voi{n}": ev[f"voi{n}"] for n in range(1, 10)}
    out_sd = {"total": batch_total_rel} | {f"voi{n}": sd[f"voi{n}"] for n in range(1, 10)}
    return out_ev, out_sd, result


def _total_rel_sd(result: TransportResult) -> float:
    """Relative SD of the box total, combining the labels' batch SDs as independent.

    The covariance between labels (the same photons deposit in several) is neglected, so this
    is an approximation, not a bound; the ``box`` label carries most of the total, so the
    neglected terms are small."""
    ev = result.energy_ev_per_history[1:]
    sd = result.energy_rel_sd[1:] * ev
    return float(np.sqrt(np.sum(sd**2)) / ev.sum())
