"""`LatentView`: what an autoencoder decodes from points of its latent space, in three layouts: one
point moved along the main directions (beside the nearest training image and the training codes in
the first two directions), a grid of codes sampled from the fitted distribution, and a line between
two images' codes; codes far from every training code are framed in red."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from . import DEAD_COLOR, SELECTED_COLOR, _bare, image_for_display

FAR_COLOR = DEAD_COLOR
SAMPLE_COLUMNS = 8


def _picture(ax: Axes, image: np.ndarray, title: str, *, far: bool = False, fontsize: float = 7) -> None:
    """One decoded or data image in [0, 1], titled, framed in red when its code lies far."""
    _bare(ax)
    ax.imshow(image_for_display(image), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=fontsize, color=FAR_COLOR if far else "black")
    if far:
        h, w = np.asarray(image).shape[-2:]
        ax.add_patch(Rectangle((-0.5, -0.5), w, h, fill=False, edgecolor=FAR_COLOR, linewidth=3))


def _far_legend(fig: Figure, threshold: float, quantile: float, shown: bool) -> None:
    """What a red frame means, under the pictures, when one is ``shown`` (no key for a mark not drawn)."""
    if not shown:
        return
    handle = Line2D([], [], color=FAR_COLOR, lw=3)
    fig.legend([handle], [f"far: its code is farther from every training code than {quantile:.0%} of "
                          f"training codes are from their nearest one (distance > {threshold:.1f})"],
               loc="lower center", fontsize=7, frameon=False)


def _tiles(fig: Figure, rows: int, cols: int, *, top: float, hspace: float, wspace: float = 0.1
           ) -> list[list[Axes]]:
    """Rows of square tile axes as wide as the figure allows, hanging from ``top`` (figure fraction):
    ``hspace`` and ``wspace`` are the gaps in tile sizes (room for the titles)."""
    left, right = 0.02, 0.98
    width_in, height_in = fig.get_size_inches()
    tile_in = min(width_in * (right - left) / (cols + wspace * (cols - 1)),
                  height_in * (top - 0.1) / (rows + hspace * (rows - 1)))
    w, h = tile_in / width_in, tile_in / height_in
    x0 = 0.5 - (cols * w + (cols - 1) * wspace * w) / 2
    return [[fig.add_axes((x0 + c * w * (1 + wspace), top - h - r * h * (1 + hspace), w, h))
             for c in range(cols)] for r in range(rows)]


class LatentView:
    """The figure of a `LatentExplorer`; each ``show_*`` lays the figure out anew for its mode."""

    def __init__(self, fig: Figure) -> None:
        self.fig = fig
        fig.set_layout_engine("none")  # tiles are placed by hand, to stay square with no gaps
        self.mode = ""
        self.ax_decoded: Axes | None = None
        self.ax_scatter: Axes | None = None

    def _start(self, mode: str) -> None:
        self.fig.clear()
        self.mode = mode
        self.ax_decoded = self.ax_scatter = None

    def show_point(self, decoded: np.ndarray, nearest: np.ndarray, nearest_title: str, distance: float,
                   far: bool, codes_2d: np.ndarray, labels: np.ndarray | None, point_2d: np.ndarray,
                   steps: Sequence[float], threshold: float, quantile: float) -> None:
        """The code at ``steps`` (standard deviations along directions 1, 2, ...) decoded, the training
        image whose code is nearest, and every training code in directions 1 and 2 with the point."""
        self._start("directions")
        grid = self.fig.add_gridspec(1, 3, width_ratios=(1, 1, 1.4), bottom=0.24, top=0.86, wspace=0.25)
        self.ax_decoded = self.fig.add_subplot(grid[0])
        shown = ", ".join(f"{s:+.1f}" for s in steps)
        _picture(self.ax_decoded, decoded, f"decoded at ({shown}) s.d.", far=far, fontsize=8)
        _picture(self.fig.add_subplot(grid[1]), nearest, f"{nearest_title}\nnearest training code, "
                 f"distance {distance:.1f}", fontsize=8)
        ax = self.fig.add_subplot(grid[2])
        colours = labels if labels is not None else np.zeros(len(codes_2d))
        points = ax.scatter(codes_2d[:, 0], codes_2d[:, 1], c=colours, cmap="tab10", vmin=-0.5, vmax=9.5,
                            s=3, alpha=0.6, linewidths=0)
        if labels is not None:  # the colour key: one step per label
            key = self.fig.colorbar(points, ax=ax, ticks=range(10), fraction=0.06, pad=0.03, aspect=25)
            if key.solids is not None:
                key.solids.set_alpha(1.0)  # the key at full colour, the points see-through
            key.set_label("label", fontsize=7)
            key.ax.tick_params(labelsize=6, length=0)
        ax.scatter([point_2d[0]], [point_2d[1]], s=110, marker="*",
                   color=FAR_COLOR if far else SELECTED_COLOR, edgecolors="black", linewidths=0.8, zorder=3,
                   label="the decoded code")
        ax.set_xlabel("direction 1 (s.d.)", fontsize=7)
        ax.set_ylabel("direction 2 (s.d.)", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_title("training codes" + (" (colour: label)" if labels is not None else ""), fontsize=8)
        ax.legend(fontsize=6, loc="upper right")
        self.ax_scatter = ax
        _far_legend(self.fig, threshold, quantile, bool(far))

    def show_samples(self, images: np.ndarray, distances: np.ndarray, far: np.ndarray, threshold: float,
                     quantile: float, seed: int) -> None:
        """Codes sampled from the fitted normal distribution, decoded, each titled with its distance
        to the nearest training code."""
        self._start("samples")
        n = len(images)
        rows = -(-n // SAMPLE_COLUMNS)
        grid = _tiles(self.fig, rows, SAMPLE_COLUMNS, top=0.86, hspace=0.3)
        for k in range(n):
            ax = grid[k // SAMPLE_COLUMNS][k % SAMPLE_COLUMNS]
            _picture(ax, images[k], f"#{k + 1}  d={distances[k]:.1f}", far=bool(far[k]))
        for ax in [a for row in grid for a in row][n:]:
            ax.remove()
        self.fig.suptitle(f"{n} codes drawn from the normal distribution fitted to the training codes "
                          f"(seed {seed}): {int(np.sum(far))} far", fontsize=9)
        _far_legend(self.fig, threshold, quantile, bool(np.any(far)))

    def show_line(self, ends: tuple[np.ndarray, np.ndarray], end_titles: tuple[str, str], decoded: np.ndarray,
                  nearest: np.ndarray, distances: np.ndarray, far: np.ndarray, threshold: float,
                  quantile: float) -> None:
        """Two images, then the codes on the line between theirs decoded (top) and, under each, the
        training image whose code is nearest (bottom)."""
        self._start("line")
        steps = len(decoded)
        grid = _tiles(self.fig, 2, steps + 2, top=0.84, hspace=0.3)
        _picture(grid[0][0], ends[0], f"A: {end_titles[0]}")
        _picture(grid[0][steps + 1], ends[1], f"B: {end_titles[1]}")
        for ax in (grid[1][0], grid[1][steps + 1]):
            ax.remove()
        for k in range(steps):
            t = k / (steps - 1)
            _picture(grid[0][k + 1], decoded[k], f"{t:.2f}  d={distances[k]:.1f}",
                     far=bool(far[k]))
            below = grid[1][k + 1]
            _picture(below, nearest[k], "")
            if k == 0:
                below.set_title("below each: the training image with the nearest code", loc="left",
                                fontsize=7)
        self.fig.suptitle("decoded along the line from A's code (0) to B's (1); d: distance to the "
                          "nearest training code", fontsize=9)
        _far_legend(self.fig, threshold, quantile, bool(np.any(far)))
