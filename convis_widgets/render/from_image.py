"""`FromImageView`: a run that starts from (or matches) a user's image: the image, the picture being
optimised, and the objective per step with the steps where a setting changed marked."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from . import PADDING_ON_GREY, _bare, _cmap, _set_image, image_for_display
from .legends import corner_away_from, legend_of_shown


class FromImageView:
    """Three panels: the given image, the current picture, and the objective's curve."""

    def __init__(self, fig: Figure, *, curve_label: str) -> None:
        self.fig = fig
        grid = fig.add_gridspec(1, 3, width_ratios=(1, 1, 1.5))
        self.ax_given = fig.add_subplot(grid[0])
        self.ax_now = fig.add_subplot(grid[1])
        self.ax_curve = fig.add_subplot(grid[2])
        cmap = _cmap("gray", PADDING_ON_GREY)
        self.im_given = self.ax_given.imshow(np.zeros((1, 1)), cmap=cmap, vmin=0, vmax=1,
                                             interpolation="nearest")
        self.im_now = self.ax_now.imshow(np.full((1, 1), np.nan), cmap=cmap, vmin=0, vmax=1,
                                         interpolation="nearest")
        for ax in (self.ax_given, self.ax_now):
            _bare(ax)
        (self.curve,) = self.ax_curve.plot([], [], lw=1.5, color="#1f77b4")  # the title names it
        self.changes = self.ax_curve.scatter([], [], marker="v", s=28, color="#d62728", zorder=3,
                                             label="a setting changed")
        self.ax_curve.set_xlabel("step")
        self.ax_curve.set_title(curve_label, fontsize=9)
        self.ax_now.set_title("press Start", fontsize=9)

    def show_given(self, image: np.ndarray, title: str) -> None:
        """The user's image (C, H, W)."""
        _set_image(self.ax_given, self.im_given, image_for_display(image), autoscale=False)
        self.ax_given.set_title(title, fontsize=9)

    def show_now(self, image: np.ndarray, title: str) -> None:
        """The picture being optimised (C, H, W), on the same [0, 1] scale as the given image."""
        _set_image(self.ax_now, self.im_now, image_for_display(image), autoscale=False)
        self.ax_now.set_title(title, fontsize=9)

    def show_curve(self, steps: Sequence[int], values: Sequence[float], changed: Sequence[int]) -> None:
        """The value the run follows, per step (the objective, or the inversion's distance), and a
        marker where a live setting was taken up."""
        self.curve.set_data(np.asarray(steps), np.asarray(values))
        lookup = dict(zip(steps, values, strict=True))
        marks = [(s, lookup[s]) for s in changed if s in lookup]
        self.changes.set_offsets(np.asarray(marks, dtype=float).reshape(-1, 2))
        legend_of_shown(self.ax_curve, fontsize=7, loc=corner_away_from(np.asarray(values)))
        if len(steps):
            self.ax_curve.relim()
            self.ax_curve.autoscale_view()
