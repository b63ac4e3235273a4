"""PNG of a skin dose map: the phantom surface unfolded, colour bar in mGy.

The surface is cut along the posterior midline and laid flat: the horizontal axis is the arc
length around the body from the anterior midline (positive towards the patient's left), the
vertical axis the distance from the head end (head at the top). Drawn with matplotlib's
object API on an Agg canvas, so no display and no global pyplot state are needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from doseline.dosimetry.fluoro.skin import SkinDoseResult

__all__ = ["plot_skin_map", "save_skin_map_png"]

F64 = npt.NDArray[np.float64]


def _edges(centres: F64) -> F64:
    """Cell edges from sorted cell centres (midpoints, half a spacing beyond the ends)."""
    if centres.size == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate(([2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]))


def plot_skin_map(result: SkinDoseResult, ax: Axes | None = None) -> Axes:
    """Draw the unfolded skin dose map of ``result`` (mGy) on ``ax`` and return ``ax``.

    A new figure on an Agg canvas is made when ``ax`` is None. The PSD cell is marked with a
    cross.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if ax is None:
        figure = Figure(figsize=(8.0, 6.5), layout="constrained")
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
    surface = result.surface
    order = np.argsort(surface.around_mm)
    around_cm = surface.around_mm[order] / 10.0
    along_cm = surface.along_mm / 10.0
    dose_mgy = result.dose_map_gy()[:, order] * 1000.0
    mesh = ax.pcolormesh(_edges(around_cm), _edges(along_cm), dose_mgy, cmap="inferno",
                         vmin=0.0, shading="flat")  # fmt: skip
    colorbar = ax.figure.colorbar(mesh, ax=ax)
    colorbar.set_label("skin dose (mGy)")
    ax.set_ylim(float(along_cm.max()) + 1.0, float(along_cm.min()) - 1.0)
    ax.set_xlabel("around the body from the anterior midline (cm), + towards the patient's left")
    ax.set_ylabel("distance from the head end (cm)")
    quarter = float(np.ptp(around_cm)) / 4.0
    for x, label in ((-2 * quarter, "posterior"), (-quarter, "right"), (0.0, "anterior"),
                     (quarter, "left"), (2 * quarter, "posterior")):  # fmt: skip
        ax.axvline(x, color="0.6", linewidth=0.5)
        ax.text(x, float(along_cm.min()) - 1.0, label, ha="center", va="bottom", fontsize=8)
    if result.psd_cell is not None and result.psd_gy is not None:
        row, col = divmod(result.psd_cell, surface.grid_shape[1])
        ax.plot(surface.around_mm[col] / 10.0, surface.along_mm[row] / 10.0, "x", color="cyan")
        title = f"peak skin dose {result.psd_gy * 1000.0:.2f} mGy"
    else:
        title = "no event could be computed" if result.psd_gy is None else "no skin cell hit"
    ax.set_title(f"{title}\n{surface.name}", fontsize=10)
    return ax


def save_skin_map_png(result: SkinDoseResult, path: Path, *, dpi: int = 120) -> Path:
    """Write :func:`plot_skin_map` of ``result`` to ``path`` as PNG; returns ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.0, 6.5), layout="constrained")
    FigureCanvasAgg(figure)
    plot_skin_map(result, figure.add_subplot())
    figure.savefig(path, format="png", dpi=dpi)
    return path
