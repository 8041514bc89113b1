"""Pictures of feature visualisation: the image being optimised, its curve, the snapshots, a gallery."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from . import DEAD_COLOR, PADDING_ON_GREY, _bare, _cmap, _set_image, cell_outlines, new_figure, save_png
from .grid import channel_grid, grid_shape

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
        (self.curve,) = self.ax_curve.plot([], [], lw=1.5, color="#1f77b4", label="objective")
        self.reference = self.ax_curve.axhline(np.nan, color="#2ca02c", ls="--", lw=1,
                                               label="best in data set")
        self.marks = self.ax_curve.scatter([], [], s=14, color="#ff7f0e", zorder=3, label="snapshots")
        self.ax_curve.set_xlabel("step")
        self.ax_curve.set_title("objective (higher = stronger response)", fontsize=9)
        self.ax_curve.legend(fontsize=7, loc="lower right")

    def update(self, image: np.ndarray, steps: Sequence[int], values: Sequence[float], *,
               title: str, contrast: bool = True) -> None:
        """Show the current `image` (C, H, W) and the objective's values so far."""
        _set_image(self.ax_img, self.im, display_image(image, contrast=contrast), autoscale=False)
        self.ax_img.set_title(title, fontsize=9)
        self.curve.set_data(np.asarray(steps), np.asarray(values))
        self._rescale_curve()

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
        pts = [(s, values[s]) for s, _ in shown if s in values]
        self.marks.set_offsets(np.asarray(pts, dtype=float).reshape(-1, 2))

    def clear(self) -> None:
        """Back to the empty state shown before the first run."""
        self.im.set_data(np.full((1, 1), np.nan))
        self.ax_img.set_title("press Start", fontsize=9)
        self.curve.set_data([], [])
        self.set_strip([], {})
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


class GalleryView:
    """The pictures of many maps of one layer as a grid that fills as batches finish.

    Maps that never responded are struck out instead of showing noise as a result.
    """

    def __init__(self, fig: Figure) -> None:
        self.fig = fig
        self.ax = fig.add_subplot()
        _bare(self.ax)
        self.im = self.ax.imshow(np.zeros((1, 1)), cmap=_cmap("gray", PADDING_ON_GREY), vmin=0, vmax=1,
                                 interpolation="nearest")
        self.unresponsive_lines = LineCollection([], colors=DEAD_COLOR, linewidths=1.2)
        self.ax.add_collection(self.unresponsive_lines)
        self.geometry: tuple[int, int, int, int] = (0, 1, 1, 1)  # cells, h, w, ncols

    def update(self, images: np.ndarray, done: np.ndarray, responded: np.ndarray, *, title: str,
               contrast: bool = True) -> None:
        """Draw `images` (N, C, H, W); cells not `done` stay empty, done ones not `responded` struck out."""
        images = np.asarray(images, dtype=np.float32)
        n, _, h, w = images.shape
        _, ncols = grid_shape(n)
        self.geometry = (n, h, w, ncols)
        mosaic = picture_mosaic(images, contrast=contrast, ncols=ncols)
        for cell in np.flatnonzero(~np.asarray(done, dtype=bool)):
            r, c = divmod(int(cell), ncols)
            mosaic[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = np.nan
        _set_image(self.ax, self.im, mosaic, autoscale=False)
        failed = np.flatnonzero(np.asarray(done, dtype=bool) & ~np.asarray(responded, dtype=bool))
        self.unresponsive_lines.set_segments(list(cell_outlines(failed, h, w, ncols, strike=True)))
        self.ax.set_title(title, fontsize=10)


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
