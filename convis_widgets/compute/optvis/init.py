"""Initial images for feature visualisation, reproducible from a seed.

OIP multi-scale fluctuations (Mönchmeyer), truncated normal noise (Hu, "Feature visualization"),
Lucent's random 1/f spectrum, a blank image or the data-set mean (sargupta, "DL05"), or the user's
own image. All are made on the CPU with their own ``torch.Generator``, so a seed gives the same
start on every device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..inputs import ImageData, Images
from . import param
from .regularizers import gaussian_blur

KINDS = ("multiscale", "normal", "zeros", "mean", "spectrum")
OIP_GRIDS = (3, 7, 14, 28)
"""Mönchmeyer's grid sizes for a 28-px image: long-scale (3x3, 7x7) to pixel-scale fluctuations."""
OIP_AMPLITUDES = (0.3, 0.2, 0.05, 0.0)
"""Amplitude of each grid's fluctuations, as a share of the value range (Mönchmeyer used 0.2, 0.2, 0, 0)."""

ValueRange = tuple[float, float]


def _shape(shape: Sequence[int]) -> tuple[int, int, int]:
    s = tuple(int(v) for v in shape)
    if len(s) == 4 and s[0] == 1:
        s = s[1:]
    if len(s) != 3 or min(s) < 1:
        raise ValueError(f"image shape must be (C, H, W) with positive sizes, got {tuple(shape)}")
    return s[0], s[1], s[2]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def multiscale(
    shape: Sequence[int],
    *,
    batch: int = 1,
    seed: int = 0,
    grids: Sequence[int] = OIP_GRIDS,
    amplitudes: Sequence[float] = OIP_AMPLITUDES,
    smooth: float = 0.0,
    value_range: ValueRange = (0.0, 1.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mönchmeyer's start: mid-grey plus a sum of uniform random fields on coarse grids, each
    upsampled (bicubic) to the image size with its own amplitude; optionally Gaussian-smoothed."""
    c, h, w = _shape(shape)
    if len(grids) != len(amplitudes):
        raise ValueError(f"need one amplitude per grid: {len(grids)} grids, {len(amplitudes)} amplitudes")
    g = generator if generator is not None else _generator(seed)
    lo, hi = value_range
    x = torch.full((batch, c, h, w), 0.5)
    for grid, amp in zip(grids, amplitudes, strict=True):
        if amp == 0:
            continue
        gh, gw = max(1, min(int(grid), h)), max(1, min(int(grid), w))
        field = torch.rand((batch, c, gh, gw), generator=g) * 2 - 1
        if (gh, gw) != (h, w):
            field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=False)
        x = x + float(amp) * field
    if smooth > 0:
        x = gaussian_blur(x, smooth)
    return (lo + (hi - lo) * x).clamp_(lo, hi)


def truncated_normal(
    shape: Sequence[int],
    *,
    batch: int = 1,
    seed: int = 0,
    std: float = 0.1,
    value_range: ValueRange = (0.0, 1.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Hu's start ("Feature visualization"): mid-range plus normal noise of ``std`` (share of the
    range), cut at 2 std."""
    c, h, w = _shape(shape)
    g = generator if generator is not None else _generator(seed)
    lo, hi = value_range
    noise = torch.randn((batch, c, h, w), generator=g)
    while bool((bad := noise.abs() > 2).any()):  # redraw the tails, as tf.truncated_normal does
        noise[bad] = torch.randn(int(bad.sum()), generator=g)
    return (lo + (hi - lo) * (0.5 + std * noise)).clamp_(lo, hi)


def spectral_noise(
    shape: Sequence[int],
    *,
    batch: int = 1,
    seed: int = 0,
    sd: float = param.SPECTRUM_SD,
    decay: float = 1.0,
    decorrelate: bool = True,
    value_range: ValueRange = (0.0, 1.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Lucent's start (``param.image(fft=True, decorrelate=True)``): a spectrum of normal noise of
    ``sd``, made an image as the ``fft`` parameterisation does (1/f^decay, divided by 4, ImageNet
    colour correlation for 3 channels, sigmoid). Grey-ish, smooth, with correlated colours; the
    ``fft`` parameterisation started from it holds Lucent's spectrum (its image exactly)."""
    c, h, w = _shape(shape)
    g = generator if generator is not None else _generator(seed)
    spectrum = torch.randn((batch, c, h, w // 2 + 1, 2), generator=g) * float(sd)
    with torch.no_grad():
        x = param.spectrum_image(spectrum, (h, w), decorrelate=decorrelate, decay=decay,
                                 value_range=value_range)
    return x.clamp_(*value_range)


def _data_images(data: object) -> torch.Tensor:
    images = getattr(data, "images", data)
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise InputError(
            "data must be an ImageDataset or an (N, C, H, W) tensor of images; "
            f"got {type(data).__name__}"
        )
    return images


def data_mean(shape: Sequence[int], data: ImageData, *, batch: int = 1) -> torch.Tensor:
    """The better start of sargupta's "DL05: Convolutional Neural Networks": the mean image of a
    data set (an ImageDataset or (N, C, H, W) tensor)."""
    c, h, w = _shape(shape)
    images = _data_images(data)
    if tuple(images.shape[1:]) != (c, h, w):
        raise InputError(f"data images have shape {tuple(images.shape[1:])}, the model wants {(c, h, w)}")
    return images.float().mean(dim=0, keepdim=True).repeat(batch, 1, 1, 1)


def user_image(shape: Sequence[int], image: Images, *, batch: int = 1) -> torch.Tensor:
    """The user's own start: (C, H, W), (1, C, H, W) or (batch, C, H, W), tensor or array."""
    c, h, w = _shape(shape)
    x = torch.from_numpy(np.asarray(image)) if not isinstance(image, torch.Tensor) else image.detach()
    x = x.float().cpu()
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or tuple(x.shape[1:]) != (c, h, w) or x.shape[0] not in (1, batch):
        raise InputError(
            f"initial image must have shape ({c}, {h}, {w}), (1, {c}, {h}, {w}) or ({batch}, {c}, {h}, {w}); "
            f"got {tuple(x.shape)}"
        )
    if not bool(torch.isfinite(x).all()):
        raise InputError("the initial image contains NaN or Inf values")
    return x.expand(batch, c, h, w).clone()


def initial_image(
    kind: str | Images,
    shape: Sequence[int],
    seed: int = 0,
    *,
    batch: int = 1,
    data: ImageData | None = None,
    value_range: ValueRange = (0.0, 1.0),
    **kw: Any,
) -> torch.Tensor:
    """(batch, C, H, W) CPU start images: ``kind`` is "multiscale", "normal", "zeros", "mean"
    (needs ``data``), "spectrum" (Lucent's) or an image (tensor/array) of the model's input shape."""
    if not isinstance(kind, str):
        return user_image(shape, kind, batch=batch)
    if kind == "multiscale":
        return multiscale(shape, batch=batch, seed=seed, value_range=value_range, **kw)
    if kind == "normal":
        return truncated_normal(shape, batch=batch, seed=seed, value_range=value_range, **kw)
    if kind == "spectrum":
        return spectral_noise(shape, batch=batch, seed=seed, value_range=value_range, **kw)
    if kw:
        raise TypeError(f"initial image {kind!r} takes no options, got {sorted(kw)}")
    c, h, w = _shape(shape)
    if kind == "zeros":
        return torch.full((batch, c, h, w), float(value_range[0]))
    if kind == "mean":
        if data is None:
            raise ValueError('init="mean" needs data= (an ImageDataset or (N, C, H, W) tensor)')
        return data_mean(shape, data, batch=batch)
    raise ValueError(f"unknown initial image {kind!r}; valid: {', '.join(KINDS)}, or an image tensor/array")


def candidate_starts(
    shape: Sequence[int],
    n: int,
    *,
    seed: int = 0,
    grids: Sequence[int] = OIP_GRIDS,
    value_range: ValueRange = (0.0, 1.0),
) -> torch.Tensor:
    """``n`` start images for the precursor search, long-scale fluctuations first: the first half
    use only the two coarsest grids (Mönchmeyer: maps that ignore small-scale noise may answer
    large blobs), the rest mix in every scale with random amplitudes."""
    g = _generator(seed)
    out = []
    for k in range(n):
        amp = 0.15 + 0.35 * torch.rand(len(grids), generator=g)
        if k < (n + 1) // 2:
            amp[2:] = 0.0
        else:
            amp[2:] *= 0.3
        out.append(multiscale(shape, grids=grids, amplitudes=amp.tolist(), value_range=value_range,
                              generator=g))
    return torch.cat(out)
