"""Settings, read from the environment (``DOSELINE_*``) with pydantic-settings.

Defaults suit one user on one machine: an embedded SQLite registry and a deployment key in the
user's configuration folder, both outside any source tree.
"""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_config_path, user_data_path
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]

_APP = "doseline"


def _default_database_url() -> str:
    return f"sqlite:///{user_data_path(_APP) / 'registry.sqlite'}"


class Settings(BaseSettings):
    """doseline settings.

    Attributes
    ----------
    database_url
        SQLAlchemy URL of the registry (``DOSELINE_DATABASE_URL``); SQLite file by default,
        ``postgresql+psycopg://user@host/db`` for a server.
    key_file
        The deployment's pseudonymisation key (``DOSELINE_KEY_FILE``); made by
        ``doseline init``, kept outside the database and any repository.
    store_shifted_dates
        Whether exposures keep a date shifted by a per-patient offset derived from the key
        (for calendar-period analyses); off by default, so no dates are stored at all.
    date_shift_max_days
        Largest shift, in days, either way.
    link_by_issuer
        Whether a patient's pseudonym depends on the Issuer of Patient ID as well as the
        identifier. Off by default: identifiers link by value across files and centres (a
        national number, or one hospital's numbers), even where only some sources fill in the
        issuer. Turn it on where centres' local numbers could clash.
    rt_name_map
        A CSV of the site's own radiotherapy structure names (``DOSELINE_RT_NAME_MAP``), read
        before the shipped TG-263 table; format in ``docs/rt_registry.md``.
    risk_data_dir
        Folder with the open cancer baseline tables (``DOSELINE_RISK_DATA_DIR``; CanEpiRisk and
        LARisk CSVs, see ``docs/risk.md``); by default ``../shared/data/risk`` when present.
    fluoro_kap_calibration
        The deployment's KAP-meter calibration factor, true / displayed KAP
        (``DOSELINE_FLUORO_KAP_CALIBRATION``; 0.5-2, default 1: no correction). Set it where
        the meters have been calibrated (IEC 60580 field-class tolerance +/-25 %); the residual
        calibration error is an error source of the dose uncertainty.
    fluoro_table_pmma_mm
        Narrow-beam PMMA-equivalent thickness (mm) of the patient table and pad
        (``DOSELINE_FLUORO_TABLE_PMMA_MM``; default 12.5 mm, fitted to the transmission
        measured on one cardiac table by the PySkinDose authors, see
        ``doseline.dosimetry.fluoro.skin_factors.DEFAULT_TABLE_PMMA_EQUIVALENT_MM``).
    fluoro_inherent_filtration_al_mm
        Inherent filtration (mm Al) of the X-ray tubes, before the added filters an RDSR
        reports (``DOSELINE_FLUORO_INHERENT_FILTRATION_AL_MM``; default 2.5 mm Al, the minimum
        total filtration of IEC 60601-1-3:2008, 7.1, as
        ``doseline.dosimetry.fluoro.spectral.INHERENT_AL_MM``).
    """

    model_config = SettingsConfigDict(env_prefix="DOSELINE_", extra="ignore")

    database_url: str = Field(default_factory=_default_database_url)
    key_file: Path = Field(default_factory=lambda: user_config_path(_APP) / "deployment.key")
    store_shifted_dates: bool = False
    date_shift_max_days: int = Field(default=182, ge=1, le=3650)
    link_by_issuer: bool = False
    rt_name_map: Path | None = None
    risk_data_dir: Path | None = None
    fluoro_kap_calibration: float = Field(default=1.0, ge=0.5, le=2.0)
    fluoro_table_pmma_mm: float = Field(default=12.5, ge=0.0, le=100.0)
    fluoro_inherent_filtration_al_mm: float = Field(default=2.5, ge=0.0, le=10.0)


def get_settings() -> Settings:
    """Settings as the environment gives them now."""
    return Settings()
