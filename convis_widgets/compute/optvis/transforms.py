"""Differentiable random transforms (transformation robustness): plain callables chained by ``compose``.

Jitter, scale and rotation are one affine warp each (``F.affine_grid`` + ``F.grid_sample``);
:func:`random_affine` does all three in a single warp, which is what the loop uses. Every image of
a batch gets its own random draw. Pixels that come in from outside are ``fill``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

Transform = Callable[[torch.Tensor], torch.Tensor]


def compose(*transforms: Transform) -> Transform:
    """Apply the transforms left to right."""

    def run(x: torch.Tensor) -> torch.Tensor:
        for t in transforms:
            x = t(x)
        return x

    return run


def pad(n: int, fill: float = 0.0) -> Transform:
    """Grow the canvas by ``n`` pixels of ``fill`` on every side (Lucent's pad)."""
    if n < 0:
        raise ValueError(f"pad must be >= 0, got {n}")
    return lambda x: F.pad(x, (n, n, n, n), value=float(fill)) if n else x


def center_crop(h: int, w: int) -> Transform:
    """Cut the central h x w window (undoes ``pad`` for models that need their input size)."""

    def crop(x: torch.Tensor) -> torch.Tensor:
        top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
        if top < 0 or left < 0:
            raise ValueError(f"cannot crop {h}x{w} out of {tuple(x.shape[-2:])}")
        return x[..., top:top + h, left:left + w]

    return crop


def _warp(x: torch.Tensor, theta: torch.Tensor, fill: float) -> torch.Tensor:
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    if fill == 0.0:
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


def affine_matrices(
    batch: int,
    h: int,
    w: int,
    *,
    jitter: int = 0,
    scale: tuple[float, float] = (1.0, 1.0),
    degrees: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(batch, 2, 3) random warps in affine_grid's normalised coordinates: a whole-pixel shift in
    [-jitter, jitter], a zoom in [scale[0], scale[1]] and a rotation in [-degrees, degrees]."""
    u = torch.rand((batch, 4), generator=generator, dtype=torch.float64).numpy()  # one draw: numpy math below
    shift = np.floor(u[:, :2] * (2 * jitter + 1)) - jitter
    lo, hi = scale
    zoom = lo + (hi - lo) * u[:, 2]
    angle = (u[:, 3] * 2 - 1) * math.radians(degrees)
    cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
    # output pixel p samples input at A p + t: the inverse of zoom-then-rotate, shifted by -shift
    theta = np.zeros((batch, 2, 3))
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
    theta[:, 0, 2] = -2 * shift[:, 1] / w
    theta[:, 1, 2] = -2 * shift[:, 0] / h
    return torch.from_numpy(theta).float()


def random_affine(
    jitter: int = 0,
    scale: tuple[float, float] = (1.0, 1.0),
    degrees: float = 0.0,
    *,
    fill: float = 0.0,
    generator: torch.Generator | None = None,
) -> Transform:
    """Jitter, zoom and rotate in one warp (one ``grid_sample``), a new draw per image and call."""
    if jitter < 0 or degrees < 0 or not 0 < scale[0] <= scale[1]:
        raise ValueError(
            f"need jitter >= 0, degrees >= 0, 0 < scale[0] <= scale[1]; got {jitter}, {degrees}, {scale}"
        )

    def warp(x: torch.Tensor) -> torch.Tensor:
        if not jitter and scale == (1.0, 1.0) and not degrees:
            return x
        b, _, h, w = x.shape
        theta = affine_matrices(b, h, w, jitter=jitter, scale=scale, degrees=degrees, generator=generator)
        return _warp(x, theta, fill)

    return warp


def jitter(n: int, *, fill: float = 0.0, generator: torch.Generator | None = None) -> Transform:
    """Shift each image by whole pixels in [-n, n] (exact: no interpolation blur)."""
    return random_affine(n, fill=fill, generator=generator)


def random_scale(
    lo: float, hi: float, *, fill: float = 0.0, generator: torch.Generator | None = None
) -> Transform:
    """Zoom each image by a factor drawn from [lo, hi] about its centre."""
    return random_affine(0, (lo, hi), fill=fill, generator=generator)


def random_rotate(
    degrees: float, *, fill: float = 0.0, generator: torch.Generator | None = None
) -> Transform:
    """Rotate each image by an angle drawn from [-degrees, degrees] about its centre."""
    return random_affine(0, (1.0, 1.0), degrees, fill=fill, generator=generator)
