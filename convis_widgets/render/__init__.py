"""numpy -> pictures: the views the widgets show and the CLI saves, matplotlib OO API only.

Each view builds its axes once on a figure it is given (an ipympl canvas in a
widget, a plain Agg figure in a script) and `update()` changes the drawn data in
place with `set_data`, so a widget never re-creates its figure per frame.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from .grid import channel_grid, grid_shape
from .tiles import TileNumbers, read_out, tile_readout

DEAD_COLOR = "#d62728"
SELECTED_COLOR = "#ff7f0e"
NOISY_COLOR = "#d62728"
PADDING_ON_GREY = "#9ecae1"  # grey filters need a gap colour that is neither black nor white


def new_figure(figsize: tuple[float, float], dpi: int = 100) -> Figure:
    """A pyplot-free figure: nothing registered globally, nothing to leak."""
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    return fig


def _with_agg(fig: Figure) -> Figure:
    """`fig`, with an Agg canvas attached if it has none (pyplot-free figures can then be saved)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write `fig` as a PNG and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _with_agg(fig).savefig(path, format="png")
    return path


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes, e.g. for IPython.display.Image."""
    buf = io.BytesIO()
    _with_agg(fig).savefig(buf, format="png")
    return buf.getvalue()


def image_for_display(image: np.ndarray) -> np.ndarray:
    """(C, H, W) model input -> (H, W) grey or (H, W, 3) RGB clipped to [0, 1] for imshow."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        return image
    if image.shape[0] == 3:
        rgb = np.moveaxis(image, 0, -1)
        lo, hi = float(rgb.min()), float(rgb.max())
        if lo < 0.0 or hi > 1.0:  # normalised inputs: stretch to show them
            rgb = (rgb - lo) / (hi - lo) if hi > lo else np.zeros_like(rgb)
        return np.clip(rgb, 0.0, 1.0)
    return image.mean(axis=0)


def cell_outlines(
    cells: np.ndarray, h: int, w: int, ncols: int, pad: int = 1, *, strike: bool = False
) -> np.ndarray:
    """Rectangle outlines (line segments in image coordinates) around mosaic cells, struck out if asked."""
    segments = []
    for c in np.asarray(cells, dtype=int).ravel():
        r, col = divmod(int(c), ncols)
        x0, y0 = col * (w + pad) - 0.5, r * (h + pad) - 0.5
        x1, y1 = x0 + w, y0 + h
        segments += [
            [(x0, y0), (x1, y0)], [(x1, y0), (x1, y1)],
            [(x1, y1), (x0, y1)], [(x0, y1), (x0, y0)],
        ]
        if strike:
            segments.append([(x0, y0), (x1, y1)])
    return np.asarray(segments, dtype=float).reshape(-1, 2, 2)


