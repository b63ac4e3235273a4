"""Generic transport API: geometry + materials + source + spectrum + histories -> doses.

Dose per label is the deposited energy divided by the label's mass; its relative standard
deviation comes from independent batches, ``rel_sd = sd(batch means) / sqrt(n_batches) / mean``.

Red marrow and endosteum ("bone surface") doses use the labels' mass fractions and the ratio
of mass energy-absorption coefficients (the kerma approximation of Cristy, Health Phys. 41
(1981) 287; see also Lee et al., Phys. Med. Biol. 51 (2006) 4663): at each collision of energy
``E`` in a skeletal label the deposit is also scored weighted by
``(mu_en/rho)_target(E) / (mu_en/rho)_label(E)``, which estimates the collision kerma the
fluence there would give in red marrow (ICRU 46 red marrow) or in endosteum (soft tissue).
The region's target dose is that sum over the region's mass, and the whole-body target dose
is the mass-fraction-weighted mean over skeletal regions. Limits: it ignores the photoelectron
dose enhancement from nearby bone (marrow cavities are small compared with electron ranges
below ~150 keV), which under-estimates marrow and especially endosteum dose below ~100 keV;
fluence-to-dose response functions (ICRP 116; Johnson et al., Phys. Med. Biol. 56 (2011) 2347)
would correct it and are not implemented.

Normalisation (per emitted photon = per history):

* in-air KAP: every emitted photon crosses any plane across the beam once, adding
  ``E (mu_en/rho)_air(E) / cos(theta)`` to the kerma integrated over that plane, so the KAP per
  history, free in air and without attenuation, is ``<1/cos> sum_E p(E) E (mu_en/rho)_air(E)``
  (independent of distance; ``<1/cos>`` from :meth:`PointSource.mean_inverse_cosine`);
* incident air kerma at distance ``d`` on the central axis, free in air: photons per unit area
  there are ``1 / (Omega d^2)`` for solid angle ``Omega`` of the collimated pyramid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.physics.phantoms.voxel import VoxelPhantom
from doseline.physics.source import PointSource
from doseline.physics.spectra import Spectrum
from doseline.physics.transport.backend import RawTallies, TransportBackend
from doseline.physics.transport.cpu import NumbaCpuBackend
from doseline.physics.transport.problem import ScoringDisc, build_problem

__all__ = ["TransportResult", "simulate"]

F64 = npt.NDArray[np.float64]
KEV_TO_J = 1.602176634e-16
_KEV_CM2_PER_G_TO_GY_CM2 = KEV_TO_J * 1000.0  # (keV cm2/g) * 1000 g/kg -> J/kg cm2


def _mean_rel_sd(per_batch: F64, histories_per_batch: F64) -> tuple[F64, F64]:
    means = per_batch / histories_per_batch[:, None]
    mean = per_batch.sum(axis=0) / histories_per_batch.sum()
    n = per_batch.shape[0]
    sd = means.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(mean.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(mean > 0, sd / mean, np.nan)
    return mean, rel


@dataclass(frozen=True)
class TransportResult:
    """Energy and dose per label with uncertainties, and the beam normalisations.

    Attributes
    ----------
    labels
        Region names (label order, air first).
    energy_ev_per_history, energy_rel_sd
        Mean deposited energy per history (eV) and its relative SD, per label.
    dose_gy_per_history
        Absorbed dose per history per label (0 for air / massless labels).
    red_marrow_dose_gy_per_history, endosteum_dose_gy_per_history
        Whole-skeleton red-marrow and endosteum doses (nan if no skeletal label).
    kap_gycm2_per_history
        In-air KAP per history.
    world_energy_ev_per_history, escaped_energy_ev_per_history, emitted_energy_ev_per_history
        Energy balance per history (eV).
    disc_kerma
        Scoring-disc kerma estimate (keV cm2/g per history per cm2) and its relative SD.
    """

    labels: tuple[str, ...]
    energy_ev_per_history: F64
    energy_rel_sd: F64
    dose_gy_per_history: F64
    red_marrow_dose_gy_per_history: float
    red_marrow_rel_sd: float
    endosteum_dose_gy_per_history: float
    endosteum_rel_sd: float
    kap_gycm2_per_history: float
    source: PointSource
    world_energy_ev_per_history: float
    escaped_energy_ev_per_history: float
    emitted_energy_ev_per_history: float
    disc_kerma: tuple[float, float]
    n_histories: int
    backend: str
    dose_map_gy_per_history: F64 | None = field(default=None, repr=False)
    _air_kerma_weighted: float = field(default=0.0, repr=False)

    def dose_gy_per_kap_gycm2(self) -> dict[str, float]:
        """Absorbed dose per unit in-air KAP (Gy per Gy cm2) per label, plus marrow targets."""
        out = {
            name: float(d / self.kap_gycm2_per_history)
            for name, d in zip(self.labels[1:], self.dose_gy_per_history[1:], strict=True)
        }
        out["red_marrow"] = self.red_marrow_dose_gy_per_history / self.kap_gycm2_per_history
        out["endosteum"] = self.endosteum_dose_gy_per_history / self.kap_gycm2_per_history
        return out

    def incident_air_kerma_gy_per_history(self, distance_mm: float) -> float:
        """Free-in-air kerma on the central axis at ``distance_mm`` from the focus."""
        omega = self.source.solid_angle_sr()
        per_cm2 = 1.0 / (omega * (distance_mm / 10.0) ** 2)
        return per_cm2 * self._air_kerma_weighted * _KEV_CM2_PER_G_TO_GY_CM2

    def dose_gy_per_incident_air_kerma_gy(self, distance_mm: float) -> dict[str, float]:
        """Absorbed dose per unit incident air kerma (free in air, on the central axis at
        ``distance_mm`` from the focus, e.g. the patient entrance or the interventional
        reference point), per label plus the marrow targets."""
        kerma = self.incident_air_kerma_gy_per_history(distance_mm)
        per_kap = self.dose_gy_per_kap_gycm2()
        return {name: value * self.kap_gycm2_per_history / kerma for name, value in per_kap.items()}

    @property
    def params(self) -> pd.Series:
        """Absorbed dose per history (Gy) by label: the estimates of this result."""
        return pd.Series(self.dose_gy_per_history, index=list(self.labels), name="dose_gy")

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Normal-approximation confidence interval of the dose per history by label.

        The batch means are independent and (by the central limit theorem) close to normal;
        the interval is ``dose x (1 -/+ z rel_sd)`` with ``z`` the ``1 - alpha/2`` quantile.
        """
        from scipy.stats import norm

        z = float(norm.ppf(1.0 - alpha / 2.0))
        half = np.nan_to_num(self.energy_rel_sd) * self.dose_gy_per_history * z
        return pd.DataFrame(
            {"lower": self.dose_gy_per_history - half, "upper": self.dose_gy_per_history + half},
            index=list(self.labels),
        )

    def summary_frame(self) -> pd.DataFrame:
        """One row per label: energy (eV/history), rel SD, dose (Gy/history), dose/KAP."""
        frame = pd.DataFrame(
            {
                "label": list(self.labels),
                "energy_ev_per_history": self.energy_ev_per_history,
                "rel_sd": self.energy_rel_sd,
                "dose_gy_per_history": self.dose_gy_per_history,
                "dose_gy_per_kap_gycm2": self.dose_gy_per_history / self.kap_gycm2_per_history,
            }
        )
        return frame.set_index("label")

    def summary(self) -> str:
        """Plain-text summary."""
        head = (
            f"{self.n_histories} histories ({self.backend}); KAP/history "
            f"{self.kap_gycm2_per_history:.4e} Gy cm2\n"
        )
        return head + self.summary_frame().to_string()


