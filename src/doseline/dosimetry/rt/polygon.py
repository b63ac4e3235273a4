"""Compiled kernel of the DVH: even-odd scan-line filling of contours on a supersampled lattice.

Contours arrive in continuous dose-grid index coordinates (``u`` = column, ``v`` = row, voxel
centres at integers). The in-plane lattice with ``n`` points per voxel side has points at
``u_m = (m + 0.5) / n - 0.5`` for integer ``m`` (and the same in ``v``): for ``n = 1`` these are
the voxel centres, as in dicompyler-core; for larger ``n``, the centres of ``n x n`` equal
sub-pixels. For each lattice row the crossings of all edges of all contours of the plane are
sorted; a lattice point is inside when an odd number of crossings lies at or left of it (the
even-odd rule, so holes and several contours per plane need no special case; Foley, van Dam,
Feiner & Hughes, *Computer Graphics*, 2nd ed., section 3.6 "Filling polygons"). An edge takes
part in a row when exactly one of its end points lies at or above the row (half-open rule),
so a vertex on the row is counted once.

Dose at each inside point is interpolated trilinearly between voxel centres (clamped at the
grid's outer centres, i.e. constant within the outer half voxel), and accumulated into a
histogram, a dose-volume sum and min/max, without storing the points.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["accumulate_roi"]


@numba.njit(cache=True)
def _bilinear(  # noqa: PLR0917 (numba kernels take positional arguments)
    dose: NDArray[np.float64], k: int, r0: int, c0: int, fv: float, fu: float
) -> float:
    nr, nc = dose.shape[1], dose.shape[2]
    r1 = min(r0 + 1, nr - 1)
    c1 = min(c0 + 1, nc - 1)
    a = dose[k, r0, c0] * (1 - fu) + dose[k, r0, c1] * fu
    b = dose[k, r1, c0] * (1 - fu) + dose[k, r1, c1] * fu
    value: float = a * (1 - fv) + b * fv
    return value


@numba.njit(cache=True)
def _plane_frames(  # noqa: PLR0917 (numba kernels take positional arguments)
    sub_w: NDArray[np.float64],
    nf: int,
    slab_k: NDArray[np.int64],
    slab_f: NDArray[np.float64],
    slab_in: NDArray[np.bool_],
    needed: NDArray[np.bool_],
) -> tuple[int, int]:
    """Lower frame and weight of each sub-slab; marks the frames a point's dose needs.

    Returns the first needed frame (``needed`` is indexed from it) and the number of frames
    from it to the last needed one; (-1, 0) when no sub-slab lies within the grid's frames.
    """
    first = nf
    last = -1
    for s in range(sub_w.size):
        w = sub_w[s]
        slab_in[s] = -0.5 <= w <= nf - 0.5
        wc = min(max(w, 0.0), nf - 1.0)
        slab_k[s] = min(int(wc), nf - 1)
        slab_f[s] = wc - slab_k[s]
        if slab_in[s]:
            first = min(first, slab_k[s])
            last = max(last, min(slab_k[s] + 1, nf - 1))
    needed[:] = False
    if last < 0:
        return -1, 0
    for s in range(sub_w.size):
        if slab_in[s]:
            needed[slab_k[s] - first] = True
            needed[min(slab_k[s] + 1, nf - 1) - first] = True
    return first, last - first + 1


@numba.njit(cache=True)
def _row_crossings(
    u: NDArray[np.float64],
    v: NDArray[np.float64],
    contour_start: NDArray[np.int64],
    y: float,
    crossings: NDArray[np.float64],
) -> int:
    """Write the ``u`` where the edges of the contours cross the row ``v = y`` into
    ``crossings`` and return their number (half-open rule: a vertex on the row counts once).

    ``contour_start`` holds the first vertex of each contour of the plane, then the end.
    """
    count = 0
    for c in range(contour_start.size - 1):
        start = contour_start[c]
        stop = contour_start[c + 1]
        for i in range(start, stop):
            j = i + 1 if i + 1 < stop else start
            if (v[i] <= y) != (v[j] <= y):
                crossings[count] = u[i] + (y - v[i]) * (u[j] - u[i]) / (v[j] - v[i])
                count += 1
    return count


@numba.njit(cache=True)
def accumulate_roi(  # noqa: PLR0917 (numba kernels take positional arguments)
    dose: NDArray[np.float64],
    u: NDArray[np.float64],
    v: NDArray[np.float64],
    contour_start: NDArray[np.int64],
    plane_start: NDArray[np.int64],
    sub_w: NDArray[np.float64],
    sample_mm3: NDArray[np.float64],
    supersample: int,
    bin_width: float,
    histogram: NDArray[np.float64],
) -> tuple[float, float, float, float, float]:
    """Fill the contours of one ROI and accumulate its dose-volume histogram.

    Parameters
    ----------
    dose
        ``(frames, rows, columns)`` dose grid.
    u, v
        Vertex coordinates (column, row index units) of all contours, concatenated.
    contour_start
        Contour ``c`` has vertices ``contour_start[c]:contour_start[c + 1]``.
    plane_start
        Plane ``p`` has contours ``plane_start[p]:plane_start[p + 1]``.
    sub_w
        ``(planes, m)`` frame-index coordinate of each of the ``m`` sub-slabs of each plane.
    sample_mm3
        Volume of one lattice point of one sub-slab of each plane.
    supersample
        Lattice points per voxel side in plane.
    bin_width
        Histogram bin width (dose units); the last bin takes everything above.
    histogram
        Covered volume (mm3) per dose bin, accumulated in place.

    Returns
    -------
    tuple
        (total volume mm3, covered volume mm3, dose x volume sum, min dose, max dose) over the
        covered points; min and max are NaN when nothing is covered.
    """
    nf, nr, nc = dose.shape
    n_bins = histogram.size
    n = supersample
    total = 0.0
    covered = 0.0
    dose_volume = 0.0
    lowest = math.inf
    highest = -math.inf
    crossings = np.empty(u.size, dtype=np.float64)
    n_sub = sub_w.shape[1]
    slab_k = np.empty(n_sub, dtype=np.int64)
    slab_f = np.empty(n_sub, dtype=np.float64)
    slab_in = np.empty(n_sub, dtype=np.bool_)
    needed = np.zeros(nf, dtype=np.bool_)
    frame_dose = np.empty(nf, dtype=np.float64)
    for p in range(plane_start.size - 1):
        first = contour_start[plane_start[p]]
        last = contour_start[plane_start[p + 1]]
        if last <= first:
            continue
        first_frame, span = _plane_frames(sub_w[p], nf, slab_k, slab_f, slab_in, needed)
        plane_contours = contour_start[plane_start[p] : plane_start[p + 1] + 1]
        points_in_plane = 0  # integer counts: exact volumes whatever the summation order
        samples_covered = 0
        v_low = v[first:last].min()
        v_high = v[first:last].max()
        m_low = math.ceil((v_low + 0.5) * n - 0.5)
        m_high = math.floor((v_high + 0.5) * n - 0.5)
        for mv in range(m_low, m_high + 1):
            y = (mv + 0.5) / n - 0.5
            count = _row_crossings(u, v, plane_contours, y, crossings)
            if count < 2:
                continue
            row_sorted = np.sort(crossings[:count])
            row_covered = 0 <= mv < nr * n
            yc = min(max(y, 0.0), nr - 1.0)
            r0 = min(int(yc), nr - 1)
            fv = yc - r0
            weight = sample_mm3[p]
            for k in range(0, count - 1, 2):
                m_start = math.ceil((row_sorted[k] + 0.5) * n - 0.5)
                m_stop = math.ceil((row_sorted[k + 1] + 0.5) * n - 0.5)
                for mu in range(m_start, m_stop):
                    points_in_plane += 1
                    if not (row_covered and 0 <= mu < nc * n) or first_frame < 0:
                        continue
                    x = (mu + 0.5) / n - 0.5
                    xc = min(max(x, 0.0), nc - 1.0)
                    c0 = min(int(xc), nc - 1)
                    fu = xc - c0
                    for f in range(span):
                        if needed[f]:
                            frame_dose[f] = _bilinear(dose, first_frame + f, r0, c0, fv, fu)
                    for s in range(n_sub):
                        if not slab_in[s]:
                            continue
                        low = slab_k[s] - first_frame
                        high = min(slab_k[s] + 1, nf - 1) - first_frame
                        value = frame_dose[low] * (1 - slab_f[s]) + frame_dose[high] * slab_f[s]
                        samples_covered += 1
                        dose_volume += value * weight
                        lowest = min(lowest, value)
                        highest = max(highest, value)
                        index = min(max(int(value / bin_width), 0), n_bins - 1)
                        histogram[index] += weight
        total += points_in_plane * n_sub * sample_mm3[p]
        covered += samples_covered * sample_mm3[p]
    if covered == 0.0:
        lowest = math.nan
        highest = math.nan
    return total, covered, dose_volume, lowest, highest
