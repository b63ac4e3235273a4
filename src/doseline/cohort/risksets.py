"""Risk sets with lagged cumulative dose for Cox-type partial likelihoods.

Construction follows the R package rERR (Moriña Soler & Badia Roca; fbr600/rERR, functions
``f_02_risksets_2`` and ``f_07_exclusion``): the risk set of a case failing at age ``t`` holds the
subjects of the case's stratum with ``entry < t <= exit`` who have at least one exposure at an age
``<= t - lag``; each member carries its cumulative dose from exposures at ages ``<= t - lag``.
An exclusion period moves every entry to ``entry + exclusion`` and drops subjects left with
``entry >= exit``.  Tied failure times give one risk set per case (Breslow's approximation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = ["RiskSets", "build_risk_sets"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: Cap on the number of (case, subject) comparisons held in memory at once.
_CHUNK_PAIRS = 20_000_000


@dataclass(frozen=True)
class RiskSets:
    """Flattened risk sets.

    Attributes
    ----------
    case_subject
        Subject index of each risk set's case.
    member_set, member_subject
        For every (risk set, member) pair: the risk set index and the subject index.
    member_dose
        Lagged cumulative dose of the member at the case's failure time.
    case_position
        Position, in the member arrays, of each risk set's case.
    n_dropped
        Cases whose own record fails the risk-set condition (no exposure before ``t - lag``).
    """

    case_subject: IntArray
    member_set: IntArray
    member_subject: IntArray
    member_dose: FloatArray
    case_position: IntArray
    n_dropped: int

    @property
    def n_sets(self) -> int:
        """Number of risk sets (cases that contribute)."""
        return int(self.case_subject.shape[0])


@njit(cache=True)
def _lagged_dose(
    offsets: IntArray, times: FloatArray, cumulative: FloatArray, subject: IntArray, at: FloatArray
) -> FloatArray:  # pragma: no cover - compiled
    """Cumulative dose of ``subject[m]`` from exposures at times ``<= at[m]`` (binary search)."""
    out = np.zeros(subject.shape[0])
    for m in range(subject.shape[0]):
        lo = offsets[subject[m]]
        hi = offsets[subject[m] + 1]
        first, last = lo, hi
        while first < last:
            middle = (first + last) // 2
            if times[middle] <= at[m]:
                first = middle + 1
            else:
                last = middle
        if first > lo:
            out[m] = cumulative[first - 1]
    return out


def build_risk_sets(
    entry: FloatArray,
    exit_: FloatArray,
    event: npt.NDArray[np.bool_],
    stratum: IntArray,
    *,
    exposure_subject: IntArray,
    exposure_time: FloatArray,
    exposure_dose: FloatArray,
    lag: float,
) -> RiskSets:
    """Build all risk sets (vectorised over subjects, chunked over cases).

    Parameters
    ----------
    entry, exit_, event, stratum
        Per subject (entry already moved by any exclusion period).
    exposure_subject, exposure_time, exposure_dose
        One element per exposure (subject index, age, dose).
    lag
        Exposures count from ``lag`` after they happen.
    """
    n = entry.shape[0]
    order = np.lexsort((exposure_time, exposure_subject))
    subj, times = exposure_subject[order], exposure_time[order]
    cumulative = np.cumsum(exposure_dose[order])
    offsets = np.searchsorted(subj, np.arange(n + 1)).astype(np.intp)
    starts = offsets[:-1]
    # Make the running sum restart at each subject.
    before = np.where(starts > 0, cumulative[np.maximum(starts - 1, 0)], 0.0)
    counts = np.diff(offsets)
    cumulative = cumulative - np.repeat(before, counts)
    first_exposure = np.full(n, np.inf)
    has = counts > 0
    first_exposure[has] = times[starts[has]]

    cases = np.flatnonzero(event)
    cases = cases[np.argsort(exit_[cases], kind="stable")]
    keep_case = first_exposure[cases] <= exit_[cases] - lag
    n_dropped = int(np.count_nonzero(~keep_case))
    cases = cases[keep_case]
    sets, members = [], []
    chunk = max(1, _CHUNK_PAIRS // max(n, 1))
    for begin in range(0, cases.shape[0], chunk):
        block = cases[begin : begin + chunk]
        t = exit_[block][:, None]
        at_risk = (
            (stratum[None, :] == stratum[block][:, None])
            & (entry[None, :] < t)
            & (t <= exit_[None, :])
            & (first_exposure[None, :] <= t - lag)
        )
        set_index, subject_index = np.nonzero(at_risk)
        sets.append(set_index + begin)
        members.append(subject_index)
    member_set = np.concatenate(sets) if sets else np.zeros(0, dtype=np.intp)
    member_subject = np.concatenate(members) if members else np.zeros(0, dtype=np.intp)
    at_time = exit_[cases][member_set] - lag
    member_dose = _lagged_dose(offsets, times, cumulative, member_subject, at_time)
    is_case = member_subject == cases[member_set]
    case_position = np.flatnonzero(is_case)
    return RiskSets(
        case_subject=cases.astype(np.intp),
        member_set=member_set.astype(np.intp),
        member_subject=member_subject.astype(np.intp),
        member_dose=np.asarray(member_dose, dtype=np.float64),
        case_position=case_position.astype(np.intp),
        n_dropped=n_dropped,
    )
