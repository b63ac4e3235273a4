"""Centres, eras of X-ray technique and the procedure-level dose model of the synthetic cohort.

Dose-area products are calibrated on published paediatric interventional-cardiology
diagnostic reference levels: the OPRIPALC regional DRLs, third quartile of the kerma-area
product by weight band for diagnostic and therapeutic procedures (Ubeda C, Vano E, Del Rosario
Perez M, et al. J Radiol Prot 2022, doi:10.1088/1361-6498/ac87b7), as transcribed in
``shared/data/drl/opripalc_2022_paediatric_ic_regional_drl.csv`` (source S1 of its
PROVENANCE.md; the article's licence is not verified, only the numbers are used). From 2015,
at a given weight and at a centre of practice factor 1, the simulated KAP has that third
quartile (the band's value interpolated in weight); earlier eras are scaled up.

Every other number in this module is a **synthetic design choice**: plausible for paediatric
cardiac catheterisation, informed where stated by the example dose reports of
``shared/data/rdsr``, but not fitted to data. Totals are drawn per procedure, vectorised, in
integer micro-units (uGy.cm2, uGy, ms, frames) so that the irradiation events of
:mod:`doseline.cohort.events` can split them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from doseline.dicom.rdsr_write import CANON, GE, PHILIPS, SIEMENS, VendorConventions

__all__ = [
    "DEFAULT_CENTRES",
    "DRL_Q3_DIAGNOSTIC_GYCM2",
    "DRL_Q3_THERAPEUTIC_GYCM2",
    "DRL_WEIGHT_BANDS_KG",
    "CentreSpec",
    "era_dose_factor",
    "era_index",
    "kap_q3_gycm2",
    "procedure_doses",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# -- calibration target ---------------------------------------------------------------------

# Weight bands (kg, lower inclusive) and third quartiles of PKA (Gy.cm2): Ubeda et al. 2022
# (OPRIPALC), shared/data/drl/opripalc_2022_paediatric_ic_regional_drl.csv, grouping "weight".
DRL_WEIGHT_BANDS_KG: tuple[tuple[float, float], ...] = (
    (0.0, 5.0),
    (5.0, 15.0),
    (15.0, 30.0),
    (30.0, 50.0),
    (50.0, 80.0),
)
DRL_Q3_DIAGNOSTIC_GYCM2 = (3.0, 4.5, 8.1, 9.2, 26.8)
DRL_Q3_THERAPEUTIC_GYCM2 = (3.7, 4.3, 7.3, 16.1, 53.4)
# Synthetic design choice: the weight each band's value is pinned to (about the middle of the
# band; 3.5 kg for the first, where few children weigh under 2.5 kg). Between these weights the
# third quartile is interpolated linearly in log(weight), log(KAP); it is constant beyond.
_BAND_WEIGHT_KG = (3.5, 10.0, 22.0, 40.0, 65.0)
_Z75 = 0.6744897501960817  # 75th percentile of the standard normal distribution

# Synthetic design choices of the KAP model (log-normal at given weight, class and era).
KAP_LOG_SD = 0.8  # spread between procedures (a geometric SD of 2.2)
ERA_EXCESS_1990 = 0.6  # KAP in 1990 is 1.6 times the post-2015 level, falling linearly
ERA_REFERENCE_YEAR = 2015


def kap_q3_gycm2(weight_kg: npt.ArrayLike, interventional: npt.ArrayLike) -> FloatArray:
    """Third quartile of the dose-area product (Gy.cm2) for weight and procedure class.

    The OPRIPALC weight-band DRLs (diagnostic, or therapeutic for ``interventional``),
    interpolated in log-log between the representative weights of the bands.
    """
    log_w = np.log(np.clip(np.asarray(weight_kg, dtype=float), 0.1, None))
    knots = np.log(_BAND_WEIGHT_KG)
    diagnostic = np.interp(log_w, knots, np.log(DRL_Q3_DIAGNOSTIC_GYCM2))
    therapeutic = np.interp(log_w, knots, np.log(DRL_Q3_THERAPEUTIC_GYCM2))
    chosen = np.where(np.asarray(interventional, dtype=bool), therapeutic, diagnostic)
    return np.asarray(np.exp(chosen), dtype=np.float64)


def era_dose_factor(year: npt.ArrayLike) -> FloatArray:
    """Dose relative to the post-2015 level: 1 + 0.6 (2015 - year)/25, within [1, 1.6].

    Synthetic design choice: lower doses in later eras (lower pulse rates, more copper), of a
    plausible size; not fitted to a time series.
    """
    years = np.asarray(year, dtype=float)
    return 1.0 + ERA_EXCESS_1990 * np.clip((ERA_REFERENCE_YEAR - years) / 25.0, 0.0, 1.0)


def era_index(year: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Technique era: 0 before 2000, 1 for 2000-2009, 2 for 2010-2015, 3 from 2016 (synthetic
    design choice)."""
    years = np.asarray(year)
    return np.select([years < 2000, years < 2010, years < 2016], [0, 1, 2], 3).astype(np.int8)


