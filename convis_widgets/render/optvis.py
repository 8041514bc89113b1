"""Pictures of feature visualisation: the image being optimised, its curve, the snapshots, a gallery."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.patches import Patch
from matplotlib.text import Text

from . import DEAD_COLOR, PADDING_ON_GREY, _bare, _cmap, _set_image, cell_outlines, new_figure, save_png
from .grid import channel_grid, grid_cell, grid_shape
from .legends import corner_away_from, legend_of_shown

Snapshot = tuple[int, np.ndarray]  # (step, image (C, H, W))


def display_image(
    image: np.ndarray, *, contrast: bool = True, value_range: tuple[float, float] = (0.0, 1.0)
) -> np.ndarray:
    """(C, H, W) optimised image -> (H, W) grey or (H, W, 3) RGB in [0, 1].

    With `contrast` each picture is stretched to its own 1st..99th percentile (Mönchmeyer's contrast
    enhancement), else the model's valid input range is mapped to [0, 1].
    """
    image = np.asarray(image, dtype=np.float32)
    shown = np.moveaxis(image, 0, -1) if image.shape[0] == 3 else image.mean(axis=0)
    if contrast:
        lo, hi = (float(v) for v in np.percentile(shown, [1.0, 99.0]))
    else:
        lo, hi = value_range
    if hi <= lo:
        return np.zeros_like(shown)
    return np.clip((shown - lo) / (hi - lo), 0.0, 1.0)


def picture_mosaic(
    images: np.ndarray, *, contrast: bool = True, ncols: int | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """(N, C, H, W) images -> one mosaic (grey (H', W') or RGB (H', W', 3)) with NaN/white gaps."""
    shown = np.stack([display_image(im, contrast=contrast, value_range=value_range) for im in images])
    _, cols = grid_shape(len(shown), ncols)
    if shown.ndim == 4:
        return np.stack([channel_grid(shown[..., k], ncols=cols, normalize="none", pad_value=1.0)
                         for k in range(3)], axis=-1)
    return channel_grid(shown, ncols=cols, normalize="none")


class OptvisView:
    """The picture being optimised, the objective's value per step, and snapshots at the reported steps."""

    def __init__(self, fig: Figure, strip: int = 8) -> None:
        self.fig = fig
        # two nested grids, so the strip's cells do not line up with the curve's axis labels
        grid = fig.add_gridspec(2, 1, height_ratios=(2, 1))
        top = grid[0].subgridspec(1, 2, width_ratios=(3, 5))
        bottom = grid[1].subgridspec(1, strip)
        self.ax_img = fig.add_subplot(top[0])
        self.ax_curve = fig.add_subplot(top[1])
        self.ax_strip = [fig.add_subplot(bottom[k]) for k in range(strip)]
        for ax in [self.ax_img, *self.ax_strip]:
            _bare(ax)
        cmap = _cmap("gray", PADDING_ON_GREY)
        self.im = self.ax_img.imshow(np.zeros((1, 1)), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        self.strip_ims = [ax.imshow(np.full((1, 1), np.nan), cmap=cmap, vmin=0, vmax=1,
                                    interpolation="nearest") for ax in self.ax_strip]
        (self.curve,) = self.ax_curve.plot([], [], lw=1.5, color="#1f77b4")  # the title names it
        self.reference = self.ax_curve.axhline(np.nan, color="#2ca02c", ls="--", lw=1,
                                               label="best in data set")
        self.marks = self.ax_curve.scatter([], [], s=14, color="#ff7f0e", zorder=3, label="snapshots")
        self.changes = LineCollection([], colors="#7f7f7f", linestyles=":", linewidths=1.2,
                                      transform=self.ax_curve.get_xaxis_transform(),
                                      label="a setting changed")
        self.ax_curve.add_collection(self.changes, autolim=False)
        self.ax_curve.set_xlabel("step")
        self.ax_curve.set_title("objective (higher = stronger response)", fontsize=9)
        self.waiting = self.ax_img.text(
            0.5, 0.5, "Start grows, from noise,\nthe picture that drives\nthis target; its curve\nand "
            "snapshots appear\nbeside and below it", transform=self.ax_img.transAxes, ha="center",
            va="center", fontsize=8, color="#555555", visible=False)

    def _show_run(self, shown: bool) -> None:
        """The run's parts (picture, curve, strip), or before any run only the message of what Start does."""
        self.im.set_visible(shown)
        self.waiting.set_visible(not shown)
        self.ax_curve.set_visible(shown)
        if not shown:
            for ax in self.ax_strip:
                ax.set_visible(False)  # `set_strip` shows those it fills

    def update(self, image: np.ndarray, steps: Sequence[int], values: Sequence[float], *,
               title: str, contrast: bool = True) -> None:
        """Show the current `image` (C, H, W) and the objective's values so far."""
        self._show_run(True)
        _set_image(self.ax_img, self.im, display_image(image, contrast=contrast), autoscale=False)
        self.ax_img.set_title(title, fontsize=9)
        self.curve.set_data(np.asarray(steps), np.asarray(values))
        self._rescale_curve()

    def set_changes(self, steps: Sequence[int]) -> None:
        """A dotted vertical line at each step where a setting changed during the run."""
        self.changes.set_segments([[(s, 0.0), (s, 1.0)] for s in steps])
        self._legend()

    def _legend(self) -> None:
        """The key of the marks drawn now (snapshots, the data set's best, settings changed), in the
        corner the curve leaves free."""
        legend_of_shown(self.ax_curve, fontsize=7, loc=corner_away_from(np.asarray(self.curve.get_ydata())))

    def set_reference(self, value: float | None) -> None:
        """A dashed line at the highest activation of the map over a data set (None hides it)."""
        y = np.nan if value is None else float(value)
        self.reference.set_ydata([y, y])
        self._rescale_curve()

    def set_strip(self, snapshots: Sequence[Snapshot], values: dict[int, float], *,
                  contrast: bool = True) -> None:
        """Fill the strip with the last len(strip) snapshots, titled by their step, marked on the curve."""
        shown = list(snapshots)[-len(self.ax_strip):]
        for k, (ax, im) in enumerate(zip(self.ax_strip, self.strip_ims, strict=True)):
            if k < len(shown):
                step, image = shown[k]
                _set_image(ax, im, display_image(image, contrast=contrast), autoscale=False)
                ax.set_title(f"step {step}", fontsize=7)
            else:
                im.set_data(np.full((1, 1), np.nan))
                ax.set_title("")
            ax.set_visible(k < len(shown) and self.im.get_visible())  # no empty tile after a short run
        pts = [(s, values[s]) for s, _ in shown if s in values]
        self.marks.set_offsets(np.asarray(pts, dtype=float).reshape(-1, 2))
        self._legend()

    def clear(self, title: str = "press Start") -> None:
        """Back to the empty state shown before the first run, titled ``title``: only a message of what
        Start does (no empty curve, no blank snapshots)."""
        self._show_run(False)
        self.im.set_data(np.full((1, 1), np.nan))
        self.ax_img.set_title(title, fontsize=9)
        self.curve.set_data([], [])
        self.set_strip([], {})
        self.set_changes([])
        self.set_reference(None)

    def _rescale_curve(self) -> None:
        x, y = (np.asarray(a, dtype=float) for a in self.curve.get_data())
        ref = float(np.asarray(self.reference.get_ydata(), dtype=float)[0])
        ys = np.concatenate([y[np.isfinite(y)], [ref] if np.isfinite(ref) else []])
        self.ax_curve.set_xlim(0, max(float(x.max()) if x.size else 1.0, 1.0))
        if ys.size:
            lo, hi = float(ys.min()), float(ys.max())
            margin = 0.05 * (hi - lo) if hi > lo else 1.0
            self.ax_curve.set_ylim(lo - margin, hi + margin)
        self._legend()


ACTIVE_COLOR = "#1f77b4"  # the frame of a gallery tile still being optimised
MOSAIC_PX = 2048  # a gallery wider than this is shown with its tiles block-averaged down to fit


def shrunk(image: np.ndarray, factor: int) -> np.ndarray:
    """(C, H, W) -> (C, H // factor, W // factor) by block means (a gallery tile of a large model)."""
    if factor <= 1:
        return image
    c, h, w = image.shape
    h2, w2 = h // factor, w // factor
    return image[:, :h2 * factor, :w2 * factor].reshape(c, h2, factor, w2, factor).mean(axis=(2, 4))


class GalleryView:
    """The pictures of many maps of one layer as a grid of numbered tiles that fills as the run goes.

    Tiles still being optimised are framed; maps that never responded are struck out instead of
    showing noise as a result; a legend says what both marks mean. Before a run it shows a message.
    Only the tiles that changed are redrawn (`update`'s ``changed``), so a large gallery stays quick.
    """

    def __init__(self, fig: Figure) -> None:
        self.fig = fig
        self.ax = fig.add_subplot()
        _bare(self.ax)
        self.im = self.ax.imshow(np.full((1, 1), np.nan), cmap=_cmap("gray", PADDING_ON_GREY), vmin=0,
                                 vmax=1, interpolation="nearest")
        self.unresponsive_lines = LineCollection([], colors=DEAD_COLOR, linewidths=1.2)
        self.active_lines = LineCollection([], colors=ACTIVE_COLOR, linewidths=1.2)
        self.ax.add_collection(self.unresponsive_lines)
        self.ax.add_collection(self.active_lines)
        self.message = self.ax.text(0.5, 0.5, "", transform=self.ax.transAxes, ha="center", va="center",
                                    fontsize=10, wrap=True)
        self.labels: list[Text] = []
        self.keys = {"struck": (Patch(facecolor="none", edgecolor=DEAD_COLOR, lw=1.2, hatch="\\\\"),
                                "struck out: the map never responded (its mean stayed at 0)"),
                     "framed": (Patch(facecolor="none", edgecolor=ACTIVE_COLOR, lw=1.2),
                                "framed: still being optimised")}
        self.legend: Legend | None = None
        self.geometry: tuple[int, int, int, int] = (0, 1, 1, 1)  # cells, h, w, ncols (as shown)
        self.channels: list[int] = []  # the map number of each tile
        self.mosaic = np.full((1, 1), np.nan, dtype=np.float32)
        self.ax.format_coord = self.describe  # type: ignore[method-assign]  # the toolbar's hover read-out
        self.show_message("")

    def show_message(self, text: str) -> None:
        """No grid, only ``text`` (what Start will do): the state before a run."""
        self.im.set_visible(False)
        self._show_keys([])
        self.unresponsive_lines.set_segments([])
        self.active_lines.set_segments([])
        for label in self.labels:
            label.remove()
        self.labels, self.channels, self.geometry = [], [], (0, 1, 1, 1)
        self.message.set_text(text)
        self.message.set_visible(True)
        self.ax.set_title("")
        self.ax.set_frame_on(False)

    def update(self, images: np.ndarray, done: np.ndarray, responded: np.ndarray, *, title: str,  # noqa: PLR0913
               contrast: bool = True, channels: Sequence[int] | None = None,
               active: np.ndarray | None = None, changed: np.ndarray | None = None) -> None:
        """Draw `images` (N, C, H, W) as tiles numbered by ``channels`` (default 0..N-1): empty until
        `done` or `active` (framed), done ones not `responded` struck out. ``changed`` (indices)
        redraws only those tiles of the grid already shown."""
        images = np.asarray(images, dtype=np.float32)
        n, depth, h, w = images.shape
        rgb = depth == 3
        _, ncols = grid_shape(n)
        factor = max(1, -(-ncols * (w + 1) // MOSAIC_PX))  # 512 maps of 224 px: a third of their size
        th, tw = h // factor, w // factor
        numbers = list(range(n)) if channels is None else [int(c) for c in channels]
        done = np.asarray(done, dtype=bool)
        shown = done | (np.zeros(n, bool) if active is None else np.asarray(active, dtype=bool))
        if ((n, th, tw, ncols) != self.geometry or numbers != self.channels or changed is None
                or (self.mosaic.ndim == 3) != rgb):
            self._new_grid(n, th, tw, ncols, numbers, rgb=rgb)
            changed = np.arange(n)
        for cell in np.asarray(changed, dtype=int).ravel():
            r, c = divmod(int(cell), ncols)
            tile = (display_image(shrunk(images[cell], factor), contrast=contrast) if shown[cell]
                    else 1.0 if rgb else np.nan)
            self.mosaic[r * (th + 1): r * (th + 1) + th, c * (tw + 1): c * (tw + 1) + tw] = tile
        _set_image(self.ax, self.im, self.mosaic, autoscale=False)
        failed = np.flatnonzero(done & ~np.asarray(responded, dtype=bool))
        self.unresponsive_lines.set_segments(list(cell_outlines(failed, th, tw, ncols, strike=True)))
        active_cells = np.flatnonzero(shown & ~done)
        self.active_lines.set_segments(list(cell_outlines(active_cells, th, tw, ncols)))
        self._show_keys(["struck"] * bool(failed.size) + ["framed"] * bool(active_cells.size))
        self.ax.set_title(title, fontsize=10)

    def _show_keys(self, marks: list[str]) -> None:
        """A legend below the grid naming the ``marks`` drawn now ("struck", "framed"); none if none."""
        if self.legend is not None:
            self.legend.remove()
            self.legend = None
        if marks:
            self.legend = self.ax.legend([self.keys[m][0] for m in marks], [self.keys[m][1] for m in marks],
                                         loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=2, fontsize=7,
                                         frameon=False, handlelength=1.5)

    def _new_grid(self, n: int, h: int, w: int, ncols: int, numbers: list[int], *, rgb: bool) -> None:  # noqa: PLR0913
        """An empty grid of ``n`` tiles of h x w (RGB or grey), each labelled with its map number."""
        rows = -(-n // ncols)
        size = (rows * (h + 1) - 1, ncols * (w + 1) - 1, *((3,) if rgb else ()))
        self.mosaic = np.full(size, 1.0 if rgb else np.nan, dtype=np.float32)  # RGB gaps white, grey blue
        for label in self.labels:
            label.remove()
        points = float(np.clip(160 / ncols, 5, 8))
        self.labels = [self.ax.text(c * (w + 1) - 0.5, r * (h + 1) - 0.5, str(number), fontsize=points,
                                    va="top", ha="left", color="white", clip_on=True,
                                    bbox=dict(boxstyle="square,pad=0.1", fc="black", ec="none", alpha=0.6))
                       for k, number in enumerate(numbers) for r, c in [divmod(k, ncols)]]
        self.geometry, self.channels = (n, h, w, ncols), numbers
        self.im.set_visible(True)
        self.message.set_visible(False)
        self.ax.set_frame_on(True)

    def describe(self, x: float, y: float) -> str:
        """What the pointer is over: "map 12" on a tile, nothing elsewhere."""
        cell = self.tile_at(x, y)
        return "" if cell is None else f"map {self.channels[cell]}"

    def tile_at(self, x: float, y: float) -> int | None:
        """The index of the tile under data point (x, y) of the grid, None on a gap or off the grid."""
        n, h, w, ncols = self.geometry
        if n == 0:
            return None
        return grid_cell(y, x, h, w, ncols, n_channels=n)


def save_strip(snapshots: Sequence[Snapshot], path: str | Path, *, contrast: bool = True) -> Path:
    """The snapshots side by side, each titled by its step, as a PNG."""
    n = max(len(snapshots), 1)
    fig = new_figure((1.4 * n, 1.7))
    for k, (step, image) in enumerate(snapshots):
        ax = fig.add_subplot(1, n, k + 1)
        _bare(ax)
        ax.imshow(display_image(image, contrast=contrast), cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_title(f"step {step}", fontsize=8)
    return save_png(fig, path)


def _upscaled_uint8(image: np.ndarray, *, contrast: bool, min_size: int) -> np.ndarray:
    shown = display_image(image, contrast=contrast)
    factor = max(1, -(-min_size // max(shown.shape[:2])))
    big = np.repeat(np.repeat(shown, factor, axis=0), factor, axis=1)
    return (big * 255).round().astype(np.uint8)


def save_picture(image: np.ndarray, path: str | Path, *, contrast: bool = True, min_size: int = 224) -> Path:
    """One optimised image as a PNG, enlarged (nearest neighbour) so small models' pictures can be seen."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_upscaled_uint8(image, contrast=contrast, min_size=min_size)).save(path)
    return path


def save_gif(frames: Sequence[np.ndarray], path: str | Path, *, contrast: bool = True,
             min_size: int = 224, ms_per_frame: int = 120) -> Path:
    """The evolution of an optimised image as a looping animated GIF."""
    from PIL import Image

    if not frames:
        raise ValueError("no frames to write: run the optimisation first")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pictures = [Image.fromarray(_upscaled_uint8(f, contrast=contrast, min_size=min_size)) for f in frames]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=ms_per_frame, loop=0)
    return path
