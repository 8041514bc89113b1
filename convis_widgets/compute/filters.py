"""Conv filters as pictures, and a smoothness score that tells converged filters from noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._compat import renamed_kwargs
from .inputs import Layer
from .probe import resolve_layer

NOISY_BELOW = 0.15
"""Default smoothness threshold. Random init scores 0 on average (a 16-filter layer's mean:
+-0.055 for 3x3, +-0.04 for 5x5; 99th percentile 0.12); a digits CNN trained to 99.4% scores
0.22 with 3x3 and 0.40 with 5x5 first-layer kernels; blobs, ramps and Gabors 0.4-0.95."""


NOISY_SHARE = 0.25
"""A layer with more than this share of its filters noisy gets the "not converged" verdict: the
verdict goes by how many filters are noisy, not by the mean (which half smooth, half noisy filters
can lift over the threshold)."""


NO_SPATIAL = "1x1 kernels have no spatial structure: smoothness does not apply"
"""The verdict of :func:`filter_report` on a layer of 1x1 kernels (their smoothness is NaN)."""


def conv_layers(model: nn.Module) -> list[str]:
    """Names of the modules with a 4-D ``weight`` (Conv2d, ConvTranspose2d)."""
    return [
        name
        for name, m in model.named_modules()
        if name and isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.ndim == 4
    ]


@renamed_kwargs(layer_name="layer")
def conv_weight(model: nn.Module, layer: Layer) -> torch.Tensor:
    """The layer's weight as (out, in, kh, kw); ConvTranspose2d's (in, out, kh, kw) is swapped.

    For a grouped ConvTranspose2d this gives the first group's view of each output channel.
    """
    name, m = resolve_layer(model, layer)
    weight = getattr(m, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.ndim != 4:
        raise ValueError(
            f"layer {name!r} ({type(m).__name__}) has no 4-D conv weight; "
            f"conv layers: {conv_layers(model)}"
        )
    w = weight.detach()
    if getattr(m, "transposed", False):
        w = w.transpose(0, 1)
    return w.to("cpu", torch.float64, copy=True)  # a copy: never a view of the user's weights


def _minmax(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    lo = a.min(axis=axes, keepdims=True)
    span = a.max(axis=axes, keepdims=True) - lo
    return np.where(span > 0, (a - lo) / np.where(span > 0, span, 1.0), 0.5)


@renamed_kwargs(layer_name="layer")
def filter_images(model: nn.Module, layer: Layer, *, mode: str = "auto") -> np.ndarray:
    """Filters as float32 pictures in [0, 1], each scaled by its own min/max (constant -> 0.5).

    "rgb" (or "auto" with 3 input channels): (out, kh, kw, 3), one colour picture per filter;
    "channels": (out, in, kh, kw), each (filter, input channel) slice scaled on its own, except
    for 1x1 kernels, whose one-pixel slices are scaled over the filter's input channels together
    (so the picture of input channel c shows that weight against the filter's others).
    """
    w = conv_weight(model, layer).numpy()
    if mode == "auto":
        mode = "rgb" if w.shape[1] == 3 else "channels"
    if mode == "rgb":
        if w.shape[1] != 3:
            raise ValueError(
                f"mode='rgb' needs 3 input channels; layer {layer!r} has {w.shape[1]}: "
                "use mode='channels'"
            )
        rgb: np.ndarray = _minmax(w, (1, 2, 3)).transpose(0, 2, 3, 1).astype(np.float32)
        return rgb
    if mode == "channels":
        axes = (2, 3) if w.shape[2] * w.shape[3] > 1 else (1, 2, 3)
        return _minmax(w, axes).astype(np.float32)
    raise ValueError(f"mode must be 'auto', 'rgb' or 'channels'; got {mode!r}")


def smoothness(weight: torch.Tensor | np.ndarray) -> np.ndarray:
    """Per output filter, spatial lag-1 autocorrelation in [-1, 1]: noise 0, smooth filters ~1.

    r = sum over horizontal and vertical neighbour pairs (all input channels) of products of
    the filter's mean-removed values, over the same pairs' mean square; rescaled as
    (r - b) / (1 - b) with b = -1/(n-1), the expected r of white noise over n values, so that
    noise scores 0 whatever the kernel size. Constant filters score 1. 1x1 kernels have no
    neighbours, so no spatial structure to score: every filter gets NaN (see :data:`NO_SPATIAL`).
    """
    w = weight.detach().cpu().double().numpy() if isinstance(weight, torch.Tensor) else weight
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"weight must be (out, in, kh, kw); got shape {w.shape}")
    if w.shape[2] * w.shape[3] < 2:
        return np.full(len(w), np.nan)
    x = w - w.mean(axis=(1, 2, 3), keepdims=True)
    num = np.zeros(len(x))
    den = np.zeros(len(x))
    for a, b in ((x[:, :, :, 1:], x[:, :, :, :-1]), (x[:, :, 1:, :], x[:, :, :-1, :])):
        num += (a * b).sum(axis=(1, 2, 3))
        den += ((a**2 + b**2) / 2).sum(axis=(1, 2, 3))
    flat = np.abs(x).max(axis=(1, 2, 3)) <= 1e-9 * np.abs(w).max(axis=(1, 2, 3))
    r = num / np.where(flat, 1.0, den)
    noise = -1.0 / (x[0].size - 1)
    return np.where(flat, 1.0, (r - noise) / (1 - noise))


@dataclass
class FilterReport:
    """Smoothness of each filter of a layer and a one-line verdict on the whole layer."""

    layer: str
    smoothness: np.ndarray
    mean: float
    noisy: np.ndarray
    threshold: float
    verdict: str


@renamed_kwargs(layer_name="layer")
def filter_report(model: nn.Module, layer: Layer, *, noisy_below: float | None = None) -> FilterReport:
    """Smoothness verdict for one conv layer: noisy filters mean a network that has not
    converged (lecture notes "Visualizing and understanding CNNs").

    The verdict counts the filters below ``noisy_below`` (default :data:`NOISY_BELOW`): none is
    "looks converged", up to :data:`NOISY_SHARE` of them "mostly converged", more "not converged".
    A layer of 1x1 kernels gets NaN smoothness, no noisy flags and the verdict :data:`NO_SPATIAL`.
    """
    threshold = NOISY_BELOW if noisy_below is None else noisy_below
    name, _ = resolve_layer(model, layer)
    s = smoothness(conv_weight(model, name))
    if np.isnan(s).all():
        return FilterReport(name, s, float("nan"), np.zeros(len(s), dtype=bool), threshold, NO_SPATIAL)
    mean, noisy = float(s.mean()), s < threshold
    count = f"{int(noisy.sum())} of {len(s)} noisy, below {threshold:.2f}"
    if not noisy.any():
        verdict = f"smooth filters (mean smoothness {mean:.2f}): looks converged"
    elif noisy.mean() <= NOISY_SHARE:
        verdict = f"smooth filters (mean smoothness {mean:.2f}; {count}): mostly converged"
    else:
        verdict = f"noisy filters (mean smoothness {mean:.2f}; {count}): not converged or weakly regularised"
    return FilterReport(name, s, mean, noisy, threshold, verdict)
