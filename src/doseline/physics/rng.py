"""Counter-based random numbers: Philox4x32-10, compiled with numba.

Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
SC'11, doi:10.1145/2063384.2063405) maps a 128-bit counter and a 64-bit key to four 32-bit
words. Every history owns its own stream: key = the 64-bit seed, counter =
``(block, history_lo, history_hi, stream)`` with ``block`` counting the draws of that history.
The numbers a history sees depend only on (seed, history index), never on the thread that
runs it, so results are reproducible for any thread count. Known-answer vectors of the
Random123 distribution (``tests/kat_vectors``) are checked in the tests.

A stream state is a ``uint64[8]`` array: ``[block, c1, c2, c3, key0, key1, position, 0]`` plus a
``float64[4]`` buffer of uniforms; :func:`uniform` refills the buffer every fourth draw.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["new_state", "philox4x32", "seed_history", "uniform", "uniforms"]

_MASK32 = np.uint64(0xFFFFFFFF)
_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_SHIFT = np.uint64(32)
_TWO_M32 = 2.0**-32


@numba.njit(cache=True, inline="always")
def _philox_words(  # noqa: PLR0917
    c0: np.uint64, c1: np.uint64, c2: np.uint64, c3: np.uint64, k0: np.uint64, k1: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        n0 = ((p1 >> _SHIFT) ^ c1 ^ k0) & _MASK32
        n1 = p1 & _MASK32
        n2 = ((p0 >> _SHIFT) ^ c3 ^ k1) & _MASK32
        n3 = p0 & _MASK32
        c0, c1, c2, c3 = n0, n1, n2, n3
        k0 = (k0 + _W0) & _MASK32
        k1 = (k1 + _W1) & _MASK32
    return c0, c1, c2, c3


@numba.njit(cache=True)
def philox4x32(
    counter: npt.NDArray[np.uint64], key: npt.NDArray[np.uint64]
) -> npt.NDArray[np.uint64]:
    """Philox4x32-10 of a 4-word counter and a 2-word key (words as uint64 < 2**32)."""
    out = np.empty(4, dtype=np.uint64)
    out[0], out[1], out[2], out[3] = _philox_words(
        counter[0], counter[1], counter[2], counter[3], key[0], key[1]
    )
    return out


@numba.njit(cache=True)
def new_state() -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.float64]]:
    """An empty stream state and uniform buffer (fill with :func:`seed_history`)."""
    return np.zeros(8, dtype=np.uint64), np.zeros(4, dtype=np.float64)


@numba.njit(cache=True, inline="always")
def seed_history(
    state: npt.NDArray[np.uint64], seed: np.uint64, history: np.uint64, stream: np.uint64
) -> None:
    """Point ``state`` at the start of the stream of one history."""
    state[0] = np.uint64(0)
    state[1] = history & _MASK32
    state[2] = (history >> _SHIFT) & _MASK32
    state[3] = stream & _MASK32
    state[4] = seed & _MASK32
    state[5] = (seed >> _SHIFT) & _MASK32
    state[6] = np.uint64(4)


@numba.njit(cache=True, inline="always")
def uniform(state: npt.NDArray[np.uint64], buffer: npt.NDArray[np.float64]) -> float:
    """Next uniform number in the open interval (0, 1) of the stream."""
    if state[6] >= np.uint64(4):
        w0, w1, w2, w3 = _philox_words(state[0], state[1], state[2], state[3], state[4], state[5])
        buffer[0] = (float(w0) + 0.5) * _TWO_M32
        buffer[1] = (float(w1) + 0.5) * _TWO_M32
        buffer[2] = (float(w2) + 0.5) * _TWO_M32
        buffer[3] = (float(w3) + 0.5) * _TWO_M32
        state[0] += np.uint64(1)
        state[6] = np.uint64(0)
    value = buffer[state[6]]
    state[6] += np.uint64(1)
    return float(value)


@numba.njit(cache=True)
def uniforms(seed: np.uint64, history: np.uint64, n: int) -> npt.NDArray[np.float64]:
    """The first ``n`` uniforms of one history's stream (for tests and tools)."""
    state, buffer = new_state()
    seed_history(state, seed, history, np.uint64(0))
    out = np.empty(n)
    for i in range(n):
        out[i] = uniform(state, buffer)
    return out