def _set_image(ax: Axes, im: AxesImage, data: np.ndarray, *, autoscale: bool = True) -> None:
    """Replace an AxesImage's data (any size) and fit the axes to it."""
    h, w = data.shape[:2]
    im.set_data(data)
    im.set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    if autoscale and data.ndim == 2:
        finite = data[np.isfinite(data)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        im.set_clim(lo, hi if hi > lo else lo + 1.0)


def _cmap(name: str, padding: str = "white") -> Colormap:
    """A private copy of a colormap that draws NaN (mosaic padding) in the `padding` colour."""
    return matplotlib.colormaps[name].with_extremes(bad=padding)


def _bare(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


class ActivationView:
    """Channel grid of one layer for one image, beside the input, the channel mean and one channel."""

    def __init__(self, fig: Figure, cmap: str = "viridis") -> None:
        self.fig = fig
        grid = fig.add_gridspec(3, 3)
        self.ax_grid = fig.add_subplot(grid[:, :2])
        self.ax_input = fig.add_subplot(grid[0, 2])
        self.ax_mean = fig.add_subplot(grid[1, 2])
        self.ax_channel = fig.add_subplot(grid[2, 2])
        for ax in (self.ax_grid, self.ax_input, self.ax_mean, self.ax_channel):
            _bare(ax)
        empty = np.zeros((1, 1))
        self.im_grid = self.ax_grid.imshow(empty, cmap=_cmap(cmap), interpolation="nearest")
        self.im_input = self.ax_input.imshow(empty, cmap="gray", interpolation="nearest")
        self.im_mean = self.ax_mean.imshow(empty, cmap=cmap, interpolation="nearest")
        self.im_channel = self.ax_channel.imshow(empty, cmap=_cmap(cmap), interpolation="nearest")
        self.dead_lines = LineCollection([], colors=DEAD_COLOR, linewidths=1.2)
        self.selected_lines = LineCollection([], colors=SELECTED_COLOR, linewidths=2.0)
        self.ax_grid.add_collection(self.dead_lines)
        self.ax_grid.add_collection(self.selected_lines)
        self.ax_input.set_title("input", fontsize=9)
        self.ax_mean.set_title("channel mean", fontsize=9)
        self.geometry: tuple[int, int, int, int] = (0, 1, 1, 1)  # channels, h, w, ncols
        self.mosaic: np.ndarray = empty
        self.act: np.ndarray = np.zeros((0, 1, 1), dtype=np.float32)
        self.channel: int | None = None
        self.numbers = TileNumbers(self.ax_grid)
        self.scale = ScalarMappable(cmap=cmap)
        self.colorbar = fig.colorbar(self.scale, ax=self.ax_grid, fraction=0.04, pad=0.02)
        self.colorbar.ax.tick_params(labelsize="x-small")
        for im in (self.im_grid, self.im_input, self.im_mean, self.im_channel):
            im.set_mouseover(False)
        for ax in (self.ax_grid, self.ax_input, self.ax_mean, self.ax_channel):
            read_out(ax, functools.partial(self.describe, ax))

    def update(
        self,
        image: np.ndarray,
        act: np.ndarray,
        *,
        layer: str,
        dead: np.ndarray | None = None,
        channel: int | None = None,
        normalize: str = "per_channel",
    ) -> None:
        """Draw `act` (C, H, W) of `layer` for the input `image` (C_in, H_in, W_in)."""
        act = np.asarray(act, dtype=np.float32)
        c, h, w = act.shape
        _, ncols = grid_shape(c)
        self.geometry = (c, h, w, ncols)
        self.act = act
        self.mosaic = channel_grid(act, ncols=ncols, normalize=normalize)
        _set_image(self.ax_grid, self.im_grid, self.mosaic)
        self.numbers.update(c, h, w, ncols)
        self._scale_bar(act, normalize)
        shown = image_for_display(image)
        _set_image(self.ax_input, self.im_input, shown)
        _set_image(self.ax_mean, self.im_mean, act.mean(axis=0))
        dead_idx = np.flatnonzero(dead) if dead is not None else np.zeros(0, dtype=int)
        self.dead_lines.set_segments(list(cell_outlines(dead_idx, h, w, ncols, strike=True)))
        n_dead = len(dead_idx)
        dead_txt = f", {n_dead} dead (struck out)" if n_dead else ""
        self.ax_grid.set_title(f"{layer}: {c} channels of {h}x{w}{dead_txt}", fontsize=10)
        self.select(channel)

    def _scale_bar(self, act: np.ndarray, normalize: str) -> None:
        """The grid's colour bar: the activation values (one scale for all maps), or, per channel,
        each map's own minimum to maximum."""
        if normalize == "per_channel":
            self.scale.set_clim(0.0, 1.0)
            self.colorbar.set_ticks([0.0, 1.0], labels=["map's min", "map's max"])
            self.colorbar.set_label("each map scaled to its own range", fontsize="x-small")
        else:
            lo, hi = float(act.min()), float(act.max())
            self.scale.set_clim(lo, hi if hi > lo else lo + 1.0)
            self.colorbar.set_ticks(list(np.linspace(lo, hi if hi > lo else lo + 1.0, 5)))
            self.colorbar.set_label("activation, one scale for all maps", fontsize="x-small")

    def select(self, channel: int | None) -> None:
        """Enlarge one channel of the current activation (its own values, its range in the title) and
        outline it in the grid."""
        c, h, w, ncols = self.geometry
        if channel is None or not 0 <= channel < c:
            self.channel = None
            self.selected_lines.set_segments([])
            self.im_channel.set_data(np.full((1, 1), np.nan))
            self.ax_channel.set_title("click a channel", fontsize=9)
            return
        self.channel = channel
        cell = self.act[channel]
        _set_image(self.ax_channel, self.im_channel, cell)
        outline = cell_outlines(np.array([channel]), h, w, ncols)
        self.selected_lines.set_segments(list(outline))
        self.ax_channel.set_title(f"channel {channel}: {cell.min():.2g} to {cell.max():.2g}", fontsize=9)

    def describe(self, ax: Axes, x: float, y: float) -> str:
        """The pointer read-out of ``ax``: the activation under it (the map's own value, not its shade)."""
        col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        if ax is self.ax_grid:
            return tile_readout(self.act, x, y, self.geometry[3], what="channel", value="activation")
        picture = {self.ax_input: self.im_input, self.ax_mean: self.im_mean,
                   self.ax_channel: self.im_channel}[ax].get_array()
        if picture is None or not (0 <= row < picture.shape[0] and 0 <= col < picture.shape[1]):
            return ""
        value = np.asarray(picture[row, col])
        if value.ndim or not np.isfinite(value):
            return f"x={col}, y={row}" if value.ndim else ""
        what = {self.ax_input: "pixel", self.ax_mean: "mean activation"}.get(ax, f"channel {self.channel}")
        return f"x={col}, y={row}: {what} {float(value):.3g}"


class FilterView:
    """Filters of one layer as a mosaic, beside each filter's smoothness."""

    def __init__(self, fig: Figure) -> None:
        self.fig = fig
        grid = fig.add_gridspec(1, 3)
        self.ax_filters = fig.add_subplot(grid[0, :2])
        self.ax_smooth = fig.add_subplot(grid[0, 2])
        _bare(self.ax_filters)
        self.im = self.ax_filters.imshow(np.zeros((1, 1)), cmap=_cmap("gray", PADDING_ON_GREY),
                                         interpolation="nearest")
        self.noisy_lines = LineCollection([], colors=NOISY_COLOR, linewidths=1.2, clip_on=False)
        self.ax_filters.add_collection(self.noisy_lines)
        self.numbers = TileNumbers(self.ax_filters)
        (self.points,) = self.ax_smooth.plot([], [], "o", ms=3, label="a filter")
        self.threshold_line = self.ax_smooth.axhline(0.0, color=NOISY_COLOR, ls="--", lw=1,
                                                     label="noisy below")
        self.ax_smooth.set_xlabel("filter")
        self.ax_smooth.set_title("smoothness\n(lag-1 autocorrelation)", fontsize=9)
        self.ax_smooth.set_ylim(-1.05, 1.05)
        self.weights: np.ndarray = np.zeros((0, 1, 1))
        self.im.set_mouseover(False)
        read_out(self.ax_filters, self.describe)
        read_out(self.ax_smooth, self.describe_smoothness)
        self.smoothness: np.ndarray = np.zeros(0)
        self.geometry: tuple[int, int, int, int] = (0, 1, 1, 1)  # filters, kh, kw, ncols
        self.weights_named = False

    def update(
        self,
        filters: np.ndarray,
        smoothness: np.ndarray,
        noisy: np.ndarray,
        *,
        layer: str,
        threshold: float,
        input_channel: int | None = None,
        weights: np.ndarray | None = None,
    ) -> None:
        """Draw `filters` ((N, k, k) grey or (N, k, k, 3) RGB, scaled to [0, 1]), each numbered.

        `input_channel` names the input channel the grey pictures show, when the layer has several;
        `weights` (shaped like `filters`) are the values the pointer read-out gives (else the pictures').
        """
        filters = np.asarray(filters, dtype=np.float32)
        n, kh, kw = filters.shape[:3]
        _, ncols = grid_shape(n)
        self.geometry = (n, kh, kw, ncols)
        self.weights = np.asarray(weights if weights is not None else filters, dtype=np.float32)
        self.weights_named = weights is not None
        self.smoothness = np.asarray(smoothness, dtype=float)
        self.numbers.update(n, kh, kw, ncols)
        if filters.ndim == 4:  # RGB: one grid per colour plane, padded with white
            mosaic = np.stack([channel_grid(filters[..., k], ncols=ncols, normalize="none",
                                            pad_value=1.0) for k in range(3)], axis=-1)
        else:
            mosaic = channel_grid(filters, ncols=ncols, normalize="none")
        _set_image(self.ax_filters, self.im, mosaic, autoscale=False)
        self.im.set_clim(0.0, 1.0)
        noisy_idx = np.flatnonzero(noisy)
        self.noisy_lines.set_segments(list(cell_outlines(noisy_idx, kh, kw, ncols)))
        shown_channel = "" if input_channel is None else f", input channel {input_channel}"
        flagged = f", {len(noisy_idx)} noisy (red)" if len(noisy_idx) else ""
        self.ax_filters.set_title(f"{layer}: {n} filters {kh}x{kw}{shown_channel}{flagged}", fontsize=10)
        self.points.set_data(np.arange(len(smoothness)), smoothness)
        self.threshold_line.set_ydata([threshold, threshold])
        self.threshold_line.set_label(f"noisy below {threshold:.2f}")
        self.ax_smooth.legend(loc="lower right", fontsize="x-small")
        self.ax_smooth.set_xlim(-1, max(len(smoothness), 1))
        scored = bool(np.isfinite(smoothness).any())
        self.threshold_line.set_visible(scored)
        self.ax_smooth.set_title("smoothness\n(lag-1 autocorrelation)" if scored
                                 else "smoothness: none for 1x1 kernels", fontsize=9)

    def describe(self, x: float, y: float) -> str:
        """The pointer read-out over the mosaic: the filter, the pixel and its weight."""
        value = "weight" if self.weights_named else "shade (0-1)"
        return tile_readout(self.weights, x, y, self.geometry[3], what="filter", value=value)

    def describe_smoothness(self, x: float, _y: float) -> str:
        """The pointer read-out over the smoothness plot: the nearest filter's score."""
        k = int(np.floor(x + 0.5))
        if not 0 <= k < len(self.smoothness):
            return ""
        return f"filter {k}: smoothness {self.smoothness[k]:.2f}"
