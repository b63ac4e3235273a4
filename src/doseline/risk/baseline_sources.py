"""The named open baselines: CanEpiRisk world regions and LARisk Korea.

Their licences were not confirmed for redistribution (see ``src/doseline/data/risk/
PROVENANCE.md``), so doseline does not copy them into the package: it reads the tidy CSVs
described in ``../shared/data/risk/PROVENANCE.md`` from a directory found, in order, from
``DOSELINE_RISK_DATA_DIR``, ``$DOSELINE_SHARED_DATA/risk`` or ``../shared/data/risk`` relative
to the working directory (or passed explicitly).

Sources
-------
CanEpiRisk (K. Furukawa), github.com/KyojiFurukawa/CanEpiRisk, commit e89cf0ee: IARC-based
incidence, mortality and all-cause survival for five world regions, single years 1-100.
LARisk 1.0.0 (J. Lee et al., CRAN; data from KOSIS): Korean incidence for the 19 RadRAT sites
and life tables, 2010 and 2018. Korean tables have no cancer mortality.
"""

from __future__ import annotations

import csv
import functools
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from doseline.config import get_settings
from doseline.errors import ConfigurationError
from doseline.organs import Sex
from doseline.risk.baseline import N_AGES, Baseline, FloatArray

__all__ = [
    "DEFAULT_BASELINE",
    "BaselineInfo",
    "baseline_data_dir",
    "list_baselines",
    "load_baseline",
]

_REGIONS = {
    "aus-nz-europe-northern-america": "Aus-NZ Europe Northern America",
    "northern-africa-western-asia": "Northern Africa - Western Asia",
    "latin-america-caribbean": "Latin America and Caribbean",
    "asia-excl-western-asia": "Asia excl. Western Asia",
    "sub-saharan-africa": "Sub-Saharan Africa",
}
#: The shipped baseline closest to the U.S. population BEIR VII used (PROVENANCE.md).
DEFAULT_BASELINE = "canepirisk-aus-nz-europe-northern-america"

#: CanEpiRisk site group -> doseline site. "leukaemia" is taken to exclude CLL (the LSS
#: leukaemia models do); "all_leukaemia" is kept as a separate row for comparison.
_CANEPIRISK_SITES = {
    "esophagus": "oesophagus",
    "stomach": "stomach",
    "colon": "colon",
    "liver": "liver",
    "pancreas": "pancreas",
    "lung": "lung",
    "breast": "breast",
    "prostate": "prostate",
    "bladder": "bladder",
    "brainCNS": "brain_cns",
    "thyroid": "thyroid",
    "leukaemia": "leukaemia",
    "all_leukaemia": "all_leukaemia",
}
_LARISK_SITES = {"leukemia": "leukaemia", "brain/cns": "brain_cns"}
_CANEPIRISK_CITE = (
    "CanEpiRisk (K. Furukawa), github.com/KyojiFurukawa/CanEpiRisk commit e89cf0ee, data "
    "IARC_Incidence/IARC_Mortality (IARC); licence declared MIT, LICENSE file missing"
)
_LARISK_CITE = (
    "LARisk 1.0.0 (CRAN, LGPL-3) data incid{year}/life{year}; KOSIS cancer registration "
    "statistics and Statistics Korea life tables"
)


@dataclass(frozen=True)
class BaselineInfo:
    """One named baseline: its name, what it covers and whether its files are present."""

    name: str
    description: str
    source: str
    outcomes: tuple[str, ...]
    available: bool


def baseline_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """The directory holding the open baseline CSVs, or None if none is found."""
    candidates: list[Path] = []
    if data_dir is not None:
        candidates.append(Path(data_dir))
    if (configured := get_settings().risk_data_dir) is not None:
        candidates.append(configured)
    if env := os.environ.get("DOSELINE_SHARED_DATA"):
        candidates.append(Path(env) / "risk")
    candidates.append(Path.cwd().parent / "shared" / "data" / "risk")
    for candidate in candidates:
        if (candidate / "canepirisk_region_survival.csv").exists():
            return candidate
    return None


def list_baselines(data_dir: str | Path | None = None) -> list[BaselineInfo]:
    """All named baselines, default first, with their availability."""
    root = baseline_data_dir(data_dir)
    infos = []
    for key, region in _REGIONS.items():
        infos.append(
            BaselineInfo(
                f"canepirisk-{key}",
                f"CanEpiRisk world region {region!r} (IARC rates, ages 1-100)",
                _CANEPIRISK_CITE,
                ("incidence", "mortality"),
                root is not None,
            )
        )
    for year in (2010, 2018):
        infos.append(
            BaselineInfo(
                f"larisk-korea-{year}",
                f"Korea {year} (KOSIS incidence for the RadRAT sites, life table)",
                _LARISK_CITE.format(year=year),
                ("incidence",),
                root is not None and (root / "larisk_korea_life_table.csv").exists(),
            )
        )
    return infos


