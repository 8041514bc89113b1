"""What a mosaic of tiles (filters, channel maps) says beside its pixels: the number of each tile,
and the value under the pointer read back from the maps themselves, not from the scaled picture."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.text import Annotation

from .grid import grid_cell

MAX_NUMBERED = 144
"""Mosaics of up to this many tiles number every tile; larger ones number the first tile of each row."""

_OUTLINE = [patheffects.withStroke(linewidth=1.6, foreground="black")]


def read_out(ax: Axes, describe: Callable[[float, float], str]) -> None:
    """Let ``describe(x, y)`` say what is under the pointer in ``ax`` (ipympl's toolbar shows it)."""
    ax.format_coord = describe  # type: ignore[method-assign, assignment]  # matplotlib's own hook


class TileNumbers:
    """Numbers in the top-left corner of each tile of a mosaic drawn in ``ax`` (white on a black
    outline, legible on any tile)."""

    def __init__(self, ax: Axes, fontsize: float = 6.0) -> None:
        self.ax = ax
        self.fontsize = fontsize
        self.texts: list[Annotation] = []

    def update(self, n: int, h: int, w: int, ncols: int, pad: int = 1) -> None:
        """Number the ``n`` tiles of (h, w) pixels, ``ncols`` a row, ``pad`` pixels apart."""
        for text in self.texts:
            text.remove()
        self.texts = []
        for k in range(n):
            row, col = divmod(k, ncols)
            if n > MAX_NUMBERED and col:
                continue
            corner = (col * (w + pad) - 0.5, row * (h + pad) - 0.5)
            self.texts.append(self.ax.annotate(
                str(k), corner, xytext=(1.0, -1.0), textcoords="offset points", ha="left", va="top",
                fontsize=self.fontsize, color="white", path_effects=_OUTLINE, annotation_clip=False))


def tile_readout(
    maps: np.ndarray, x: float, y: float, ncols: int, *, what: str, value: str, pad: int = 1
) -> str:
    """The pointer read-out over a mosaic of ``maps`` (N, h, w): "channel 12 (y=3, x=5): activation
    1.23"; "" on the padding or past the last tile. ``what`` names a tile ("channel", "filter"),
    ``value`` its values ("activation", "weight")."""
    n, h, w = maps.shape[:3]
    index = grid_cell(y, x, h, w, ncols, pad, n_channels=n)
    if index is None:
        return ""
    row, col = divmod(index, ncols)
    i = int(np.floor(y + 0.5)) - row * (h + pad)
    j = int(np.floor(x + 0.5)) - col * (w + pad)
    there = maps[index, i, j]
    shown = f"{float(there):.3g}" if np.ndim(there) == 0 else "RGB " + ", ".join(f"{v:.3g}" for v in there)
    return f"{what} {index} (y={i}, x={j}): {value} {shown}"