# Technique by era (index of era_index). Synthetic design choices, in the direction the
# radiation-protection literature recommends for children (ICRP Publication 121, 2013: lowest
# practicable pulse and frame rates, added copper filtration); the values of the RDSR eras (2 and
# 3) lie within those of the example reports (6.25 to 15 pulse/s; 0.1 to 0.9 mm Cu).
FLUORO_PULSE_RATES = ((25.0, 30.0), (12.5, 15.0), (10.0, 15.0), (7.5, 10.0, 15.0))
FLUORO_PULSE_RATE_P = ((0.5, 0.5), (0.5, 0.5), (0.5, 0.5), (0.5, 0.3, 0.2))
CINE_FRAME_RATES = ((30.0,), (25.0, 30.0), (15.0, 30.0), (12.5, 15.0, 30.0))
CINE_FRAME_RATE_P = ((1.0,), (0.5, 0.5), (0.5, 0.5), (0.4, 0.4, 0.2))
FLUORO_CU_MM = ((0.0, 0.1), (0.1, 0.2, 0.3), (0.2, 0.3, 0.6), (0.3, 0.6, 0.9))
CINE_CU_MM = ((0.0,), (0.0, 0.1), (0.1, 0.2), (0.1, 0.2, 0.3))


# -- centres ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CentreSpec:
    """One synthetic centre: its X-ray system and the eras of its records.

    Attributes
    ----------
    centre_id, country
        Identifier (also the folder name) and ISO 3166-1 alpha-2 country code.
    conventions
        How the centre's X-ray system writes dose reports (a preset of
        :mod:`doseline.dicom.rdsr_write`).
    rdsr_start_year
        First year with an RDSR for every procedure.
    tabular_start_year
        First year with a tabular (CSV) record; earlier procedures are listed without dose.
    kap_meter_year
        First year whose tabular records carry a dose-area product (before: fluoroscopy time).
    biplane
        Whether the system has two planes (A frontal, B lateral).
    share
        Relative share of the cohort's patients.
    practice_factor
        Multiplies the centre's doses (local practice).
    source_to_isocenter_mm, focal_spot_mm
        Geometry of the system.
    """

    centre_id: str
    country: str
    conventions: VendorConventions
    rdsr_start_year: int
    tabular_start_year: int
    kap_meter_year: int
    biplane: bool
    share: float
    practice_factor: float
    source_to_isocenter_mm: float
    focal_spot_mm: float

    def __post_init__(self) -> None:
        if not self.tabular_start_year <= self.kap_meter_year <= self.rdsr_start_year:
            raise ValueError(
                f"centre {self.centre_id}: need tabular_start_year <= kap_meter_year <= "
                f"rdsr_start_year, got {self.tabular_start_year}, {self.kap_meter_year}, "
                f"{self.rdsr_start_year}"
            )
        if self.share <= 0 or self.practice_factor <= 0:
            raise ValueError(f"centre {self.centre_id}: share and practice_factor must be > 0")

    @property
    def issuer(self) -> str:
        """Issuer of Patient ID of the centre's synthetic identifiers."""
        return f"SYNTH-{self.centre_id}"

    @property
    def station_name(self) -> str:
        return f"SYN{self.centre_id}CATH"

    @property
    def serial_number(self) -> str:
        return f"SYN{self.centre_id}0001"


# Synthetic design choices (years, shares, factors). Source-to-isocentre distances and focal
# spots are those of the example file each preset imitates (Siemens 785 mm and 0.6 mm in
# RF-RDSR-Siemens-Zee.dcm; Philips 765 mm and 0.8 mm in RF-RDSR-Philips_Azurion.dcm; Canon
# 700 mm and 0.3 mm in RF-RDSR-Canon-Alphenix-rotational.dcm); GE's are synthetic.
DEFAULT_CENTRES: tuple[CentreSpec, ...] = (
    CentreSpec("C1", "FR", SIEMENS, 2012, 1995, 1998, True, 0.35, 1.0, 785.0, 0.6),
    CentreSpec("C2", "NL", PHILIPS, 2010, 1993, 1996, True, 0.30, 0.9, 765.0, 0.8),
    CentreSpec("C3", "ES", CANON, 2016, 2000, 2003, False, 0.20, 1.15, 700.0, 0.3),
    CentreSpec("C4", "NO", GE, 2014, 1998, 2001, False, 0.15, 1.0, 720.0, 0.6),
)


# -- procedure-level totals ----------------------------------------------------------------

# Synthetic design choices of the split of each total.
ACQUISITION_KAP_FRACTION = (0.6, 0.5)  # mean share of cine in KAP: diagnostic, interventional
FLUORO_TIME_MEDIAN_S = (420.0, 900.0)  # 7 and 15 minutes
FLUORO_TIME_LOG_SD = 0.7
FLUORO_EVENTS_MEAN = (13.0, 18.0)  # Poisson means (+1) of fluoroscopy events
CINE_EVENTS_MEAN = (11.0, 14.0)  # Poisson means (+1) of acquisition runs; about 30 events
CINE_RUN_MEDIAN_S = 4.0  # length of a cine run
# Collimated field at the reference point, 30 cm2 at 3.5 kg growing as weight^0.45.
FIELD_AREA_RP_CM2 = 30.0
FIELD_AREA_EXPONENT = 0.45
MIN_FLUORO_EVENT_MS = 200
MIN_RUN_FRAMES = 5


