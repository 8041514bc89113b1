"""Pictures of attributions: the occlusion explorer's image, patch, heatmap and score bars; one map view."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from . import _bare, _set_image, image_for_display
from .tiles import read_out

PATCH_COLOR = "#00e5ff"
CELL_COLOR = "#ffffff"
ORIGINAL_COLOR = "#9e9e9e"
OCCLUDED_COLOR = "#1f77b4"
TARGET_COLOR = "#d62728"
NOTE_CHARS = 26  # a note across a map panel wraps at this width


def value_at(data: np.ndarray, extent: Sequence[float], x: float, y: float) -> float | None:
    """The value of an image drawn with ``extent`` (left, right, bottom, top) at data point (x, y);
    None outside it or where masked."""
    left, right, bottom, top = extent
    rows, cols = data.shape[:2]
    j = int(np.floor((x - left) / (right - left) * cols))
    i = int(np.floor((y - top) / (bottom - top) * rows))
    if not (0 <= i < rows and 0 <= j < cols) or np.ma.is_masked(data[i, j]):
        return None
    value = float(data[i, j])
    return value if np.isfinite(value) else None


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


def pixel_text(image: np.ndarray, x: float, y: float) -> str:
    """The read-out "x=3, y=5: pixel 0.82" (or its RGB triple) at data point (x, y) of an image drawn
    at pixel centres; "" outside it."""
    col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    if not (0 <= row < image.shape[0] and 0 <= col < image.shape[1]):
        return ""
    value = image[row, col]
    shown = f"{float(value):.3g}" if np.ndim(value) == 0 else "RGB " + ", ".join(f"{v:.2f}" for v in value)
    return f"x={col}, y={row}: pixel {shown}"


class OcclusionView:
    """Left: the image with the occluding patch, the heatmap overlay and its current cell.
    Right: every class score of the original image against the occluded one."""

    def __init__(self, fig: Figure, num_classes: int, class_names: Sequence[str] = (), cmap: str = "inferno"
                 ) -> None:
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
        self.units = "drop in class score"
        self.scale = ScalarMappable(cmap=cmap)  # the colour bar's own: the overlay starts transparent
        self.colorbar = fig.colorbar(self.scale, ax=self.ax_image, fraction=0.05, pad=0.03)
        self.colorbar.ax.tick_params(labelsize="x-small")
        self.colorbar.set_label("drop in class 0 score", fontsize="small")  # room for the label
        self.ax_image.legend(
            handles=[Patch(fill=False, edgecolor=PATCH_COLOR, linewidth=2, label="occluding patch"),
                     Line2D([], [], color=CELL_COLOR, linestyle="--", linewidth=1,
                            label="its heatmap cell (one stride)")],
            loc="upper center", bbox_to_anchor=(0.5, -0.01), fontsize="x-small", facecolor="#4d4d4d",
            framealpha=1.0, edgecolor="none", labelcolor="white", handlelength=1.6)
        self.image.set_mouseover(False)
        self.heat.set_mouseover(False)
        read_out(self.ax_image, self.describe)
        x = np.arange(num_classes)
        self.bars_original = self.ax_bars.bar(x - 0.2, np.zeros(num_classes), 0.4, color=ORIGINAL_COLOR,
                                              label="original")
        self.bars_occluded = self.ax_bars.bar(x + 0.2, np.zeros(num_classes), 0.4, color=OCCLUDED_COLOR,
                                              label="occluded")
        self.ax_bars.set_xticks(x, list(class_names) or None)
        if any(len(name) > 3 for name in class_names):  # words, not digits: slanted so they do not collide
            self.ax_bars.tick_params(axis="x", labelrotation=30)
            for label in self.ax_bars.get_xticklabels():
                label.set_horizontalalignment("right")
                label.set_rotation_mode("anchor")
        self.ax_bars.yaxis.set_major_locator(MaxNLocator(4))
        self.ax_bars.tick_params(labelsize="small")
        self.ax_bars.axhline(0, color="black", linewidth=0.5)
        self.ax_bars.legend(handles=[*self.ax_bars.get_legend_handles_labels()[0],
                                     Patch(fill=False, edgecolor=TARGET_COLOR, linewidth=2,
                                           label="target class")],
                            loc="upper right", fontsize="x-small")
        self.ax_bars.set_title(" ", fontsize="medium")
        self.opacity = 0.5
        freeze_layout(fig)
        self.colorbar.ax.set_visible(False)  # until there is a heatmap

    def set_image(self, image: np.ndarray) -> None:
        """Show a (C, H, W) image and clear the heatmap until the new one arrives."""
        shown = image_for_display(image)
        _set_image(self.ax_image, self.image, shown, autoscale=False)
        lo, hi = (0.0, 1.0) if shown.ndim == 3 else (float(shown.min()), float(shown.max()))
        self.image.set_clim(lo, hi if hi > lo else lo + 1e-6)
        self.clear_heatmap()

    def clear_heatmap(self) -> None:
        """Hide the heatmap overlay, its colour bar and the marked cell (no map yet)."""
        self.heat.set_alpha(0.0)
        self.cell.set_visible(False)
        self.colorbar.ax.set_visible(False)

    def set_heatmap(self, drops: np.ndarray, extent: tuple[float, float, float, float],
                    units: str | None = None) -> None:
        """Overlay the per-position score drops (rows, cols) with the current opacity; ``units`` name
        them on the colour bar and in the pointer read-out ("drop in class 3 score")."""
        self.heat.set_data(drops)
        self.heat.set_extent(extent)
        lo, hi = float(np.ma.min(drops)), float(np.ma.max(drops))
        self.heat.set_clim(lo, hi if hi > lo else lo + 1e-6)
        self.scale.set_clim(self.heat.get_clim())
        if units is not None:
            self.units = units
            self.colorbar.set_label(units, fontsize="small")
        self.colorbar.ax.set_visible(True)
        self.heat.set_alpha(self.opacity)
        h, w = self.image.get_array().shape[:2]
        self.ax_image.set_xlim(-0.5, w - 0.5)
        self.ax_image.set_ylim(h - 0.5, -0.5)

    def set_opacity(self, opacity: float) -> None:
        """The heatmap overlay's opacity, kept for the next map."""
        self.opacity = opacity
        if self.colorbar.ax.get_visible():
            self.heat.set_alpha(opacity)

    def describe(self, x: float, y: float) -> str:
        """The pointer read-out (ipympl's toolbar): the pixel, its value and, once the heatmap is
        there, the drop with the patch centred nearest to it, in its units."""
        text = pixel_text(np.asarray(self.image.get_array()), x, y)
        if not text:
            return ""
        if self.colorbar.ax.get_visible():
            drop = value_at(self.heat.get_array(), self.heat.get_extent(), x, y)
            text += f"; {self.units} {drop:.3g} (patch centred here)" if drop is not None else ""
        return text

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
        fit_title(self.ax_bars, title)


