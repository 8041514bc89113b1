"""Per-channel statistics of a layer over a data set: dead, saturated and too-bright channels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._compat import layer_after_model, renamed_kwargs
from .access import open_model
from .batches import DataSource, image_batches
from .cancel import Cancel, check, stopper
from .errors import InputError
from .inputs import Layer, check_images

SATURATION_ATOL = 1e-6
SATURATION_RTOL = 1e-3


@dataclass
class ChannelStats:
    """Per-channel statistics (numpy arrays indexed by channel) and the flags derived from them.

    ``dead``: zero on every input; ``saturated``: not dead but (almost) constant;
    ``disparity``: mean |activation| over ``disparity_factor`` times the median of live channels.
    """

    mean: np.ndarray
    std: np.ndarray
    max: np.ndarray
    min: np.ndarray
    frac_zero: np.ndarray
    mean_abs: np.ndarray
    count: int
    dead: np.ndarray
    saturated: np.ndarray
    disparity: np.ndarray
    disparity_ratio: float
    disparity_factor: float = 10.0

    def summary(self) -> str:
        """One line: dead channels, saturated channels, normalisation disparity."""
        c = len(self.mean)
        dead, sat, dis = (np.flatnonzero(a) for a in (self.dead, self.saturated, self.disparity))
        parts = [
            f"{len(dead)} of {c} channels dead ({_ids(dead)})" if len(dead)
            else f"no dead channels (of {c})",
            f"{len(sat)} saturated ({_ids(sat)})" if len(sat) else "none saturated",
        ]
        ratio = self.disparity_ratio
        if len(dis) == 1:
            parts.append(f"normalisation disparity: channel {dis[0]} is {ratio:.0f}x the median")
        elif len(dis) > 1:
            parts.append(
                f"normalisation disparity: channels {_ids(dis)} up to {ratio:.0f}x the median"
            )
        elif np.isfinite(ratio):
            parts.append(f"no normalisation disparity (brightest {ratio:.1f}x the median)")
        return "; ".join(parts)


def _ids(idx: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:limit])
    return shown + (", ..." if len(idx) > limit else "")


class RunningChannelStats:
    """Streaming per-channel moments in float64 (Chan's parallel mean/variance update)."""

    def __init__(self) -> None:
        self.images = 0
        self.n = 0
        self._s: dict[str, torch.Tensor] = {}

    def update(self, act: torch.Tensor) -> None:
        """Add a batch of activations: (N, C, ...) with any trailing dims, or (N,) as 1 channel."""
        a = act.detach()
        if a.device.type == "mps":  # no float64 there
            a = a.cpu()
        if a.numel() == 0:
            return
        a = a.double()
        a = a.reshape(a.shape[0], 1, 1) if a.ndim == 1 else a.reshape(a.shape[0], a.shape[1], -1)
        nb = a.shape[0] * a.shape[2]
        mean_b = a.mean(dim=(0, 2))
        b = {
            "mean": mean_b,
            "m2": ((a - mean_b[None, :, None]) ** 2).sum(dim=(0, 2)),
            "max": a.amax(dim=(0, 2)),
            "min": a.amin(dim=(0, 2)),
            "zeros": (a == 0).sum(dim=(0, 2)).double(),
            "abs": a.abs().sum(dim=(0, 2)),
        }
        s = self._s
        if not s:
            self._s = b
        elif mean_b.shape != s["mean"].shape:
            raise InputError(
                f"channel count changed between batches: {s['mean'].shape[0]} -> {mean_b.shape[0]}"
            )
        else:
            n = self.n + nb
            delta = b["mean"] - s["mean"]
            s["mean"] = s["mean"] + delta * (nb / n)
            s["m2"] = s["m2"] + b["m2"] + delta**2 * (self.n * nb / n)
            s["max"] = torch.maximum(s["max"], b["max"])
            s["min"] = torch.minimum(s["min"], b["min"])
            s["zeros"] = s["zeros"] + b["zeros"]
            s["abs"] = s["abs"] + b["abs"]
        self.n += nb
        self.images += int(a.shape[0])

    def result(self, *, disparity_factor: float = 10.0) -> ChannelStats:
        """The statistics so far, with dead/saturated/disparity flags."""
        if not self._s:
            raise InputError("empty data set: no activations were seen")
        s = {k: v.cpu().numpy() for k, v in self._s.items()}
        mean = s["mean"]
        std = np.sqrt(np.maximum(s["m2"] / self.n, 0.0))
        frac_zero = s["zeros"] / self.n
        mean_abs = s["abs"] / self.n
        dead = frac_zero == 1.0
        saturated = ~dead & (std <= SATURATION_ATOL + SATURATION_RTOL * np.abs(mean))
        live = mean_abs[~dead]
        if len(live):
            median = float(np.median(live))
            ratio = float(live.max() / median)
            disparity = ~dead & (mean_abs > disparity_factor * median)
        else:
            ratio, disparity = float("nan"), np.zeros_like(dead)
        return ChannelStats(
            mean=mean,
            std=std,
            max=s["max"],
            min=s["min"],
            frac_zero=frac_zero,
            mean_abs=mean_abs,
            count=self.images,
            dead=dead,
            saturated=saturated,
            disparity=disparity,
            disparity_ratio=ratio,
            disparity_factor=disparity_factor,
        )


def channel_statistics_from_activations(
    act: torch.Tensor | np.ndarray, *, disparity_factor: float = 10.0
) -> ChannelStats:
    """Statistics of given activations, (N, C, H, W) or (N, F) (F channels of size 1)."""
    acc = RunningChannelStats()
    acc.update(torch.as_tensor(act))
    return acc.result(disparity_factor=disparity_factor)


@renamed_kwargs(layer_name="layer", data="images")
@layer_after_model
def channel_statistics(
    model: nn.Module,
    images: DataSource,
    *,
    layer: Layer,
    batch_size: int = 64,
    max_batches: int | None = None,
    device: torch.device | str | None = None,
    disparity_factor: float = 10.0,
    cancel: Cancel = None,
) -> ChannelStats:
    """Per-channel statistics of ``layer`` in one streaming pass over ``images``.

    ``images``: an (N, C, H, W) tensor/array, a Dataset of (image, label) or images, or an
    iterable of batches (a DataLoader). Memory does not grow with the data set; ``cancel`` is read
    between batches.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    stop = stopper(cancel)
    access = open_model(model)
    name, _ = access.resolve(layer)
    acc = RunningChannelStats()
    with torch.no_grad():
        for k, batch in enumerate(image_batches(images, batch_size)):
            if max_batches is not None and k >= max_batches:
                break
            check(stop, "channel_statistics")
            acc.update(access.outputs(check_images(batch, model=model, device=device), [name])[name])
    if acc.images == 0:
        raise InputError("empty data set")
    return acc.result(disparity_factor=disparity_factor)
