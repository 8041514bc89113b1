"""Pictures of attributions: the occlusion explorer's image, patch, heatmap and score bars; one map view."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from . import _bare, _set_image, image_for_display

PATCH_COLOR = "#00e5ff"
CELL_COLOR = "#ffffff"
ORIGINAL_COLOR = "#9e9e9e"
OCCLUDED_COLOR = "#1f77b4"
TARGET_COLOR = "#d62728"


def heatmap_extent(
    rows: Sequence[int], cols: Sequence[int], window: tuple[int, int], stride: tuple[int, int]
) -> tuple[float, float, float, float]:
    """The imshow extent placing drop (i, j) as a stride-sized cell centred on its window's centre."""
    cy0, cy1 = rows[0] + window[0] / 2 - 0.5, rows[-1] + window[0] / 2 - 0.5
    cx0, cx1 = cols[0] + window[1] / 2 - 0.5, cols[-1] + window[1] / 2 - 0.5
    return (cx0 - stride[1] / 2, cx1 + stride[1] / 2, cy1 + stride[0] / 2, cy0 - stride[0] / 2)


def freeze_layout(fig: Figure) -> None:
    """Lay the axes out once and keep them there: a constrained layout per frame costs more than
    the rest of the drawing, and would make the live readout lag."""
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
        fig.set_layout_engine("none")


class OcclusionView:
    """Left: the image with the occluding patch, the heatmap overlay and its current cell.
    Right: every class score of the original image against the occluded one."""

    def __init__(self, fig: Figure, num_classes: int, cmap: str = "inferno") -> None:
        self.fig = fig
        self.ax_image, self.ax_bars = fig.subplots(1, 2, width_ratios=(1, 1.25))
        self.image = self.ax_image.imshow(np.zeros((2, 2)), cmap="gray", vmin=0, vmax=1,
                                          interpolation="nearest")
        self.heat = self.ax_image.imshow(np.zeros((1, 1)), cmap=cmap, alpha=0.0, interpolation="nearest")
        self.patch = Rectangle((0, 0), 1, 1, fill=False, edgecolor=PATCH_COLOR, linewidth=2)
        self.cell = Rectangle((0, 0), 1, 1, fill=False, edgecolor=CELL_COLOR, linewidth=1, linestyle="--")
        self.cell.set_visible(False)
        self.ax_image.add_patch(self.patch)
        self.ax_image.add_patch(self.cell)
        _bare(self.ax_image)
        x = np.arange(num_classes)
        self.bars_original = self.ax_bars.bar(x - 0.2, np.zeros(num_classes), 0.4, color=ORIGINAL_COLOR,
                                              label="original")
        self.bars_occluded = self.ax_bars.bar(x + 0.2, np.zeros(num_classes), 0.4, color=OCCLUDED_COLOR,
                                              label="occluded")
        self.ax_bars.set_xticks(x)
        self.ax_bars.yaxis.set_major_locator(MaxNLocator(4))
        self.ax_bars.tick_params(labelsize="small")
        self.ax_bars.axhline(0, color="black", linewidth=0.5)
        self.ax_bars.legend(loc="upper right", fontsize="small")
        self.ax_bars.set_title(" ", fontsize="medium")
        self.opacity = 0.5
        freeze_layout(fig)

    def set_image(self, image: np.ndarray) -> None:
        """Show a (C, H, W) image and clear the heatmap until the new one arrives."""
        shown = image_for_display(image)
        _set_image(self.ax_image, self.image, shown, autoscale=False)
        lo, hi = (0.0, 1.0) if shown.ndim == 3 else (float(shown.min()), float(shown.max()))
        self.image.set_clim(lo, hi if hi > lo else lo + 1e-6)
        self.clear_heatmap()

    def clear_heatmap(self) -> None:
        """Hide the heatmap overlay and the marked cell (no map yet)."""
        self.heat.set_alpha(0.0)
        self.cell.set_visible(False)

    def set_heatmap(self, drops: np.ndarray, extent: tuple[float, float, float, float]) -> None:
        """Overlay the per-position score drops (rows, cols) with the current opacity."""
        self.heat.set_data(drops)
        self.heat.set_extent(extent)
        lo, hi = float(drops.min()), float(drops.max())
        self.heat.set_clim(lo, hi if hi > lo else lo + 1e-6)
        self.heat.set_alpha(self.opacity)
        h, w = self.image.get_array().shape[:2]
        self.ax_image.set_xlim(-0.5, w - 0.5)
        self.ax_image.set_ylim(h - 0.5, -0.5)

    def set_opacity(self, opacity: float) -> None:
        """The heatmap overlay's opacity, kept for the next map."""
        self.opacity = opacity
        if self.cell.get_visible():
            self.heat.set_alpha(opacity)

    def set_patch(self, top: int, left: int, window: tuple[int, int]) -> None:
        """Move the occluding patch's outline to (top, left)."""
        self.patch.set_xy((left - 0.5, top - 0.5))
        self.patch.set_width(window[1])
        self.patch.set_height(window[0])

    def set_cell(self, centre: tuple[float, float] | None, stride: tuple[int, int]) -> None:
        """Outline the heatmap cell of the current patch (centre in pixels), or hide it."""
        if centre is None:
            self.cell.set_visible(False)
            return
        self.cell.set_xy((centre[1] - stride[1] / 2, centre[0] - stride[0] / 2))
        self.cell.set_width(stride[1])
        self.cell.set_height(stride[0])
        self.cell.set_visible(True)

    def set_scores(self, original: np.ndarray, occluded: np.ndarray, target: int, title: str) -> None:
        """Bar heights for every class; the target's bars outlined; limits fitted to both."""
        for k, (a, b) in enumerate(zip(self.bars_original, self.bars_occluded, strict=True)):
            a.set_height(float(original[k]))
            b.set_height(float(occluded[k]))
            edge = TARGET_COLOR if k == target else "none"
            a.set_edgecolor(edge)
            b.set_edgecolor(edge)
            a.set_linewidth(2 if k == target else 0)
            b.set_linewidth(2 if k == target else 0)
        lo = min(0.0, float(original.min()), float(occluded.min()))
        hi = max(0.0, float(original.max()), float(occluded.max()))
        pad = 0.08 * (hi - lo or 1.0)
        self.ax_bars.set_ylim(lo - pad, hi + pad)
        self.ax_bars.set_title(title, fontsize="medium")


class MapView:
    """One attribution map beside the image it explains, with a title naming the method."""

    def __init__(self, fig: Figure, cmap: str = "inferno") -> None:
        self.fig = fig
        self.ax_image, self.ax_map = fig.subplots(1, 2)
        self.image = self.ax_image.imshow(np.zeros((2, 2)), cmap="gray")
        self.map = self.ax_map.imshow(np.zeros((2, 2)), cmap=cmap)
        for ax in (self.ax_image, self.ax_map):
            _bare(ax)

    def update(self, image: np.ndarray, attribution: np.ndarray, title: str) -> np.ndarray:
        """Show a (C, H, W) image and its attribution summed over channels; return the (H, W) map shown."""
        shown = image_for_display(image)
        _set_image(self.ax_image, self.image, shown, autoscale=shown.ndim == 2)
        heat = np.asarray(attribution, dtype=np.float32)
        heat = heat.sum(axis=0) if heat.ndim == 3 else heat
        _set_image(self.ax_map, self.map, heat)
        self.ax_map.set_title(title, fontsize="medium")
        return heat