def procedure_doses(
    rng: np.random.Generator,
    weight_kg: npt.ArrayLike,
    interventional: npt.ArrayLike,
    year: npt.ArrayLike,
    practice_factor: npt.ArrayLike,
) -> dict[str, npt.NDArray[np.generic]]:
    """Draw the dose totals of procedures (vectorised).

    Returns integer totals that the events of a procedure split exactly: ``fluoro_kap_ugycm2``,
    ``acquisition_kap_ugycm2``, ``fluoro_air_kerma_ugy``, ``acquisition_air_kerma_ugy``,
    ``fluoro_time_ms``, ``acquisition_frames``, ``n_fluoro_events``, ``n_acquisition_events``,
    and the technique ``fluoro_pulse_rate`` (pulse/s) and ``cine_frame_rate`` (frame/s).
    """
    weight = np.asarray(weight_kg, dtype=float)
    interv = np.asarray(interventional, dtype=bool).astype(np.int64)
    years = np.asarray(year)
    n = weight.shape[0]
    era = era_index(years)

    median = (
        kap_q3_gycm2(weight, interv)
        * np.exp(-_Z75 * KAP_LOG_SD)
        * era_dose_factor(years)
        * np.asarray(practice_factor, dtype=float)
    )
    kap = median * np.exp(KAP_LOG_SD * rng.standard_normal(n))
    mean_share = np.asarray(ACQUISITION_KAP_FRACTION)[interv]
    share = rng.beta(10.0 * mean_share, 10.0 * (1.0 - mean_share))

    n_fluoro = 1 + rng.poisson(np.asarray(FLUORO_EVENTS_MEAN)[interv])
    n_cine = 1 + rng.poisson(np.asarray(CINE_EVENTS_MEAN)[interv])
    # At least 1000 uGy.cm2 (0.001 Gy.cm2) per event, so every event gets a share.
    kap_cine = np.maximum(np.rint(kap * share * 1e6), 1000 * n_cine).astype(np.int64)
    kap_fluoro = np.maximum(np.rint(kap * (1 - share) * 1e6), 1000 * n_fluoro).astype(np.int64)

    area = (
        FIELD_AREA_RP_CM2
        * (np.clip(weight, 1.0, None) / 3.5) ** FIELD_AREA_EXPONENT
        * np.exp(0.15 * rng.standard_normal(n))
    )
    ak_fluoro = np.maximum(np.rint(kap_fluoro / area), n_fluoro).astype(np.int64)
    ak_cine = np.maximum(np.rint(kap_cine / (1.1 * area)), n_cine).astype(np.int64)

    time_median = np.asarray(FLUORO_TIME_MEDIAN_S)[interv]
    fluoro_s = time_median * np.exp(FLUORO_TIME_LOG_SD * rng.standard_normal(n))
    fluoro_ms = np.maximum(np.rint(fluoro_s * 1000), MIN_FLUORO_EVENT_MS * n_fluoro)

    pulse_rate = _choose(rng, era, FLUORO_PULSE_RATES, FLUORO_PULSE_RATE_P)
    frame_rate = _choose(rng, era, CINE_FRAME_RATES, CINE_FRAME_RATE_P)
    run_s = CINE_RUN_MEDIAN_S * np.exp(0.3 * rng.standard_normal(n))
    frames = np.maximum(np.rint(n_cine * run_s * frame_rate), MIN_RUN_FRAMES * n_cine)
    return {
        "fluoro_kap_ugycm2": kap_fluoro,
        "acquisition_kap_ugycm2": kap_cine,
        "fluoro_air_kerma_ugy": ak_fluoro,
        "acquisition_air_kerma_ugy": ak_cine,
        "fluoro_time_ms": fluoro_ms.astype(np.int64),
        "acquisition_frames": frames.astype(np.int64),
        "n_fluoro_events": n_fluoro.astype(np.int64),
        "n_acquisition_events": n_cine.astype(np.int64),
        "fluoro_pulse_rate": pulse_rate,
        "cine_frame_rate": frame_rate,
    }


def _choose(
    rng: np.random.Generator,
    era: npt.NDArray[np.int8],
    values: tuple[tuple[float, ...], ...],
    probabilities: tuple[tuple[float, ...], ...],
) -> FloatArray:
    """One value per procedure from its era's choices (vectorised by inverse CDF)."""
    n = int(era.shape[0])
    out = np.empty(n, dtype=float)
    u = rng.random(n)
    for index, (choices, p) in enumerate(zip(values, probabilities, strict=True)):
        mask = era == index
        position = np.searchsorted(np.cumsum(np.asarray(p)), u[mask], side="right")
        out[mask] = np.asarray(choices)[np.minimum(position, len(choices) - 1)]
    return out
