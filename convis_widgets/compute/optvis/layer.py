"""Whole-layer galleries: many maps of a layer optimised as one batch, each from its best precursor
start, with a quality figure against the highest activation the data set reaches."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..access import open_model
from ..inputs import check_images
from .init import _data_images
from .loop import Settings, output_shapes, run
from .objectives import channels as channels_objective


@dataclass
class LayerRender:
    """Pictures of maps of one layer: ``images[i]`` maximises map ``channels[i]``.

    ``activation``: the map mean reached; ``responded``: whether the map fired (mean > 0) on its
    picture (False: no candidate start and no step made it respond, the picture is not a result);
    ``dataset_max``: the highest map mean over the data set; ``quality``: activation / dataset_max.
    """

    channels: list[int]
    images: torch.Tensor
    activation: torch.Tensor
    responded: torch.Tensor
    dataset_max: torch.Tensor | None = None
    quality: torch.Tensor | None = None


def dataset_max_activation(
    model: nn.Module,
    layer: str,
    data: Any,
    channels: Sequence[int] | None = None,
    batch_size: int = 256,
) -> torch.Tensor:
    """Highest mean of each map of ``layer`` over the images of ``data`` (an ImageDataset or an
    (N, C, H, W) tensor): the same measure the channel objective maximises. CPU float tensor [N]."""
    access = open_model(model)
    name, _ = access.resolve(layer)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")
    images = check_images(_data_images(data), model=model, device="cpu")
    best: torch.Tensor | None = None
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].to(access.device)
            a = access.outputs(batch, [name])[name]
            means = a.reshape(a.shape[0], a.shape[1], -1).mean(dim=2) if a.ndim > 2 else a
            top = means.max(dim=0).values.float().cpu()
            best = top if best is None else torch.maximum(best, top)
    assert best is not None
    if channels is None:
        return best
    n = best.numel()
    bad = [c for c in channels if not -n <= c < n]
    if bad:
        raise ValueError(
            f"channel {bad[0]} is out of range: layer {name!r} has {n} channels, valid 0..{n - 1}"
        )
    return best[list(channels)]


def iter_render_layer(
    model: nn.Module,
    layer: str,
    input_shape: Sequence[int] | None = None,
    channels: Sequence[int] | None = None,
    steps: int = 256,
    seed: int = 0,
    batch_size: int = 64,
    cancel: Callable[[], bool] | None = None,
    data: Any = None,
    **settings: Any,
) -> Iterator[LayerRender]:
    """Render maps of ``layer`` in batches of ``batch_size`` (one forward/backward per step for a whole
    batch), yielding a :class:`LayerRender` per finished batch. A cancelled batch is yielded with the
    pictures it reached, then the iteration ends."""
    access = open_model(model)
    c, h, w = access.input_shape(input_shape, spatial=True)
    shape = (c, h, w)
    name, _ = access.resolve(layer)
    out_shape = output_shapes(model, [name], shape)[name]
    n = out_shape[0] if out_shape else 0
    chosen = list(range(n)) if channels is None else [int(c) for c in channels]
    if not chosen:
        raise ValueError("channels is empty: give at least one channel index")
    base = Settings(**{"steps": steps, "seed": seed, **settings})
    channels_objective(name, chosen).check({name: out_shape})
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")
    dmax = dataset_max_activation(model, name, data, chosen) if data is not None else None
    for start in range(0, len(chosen), batch_size):
        part = chosen[start:start + batch_size]
        final = None
        for record in run(model, channels_objective(name, part), shape, cancel=cancel, data=data,
                          **{**base.to_dict(), "init": base.init, "seed": seed + start}):
            final = record
        assert final is not None and final.done
        part_max = dmax[start:start + len(part)] if dmax is not None else None
        quality = None
        if part_max is not None:
            nan = torch.full_like(part_max, float("nan"))
            quality = torch.where(part_max > 0, final.value / part_max, nan)
        yield LayerRender(part, final.images, final.value, final.responded, part_max, quality)
        if final.reason == "cancelled":
            return


def render_layer(
    model: nn.Module,
    layer: str,
    input_shape: Sequence[int] | None = None,
    channels: Sequence[int] | None = None,
    steps: int = 256,
    seed: int = 0,
    batch_size: int = 64,
    cancel: Callable[[], bool] | None = None,
    data: Any = None,
    **settings: Any,
) -> LayerRender:
    """All (or the chosen) maps of ``layer``, rendered in batches; see :func:`iter_render_layer`."""
    parts = list(iter_render_layer(model, layer, input_shape, channels, steps, seed, batch_size, cancel,
                                   data, **settings))
    cat = torch.cat

    def joined(get: Callable[[LayerRender], torch.Tensor | None]) -> torch.Tensor | None:
        values = [get(p) for p in parts]
        return None if any(v is None for v in values) else cat([v for v in values if v is not None])

    return LayerRender(
        channels=[c for p in parts for c in p.channels],
        images=cat([p.images for p in parts]),
        activation=cat([p.activation for p in parts]),
        responded=cat([p.responded for p in parts]),
        dataset_max=joined(lambda p: p.dataset_max),
        quality=joined(lambda p: p.quality),
    )

