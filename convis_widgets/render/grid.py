"""Channel mosaics: (C, H, W) maps tiled into one picture, and the channel under a point of it.

Numpy only; the coordinates of :func:`grid_cell` are matplotlib data coordinates of an
``imshow`` of the mosaic (pixel centres at integers).
"""

from __future__ import annotations

import math

import numpy as np
import torch

NORMALIZE_MODES = ("per_channel", "global", "none")


def grid_shape(c: int, ncols: int | None = None) -> tuple[int, int]:
    """(rows, cols) of a mosaic of ``c`` channels; ``ncols`` defaults to ceil(sqrt(c))."""
    if c < 1:
        raise ValueError(f"need at least one channel; got {c}")
    cols = ncols if ncols is not None else math.ceil(math.sqrt(c))
    if cols < 1:
        raise ValueError(f"ncols must be >= 1; got {cols}")
    return math.ceil(c / cols), cols


def grid_cell(
    row_px: float,
    col_px: float,
    h: int,
    w: int,
    ncols: int,
    pad: int = 1,
    *,
    n_channels: int | None = None,
) -> int | None:
    """Channel index under mosaic pixel (row_px, col_px), None on padding or past the last one.

    Float coordinates are matplotlib data coordinates (pixel centres at integers).
    """
    r, c = math.floor(row_px + 0.5), math.floor(col_px + 0.5)
    if r < 0 or c < 0:
        return None
    (gr, ir), (gc, ic) = divmod(r, h + pad), divmod(c, w + pad)
    if ir >= h or ic >= w or gc >= ncols:
        return None
    index = gr * ncols + gc
    if n_channels is not None and index >= n_channels:
        return None
    return index


def _as_numpy(act: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(act, torch.Tensor):
        return act.detach().cpu().double().numpy()
    return np.asarray(act, dtype=np.float64)


def _scale(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    lo = a.min(axis=axes, keepdims=True)
    span = a.max(axis=axes, keepdims=True) - lo
    scaled: np.ndarray = np.divide(a - lo, span, out=np.zeros_like(a), where=span > 0)
    return scaled


def channel_grid(
    act: torch.Tensor | np.ndarray,
    *,
    ncols: int | None = None,
    normalize: str = "per_channel",
    pad: int = 1,
    pad_value: float = math.nan,
) -> np.ndarray:
    """Tile the (C, H, W) maps of one image into a 2-D float32 mosaic, channels row-major.

    ``normalize``: "per_channel" (each map to [0, 1], constant maps -> 0), "global" (one
    min/max for all) or "none". A (C,) vector is shown as C maps of 1x1.
    """
    a = _as_numpy(act)
    if a.ndim == 1:
        a = a[:, None, None]
    if a.ndim != 3:
        raise ValueError(f"channel_grid needs one image's (C, H, W) maps; got shape {a.shape}")
    if normalize == "per_channel":
        a = _scale(a, (1, 2))
    elif normalize == "global":
        a = _scale(a, (0, 1, 2))
    elif normalize != "none":
        raise ValueError(f"normalize must be one of {NORMALIZE_MODES}; got {normalize!r}")
    c, h, w = a.shape
    rows, cols = grid_shape(c, ncols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), pad_value, dtype=np.float32)
    for k in range(c):
        r, q = divmod(k, cols)
        out[r * (h + pad) : r * (h + pad) + h, q * (w + pad) : q * (w + pad) + w] = a[k]
    return out
