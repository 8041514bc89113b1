"""Legends that name only what a figure shows now: a key for marks that are not drawn (no setting
changed, no reference yet) would send a reader looking for them."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import Collection, LineCollection
from matplotlib.legend import Legend
from matplotlib.lines import Line2D


def shows_something(artist: Artist) -> bool:
    """Whether ``artist`` draws anything: a line with a finite point, markers placed, segments drawn."""
    if not artist.get_visible():
        return False
    if isinstance(artist, Line2D):
        y = np.asarray(artist.get_ydata(), dtype=float)
        return bool(np.isfinite(y).any())
    if isinstance(artist, LineCollection):
        return len(artist.get_segments()) > 0
    if isinstance(artist, Collection):
        return np.asarray(artist.get_offsets()).size > 0
    return True


def legend_of_shown(ax: Axes, **kwargs: Any) -> Legend | None:
    """``ax``'s legend, listing only its labelled artists that draw something now (none: no legend)."""
    handles, labels = ax.get_legend_handles_labels()
    shown = [(h, label) for h, label in zip(handles, labels, strict=True) if shows_something(h)]
    if not shown:
        old = ax.get_legend()
        if old is not None:
            old.remove()
        return None
    return ax.legend([h for h, _ in shown], [label for _, label in shown], **kwargs)


def corner_away_from(values: np.ndarray) -> str:
    """The right-hand corner a curve's end leaves free: "lower right" for one that rises (an objective),
    "upper right" for one that falls (a distance) or stays flat (a map that never responded, at 0)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return "lower right" if v.size > 1 and v[-1] > v[0] else "upper right"
