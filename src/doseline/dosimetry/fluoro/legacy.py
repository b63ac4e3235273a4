"""Organ doses for legacy records: a dose-area product (KAP) but no irradiation geometry.

``D_T = KAP x mean_q m_q,T``, ``m_q,T = sum_e (KAP_e / KAP_q) c_T(technique_e, patient)``: the
procedures q are the RDSR procedures of the record's stratum (centre, era, age band) and ``c_T``
a :class:`~doseline.dosimetry.fluoro.events.CoefficientSource` evaluated on q's event technique
with the record's own age, sex and size. Events weigh by their share of the procedure's KAP
(organ dose is the KAP-weighted sum of per-event coefficients); procedures weigh equally, which
is unbiased for the dose given the KAP when the technique mix does not depend on the KAP. The
spread carried as uncertainty is that of the procedure-level ``m_q`` across the stratum (GSD,
5th/95th percentiles): a legacy record lacks its own procedure's mix, not single events.

Vectorised: each procedure is ``R`` weighted technique rows. A procedure of at most ``R`` events
keeps them with their exact KAP shares; a longer one gets ``R`` events by systematic sampling
proportional to KAP (grid ``(k + U)/R`` on its cumulative KAP share, one uniform ``U`` per
procedure), each of weight 1/R. An event of share ``s`` is hit ``R s`` times on average, so the
estimate of ``m_q`` is unbiased. Strata with more than ``max_procedures`` procedures use a seeded
random subset. Stratum keys are compared as text (2010 = 2010.0 = "2010"); ``era`` must be a
calendar period label, not the registry's record type (``rdsr``/``legacy``). Method and
limitations: ``docs/fluoro_legacy.md``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files
from io import StringIO

import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.dosimetry.fluoro.events import PLAUSIBLE_RANGES, CoefficientSource, check_events
from doseline.errors import DoselineError, InvalidInputError

__all__ = [
    "DEFAULT_LEVELS",
    "MAX_PROCEDURES",
    "METHOD",
    "MIN_PROCEDURES",
    "ROWS_PER_PROCEDURE",
    "TECHNIQUE_COLUMNS",
    "LegacyDoses",
    "TechniqueDistribution",
    "age_band",
    "legacy_organ_doses",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: The event columns that describe technique (everything of an event but patient and KAP).
TECHNIQUE_COLUMNS: tuple[str, ...] = (
    "kvp",
    "filter_cu_mm",
    "filter_al_mm",
    "primary_angle_deg",
    "secondary_angle_deg",
    "field_width_mm",
    "field_height_mm",
    "distance_source_to_detector_mm",
    "distance_source_to_isocenter_mm",
)
PATIENT_COLUMNS: tuple[str, ...] = ("age_y", "sex", "height_cm", "weight_kg")
#: Fallback chain of stratum keys, most specific first (issue 4, section 3).
DEFAULT_LEVELS: tuple[tuple[str, ...], ...] = (
    ("centre", "era", "age_band"),
    ("era", "age_band"),
    ("age_band",),
)
#: Fewest procedures a stratum needs to be used. Design choice (no published threshold found):
#: an empirical 5th percentile needs at least 1/0.05 = 20 values, and with 20 procedures the
#: standard error of the stratum mean is CV/sqrt(20) = 0.22 CV of the between-procedure spread.
MIN_PROCEDURES = 20
#: Representative technique rows per procedure (exact for procedures of up to 16 events).
ROWS_PER_PROCEDURE = 16
#: Procedures per stratum used in one evaluation (a seeded random subset beyond this).
MAX_PROCEDURES = 64
#: The method name recorded in every legacy organ dose's inputs.
METHOD = "legacy: KAP x stratum-mean procedure dose per KAP (RDSR technique distribution)"
_BUILTIN_FILE = "default_technique.csv"
_OPEN_BAND = "16+ y"


@cache
def _age_bands() -> tuple[tuple[float, ...], tuple[str, ...]]:
    """Edges and labels: patient_bands.csv scheme ``age_4band_ic`` (<1, 1-5, 5-10, 10-16 y;
    Ubeda et al., J Radiol Prot 2022, doi:10.1088/1361-6498/ac87b7) and an open band 16+ y."""
    text = files("doseline.data").joinpath("patient_bands.csv").read_text("utf-8")
    table = pd.read_csv(StringIO(text), comment="#")
    bands = table[table["scheme"] == "age_4band_ic"]
    edges = (*bands["lower_inclusive"].astype(float), float(bands["upper_exclusive"].iloc[-1]))
    return (*edges, np.inf), (*bands["label"].astype(str), _OPEN_BAND)


def age_band(age_y: pd.Series) -> pd.Series:
    """The paediatric interventional-cardiology age band of each age (text; missing if NaN).

    Bands <1, 1-5, 5-10, 10-16 y of ``src/doseline/data/patient_bands.csv`` (lower bound
    inclusive; Ubeda et al. 2022, OPRIPALC) and ``16+ y`` for older patients.
    """
    edges, labels = _age_bands()
    bands = pd.cut(pd.to_numeric(age_y), bins=list(edges), labels=list(labels), right=False)
    return bands.astype(object).where(bands.notna(), None)


def _key_text(values: pd.Series) -> pd.Series:
    """Stratum keys as text: 2010, 2010.0 and "2010" are the same key; missing stays None."""
    numbers = pd.to_numeric(values, errors="coerce")
    integral = numbers.notna() & (numbers == np.round(numbers))
    text = values.astype(object).where(~integral, numbers.round().astype("Int64").astype(str))
    return text.astype(str).where(values.notna(), None)


def _raise_at(  # noqa: PLR0917 (mask, index, where, why)
    mask: npt.ArrayLike, index: pd.Index, source: str, kind: str, field: str, reason: str
) -> None:
    """Raise :class:`InvalidInputError` naming the first row where ``mask`` is true."""
    hits = np.flatnonzero(np.asarray(mask, dtype=bool))
    if hits.size:
        raise InvalidInputError(reason, source=source, record=f"{kind} {index[hits[0]]}",
                                field=field)  # fmt: skip


@dataclass(frozen=True, eq=False)
class TechniqueDistribution:
    """KAP-weighted technique of RDSR procedures by stratum; build with :meth:`from_events`.

    Attributes
    ----------
    name
        What the distribution was built from (recorded in each dose's inputs).
    procedures
        One row per procedure: ``procedure_id``, the stratum keys (text), ``kap_gycm2`` (total)
        and ``n_events``.
    technique
        ``R`` representative rows per procedure (procedure p owns rows ``p*R`` to
        ``p*R + R - 1``), columns :data:`TECHNIQUE_COLUMNS`.
    weights
        ``(n_procedures, R)``: each row's weight; a procedure's weights sum to 1.
    levels, min_procedures, default
        The fallback chain (levels whose keys the events lack are dropped), the fewest
        procedures a stratum needs, and the distribution used when no level qualifies.
    """

    name: str
    procedures: pd.DataFrame
    technique: pd.DataFrame
    weights: F64
    levels: tuple[tuple[str, ...], ...]
    min_procedures: int
    default: TechniqueDistribution | None = None

    @property
    def rows_per_procedure(self) -> int:
        """Representative technique rows per procedure (R)."""
        return int(self.weights.shape[1])

    @classmethod
    def from_events(
        cls,
        events: pd.DataFrame,
        *,
        procedure: str = "procedure_id",
        levels: Sequence[tuple[str, ...]] = DEFAULT_LEVELS,
        min_procedures: int = MIN_PROCEDURES,
        rows_per_procedure: int = ROWS_PER_PROCEDURE,
        default: TechniqueDistribution | None = None,
        seed: int = 0,
        name: str = "RDSR events",
        source: str = "events",
    ) -> TechniqueDistribution:
        """The distribution of the events of RDSR procedures (an event frame, see
        :mod:`~doseline.dosimetry.fluoro.events`, with a ``procedure`` column, the
        stratum-key columns such as ``centre`` and ``era``, and ``kap_gycm2`` for every event).

        Raises
        ------
        InvalidInputError
            Naming ``source``, the event or procedure and the field: any event-frame error,
            a missing procedure id or KAP, a procedure whose total KAP is 0, or a procedure
            whose events disagree on a stratum key (centre, era, age band).
        """
        if procedure not in events:
            raise InvalidInputError(f"missing column {procedure}", source=source)
        if min_procedures < 1 or rows_per_procedure < 1:
            raise ValueError("min_procedures and rows_per_procedure must be at least 1")
        checked = check_events(events, source=source)
        for column in (procedure, "kap_gycm2"):
            missing = events[column].isna().to_numpy() | checked[column].isna().to_numpy()
            _raise_at(missing, events.index, source, "event", column, "is missing")
        wanted = dict.fromkeys(key for level in levels for key in level)
        present = [key for key in wanted if key == "age_band" or key in events]
        keys = pd.DataFrame({k: _key_text(events[k]) for k in present if k != "age_band"})
        keys["age_band"] = age_band(checked["age_y"]).to_numpy()
        codes, ids = pd.factorize(events[procedure], sort=False)
        order = np.argsort(codes, kind="stable")
        keys = keys.iloc[order].reset_index(drop=True)
        sorted_codes = codes[order]
        spread = keys.groupby(sorted_codes).nunique(dropna=False)
        for key in spread:
            _raise_at(spread[key] > 1, pd.Index(ids), source, "procedure", str(key),
                      "differs between the events of one procedure")  # fmt: skip
        kap = checked["kap_gycm2"].to_numpy(dtype=np.float64)[order]
        counts = np.bincount(sorted_codes, minlength=len(ids)).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        rng = np.random.default_rng(seed)
        rows, weights, totals = _representative_rows(kap, counts, starts, rows_per_procedure, rng)
        _raise_at(totals <= 0, pd.Index(ids), source, "procedure", "kap_gycm2",
                  "the procedure's total KAP is 0")  # fmt: skip
        table = keys.iloc[starts].reset_index(drop=True)
        table.insert(0, "procedure_id", np.asarray(ids, dtype=object))
        table["kap_gycm2"] = totals
        table["n_events"] = counts
        technique = checked[list(TECHNIQUE_COLUMNS)].iloc[order].iloc[rows.ravel()]
        usable = tuple(tuple(level) for level in levels if all(k in present for k in level))
        return cls(
            name, table, technique.reset_index(drop=True), weights, usable, min_procedures, default
        )

    @classmethod
    def builtin(cls, *, rows_per_procedure: int = ROWS_PER_PROCEDURE) -> TechniqueDistribution:
        """The shipped default: public example RDSRs (adult/mixed procedures, not paediatric),
        ``src/doseline/data/dosimetry/default_technique.csv``; see its PROVENANCE.md."""
        text = files("doseline.data").joinpath("dosimetry", _BUILTIN_FILE).read_text("utf-8")
        table = pd.read_csv(StringIO(text), comment="#")
        # Age is not part of technique; the event check requires one, so a placeholder is
        # set for the check only (no stratum uses it: the default has a single stratum).
        events = table.assign(age_y=0.0)
        built = cls.from_events(
            events, levels=(), min_procedures=1, rows_per_procedure=rows_per_procedure,
            name=f"builtin default ({_BUILTIN_FILE}: public example RDSRs, adult/mixed)",
            source=_BUILTIN_FILE,
        )  # fmt: skip
        return replace(built, procedures=built.procedures.assign(age_band=None))

    def strata(self, level: tuple[str, ...]) -> tuple[pd.DataFrame, list[I64]]:
        """The strata of one level: a table of keys, ``stratum`` number and ``n_procedures``,
        and the procedure positions of each stratum (in ``procedures`` order)."""
        if not level:
            table = pd.DataFrame({"stratum": [0], "n_procedures": [len(self.procedures)]})
            return table, [np.arange(len(self.procedures), dtype=np.int64)]
        groups = self.procedures.groupby(list(level), sort=True, dropna=True).indices
        table = pd.DataFrame(list(groups), columns=list(level))
        table["stratum"] = np.arange(len(groups))
        positions = [np.asarray(v, dtype=np.int64) for v in groups.values()]
        table["n_procedures"] = [len(p) for p in positions]
        return table, positions


def _representative_rows(
    kap: F64, counts: I64, starts: I64, r: int, rng: np.random.Generator
) -> tuple[I64, F64, F64]:
    """Row indices ``(P, r)`` into the procedure-sorted events, their weights, and totals."""
    n_proc = len(counts)
    cumulative = np.cumsum(kap)
    within = cumulative - np.repeat(cumulative[starts] - kap[starts], counts)
    totals = within[starts + counts - 1]
    share = kap / np.repeat(np.where(totals > 0, totals, 1.0), counts)
    k = np.arange(r)[None, :]
    small = (counts <= r)[:, None]
    idx_small = starts[:, None] + np.where(k < counts[:, None], k, 0)
    w_small = np.where(k < counts[:, None], share[idx_small], 0.0)
    # Systematic PPS sampling: points (k + U)/r on the procedure's cumulative KAP share.
    position = np.repeat(np.arange(n_proc), counts) + within / np.repeat(
        np.where(totals > 0, totals, 1.0), counts
    )
    points = np.arange(n_proc)[:, None] + (k + rng.random(n_proc)[:, None]) / r
    idx_large = np.searchsorted(position, points.ravel(), side="right").reshape(n_proc, r)
    idx_large = np.clip(idx_large, starts[:, None], (starts + counts - 1)[:, None])
    rows = np.where(small, idx_small, idx_large).astype(np.int64)
    weights = np.where(small, w_small, 1.0 / r).astype(np.float64)
    return rows, weights, totals.astype(np.float64)


def _check_records(records: pd.DataFrame, source: str) -> pd.DataFrame:
    """Patient columns, KAP and age band of legacy records, checked (vectorised)."""
    for column in ("kap_gycm2", "age_y"):
        if column not in records:
            raise InvalidInputError(f"missing column {column}", source=source)
    out = pd.DataFrame(index=records.index)
    for column in ("kap_gycm2", "age_y", "height_cm", "weight_kg"):
        raw = records[column] if column in records else pd.Series(np.nan, index=records.index)
        values = pd.to_numeric(raw, errors="coerce")
        low, high = PLAUSIBLE_RANGES[column]
        checks = [(values.isna() & raw.notna(), "is not a number")]
        if column in ("kap_gycm2", "age_y"):
            checks.append((values.isna(), "is missing"))
        if column == "kap_gycm2":
            checks.append((values <= 0, "must be > 0 (a record without dose is imputed first)"))
        checks.append((values.notna() & ~values.between(low, high), f"is outside {low}-{high}"))
        for mask, reason in checks:
            shown = raw[mask].iloc[0] if bool(mask.any()) else None
            _raise_at(mask, records.index, source, "record", column, f"{shown!r} {reason}")
        out[column] = values.astype(np.float64)
    sex = records["sex"] if "sex" in records else pd.Series(None, index=records.index)
    bad = sex.notna() & ~sex.isin(["male", "female"])
    shown = sex[bad].iloc[0] if bool(bad.any()) else None
    _raise_at(bad, records.index, source, "record", "sex", f"{shown!r} must be 'male' or 'female'")
    out["sex"] = sex.astype(object).where(sex.notna(), None)
    out["age_band"] = age_band(out["age_y"])
    return out


def _resolve(
    dist: TechniqueDistribution, keys: pd.DataFrame, exclude: npt.NDArray[np.object_] | None
) -> pd.DataFrame:
    """Per record: the fallback level used (``len(levels)`` = default), stratum and count."""
    n = len(keys)
    level_of = np.full(n, -1, dtype=np.int64)
    stratum_of = np.zeros(n, dtype=np.int64)
    count_of = np.zeros(n, dtype=np.float64)
    ids = dist.procedures["procedure_id"].to_numpy(dtype=object)
    own = np.full(n, -1, dtype=np.int64)
    if exclude is not None:
        lookup = pd.Series(np.arange(len(ids)), index=pd.Index(ids))
        found = lookup.reindex(pd.Index(exclude)).to_numpy()
        own = np.nan_to_num(found.astype(np.float64), nan=-1.0).astype(np.int64)
    for i, level in enumerate(dist.levels):
        if any(k not in keys for k in level):
            continue
        table, _ = dist.strata(level)
        left = keys[list(level)].reset_index(drop=True)
        merged = left.merge(table, on=list(level), how="left") if level else table.iloc[[0] * n]
        count = merged["n_procedures"].to_numpy(dtype=np.float64, copy=True)
        count[left.isna().any(axis=1).to_numpy()] = np.nan
        theirs = dist.procedures[list(level)].iloc[np.maximum(own, 0)].reset_index(drop=True)
        same = (own >= 0) & (theirs == left).all(axis=1).to_numpy()
        count = count - same
        chosen = (level_of < 0) & (count >= dist.min_procedures)
        level_of[chosen] = i
        stratum_of[chosen] = merged["stratum"].to_numpy()[chosen].astype(np.int64)
        count_of[chosen] = count[chosen]
    rest = level_of < 0
    if bool(rest.any()):
        if dist.default is None:
            reason = f"no stratum has {dist.min_procedures} RDSR procedures and no default"
            _raise_at(rest, keys.index, "legacy records", "record", "age_band", reason)
        level_of[rest] = len(dist.levels)
        count_of[rest] = len(dist.default.procedures) if dist.default is not None else 0
    return pd.DataFrame({"level": level_of, "stratum": stratum_of, "n_procedures": count_of})


def _dose_per_kap(
    source: CoefficientSource, frame: pd.DataFrame, organs: list[str]
) -> npt.NDArray[np.float64]:
    """Call the coefficient source and check what it returns (finite, >= 0, same organs)."""
    out = source.dose_per_kap(frame)
    if not isinstance(out, pd.DataFrame) or len(out) != len(frame) or out.shape[1] == 0:
        raise DoselineError("the coefficient source must return one row per event")
    if organs and list(out.columns) != organs:
        raise DoselineError("the coefficient source returned different organ columns")
    organs[:] = [str(c) for c in out.columns]
    values = out.to_numpy(dtype=np.float64)
    if not bool(np.isfinite(values).all()) or bool((values < 0).any()):
        raise DoselineError("the coefficient source returned a negative or non-finite value")
    return values


def _stratum_dose_per_kap(
    dist: TechniqueDistribution,
    *,
    positions: I64,
    patients: pd.DataFrame,
    source: CoefficientSource,
    organs: list[str],
    chunk_rows: int,
) -> F64:
    """``m_q`` for each record (rows of ``patients``) and procedure: ``(n, len(positions), O)``."""
    r = dist.rows_per_procedure
    rows = (positions[:, None] * r + np.arange(r)).ravel()
    technique = {c: dist.technique[c].to_numpy()[rows] for c in TECHNIQUE_COLUMNS}
    weights = dist.weights[positions]
    per_chunk = max(1, chunk_rows // len(rows))
    parts = []
    for start in range(0, len(patients), per_chunk):
        chunk = patients.iloc[start : start + per_chunk]
        frame = pd.DataFrame({c: np.tile(v, len(chunk)) for c, v in technique.items()})
        for column in PATIENT_COLUMNS:
            frame[column] = np.repeat(chunk[column].to_numpy(), len(rows))
        values = _dose_per_kap(source, frame, organs)
        values = values.reshape(len(chunk), len(positions), r, -1)
        parts.append(np.einsum("nprk,pr->npk", values, weights))
    return np.concatenate(parts, axis=0)


@dataclass(frozen=True, eq=False)
class LegacyDoses:
    """Organ doses of legacy records (one row per record, one column per organ).

    Attributes
    ----------
    kap_gycm2
        The records' dose-area products.
    dose_per_kap
        Stratum mean of the procedure-level dose per KAP (Gy per Gy cm2): the central value.
    dose_per_kap_p05, dose_per_kap_p95, gsd
        5th and 95th percentiles and geometric SD of the procedure-level dose per KAP across
        the stratum's procedures (NaN GSD where a procedure gives 0 or only one procedure).
    inputs
        One row per record: method, KAP and its source, patient, distribution, fallback
        level, stratum, number of procedures, rows per procedure, left-out procedure.
    samples
        ``(n_records, max_procedures, n_organs)`` float32 procedure-level doses per KAP (the
        used ones first, NaN after), for :meth:`draws`; None when not kept.
    n_used
        Procedures used per record.
    """

    kap_gycm2: pd.Series
    dose_per_kap: pd.DataFrame
    dose_per_kap_p05: pd.DataFrame
    dose_per_kap_p95: pd.DataFrame
    gsd: pd.DataFrame
    inputs: pd.DataFrame
    samples: npt.NDArray[np.float32] | None
    n_used: I64

    @property
    def dose_gy(self) -> pd.DataFrame:
        """Central organ absorbed dose (Gy): KAP x stratum-mean dose per KAP."""
        return self.dose_per_kap.mul(self.kap_gycm2, axis=0)

    @property
    def p05_gy(self) -> pd.DataFrame:
        """5th percentile of the organ dose over the stratum's procedures (Gy)."""
        return self.dose_per_kap_p05.mul(self.kap_gycm2, axis=0)

    @property
    def p95_gy(self) -> pd.DataFrame:
        """95th percentile of the organ dose over the stratum's procedures (Gy)."""
        return self.dose_per_kap_p95.mul(self.kap_gycm2, axis=0)

    def input_dicts(self) -> list[dict[str, object]]:
        """The inputs of each record as a dict (method, stratum, fallback level, ...)."""
        return [{str(k): v for k, v in row.items()} for row in self.inputs.to_dict("records")]

    def summary_frame(self) -> pd.DataFrame:
        """Tidy: one row per record and organ with dose, percentiles, GSD and method."""
        parts = {"dose_gy": self.dose_gy, "p05_gy": self.p05_gy, "p95_gy": self.p95_gy}
        tidy = pd.concat({k: v.stack() for k, v in (parts | {"gsd": self.gsd}).items()}, axis=1)
        tidy.index = tidy.index.set_names(["record", "organ"])
        tidy["method"] = METHOD
        return tidy.reset_index()

    def draws(self, k: int, rng: np.random.Generator) -> F64:
        """``(k, n_records, n_organs)`` organ doses (Gy), each draw the dose had the record's
        technique been that of one procedure of its stratum, chosen at random (independent
        between records: the technique of one procedure says nothing about another's)."""
        if self.samples is None:
            raise ValueError("samples were not kept (legacy_organ_doses(keep_samples=True))")
        n = len(self.n_used)
        pick = np.floor(rng.random((k, n)) * self.n_used[None, :]).astype(np.int64)
        chosen = self.samples[np.arange(n)[None, :], pick, :].astype(np.float64)
        kap = self.kap_gycm2.to_numpy(dtype=np.float64)
        return np.asarray(chosen * kap[None, :, None], dtype=np.float64)


def legacy_organ_doses(
    records: pd.DataFrame,
    distribution: TechniqueDistribution,
    source: CoefficientSource,
    *,
    max_procedures: int = MAX_PROCEDURES,
    exclude: Sequence[object] | pd.Series | None = None,
    seed: int = 0,
    chunk_rows: int = 1_000_000,
    keep_samples: bool = True,
    source_name: str = "legacy records",
) -> LegacyDoses:
    """Organ doses of records with a dose-area product but no geometry (vectorised).

    Parameters
    ----------
    records
        One row per record: ``kap_gycm2`` (> 0) and ``age_y`` required; ``sex``,
        ``height_cm``, ``weight_kg`` optional (as in the event frame); the stratum keys of
        ``distribution.levels`` (``centre``, ``era``; ``age_band`` is derived from ``age_y``)
        where known; ``kap_source`` optional (e.g. "imputed"), recorded in the inputs.
    distribution
        RDSR technique distribution (with a ``default`` for records no stratum covers).
    source
        Organ dose per KAP for events (e.g. the conversion-coefficient table).
    max_procedures
        Procedures per stratum used (a random subset, seeded by ``seed``, beyond this).
    exclude
        Per record, a procedure id to leave out of its stratum (validation), or None.
    chunk_rows
        Largest number of rows per call of ``source``.

    Returns
    -------
    LegacyDoses
        Central value, spread across the stratum's procedures, draws and inputs per record.
    """
    recs = _check_records(records, source_name)
    keys = pd.DataFrame(index=records.index)
    for key in dict.fromkeys(k for level in distribution.levels for k in level):
        if key == "age_band":
            keys[key] = recs["age_band"]
        elif key in records:
            keys[key] = _key_text(records[key])
    excluded = None if exclude is None else np.asarray(list(exclude), dtype=object)
    if excluded is not None and len(excluded) != len(records):
        raise ValueError("exclude must give one procedure id (or None) per record")
    chosen = _resolve(distribution, keys, excluded)
    organs: list[str] = []
    results: list[tuple[I64, F64]] = []
    pairs = chosen[["level", "stratum"]].to_numpy(dtype=np.int64)
    groups, inverse = np.unique(pairs, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    splits = np.cumsum(np.bincount(inverse, minlength=len(groups)))[:-1]
    for (level, stratum), members in zip(
        groups.tolist(), np.split(np.argsort(inverse, kind="stable"), splits), strict=True
    ):
        dist = distribution if level < len(distribution.levels) else distribution.default
        assert dist is not None  # _resolve raised otherwise
        _, strata = dist.strata(distribution.levels[level] if dist is distribution else ())
        positions = strata[stratum]
        if len(positions) > max_procedures:
            rng = np.random.default_rng([seed, int(level), int(stratum)])
            positions = np.sort(rng.choice(positions, max_procedures, replace=False))
        m = _stratum_dose_per_kap(
            dist, positions=positions, patients=recs.iloc[members], source=source,
            organs=organs, chunk_rows=chunk_rows,
        )  # fmt: skip
        if excluded is not None:
            ids = dist.procedures["procedure_id"].to_numpy(dtype=object)[positions]
            m[excluded[members][:, None] == ids[None, :]] = np.nan
        results.append((members, m))
    return _assemble(
        records, recs, distribution, chosen=chosen, excluded=excluded, organs=organs,
        results=results, keep_samples=keep_samples,
    )  # fmt: skip


def _assemble(
    records: pd.DataFrame,
    recs: pd.DataFrame,
    distribution: TechniqueDistribution,
    *,
    chosen: pd.DataFrame,
    excluded: npt.NDArray[np.object_] | None,
    organs: list[str],
    results: list[tuple[I64, F64]],
    keep_samples: bool,
) -> LegacyDoses:
    n, n_org = len(recs), len(organs)
    stats = np.full((4, n, n_org), np.nan)
    width = max(m.shape[1] for _, m in results)
    samples = np.full((n, width, n_org), np.nan, dtype=np.float32) if keep_samples else None
    n_used = np.zeros(n, dtype=np.int64)
    for members, m in results:
        used = ~np.isnan(m[:, :, 0])
        n_used[members] = used.sum(axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # GSD of one procedure: NaN
            positive = np.all((m > 0) | np.isnan(m), axis=1)
            log_m = np.where(np.isnan(m), np.nan, np.log(np.where(m > 0, m, 1.0)))
            log_sd = np.nanstd(log_m, axis=1, ddof=1)
            stats[0, members] = np.nanmean(m, axis=1)
            stats[1:3, members] = np.nanpercentile(m, [5.0, 95.0], axis=1)
            stats[3, members] = np.where(positive, np.exp(log_sd), np.nan)
        if samples is not None:
            order = np.argsort(~used, axis=1, kind="stable")
            compact = np.take_along_axis(m, order[:, :, None], axis=1)
            samples[members, : m.shape[1]] = compact.astype(np.float32)
    frames = [pd.DataFrame(s, index=records.index, columns=organs) for s in stats]
    names = [" + ".join(level) or "all" for level in distribution.levels] + ["default"]
    default_name = distribution.default.name if distribution.default is not None else ""
    is_default = chosen["level"].to_numpy() == len(distribution.levels)
    kap_source = records["kap_source"].to_numpy() if "kap_source" in records else "recorded"
    inputs = pd.DataFrame({
        "method": METHOD, "kap_gycm2": recs["kap_gycm2"].to_numpy(), "kap_source": kap_source,
        **{c: recs[c].to_numpy() for c in (*PATIENT_COLUMNS, "age_band")},
        "distribution": np.where(is_default, default_name, distribution.name),
        "fallback_level": chosen["level"].to_numpy(),
        "level": np.asarray(names, dtype=object)[chosen["level"].to_numpy()],
        "stratum": _stratum_labels(distribution, chosen),
        "n_procedures": chosen["n_procedures"].to_numpy().astype(np.int64),
        "n_procedures_used": n_used, "rows_per_procedure": distribution.rows_per_procedure,
        "left_out_procedure": excluded if excluded is not None else None,
    }, index=records.index)  # fmt: skip
    return LegacyDoses(
        kap_gycm2=recs["kap_gycm2"], dose_per_kap=frames[0], dose_per_kap_p05=frames[1],
        dose_per_kap_p95=frames[2], gsd=frames[3], inputs=inputs, samples=samples,
        n_used=n_used,
    )  # fmt: skip


def _stratum_labels(dist: TechniqueDistribution, chosen: pd.DataFrame) -> npt.NDArray[np.object_]:
    """Text labels such as ``centre=A, era=2010-2015, age_band=1-5 y`` per record."""
    labels = np.full(len(chosen), "default", dtype=object)
    for i, level in enumerate(dist.levels):
        table, _ = dist.strata(level)
        if not level:
            labels[chosen["level"].to_numpy() == i] = "all procedures"
            continue
        text = table[list(level)].astype(str)
        named = text.apply(lambda col: col.name + "=" + col)
        label = named.agg(", ".join, axis=1).to_numpy(dtype=object)
        mask = chosen["level"].to_numpy() == i
        labels[mask] = label[chosen["stratum"].to_numpy()[mask]]
    return labels