def load_baseline(name: str = DEFAULT_BASELINE, data_dir: str | Path | None = None) -> Baseline:
    """Load a named baseline (see :func:`list_baselines`), read once per process and directory.

    Raises
    ------
    ConfigurationError
        When the data directory is not found.
    KeyError
        For an unknown name.
    """
    root = baseline_data_dir(data_dir)
    if root is None:
        raise ConfigurationError(
            "open baseline tables not found: set DOSELINE_RISK_DATA_DIR to a directory with "
            "the CanEpiRisk/LARisk CSVs (see docs/risk.md) or load your own with "
            "Baseline.from_csv"
        )
    return _load(name, root.resolve())


@functools.lru_cache(maxsize=8)
def _load(name: str, root: Path) -> Baseline:
    """Read a named baseline once per process (a :class:`Baseline` is immutable, so the
    cached object is shared safely; ``lar`` without ``baseline=`` would otherwise re-read
    the tables on every call)."""
    if name.startswith("canepirisk-") and name[len("canepirisk-") :] in _REGIONS:
        return _canepirisk(root, name, _REGIONS[name[len("canepirisk-") :]])
    if name in ("larisk-korea-2010", "larisk-korea-2018"):
        return _larisk(root, name, int(name[-4:]))
    known = ", ".join(info.name for info in list_baselines(root))
    raise KeyError(f"unknown baseline {name!r}; known: {known}")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _curves(
    rows: list[dict[str, str]], key: str, value: str, scale: float, first_age: int
) -> dict[tuple[str, Sex], FloatArray]:
    by_key: dict[tuple[str, Sex], FloatArray] = defaultdict(lambda: np.full(N_AGES, np.nan))
    for row in rows:
        sex: Sex = "male" if row["sex"] == "male" else "female"
        by_key[(row[key], sex)][int(row["age"])] = float(row[value]) * scale
    out = {}
    for k, values in by_key.items():
        if first_age > 0:
            values[:first_age] = values[first_age]  # ages below the table: the first age's rate
        out[k] = values
    return out


def _canepirisk(root: Path, name: str, region: str) -> Baseline:
    tables = {}
    for outcome in ("incidence", "mortality"):
        rows = [
            r
            for r in _read(root / f"canepirisk_region_cancer_{outcome}.csv")
            if r["region"] == region
        ]
        raw = _curves(rows, "site", "rate_per_person_year", 1e5, 1)
        table = {
            (_CANEPIRISK_SITES[s], sex): v for (s, sex), v in raw.items() if s in _CANEPIRISK_SITES
        }
        for sex in ("male", "female"):
            sex_t: Sex = "male" if sex == "male" else "female"
            # Inferred from the sums (docs/risk.md): "allsolid" includes non-melanoma skin
            # cancer (NMSC); "allsolid-NMSC" is all cancers minus NMSC; so solid cancers
            # without NMSC = allsolid - (all_cancer - allsolid-NMSC).
            nmsc = raw[("all_cancer", sex_t)] - raw[("allsolid-NMSC", sex_t)]
            table[("all_solid", sex_t)] = np.clip(raw[("allsolid", sex_t)] - nmsc, 0.0, None)
        tables[outcome] = table
    surv_rows = [r for r in _read(root / "canepirisk_region_survival.csv") if r["region"] == region]
    survival = {
        sex: v
        for (_, sex), v in _curves(
            [dict(r, key="s") for r in surv_rows], "key", "survival", 1.0, 0
        ).items()
    }
    return Baseline(
        name,
        f"CanEpiRisk world region {region!r}; rates of age 1 used at age 0",
        _CANEPIRISK_CITE,
        tables["incidence"],
        tables["mortality"],
        survival,
        notes=(
            "no uterus or ovary rates (nor oral cavity, rectum, gallbladder, kidney for "
            "RadRAT): those sites are not projected and their cases stay in the residual "
            "'other'/'remainder' baseline",
            "all_solid = allsolid - (all_cancer - allsolid-NMSC), inferred from the sums",
        ),
    )


def _larisk(root: Path, name: str, year: int) -> Baseline:
    rows = [r for r in _read(root / "larisk_korea_cancer_incidence.csv") if int(r["year"]) == year]
    raw = _curves(rows, "site", "rate_per_100000", 1.0, 0)
    incidence = {(_LARISK_SITES.get(s, s), sex): v for (s, sex), v in raw.items()}
    life = [r for r in _read(root / "larisk_korea_life_table.csv") if int(r["year"]) == year]
    qx = _curves([dict(r, key="q") for r in life], "key", "qx", 1.0, 0)
    survival = {
        sex: np.concatenate(([1.0], np.cumprod(1.0 - v[:100]))) for (_, sex), v in qx.items()
    }
    return Baseline(
        name,
        f"Korea {year}: KOSIS cancer incidence (RadRAT sites) and life table",
        _LARISK_CITE.format(year=year),
        incidence,
        {},
        survival,
        notes=("incidence only: no cancer mortality rates",),
    )
