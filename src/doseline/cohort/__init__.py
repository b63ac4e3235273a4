"""Cohorts: synthetic data sets with a known truth, person-time, dose-response models, SIR.

- synthetic paediatric cardiology data sets (:mod:`.synth`, :mod:`.files`) and HARMONIC-like
  known-truth cohorts (:mod:`.harmonic`);
- person-time tables (:mod:`.persontime`), registry input (:mod:`.registry_frames`), Dask
  scale-out (:mod:`.distributed`);
- standardised incidence ratios (:mod:`.sir`);
- grouped Poisson ERR/EAR models (:mod:`.spec`, :mod:`.poisson`), Cox linear-ERR models
  (:mod:`.cox`) and analyses over dose realisations (:mod:`.uncertainty`).

The names load on first use (PEP 562), so that importing the package, and the command line,
stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from doseline._lazy import lazy_getattr

_EXPORTS = {
    "DEFAULT_CENTRES": "doseline.cohort.technique",
    "CentreSpec": "doseline.cohort.technique",
    "CohortConfig": "doseline.cohort.synth",
    "CohortFiles": "doseline.cohort.files",
    "SyntheticCohort": "doseline.cohort.synth",
    "dictionary_fields": "doseline.cohort.files",
    "generate_cohort": "doseline.cohort.synth",
    "generate_patients": "doseline.cohort.synth",
    "generate_procedures": "doseline.cohort.synth",
    "legacy_tables": "doseline.cohort.files",
    "write_cohort": "doseline.cohort.files",
    "CohortFrames": "doseline.cohort.frames",
    "PersonTimeSpec": "doseline.cohort.persontime",
    "default_lag_y": "doseline.cohort.persontime",
    "person_time_table": "doseline.cohort.persontime",
    "ReferenceRates": "doseline.cohort.sir",
    "SIRResult": "doseline.cohort.sir",
    "garwood_interval": "doseline.cohort.sir",
    "sir": "doseline.cohort.sir",
    "CancerSite": "doseline.cohort.harmonic",
    "HarmonicConfig": "doseline.cohort.harmonic",
    "simulate_harmonic": "doseline.cohort.harmonic",
    "write_frames": "doseline.cohort.harmonic",
    "PoissonModel": "doseline.cohort.poisson",
    "PoissonResults": "doseline.cohort.poisson",
    "ModelSpec": "doseline.cohort.spec",
    "parse_spec": "doseline.cohort.spec",
    "SpecError": "doseline.cohort.spec",
    "CoxERRModel": "doseline.cohort.cox",
    "CoxERRResults": "doseline.cohort.cox",
    "naive_fit": "doseline.cohort.uncertainty",
    "fma": "doseline.cohort.uncertainty",
    "mcml": "doseline.cohort.uncertainty",
    "fit_realisations": "doseline.cohort.uncertainty",
    "UncertaintyEstimate": "doseline.cohort.uncertainty",
    "plot_dose_response": "doseline.cohort.plots",
}

__all__ = [
    "DEFAULT_CENTRES",
    "CancerSite",
    "CentreSpec",
    "CohortConfig",
    "CohortFiles",
    "CohortFrames",
    "CoxERRModel",
    "CoxERRResults",
    "HarmonicConfig",
    "ModelSpec",
    "PersonTimeSpec",
    "PoissonModel",
    "PoissonResults",
    "ReferenceRates",
    "SIRResult",
    "SpecError",
    "SyntheticCohort",
    "UncertaintyEstimate",
    "default_lag_y",
    "dictionary_fields",
    "fit_realisations",
    "fma",
    "garwood_interval",
    "generate_cohort",
    "generate_patients",
    "generate_procedures",
    "legacy_tables",
    "mcml",
    "naive_fit",
    "parse_spec",
    "person_time_table",
    "plot_dose_response",
    "simulate_harmonic",
    "sir",
    "write_cohort",
    "write_frames",
]

if TYPE_CHECKING:
    from doseline.cohort.cox import CoxERRModel, CoxERRResults
    from doseline.cohort.files import CohortFiles, dictionary_fields, legacy_tables, write_cohort
    from doseline.cohort.frames import CohortFrames
    from doseline.cohort.harmonic import (
        CancerSite,
        HarmonicConfig,
        simulate_harmonic,
        write_frames,
    )
    from doseline.cohort.persontime import PersonTimeSpec, default_lag_y, person_time_table
    from doseline.cohort.plots import plot_dose_response
    from doseline.cohort.poisson import PoissonModel, PoissonResults
    from doseline.cohort.sir import ReferenceRates, SIRResult, garwood_interval, sir
    from doseline.cohort.spec import ModelSpec, SpecError, parse_spec
    from doseline.cohort.synth import (
        CohortConfig,
        SyntheticCohort,
        generate_cohort,
        generate_patients,
        generate_procedures,
    )
    from doseline.cohort.technique import DEFAULT_CENTRES, CentreSpec
    from doseline.cohort.uncertainty import (
        UncertaintyEstimate,
        fit_realisations,
        fma,
        mcml,
        naive_fit,
    )


__getattr__ = lazy_getattr("doseline.cohort", _EXPORTS, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
