"""`FeatureSpaceView`: a data set's feature vectors in 2-D coloured by label, and one picked image
beside its nearest neighbours in feature space and in pixel space."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D

from . import SELECTED_COLOR, _bare, _set_image, image_for_display

NEIGHBOURS = 5


class FeatureSpaceView:
    """Left: the scatter; right: the picked image, then a row of its feature-space neighbours and a
    row of its pixel-space neighbours, each titled with its label."""

    def __init__(self, fig: Figure, neighbours: int = NEIGHBOURS) -> None:
        self.fig = fig
        grid = fig.add_gridspec(1, 2, width_ratios=(1.15, 1))
        self.ax_scatter = fig.add_subplot(grid[0])
        right = grid[1].subgridspec(3, neighbours)
        self.ax_query = fig.add_subplot(right[0, neighbours // 2])
        self.ax_feature = [fig.add_subplot(right[1, k]) for k in range(neighbours)]
        self.ax_pixel = [fig.add_subplot(right[2, k]) for k in range(neighbours)]
        self.pictures = [self.ax_query, *self.ax_feature, *self.ax_pixel]
        for ax in self.pictures:
            _bare(ax)
            ax.imshow(np.full((1, 1), np.nan), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        self.scatter = self.ax_scatter.scatter([], [], c=np.zeros(0), s=6, cmap="tab10", vmin=-0.5, vmax=9.5)
        self.picked = self.ax_scatter.scatter([], [], s=90, facecolors="none", edgecolors="black",
                                              linewidths=1.6, label="picked image", zorder=3)
        self.near = self.ax_scatter.scatter([], [], s=50, facecolors="none", edgecolors=SELECTED_COLOR,
                                            linewidths=1.2, label="its feature-space neighbours", zorder=3)
        self.points = np.zeros((0, 2))
        self.ax_scatter.set_xticks([])
        self.ax_scatter.set_yticks([])
        self.ax_query.set_title(f"click a point: its image shows here,\nits {neighbours} nearest neighbours "
                                "below\n(in feature space, then in pixels)", fontsize=8)
        for ax in (*self.ax_feature, *self.ax_pixel):
            ax.set_visible(False)  # empty frames until a point is picked
        self.class_legend: Legend | None = None
        self.classes: list[str] = []

    def show_points(self, points: np.ndarray, labels: np.ndarray | None, classes: Sequence[str], title: str
                    ) -> None:
        """The 2-D ``points`` (N, 2), coloured by ``labels`` (a legend of ``classes``)."""
        self.points = np.asarray(points, dtype=float)
        self.scatter.set_offsets(self.points)
        if labels is not None:
            self.scatter.set_array(np.asarray(labels, dtype=float))
            self.scatter.set_cmap("tab10" if len(classes) <= 10 else "tab20")  # one colour a class
            self.scatter.set_clim(-0.5, max(len(classes), 10 if len(classes) <= 10 else 20) - 0.5)
        self.picked.set_offsets(np.zeros((0, 2)))
        self.near.set_offsets(np.zeros((0, 2)))
        if len(self.points):
            lo, hi = self.points.min(axis=0), self.points.max(axis=0)
            pad = 0.05 * np.maximum(hi - lo, 1e-9)
            self.ax_scatter.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
            self.ax_scatter.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        self.ax_scatter.set_title(title, fontsize=9)
        self.classes = list(classes) if labels is not None else []
        self._legend()

    def _legend(self) -> None:
        """One key per class (when coloured by label), and the picked image and its neighbours once a
        point is picked: no key for marks not drawn."""
        if self.class_legend is not None:
            self.class_legend.remove()
            self.class_legend = None
        cmap, (low, high) = self.scatter.get_cmap(), self.scatter.get_clim()
        assert low is not None and high is not None
        colours = [to_hex(cmap((k - low) / (high - low))) for k in range(len(self.classes))]
        handles: list[Artist] = [Line2D([], [], ls="", marker="o", ms=4, color=c) for c in colours]
        names = list(self.classes)
        if np.asarray(self.picked.get_offsets()).size:
            handles += [self.picked, self.near]
            names += ["picked image", "its feature neighbours"]
        if not handles:
            return
        self.class_legend = self.ax_scatter.legend(
            handles, names, fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False) \
            if self.classes else self.ax_scatter.legend(handles, names, fontsize=6, loc="lower right")

    def show_query(self, image: np.ndarray, title: str, index: int, feature: Sequence[int] | np.ndarray,
                   pixel: Sequence[int] | np.ndarray, images: np.ndarray, names: Sequence[str]) -> None:
        """The picked image (index ``index``) and its neighbours (indices into ``images``), titled by
        ``names`` (one per image of the set)."""
        _set_image(self.ax_query, self.ax_query.get_images()[0], image_for_display(image), autoscale=False)
        self.ax_query.set_title(title, fontsize=8)
        for axes, which, row in ((self.ax_feature, feature, "feature"), (self.ax_pixel, pixel, "pixel")):
            for k, ax in enumerate(axes):
                ax.set_visible(True)
                _set_image(ax, ax.get_images()[0], image_for_display(images[which[k]]), autoscale=False)
                ax.set_title(names[which[k]], fontsize=7)
            axes[0].set_ylabel(f"{row}\nspace", fontsize=7, rotation=0, ha="right", va="center")
        self.picked.set_offsets(self.points[[index]])
        self.near.set_offsets(self.points[list(feature)])
        self._legend()

    def point_at(self, x_px: float, y_px: float, within_px: float = 8.0) -> int | None:
        """The index of the point drawn nearest display pixel (x_px, y_px), if within ``within_px``."""
        if not len(self.points):
            return None
        shown = self.ax_scatter.transData.transform(self.points)
        d = np.hypot(shown[:, 0] - x_px, shown[:, 1] - y_px)
        best = int(np.argmin(d))
        return best if d[best] <= within_px else None
