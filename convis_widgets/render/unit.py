"""`UnitView`: every picture of one channel on one figure: its optimised pattern, its filter, its
map and Grad-CAM on the current image, and its top-k patches with their receptive-field boxes."""

from __future__ import annotations

import math
import textwrap

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from . import SELECTED_COLOR, _bare, _cmap, _set_image, image_for_display
from .grid import channel_grid, grid_cell, grid_shape
from .legends import legend_of_shown

CLIPPED_COLOR = "#1f77b4"  # a field cut by the image border: drawn dashed in this colour
PAD = 1
TITLE_SIZE = 8
CHAR_WIDTH = 0.6  # a DejaVu Sans character's mean width, in units of the font size


def tile(images: np.ndarray, ncols: int, pad: int = PAD) -> np.ndarray:
    """(K, H, W) grey or (K, H, W, 3) RGB pictures tiled row-major into one mosaic; the padding is
    NaN (grey pictures, drawn in the colormap's 'bad' colour) or white (RGB)."""
    k, h, w = images.shape[:3]
    rows = math.ceil(k / ncols)
    shape = (rows * (h + pad) - pad, ncols * (w + pad) - pad, *images.shape[3:])
    out = np.full(shape, np.nan if images.ndim == 3 else 1.0, dtype=np.float32)
    for i in range(k):
        r, c = divmod(i, ncols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = images[i]
    return out


def box_segments(boxes: np.ndarray, h: int, w: int, ncols: int, pad: int = PAD) -> np.ndarray:
    """Outlines of (top, left, bottom, right) boxes (bottom/right exclusive), box i drawn on tile i
    of a mosaic of (h, w) tiles, as line segments in image coordinates; a NaN row draws none."""
    segments = []
    for i, (top, left, bottom, right) in enumerate(np.asarray(boxes, dtype=float)):
        if np.isnan(top):
            continue
        r, c = divmod(i, ncols)
        y0, x0 = r * (h + pad) + top - 0.5, c * (w + pad) + left - 0.5
        y1, x1 = r * (h + pad) + bottom - 0.5, c * (w + pad) + right - 0.5
        segments += [[(x0, y0), (x1, y0)], [(x1, y0), (x1, y1)], [(x1, y1), (x0, y1)], [(x0, y1), (x0, y0)]]
    return np.asarray(segments, dtype=float).reshape(-1, 2, 2)


def _pictures(images: np.ndarray) -> np.ndarray:
    """(K, C, H, W) model inputs as (K, H, W) grey or (K, H, W, 3) RGB for display."""
    return np.stack([image_for_display(i) for i in images]) if len(images) else np.zeros((0, 1, 1))


class UnitView:
    """The unit inspector's figure: a top row of four small panels (pattern, filter, map on the
    image, Grad-CAM) and a bottom row of the top-k crops and the top-k images with their boxes."""

    def __init__(self, fig: Figure) -> None:
        self.fig = fig
        grid = fig.add_gridspec(2, 4, height_ratios=(1.0, 1.25))
        top = [fig.add_subplot(grid[0, i]) for i in range(4)]
        self.ax_pattern, self.ax_filter, self.ax_map, self.ax_cam = top
        self.ax_crops = fig.add_subplot(grid[1, :2])
        self.ax_images = fig.add_subplot(grid[1, 2:])
        self.axes = (self.ax_pattern, self.ax_filter, self.ax_map, self.ax_cam, self.ax_crops, self.ax_images)
        empty = np.full((1, 1), np.nan)
        self.images = {ax: ax.imshow(empty, cmap=_cmap("gray", "#dddddd"), interpolation="nearest")
                       for ax in self.axes}
        self.im_filter = self.images[self.ax_filter]
        self.im_filter.set_cmap(_cmap("RdBu_r", "#dddddd"))
        self.overlays = {ax: ax.imshow(empty, cmap="inferno", alpha=0.55, interpolation="bilinear")
                         for ax in (self.ax_map, self.ax_cam)}
        for ax in self.axes:
            _bare(ax)
        self.boxes = LineCollection([], colors=SELECTED_COLOR, linewidths=1.4, label="receptive field")
        self.clipped_boxes = LineCollection([], colors=CLIPPED_COLOR, linewidths=1.4, linestyles="--",
                                            label="field cut by the border")
        self.ax_images.add_collection(self.boxes)
        self.ax_images.add_collection(self.clipped_boxes)
        self.topk_geometry: tuple[int, int, int, int] = (0, 1, 1, 1)  # tiles, h, w, ncols of the images
        for ax, title in ((self.ax_pattern, "pattern: press Start"), (self.ax_filter, "filter"),
                          (self.ax_map, "map on the image"), (self.ax_cam, "Grad-CAM"),
                          (self.ax_crops, "top patches"), (self.ax_images, "top images")):
            self._title(ax, title)

    def _title(self, ax: object, title: str) -> None:
        """``title`` over ``ax``, wrapped onto as many lines as its panel's width needs (the top
        panels are about 34 characters wide: "pattern of map 12: all steps done at step 256" takes two)."""
        cell = ax.get_subplotspec().get_position(self.fig)  # type: ignore[attr-defined]
        width_pt = cell.width * self.fig.get_figwidth() * 72  # its grid cell: the layout's room
        chars = max(12, int(width_pt / (TITLE_SIZE * CHAR_WIDTH)))
        lines = [textwrap.fill(line, chars) for line in title.split("\n")]
        ax.set_title("\n".join(lines), fontsize=TITLE_SIZE)  # type: ignore[attr-defined]

    def _message(self, ax: object, title: str) -> None:
        """An empty panel with its title saying why."""
        image = self.images[ax]  # type: ignore[index]
        image.set_data(np.full((1, 1), np.nan))
        if ax in self.overlays:
            self.overlays[ax].set_data(np.full((1, 1), np.nan))  # type: ignore[index]
        self._title(ax, title)

    def show_pattern(self, image: np.ndarray | None, title: str) -> None:
        """The optimised input (C, H, W) that drives the channel, or a message."""
        if image is None:
            self._message(self.ax_pattern, title)
            return
        _set_image(self.ax_pattern, self.images[self.ax_pattern], image_for_display(image))
        self._title(self.ax_pattern, title)

    def show_filter(self, weight: np.ndarray | None, title: str) -> None:
        """The conv filter (C_in, kh, kw) behind the channel, one tile per input map on a symmetric
        blue-red scale (red: positive weights), or a message where the layer has none."""
        if weight is None:
            self._message(self.ax_filter, title)
            return
        mosaic = channel_grid(weight, normalize="none")
        bound = float(np.nanmax(np.abs(mosaic))) or 1.0
        _set_image(self.ax_filter, self.im_filter, mosaic, autoscale=False)
        self.im_filter.set_clim(-bound, bound)
        self._title(self.ax_filter, title)

    def _overlay(self, ax: object, image: np.ndarray, heat: np.ndarray, title: str) -> None:
        shown = image_for_display(image)
        _set_image(ax, self.images[ax], shown)  # type: ignore[arg-type, index]
        h, w = shown.shape[:2]
        overlay = self.overlays[ax]  # type: ignore[index]
        overlay.set_data(heat)
        overlay.set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
        top = float(np.nanmax(heat)) if heat.size else 0.0
        overlay.set_clim(0.0, top if top > 0 else 1.0)
        self._title(ax, title)

    def show_map(self, image: np.ndarray, act: np.ndarray, title: str) -> None:
        """The channel's map (h, w) on the image (C, H, W), stretched over it (bright: strong)."""
        self._overlay(self.ax_map, image, np.maximum(act, 0.0), title)

    def show_cam(self, image: np.ndarray, cam: np.ndarray | None, title: str) -> None:
        """The Grad-CAM heatmap (H, W) on the image, or a message where it cannot be made."""
        if cam is None:
            self._message(self.ax_cam, title)
            return
        self._overlay(self.ax_cam, image, cam, title)

    def show_topk(self, crops: np.ndarray, images: np.ndarray, boxes: np.ndarray, clipped: np.ndarray,
                  title: str) -> None:
        """The top-k crops (K, C, h, w) and full images (K, C, H, W) of the channel, strongest first,
        each image with its unit's receptive-field box (dashed where the border cuts it)."""
        k = len(crops)
        if k == 0:
            self._message(self.ax_crops, title)
            self._message(self.ax_images, "")
            self.boxes.set_segments([])
            self.clipped_boxes.set_segments([])
            self._box_legend()
            self.topk_geometry = (0, 1, 1, 1)
            return
        _, ncols = grid_shape(k)
        _set_image(self.ax_crops, self.images[self.ax_crops], tile(_pictures(crops), ncols))
        pictures = _pictures(images)
        _set_image(self.ax_images, self.images[self.ax_images], tile(pictures, ncols))
        h, w = pictures.shape[1:3]
        cut = np.asarray(clipped, dtype=bool)
        whole = np.where(cut[:, None], np.nan, boxes)
        part = np.where(cut[:, None], boxes, np.nan)
        self.boxes.set_segments(list(box_segments(whole, h, w, ncols)))
        self.clipped_boxes.set_segments(list(box_segments(part, h, w, ncols)))
        self._box_legend()
        self.topk_geometry = (k, h, w, ncols)
        self._title(self.ax_crops, title)
        self._title(self.ax_images, "the same images; click one to inspect it")

    def _box_legend(self) -> None:
        """Under the top images, a key of the kinds of box drawn (whole or cut fields), no other."""
        legend_of_shown(self.ax_images, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=2, fontsize=7,
                        frameon=False)

    def image_tile(self, x: float, y: float) -> int | None:
        """Which top-k image (its rank) lies under data point (x, y) of the top-images panel."""
        k, h, w, ncols = self.topk_geometry
        return grid_cell(y, x, h, w, ncols, PAD, n_channels=k) if k else None