def simulate(
    phantom: VoxelPhantom,
    source: PointSource,
    spectrum: Spectrum,
    n_histories: int,
    *,
    seed: int = 1,
    n_batches: int = 10,
    backend: TransportBackend | None = None,
    world_material: str | None = "air",
    world_margin_mm: float = 100.0,
    world_bounds_mm: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None,
    disc: ScoringDisc | None = None,
    dose_map: bool = False,
) -> TransportResult:
    """Transport ``n_histories`` photons of ``spectrum`` from ``source`` through ``phantom``.

    See the module docstring for the dosimetric quantities; :mod:`doseline.physics.transport`
    for the physics. ``seed`` and ``n_histories`` fix the result exactly (any thread count).
    """
    engine = backend if backend is not None else NumbaCpuBackend()
    problem = build_problem(
        phantom,
        source,
        spectrum,
        world_material=world_material,
        world_margin_mm=world_margin_mm,
        world_bounds_mm=world_bounds_mm,
        disc=disc,
    )
    raw = engine.run(problem, n_histories, n_batches, seed, dose_map)
    return _result(raw, phantom, source, spectrum, engine.name)


def _result(
    raw: RawTallies, phantom: VoxelPhantom, source: PointSource, spectrum: Spectrum, name: str
) -> TransportResult:
    n_b = raw.energy_kev.shape[0]
    hpb = np.diff(np.arange(n_b + 1) * raw.n_histories // n_b).astype(np.float64)
    mean_kev, rel = _mean_rel_sd(raw.energy_kev, hpb)
    masses = phantom.region_masses_g()
    mass_kg = np.array([0.0] + [masses[r.name] / 1000.0 for r in phantom.regions[1:]])
    n_labels = len(phantom.regions)
    with np.errstate(divide="ignore", invalid="ignore"):
        dose = np.where(mass_kg > 0, mean_kev[:n_labels] * KEV_TO_J / mass_kg, 0.0)
    rm = _target_dose(raw.red_marrow_kev, phantom, "red_marrow_mass_fraction", hpb)
    bs = _target_dose(raw.endosteum_kev, phantom, "endosteum_mass_fraction", hpb)
    disc_mean, disc_rel = _mean_rel_sd(raw.disc_kerma[:, None], hpb)
    kerma_weighted = spectrum.air_kerma_weighted()
    dmap = None
    if raw.dose_map_kev is not None:
        density = np.array([r.density_g_cm3 for r in phantom.regions])[phantom.labels.ravel()]
        voxel_kg = density * phantom.voxel_volume_cm3 / 1000.0
        dmap = (raw.dose_map_kev * KEV_TO_J / raw.n_histories / voxel_kg).reshape(
            phantom.labels.shape
        )
    return TransportResult(
        labels=tuple(r.name for r in phantom.regions),
        energy_ev_per_history=mean_kev[:n_labels] * 1000.0,
        energy_rel_sd=rel[:n_labels],
        dose_gy_per_history=dose,
        red_marrow_dose_gy_per_history=rm[0],
        red_marrow_rel_sd=rm[1],
        endosteum_dose_gy_per_history=bs[0],
        endosteum_rel_sd=bs[1],
        kap_gycm2_per_history=kerma_weighted
        * source.mean_inverse_cosine()
        * _KEV_CM2_PER_G_TO_GY_CM2,
        source=source,
        world_energy_ev_per_history=float(mean_kev[n_labels]) * 1000.0,
        escaped_energy_ev_per_history=float(raw.escaped_kev.sum() / raw.n_histories) * 1000.0,
        emitted_energy_ev_per_history=float(raw.emitted_kev.sum() / raw.n_histories) * 1000.0,
        disc_kerma=(float(disc_mean[0]), float(disc_rel[0])),
        n_histories=raw.n_histories,
        backend=name,
        dose_map_gy_per_history=dmap,
        _air_kerma_weighted=kerma_weighted,
    )


def _target_dose(tally: F64, phantom: VoxelPhantom, attr: str, hpb: F64) -> tuple[float, float]:
    """Whole-body target dose: sum_r f_r * (weighted deposit_r / m_r) * m_r / sum_r f_r m_r."""
    fractions = np.array([getattr(r, attr) for r in phantom.regions])
    masses = phantom.region_masses_g()
    mass_g = np.array([0.0] + [masses[r.name] for r in phantom.regions[1:]])
    target_kg = float((fractions * mass_g).sum()) / 1000.0
    if target_kg <= 0:
        return float("nan"), float("nan")
    # D_r = (weighted deposit in r) / m_r; sum_r f_r m_r D_r = sum_r f_r * weighted deposit_r
    per_batch = (tally[:, : fractions.size] * fractions).sum(axis=1, keepdims=True)
    mean_kev, rel = _mean_rel_sd(per_batch, hpb)
    return float(mean_kev[0]) * KEV_TO_J / target_kg, float(rel[0])
