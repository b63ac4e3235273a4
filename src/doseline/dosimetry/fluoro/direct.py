"""Direct Monte Carlo path: one transport run per irradiation event.

For each event the phantom of the stylised family nearest in height is scaled to the patient
(PCXMC method, :func:`doseline.physics.phantoms.scaling.patient_phantom`): to the given height
and weight, or, where they are not known, to the reference height and mass at the patient's
age, linearly interpolated between the family's phantoms (so that at a phantom's own age the
phantom is used unscaled). The beam is the event's own (angles, field at the detector,
distances; isocentre at the heart, :mod:`doseline.dosimetry.fluoro.geometry`) with the event's
SpekPy spectrum (:func:`doseline.dosimetry.fluoro.spectral.event_spectrum`). It is the reference
for the table path and the method for single events (``doseline dose event --method mc``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.dosimetry.fluoro.body_size import PHANTOM_AGE_Y
from doseline.dosimetry.fluoro.events import check_events
from doseline.dosimetry.fluoro.geometry import (
    DEFAULT_TABLE_PMMA_EQUIVALENT_MM,
    event_source,
    pmma_attenuation_per_mm,
    support_path_mm,
)
from doseline.dosimetry.fluoro.spectral import INHERENT_AL_MM, event_spectrum
from doseline.organs import ORGANS
from doseline.physics.phantoms.reference import AGES
from doseline.physics.phantoms.voxel import VoxelPhantom

__all__ = ["DirectMonteCarlo", "reference_size"]

F64 = npt.NDArray[np.float64]


def reference_size(age_y: float) -> tuple[float, float]:
    """(height cm, mass kg) at ``age_y``, interpolated between the family's reference sizes."""
    from doseline.physics.phantoms.stylised import age_scaling

    ages = [PHANTOM_AGE_Y[a] for a in AGES]
    heights = [age_scaling(a).height_cm for a in AGES]
    masses = [age_scaling(a).body_mass_g / 1000.0 for a in AGES]
    return float(np.interp(age_y, ages, heights)), float(np.interp(age_y, ages, masses))


@lru_cache(maxsize=8)
def _phantom(height_cm: float, mass_kg: float, voxel_size_mm: float) -> VoxelPhantom:
    from doseline.physics.phantoms.scaling import patient_phantom

    return patient_phantom(height_cm, mass_kg, voxel_size_mm)


@dataclass(frozen=True)
class DirectMonteCarlo:
    """Organ dose per KAP by a transport run per event (a :class:`CoefficientSource`).

    Parameters
    ----------
    n_histories
        Histories per event.
    seed
        Seed of the first event; event ``i`` of a frame uses ``seed + i``.
    voxel_size_mm
        Voxel size of the phantoms.
    inherent_al_mm
        Inherent filtration of the tube (see :mod:`doseline.dosimetry.fluoro.spectral`).
    support_pmma_equivalent_mm
        Patient support (see :mod:`doseline.dosimetry.fluoro.geometry`): the spectrum is
        attenuated by it before transport; the KAP stays that of the unattenuated beam.
    """

    n_histories: int = 1_000_000
    seed: int = 1
    voxel_size_mm: float = 2.0
    inherent_al_mm: float = INHERENT_AL_MM
    support_pmma_equivalent_mm: float = DEFAULT_TABLE_PMMA_EQUIVALENT_MM

    def dose_per_kap(self, events: pd.DataFrame) -> pd.DataFrame:
        """Organ absorbed dose per unit in-air KAP (Gy per Gy cm2), one row per event."""
        return self.dose_per_kap_with_rel_sd(events)[0]

    def dose_per_kap_with_rel_sd(self, events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Organ dose per KAP and its relative standard deviation (Monte Carlo statistics)."""
        checked = check_events(events)
        rows, rels = [], []
        for i, (_, event) in enumerate(checked.iterrows()):  # one transport run per event
            per_kap, rel = self._one(event, self.seed + i)
            rows.append(per_kap)
            rels.append(rel)
        return (
            pd.DataFrame(rows, index=events.index).reindex(columns=_organ_order(rows)),
            pd.DataFrame(rels, index=events.index).reindex(columns=_organ_order(rows)),
        )

    def _one(self, event: pd.Series, seed: int) -> tuple[dict[str, float], dict[str, float]]:
        from doseline.physics.organ_dose import organ_doses_with_rel_sd
        from doseline.physics.phantoms import stylised
        from doseline.physics.transport.api import simulate
        from doseline.physics.transport.response import kap_gycm2_per_photon

        height, mass = float(event["height_cm"]), float(event["weight_kg"])
        if not (np.isfinite(height) and np.isfinite(mass)):
            height, mass = reference_size(float(event["age_y"]))
        phantom = _phantom(round(height, 1), round(mass, 2), self.voxel_size_mm)
        spectrum = event_spectrum(
            float(event["kvp"]),
            float(event["filter_al_mm"]),
            float(event["filter_cu_mm"]),
            self.inherent_al_mm,
        )
        source = event_source(phantom, event)
        path_mm = float(support_path_mm(event.to_frame().T, self.support_pmma_equivalent_mm)[0])
        transmission = np.exp(-pmma_attenuation_per_mm(spectrum.bin_mid_kev) * path_mm)
        behind = replace(spectrum, photons_per_bin=spectrum.photons_per_bin * transmission)
        result = simulate(phantom, source, behind, self.n_histories, seed=seed)
        doses = organ_doses_with_rel_sd(
            result, phantom, stylised.region_organs(), stylised.ORGAN_SURROGATES
        )
        # dose per emitted photon behind the support, per KAP of the unattenuated beam
        transmitted = float(behind.photons_per_bin.sum() / spectrum.photons_per_bin.sum())
        kap = kap_gycm2_per_photon(spectrum, source.mean_inverse_cosine()) / transmitted
        kept = {o: v for o, v in doses.items() if o in ORGANS}
        return {o: d / kap for o, (d, _) in kept.items()}, {o: r for o, (_, r) in kept.items()}


def _organ_order(rows: list[dict[str, float]]) -> list[str]:
    present = set().union(*rows) if rows else set()
    return [o for o in ORGANS if o in present]