def fit_title(ax: Axes, title: str, fontsize: str = "medium", smallest: float = 7.0) -> None:
    """Set ``ax``'s title, in a smaller font (down to ``smallest`` points) where it would run off the
    figure: a title centred over the axes has room for twice its centre's distance to the nearer edge."""
    text = ax.set_title(title, fontsize=fontsize)
    get_renderer = getattr(ax.figure.canvas, "get_renderer", None)
    if get_renderer is None:
        return
    renderer = get_renderer()
    box = ax.get_window_extent(renderer)
    room = 2 * min(box.x0 + box.width / 2, ax.figure.bbox.width - box.x0 - box.width / 2) - 4
    width = text.get_window_extent(renderer).width
    if width > room > 0:
        text.set_fontsize(max(smallest, text.get_fontsize() * room / width))


class MapView:
    """One attribution map beside the image it explains: a title naming the method, a colour bar
    naming the units, a pointer read-out of the value, and a note when the map says nothing."""

    def __init__(self, fig: Figure, cmap: str = "inferno", signed_cmap: str = "RdBu_r") -> None:
        self.fig = fig
        self.cmaps = (cmap, signed_cmap)
        self.ax_image, self.ax_map = fig.subplots(1, 2)
        self.image = self.ax_image.imshow(np.zeros((2, 2)), cmap="gray")
        self.map = self.ax_map.imshow(np.zeros((2, 2)), cmap=cmap)
        for ax in (self.ax_image, self.ax_map):
            _bare(ax)
        self.colorbar = fig.colorbar(self.map, ax=self.ax_map, fraction=0.05, pad=0.03)
        self.colorbar.ax.tick_params(labelsize="x-small")
        self.units = ""
        self.note = self.ax_map.text(0.5, 0.5, "", transform=self.ax_map.transAxes, ha="center",
                                     va="center", color="white", fontsize="x-small",
                                     bbox={"facecolor": "#333333", "edgecolor": "none", "alpha": 0.85})
        self.note.set_visible(False)
        for im in (self.image, self.map):
            im.set_mouseover(False)
        read_out(self.ax_image, self.describe)
        read_out(self.ax_map, self.describe)

    def update(self, image: np.ndarray, attribution: np.ndarray, title: str, *, units: str = "",
               signed: bool = False, note: str = "") -> np.ndarray:
        """Show a (C, H, W) image and its attribution summed over channels; return the (H, W) map shown.

        ``units`` label the colour bar and the read-out; ``signed`` maps get a diverging colour map
        centred on 0; ``note`` (e.g. why the map is blank) is written across the map.
        """
        shown = image_for_display(image)
        _set_image(self.ax_image, self.image, shown, autoscale=shown.ndim == 2)
        heat = np.asarray(attribution, dtype=np.float32)
        heat = heat.sum(axis=0) if heat.ndim == 3 else heat
        _set_image(self.ax_map, self.map, heat)
        self.map.set_cmap(self.cmaps[signed])
        if signed:
            top = float(np.abs(heat).max()) or 1.0
            self.map.set_clim(-top, top)
        self.units = units
        self.colorbar.set_label(units, fontsize="x-small")
        self.note.set_text(textwrap.fill(note, NOTE_CHARS))
        self.note.set_visible(bool(note))
        self.ax_map.set_title(title, fontsize="medium")
        return heat

    def describe(self, x: float, y: float) -> str:
        """The pointer read-out: the pixel and the map's value there, in its units."""
        heat = np.asarray(self.map.get_array())
        text = pixel_text(np.asarray(self.image.get_array()), x, y)
        value = value_at(heat, self.map.get_extent(), x, y)
        return f"{text}; {self.units or 'value'} {value:.3g}" if text and value is not None else text
