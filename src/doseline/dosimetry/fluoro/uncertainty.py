"""Two-dimensional Monte Carlo (2DMC) uncertainty of fluoroscopy organ doses.

K realisations of every organ dose of a cohort (Simon, Hoffman & Hofer, Radiat Res
2015;183:27-41): in realisation ``k`` each *shared* error (a centre's KAP-meter calibration,
its table, the phantom, the coefficient tables) takes one value for everybody it applies to,
and each *unshared* error (individual geometry, body size, imputed technique) an independent
value per patient or exposure, so realisations of different people move together as the
dose-response estimators of :mod:`doseline.cohort.uncertainty` need (Stram & Kopecky, Radiat
Res 2003;160:408-417; Kwon et al., PLoS One 2023;18:e0290498). HARMONIC does the same
(Harbron et al., J Radiol Prot 2020;40(4), doi:10.1088/1361-6498/aba66d). Every error is a
multiplicative lognormal factor with median one; the sources are data
(``doseline/data/dosimetry/error_sources.csv``, derivations in ``PROVENANCE.md``); the model is
described in ``docs/fluoro_uncertainty.md``.

Draw ``k`` of source ``s`` for unit ``u`` (centre, centre and era, organ, patient, exposure)
is a function of ``(seed, s, u, k)`` only: the Box-Muller transform of a SplitMix64 stream
(Steele, Lea & Flood, OOPSLA 2014) keyed by the seed, the source name and the unit's id. So
realisations do not depend on row order, chunking, the rest of the cohort, or K.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd

from doseline.errors import InvalidInputError

__all__ = [
    "METHOD",
    "METHOD_VERSION",
    "REQUIRED_COLUMNS",
    "SHARING_LEVELS",
    "ErrorModel",
    "ErrorSource",
    "RealisationBlock",
    "check_doses",
    "iter_realisations",
    "realise",
]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

#: ``dose_realisation_set.method`` and ``method_version`` of realisations made here.
METHOD = "fluoro-2dmc"
METHOD_VERSION = "1.0"

#: Sharing levels: the first three are shared errors, the last two unshared.
SHARING_LEVELS = ("centre", "centre_era", "global", "patient", "exposure")
_SHARED = frozenset({"centre", "centre_era", "global"})
_APPLIES_TO = ("all", "organ")

#: Columns of the organ-dose frame; optional columns are named by the error sources
#: (``legacy_log_sd``, ``body_size_log_sd``, ``imputation_log_sd``, ``imputation_log_shift``)
#: and ``table_fraction`` (share of the dose delivered through the table, default 1).
REQUIRED_COLUMNS = ("exposure_id", "patient_id", "centre_id", "era", "organ", "dose_gy")
TABLE_SOURCE = "table_transmission"
_CSV = ("dosimetry", "error_sources.csv")
#: Factor tables of at most this many values are drawn once for the whole frame, not per block.
_GLOBAL_VALUES = 2**22


@dataclass(frozen=True)
class ErrorSource:
    """One documented error source (a row of ``error_sources.csv``).

    Exactly one of ``log_sd`` (a fixed log-SD), ``log_sd_column`` (a per-row log-SD column of
    the dose frame) or ``rel_sd_input`` (a per-organ relative SD given to :class:`ErrorModel`,
    turned into ``sqrt(ln(1 + rel_sd**2))``) sets its size. ``shift_column`` names an optional
    per-row log shift of the factor's median (imputed KAP).
    """

    name: str
    applies_to: str
    sharing: str
    distribution: str = "lognormal"
    log_sd: float | None = None
    log_sd_column: str | None = None
    rel_sd_input: str | None = None
    shift_column: str | None = None
    citation: str = ""
    checked_against_source: bool = False

    def __post_init__(self) -> None:
        where = {"source": "error sources", "record": self.name}
        if self.applies_to not in _APPLIES_TO:
            raise InvalidInputError(f"must be one of {_APPLIES_TO}", field="applies_to", **where)
        if self.sharing not in SHARING_LEVELS:
            raise InvalidInputError(f"must be one of {SHARING_LEVELS}", field="sharing", **where)
        if self.distribution != "lognormal":
            raise InvalidInputError("only 'lognormal' is implemented", field="distribution",
                                    **where)  # fmt: skip
        sizes = (self.log_sd, self.log_sd_column, self.rel_sd_input)
        if sum(size is not None for size in sizes) != 1:
            raise InvalidInputError("needs one of log_sd=, log_sd=column:, rel_sd=input:",
                                    field="parameters", **where)  # fmt: skip
        if self.log_sd is not None and not (math.isfinite(self.log_sd) and self.log_sd >= 0):
            raise InvalidInputError(f"log_sd {self.log_sd} must be >= 0", field="parameters",
                                    **where)  # fmt: skip

    @property
    def shared(self) -> bool:
        """Whether the error is shared (centre, centre and era, or global)."""
        return self.sharing in _SHARED

    @classmethod
    def from_row(cls, row: Mapping[str, str], *, source: str) -> ErrorSource:
        """Parse one CSV row; ``parameters`` holds ``key=value`` tokens (see module docs)."""
        name = row.get("source", "").strip()
        values: dict[str, str] = {}
        for token in row.get("parameters", "").split():
            key, _, value = token.partition("=")
            values[key] = value
        unknown = set(values) - {"log_sd", "rel_sd", "shift"}
        where = {"source": source, "record": name, "field": "parameters"}
        if unknown or not values:
            raise InvalidInputError(f"cannot read {row.get('parameters')!r}", **where)
        log_sd = values.get("log_sd", "")
        try:
            fixed = float(log_sd) if log_sd and not log_sd.startswith("column:") else None
        except ValueError as exc:
            raise InvalidInputError(f"log_sd {log_sd!r} is not a number", **where) from exc
        return cls(
            name=name,
            applies_to=row.get("applies_to", "").strip(),
            sharing=row.get("sharing", "").strip(),
            distribution=row.get("distribution", "").strip(),
            log_sd=fixed,
            log_sd_column=log_sd.removeprefix("column:") if log_sd.startswith("column:") else None,
            rel_sd_input=values["rel_sd"].removeprefix("input:") if "rel_sd" in values else None,
            shift_column=values["shift"].removeprefix("column:") if "shift" in values else None,
            citation=row.get("citation", "").strip(),
            checked_against_source=row.get("checked_against_source", "").strip() == "yes",
        )


@dataclass(frozen=True)
class ErrorModel:
    """The error sources of a run, with the per-organ inputs some of them need.

    ``organ_inputs[name][organ]`` is the relative SD that a source with ``rel_sd=input:name``
    takes for ``organ`` (the coefficient tables' relative SD per organ).
    """

    sources: tuple[ErrorSource, ...]
    organ_inputs: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    @classmethod
    def from_csv(cls, path: str | Path | None = None) -> ErrorModel:
        """The documented sources (``doseline/data/dosimetry/error_sources.csv`` by default)."""
        if path is None:
            text = resources.files("doseline.data").joinpath(*_CSV).read_text(encoding="utf-8")
            source = "/".join(("doseline/data", *_CSV))
        else:
            text, source = Path(path).read_text(encoding="utf-8"), str(path)
        rows = list(csv.DictReader(text.splitlines()))
        sources = tuple(ErrorSource.from_row(row, source=source) for row in rows)
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise InvalidInputError("duplicate source names", source=source, field="source")
        return cls(sources)

    def with_coefficient_rel_sd(self, rel_sd: Mapping[str, float]) -> ErrorModel:
        """The model with the coefficient tables' relative SD per organ."""
        return self.with_organ_input("coefficient_rel_sd", rel_sd)

    def with_organ_input(self, name: str, values: Mapping[str, float]) -> ErrorModel:
        """The model with per-organ input ``name`` (relative SDs, >= 0) set to ``values``."""
        for organ, value in values.items():
            if not (math.isfinite(value) and value >= 0):
                raise InvalidInputError(f"relative SD {value} must be >= 0", source=name,
                                        record=f"organ {organ}")  # fmt: skip
        return ErrorModel(self.sources, {**self.organ_inputs, name: dict(values)})

    def only(self, *names: str) -> ErrorModel:
        """The model restricted to the named sources."""
        self._check_names(names)
        return ErrorModel(tuple(s for s in self.sources if s.name in names), self.organ_inputs)

    def without(self, *names: str) -> ErrorModel:
        """The model without the named sources."""
        self._check_names(names)
        return ErrorModel(tuple(s for s in self.sources if s.name not in names), self.organ_inputs)

    def _check_names(self, names: tuple[str, ...]) -> None:
        unknown = set(names) - {s.name for s in self.sources}
        if unknown:
            raise InvalidInputError(f"unknown error source(s) {sorted(unknown)}", field="source")

    def row_log_sd(self, source: ErrorSource, doses: pd.DataFrame) -> F64:
        """Log-SD of ``source`` for every row of a checked dose frame (0 where not applicable)."""
        if source.log_sd is not None:
            return np.full(len(doses), source.log_sd)
        if source.log_sd_column is not None:
            if source.log_sd_column not in doses:
                return np.zeros(len(doses))
            return doses[source.log_sd_column].fillna(0.0).to_numpy(np.float64)
        name = str(source.rel_sd_input)
        given = self.organ_inputs.get(name, {})
        organs = doses["organ"].cat.categories
        missing = [o for o in organs if o not in given]
        if missing:
            raise InvalidInputError(f"no relative SD for organ(s) {', '.join(missing)} "
                                    "(ErrorModel.with_organ_input)", source=name,
                                    field=source.name)  # fmt: skip
        per_organ = np.sqrt(np.log1p(np.array([given[o] for o in organs]) ** 2))
        return np.asarray(per_organ[doses["organ"].cat.codes.to_numpy()], dtype=np.float64)


def _raise_first(
    mask: npt.NDArray[np.bool_], doses: pd.DataFrame, field: str, reason: str, source: str
) -> None:
    if bool(mask.any()):
        row = doses.iloc[int(np.flatnonzero(mask)[0])]
        record = f"exposure {row['exposure_id']} organ {row['organ']}"
        raise InvalidInputError(f"{row[field]!r} {reason}", source=source, record=record,
                                field=field)  # fmt: skip


def check_doses(doses: pd.DataFrame, *, source: str = "organ doses") -> pd.DataFrame:
    """The dose frame checked, sorted by ``exposure_id, organ``, ``organ`` categorical.

    Raises
    ------
    InvalidInputError
        Naming the source, the exposure and organ and the column: a missing column, a
        non-integer ``exposure_id``, a missing identifier, a negative or non-finite dose or
        log-SD, a ``table_fraction`` outside 0-1, a repeated (exposure, organ), or an exposure
        given with two patients, centres or eras.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in doses]
    if missing:
        raise InvalidInputError(f"missing column(s) {', '.join(missing)}", source=source)
    if doses.empty:
        raise InvalidInputError("no organ doses", source=source)
    if not pd.api.types.is_integer_dtype(doses["exposure_id"]):
        raise InvalidInputError("must be integers", source=source, field="exposure_id")
    out = doses.copy()
    for column in ("patient_id", "centre_id", "era", "organ"):
        _raise_first(out[column].isna().to_numpy(), out, column, "is missing", source)
    organ = out["organ"].astype(str)
    out["organ"] = pd.Categorical(organ, categories=sorted(pd.unique(organ)))
    names = [str(c) for c in out.columns]
    numeric = ["dose_gy"] + [c for c in names if c.endswith(("_log_sd", "_log_shift"))]
    for column in [*numeric, *(["table_fraction"] if "table_fraction" in out else [])]:
        values = pd.to_numeric(out[column], errors="coerce")
        bad = (values.isna() & out[column].notna()) | np.isinf(values)
        if not column.endswith("_log_shift"):
            bad |= values < 0
        if column == "dose_gy":
            bad |= values.isna()
        if column == "table_fraction":
            bad |= values > 1
        _raise_first(bad.to_numpy(), out, column, "is not a valid number here", source)
        out[column] = values.astype(np.float64)
    order = np.lexsort((out["organ"].cat.codes.to_numpy(), out["exposure_id"].to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    same = np.r_[False, np.diff(out["exposure_id"].to_numpy()) == 0]
    codes = out["organ"].cat.codes.to_numpy()
    _raise_first(same & (np.r_[-1, codes[:-1]] == codes), out, "organ", "is repeated", source)
    for column in ("patient_id", "centre_id", "era"):
        ids = out[column].to_numpy()
        changed = np.r_[False, ids[1:] != ids[:-1]]
        _raise_first(same & changed, out, column, "differs within one exposure", source)
    return out


# --- counter-based normal draws -------------------------------------------------------------

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_MASK = (1 << 64) - 1


@numba.njit(cache=True, inline="always")
def _mix64(x: np.uint64) -> np.uint64:
    """SplitMix64 finaliser (Steele, Lea & Flood 2014)."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def _mix_int(x: int) -> int:
    """:func:`_mix64` on Python integers (for keys computed once)."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


@numba.njit(cache=True, inline="always")
def _stream_normals(key: np.uint64, salt: np.uint64, out: F64) -> None:
    """Fill ``out`` with standard normals: realisations ``2j`` and ``2j+1`` are the Box-Muller
    pair of outputs ``2j+1`` and ``2j+2`` of the SplitMix64 stream of ``key``."""
    stream = _mix64(salt ^ _mix64(key + _GAMMA))
    scale = 2.0**-53
    for j in range((out.size + 1) // 2):
        step = np.uint64(2 * j + 1)
        x = _mix64(stream + step * _GAMMA)
        y = _mix64(stream + (step + np.uint64(1)) * _GAMMA)
        radius = math.sqrt(-2.0 * math.log((float(x >> _S11) + 1.0) * scale))
        angle = 2.0 * math.pi * float(y >> _S11) * scale
        out[2 * j] = radius * math.cos(angle)
        if 2 * j + 1 < out.size:
            out[2 * j + 1] = radius * math.sin(angle)


@numba.njit(cache=True, parallel=True)
def _normals(keys: U64, salt: np.uint64, n_real: int) -> F64:
    """Standard normals ``(len(keys), n_real)``, one stream per key."""
    out = np.empty((keys.size, n_real))
    for u in numba.prange(keys.size):
        _stream_normals(keys[u], salt, out[u])
    return out


@numba.njit(cache=True, parallel=True)
def _factor_rows(  # noqa: PLR0917
    keys: U64, salt: np.uint64, n_real: int, sigma: F64, centre: F64,
    fraction: F64,
) -> F64:  # fmt: skip
    """Factors ``1 - f_p + f_p exp(sigma_p z_pk + centre_p)``, ``z_p`` the stream of key p."""
    out = np.ones((keys.size, n_real))
    for p in numba.prange(keys.size):
        sd, c, f = sigma[p], centre[p], fraction[p]
        if sd == 0.0 and c == 0.0:
            continue
        row = out[p]
        _stream_normals(keys[p], salt, row)
        for k in range(n_real):
            row[k] = 1.0 - f + f * math.exp(sd * row[k] + c)
    return out


@numba.njit(cache=True)
def _pair_keys(first: U64, second: U64) -> U64:
    out = np.empty(first.size, dtype=np.uint64)
    for i in range(first.size):
        out[i] = _mix64(first[i] + _GAMMA) ^ second[i]
    return out


@numba.njit(cache=True, parallel=True)
def _product(dose: F64, index: I64, factors: F64, out: F32) -> None:
    """``out[r, k] = dose[r] * prod_s factors[index[s, r], k]`` (rows in blocks of 256)."""
    n_rows, n_real = out.shape
    for block in numba.prange((n_rows + 255) // 256):
        acc = np.empty(n_real)
        for r in range(block * 256, min(n_rows, block * 256 + 256)):
            acc[:] = dose[r]
            for s in range(index.shape[0]):
                row = factors[index[s, r]]
                for k in range(n_real):
                    acc[k] *= row[k]
            for k in range(n_real):
                out[r, k] = acc[k]


# --- the engine ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RealisationBlock:
    """Realisations of consecutive rows (sorted by ``exposure_id, organ``).

    ``organ_code`` indexes ``organs`` (sorted names); ``dose_gy`` is rows x K, float32.
    """

    exposure_id: I64
    organ_code: npt.NDArray[np.int32]
    organs: tuple[str, ...]
    central_dose_gy: F64
    dose_gy: F32

    @property
    def organ(self) -> npt.NDArray[np.object_]:
        """Organ name of every row."""
        return np.asarray(self.organs, dtype=object)[self.organ_code]


def _codes_and_keys(values: pd.Series) -> tuple[I64, U64]:
    """Integer codes of ``values`` and a stable 64-bit key per code (the integer itself for
    integer identifiers, a BLAKE2b hash of the text otherwise)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        texts = [str(c) for c in values.cat.categories]
        keys = np.fromiter((_hash64(t) for t in texts), dtype=np.uint64, count=len(texts))
        return values.cat.codes.to_numpy().astype(np.int64), keys
    if pd.api.types.is_integer_dtype(values):
        codes, uniques = pd.factorize(values.to_numpy(np.int64))
        return codes.astype(np.int64), np.asarray(uniques, dtype=np.int64).view(np.uint64)
    text_codes, found = pd.factorize(values.astype(str))
    keys = np.fromiter((_hash64(str(t)) for t in found), dtype=np.uint64, count=len(found))
    return text_codes.astype(np.int64), keys


def _pair(a: tuple[I64, U64], b: tuple[I64, U64]) -> tuple[I64, U64]:
    joint, uniques = pd.factorize(a[0] * np.int64(b[1].size) + b[0])
    pairs = np.asarray(uniques, dtype=np.int64)
    keys = _pair_keys(a[1][pairs // b[1].size], b[1][pairs % b[1].size])
    return joint.astype(np.int64), keys


def _tuple_codes(*columns: I64 | F64) -> I64:
    """Dense codes (0..m-1) of the distinct tuples of ``columns``; the first column holds
    dense codes already, or -1."""
    varying = [c for c in columns if c.size and not np.all(c == c[0])]
    if len(varying) == 1 and varying[0] is columns[0] and columns[0].min() >= 0:
        return columns[0].astype(np.int64)
    code = np.zeros(columns[0].size, dtype=np.int64)
    for column in varying:
        values, found = pd.factorize(column)
        code, _ = pd.factorize(code * np.int64(len(found)) + values)
    return code.astype(np.int64)


@dataclass(frozen=True)
class _Factors:
    """One error source, as factor rows: each frame row points to one (unit, log-SD, table
    share) combination; a combination's K factors come from its unit's normal stream."""

    row_code: I64
    unit_key: U64
    sigma: F64
    centre: F64
    fraction: F64
    salt: np.uint64
    table: F64 | None = None

    def rows(self, codes: I64 | None, n_real: int) -> F64:
        """Factor rows of combinations ``codes`` (all combinations when None)."""
        take = slice(None) if codes is None else codes
        if self.table is not None:
            return self.table[take]
        return _factor_rows(self.unit_key[take], self.salt, n_real, self.sigma[take],
                            self.centre[take], self.fraction[take])  # fmt: skip


def _source_factors(
    source: ErrorSource, sigma: F64, units: tuple[I64, U64], frame: pd.DataFrame, *, salt: int,
    mean_one: bool,
) -> _Factors:  # fmt: skip
    unit_codes = np.where(sigma > 0, units[0], -1)  # rows without the error share one unit
    fraction = np.ones(len(frame))
    if source.name == TABLE_SOURCE and "table_fraction" in frame:
        fraction = frame["table_fraction"].fillna(1.0).to_numpy(np.float64)
    row_code = _tuple_codes(unit_codes, sigma, fraction)
    first = np.zeros(int(row_code.max()) + 1, dtype=np.int64)
    first[row_code[::-1]] = np.arange(row_code.size - 1, -1, -1)  # a row of each combination
    sd, share = sigma[first], fraction[first]
    keys = units[1][np.maximum(unit_codes[first], 0)]
    centre = -0.5 * sd**2 if mean_one else np.zeros(sd.size)
    return _Factors(row_code, keys, sd, centre, share, np.uint64(salt))


def _draw_factors(kap_draws: pd.DataFrame | None, frame: pd.DataFrame, n_real: int) -> _Factors:
    """The given K KAP factors per exposure (a row of ones for exposures without)."""
    table = np.ones((1, n_real))
    row_code = np.zeros(len(frame), dtype=np.int64)
    if kap_draws is not None:
        values = kap_draws.to_numpy(np.float64)
        if values.shape[1] != n_real:
            raise InvalidInputError(f"has {values.shape[1]} columns, expected K = {n_real}",
                                    source="kap_draws")  # fmt: skip
        if not np.all(np.isfinite(values) & (values > 0)):
            raise InvalidInputError("factors must be finite and > 0", source="kap_draws")
        if not kap_draws.index.is_unique:
            raise InvalidInputError("exposure ids must be unique", source="kap_draws")
        table = np.vstack([table, values])
        row_code = kap_draws.index.get_indexer(pd.Index(frame["exposure_id"])).astype(np.int64) + 1
    empty = np.zeros(0)
    return _Factors(row_code, np.zeros(0, np.uint64), empty, empty, empty, np.uint64(0), table)


def _prepare(
    doses: pd.DataFrame, model: ErrorModel, *, seed: int, n_real: int, mean_one: bool,
    kap_draws: pd.DataFrame | None,
) -> tuple[pd.DataFrame, F64, list[_Factors]]:  # fmt: skip
    """The checked frame, the doses with their log shifts applied, and the factor sources."""
    frame = check_doses(doses)
    levels = {
        name: _codes_and_keys(frame[column])
        for name, column in (("centre", "centre_id"), ("patient", "patient_id"),
                             ("exposure", "exposure_id"), ("organ", "organ"))
    }  # fmt: skip
    levels["centre_era"] = _pair(levels["centre"], _codes_and_keys(frame["era"]))
    levels["global"] = (np.zeros(len(frame), np.int64), np.zeros(1, np.uint64))
    seed_key = _mix_int(seed + 0x9E3779B97F4A7C15)
    shift = np.zeros(len(frame))
    sources = []
    for source in model.sources:
        sigma = model.row_log_sd(source, frame)
        if source.shift_column is not None and source.shift_column in frame:
            shift += frame[source.shift_column].fillna(0.0).to_numpy(np.float64)
        if not np.any(sigma > 0):
            continue
        units = levels[source.sharing]
        if source.applies_to == "organ":
            units = _pair(units, levels["organ"])
        salt = _mix_int(seed_key ^ _hash64(source.name))
        factors = _source_factors(source, sigma, units, frame, salt=salt, mean_one=mean_one)
        if factors.sigma.size * n_real <= _GLOBAL_VALUES:  # few combinations: draw once
            factors = replace(factors, table=factors.rows(None, n_real))
        sources.append(factors)
    if kap_draws is not None:
        sources.append(_draw_factors(kap_draws, frame, n_real))
    dose = frame["dose_gy"].to_numpy(np.float64) * np.exp(shift)
    return frame, dose, sources


def iter_realisations(
    doses: pd.DataFrame,
    n_realisations: int,
    *,
    seed: int,
    model: ErrorModel | None = None,
    chunk_rows: int | None = None,
    kap_draws: pd.DataFrame | None = None,
    mean_one: bool = False,
) -> Iterator[RealisationBlock]:
    """K realisations of every organ dose, in blocks of rows sorted by ``exposure_id, organ``.

    Parameters
    ----------
    doses
        Central organ doses, one row per exposure and organ: :data:`REQUIRED_COLUMNS` and the
        optional per-row columns named by the error sources (see :func:`check_doses`). ``era``
        should name the equipment period of the centre (the KAP meter's calibration history),
        not just ``rdsr``/``legacy``.
    n_realisations
        K (>= 1).
    seed
        Non-negative integer below 2**64; with the same seed the realisations are identical.
    model
        The error sources (default: :meth:`ErrorModel.from_csv`, which needs the coefficient
        tables' relative SD per organ, :meth:`ErrorModel.with_coefficient_rel_sd`).
    chunk_rows
        Rows per block (default: about 2**23 values per block). Blocks do not change results.
    kap_draws
        Optional K multiplicative KAP factors per exposure (index ``exposure_id``, K columns),
        e.g. multiple imputations of a missing KAP; used as given, the same for every organ.
    mean_one
        Centre each lognormal factor on arithmetic mean one instead of median one.
    """
    if n_realisations < 1:
        raise InvalidInputError(f"K = {n_realisations} must be >= 1", field="n_realisations")
    if not 0 <= seed < 2**64:
        raise InvalidInputError(f"seed {seed} must be in [0, 2**64)", field="seed")
    k = n_realisations
    model = model or ErrorModel.from_csv()
    frame, dose, sources = _prepare(doses, model, seed=seed, n_real=k, mean_one=mean_one,
                                    kap_draws=kap_draws)  # fmt: skip
    step = chunk_rows or max(1, 2**23 // k)
    organs = tuple(str(c) for c in frame["organ"].cat.categories)
    exposure = frame["exposure_id"].to_numpy(np.int64)
    organ_code = frame["organ"].cat.codes.to_numpy().astype(np.int32)
    central = frame["dose_gy"].to_numpy(np.float64)
    for start in range(0, len(frame), step):
        rows = slice(start, min(start + step, len(frame)))
        n = rows.stop - rows.start
        pieces, index, offset = [np.ones((1, k))], np.zeros((max(len(sources), 1), n), np.int64), 1
        for s, factors in enumerate(sources):
            if factors.table is not None and factors.table.shape[0] <= 4096:
                piece, local = factors.table, factors.row_code[rows]
            else:  # only the combinations of this block
                local, combinations = pd.factorize(factors.row_code[rows])
                piece = factors.rows(np.asarray(combinations, dtype=np.int64), k)
            pieces.append(piece)
            index[s] = local + offset
            offset += piece.shape[0]
        out = np.empty((n, k), dtype=np.float32)
        _product(dose[rows], index, np.concatenate(pieces), out)
        yield RealisationBlock(exposure[rows], organ_code[rows], organs, central[rows], out)


def realise(
    doses: pd.DataFrame,
    n_realisations: int,
    *,
    seed: int,
    model: ErrorModel | None = None,
    chunk_rows: int | None = None,
    kap_draws: pd.DataFrame | None = None,
    mean_one: bool = False,
) -> RealisationBlock:
    """All realisations in one block (for frames that fit in memory; the parameters are those
    of :func:`iter_realisations`)."""
    blocks = list(iter_realisations(doses, n_realisations, seed=seed, model=model,
                                    chunk_rows=chunk_rows, kap_draws=kap_draws,
                                    mean_one=mean_one))  # fmt: skip
    joined = [np.concatenate([getattr(b, name) for b in blocks])
              for name in ("exposure_id", "organ_code", "central_dose_gy", "dose_gy")]  # fmt: skip
    return RealisationBlock(joined[0], joined[1], blocks[0].organs, joined[2], joined[3])
