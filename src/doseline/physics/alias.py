"""Walker's alias method (Vose's construction) for sampling a discrete distribution.

Walker, ACM TOMS 3 (1977) 253-256; Vose, IEEE Trans. Softw. Eng. 17 (1991) 972-975.
Zero-weight bins are excluded from the table before it is built, so they can never be drawn,
neither as a column nor as an alias: a published organ-dose tool fixed zero-weight spectrum
bins being sampled, which could over-estimate low-energy doses (NCIRF version history, 2026).
Sampling costs two uniforms and no search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["AliasTable", "alias_draw", "build_alias_table"]


@dataclass(frozen=True)
class AliasTable:
    """Alias table over the positive-weight bins of a distribution.

    ``bins[j]`` is the original bin index of column j; a draw picks column ``j`` uniformly and
    keeps it with probability ``threshold[j]``, else takes ``alias[j]`` (a column index).
    """

    bins: npt.NDArray[np.int64]
    threshold: npt.NDArray[np.float64]
    alias: npt.NDArray[np.int64]
    n_bins: int

    def sample(self, u_column: npt.ArrayLike, u_accept: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Original bin indices for arrays of uniforms in (0, 1) (vectorised)."""
        uc = np.asarray(u_column, dtype=np.float64)
        ua = np.asarray(u_accept, dtype=np.float64)
        column = np.minimum((uc * self.bins.size).astype(np.int64), self.bins.size - 1)
        chosen = np.where(ua < self.threshold[column], column, self.alias[column])
        result: npt.NDArray[np.int64] = self.bins[chosen]
        return result


def build_alias_table(weights: npt.ArrayLike) -> AliasTable:
    """Build the alias table of non-negative ``weights`` (at least one positive).

    Raises
    ------
    ValueError
        If a weight is negative or not finite, or all weights are zero.
    """
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    bins = np.flatnonzero(w > 0)
    if bins.size == 0:
        raise ValueError("at least one weight must be positive")
    scaled = w[bins] * (bins.size / w[bins].sum())
    threshold = np.ones(bins.size)
    alias = np.arange(bins.size, dtype=np.int64)
    small = [int(i) for i in np.flatnonzero(scaled < 1.0)]
    large = [int(i) for i in np.flatnonzero(scaled >= 1.0)]
    while small and large:
        s = small.pop()
        g = large.pop()
        threshold[s] = scaled[s]
        alias[s] = g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    # Leftovers are 1 up to rounding: keep them with certainty (all are positive-weight bins).
    return AliasTable(bins=bins.astype(np.int64), threshold=threshold, alias=alias, n_bins=w.size)


@numba.njit(cache=True, inline="always")
def alias_draw(
    bins: npt.NDArray[np.int64],
    threshold: npt.NDArray[np.float64],
    alias: npt.NDArray[np.int64],
    u_column: float,
    u_accept: float,
) -> int:
    """One draw (numba): original bin index from two uniforms in (0, 1)."""
    n = bins.size
    column = int(u_column * n)
    if column >= n:
        column = n - 1
    if u_accept >= threshold[column]:
        column = alias[column]
    return int(bins[column])
