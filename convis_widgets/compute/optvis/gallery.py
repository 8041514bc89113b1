"""Whole-layer galleries: many maps of a layer optimised as one batch, each from its best precursor
start, with a quality figure against the highest activation the data set reaches."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .._compat import keyword_only, layer_after_model, renamed_kwargs, warn
from ..access import open_model
from ..cancel import Cancel, check, stopper
from ..inputs import ImageData, Layer, check_images
from .init import _data_images
from .loop import Settings, Step, Tick, output_shapes, run
from .objectives import channels as channels_objective

GalleryProgress = Callable[[list[int], Tick], None]
"""Called after every step of a batch: (the batch's channels, the step's :class:`~.loop.Tick`)."""
GalleryPictures = Callable[[list[int], Step], None]
"""Called at a batch's reported steps: (the batch's channels, the step's record, images on the CPU)."""


@dataclass
class Gallery:
    """Pictures of maps of one layer: ``images[i]`` maximises map ``channels[i]``.

    ``value``: the map mean reached (the objective's value, as in ``Step.value``); ``responded``:
    whether the map fired (mean > 0) on its picture (False: no candidate start and no step made it
    respond, the picture is not a result); ``dataset_max``: the highest map mean over the data set;
    ``quality``: value / dataset_max.
    """

    channels: list[int]
    images: torch.Tensor
    value: torch.Tensor
    responded: torch.Tensor
    dataset_max: torch.Tensor | None = None
    quality: torch.Tensor | None = None

    @property
    def activation(self) -> torch.Tensor:
        """Old name of :attr:`value`."""
        warn("Gallery.activation", "Gallery.value (the objective's value)")
        return self.value


def _check_batch_size(batch_size: object) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")


@renamed_kwargs(data="images")
@layer_after_model
@keyword_only(2, "channels", "batch_size")
def dataset_max_activation(
    model: nn.Module,
    images: ImageData,
    *,
    layer: Layer,
    channels: Sequence[int] | None = None,
    batch_size: int = 256,
    cancel: Cancel = None,
) -> torch.Tensor:
    """Highest mean of each map of ``layer`` over ``images`` (an (N, C, H, W) tensor or an
    ImageDataset): the same measure the channel objective maximises. CPU float tensor [channels]."""
    stop = stopper(cancel)
    access = open_model(model)
    name, _ = access.resolve(layer)
    _check_batch_size(batch_size)
    x = check_images(_data_images(images), model=model, device="cpu")
    best: torch.Tensor | None = None
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            check(stop, "dataset_max_activation")
            batch = x[start:start + batch_size].to(access.device)
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


@keyword_only(4, "steps", "seed", "batch_size", "cancel", "data")
def iter_gallery(
    model: nn.Module,
    layer: Layer,
    input_shape: Sequence[int] | None = None,
    channels: Sequence[int] | None = None,
    *,
    steps: int = 256,
    seed: int = 0,
    batch_size: int = 64,
    data: ImageData | None = None,
    cancel: Cancel = None,
    progress: GalleryProgress | None = None,
    pictures: GalleryPictures | None = None,
    **settings: object,
) -> Iterator[Gallery]:
    """Optimise maps of ``layer`` in batches of ``batch_size`` (one forward/backward per step for a
    whole batch), yielding a :class:`Gallery` per finished batch. A cancelled batch is yielded with
    the pictures it reached, then the iteration ends. ``settings`` are :class:`Settings` fields.

    ``progress(channels, tick)``, if given, is called after every step of a batch with the batch's
    channels and the step's :class:`~.loop.Tick` (step, time, values: no image copy), so a long
    batch shows its progress. ``pictures(channels, record)``, if given, gets the batch's images
    (on the CPU) at the steps ``report`` names (log-spaced by default, see ``report_steps``) before
    its end, so a picture can fill as it goes; without it a batch copies its images only at its
    start and end."""
    stop = stopper(cancel)
    access = open_model(model)
    c, h, w = access.input_shape(input_shape, spatial=True, images=data)
    shape = (c, h, w)
    name, _ = access.resolve(layer)
    out_shape = output_shapes(model, [name], shape)[name]
    n = out_shape[0] if out_shape else 0
    chosen = list(range(n)) if channels is None else [int(c) for c in channels]
    if not chosen:
        raise ValueError("channels is empty: give at least one channel index")
    base = Settings(**{"steps": steps, "seed": seed, **settings})
    channels_objective(name, chosen).check({name: out_shape})
    _check_batch_size(batch_size)
    dmax = dataset_max_activation(model, data, layer=name, channels=chosen) if data is not None else None
    for start in range(0, len(chosen), batch_size):
        part = chosen[start:start + batch_size]
        final = None
        ticks = None if progress is None else functools.partial(progress, part)
        reports = {} if pictures is not None else {"report": base.steps}  # no picture asked for: none made
        for record in run(model, channels_objective(name, part), shape, cancel=stop, data=data, on_step=ticks,
                          **{**base.to_dict(), "init": base.init, "seed": seed + start, **reports}):
            final = record
            if pictures is not None and not record.done:
                pictures(part, record)
        assert final is not None and final.done
        part_max = dmax[start:start + len(part)] if dmax is not None else None
        quality = None
        if part_max is not None:
            nan = torch.full_like(part_max, float("nan"))
            quality = torch.where(part_max > 0, final.value / part_max, nan)
        yield Gallery(part, final.images, final.value, final.responded, part_max, quality)
        if final.reason == "cancelled":
            return


@keyword_only(4, "steps", "seed", "batch_size", "cancel", "data")
def gallery(
    model: nn.Module,
    layer: Layer,
    input_shape: Sequence[int] | None = None,
    channels: Sequence[int] | None = None,
    *,
    steps: int = 256,
    seed: int = 0,
    batch_size: int = 64,
    data: ImageData | None = None,
    cancel: Cancel = None,
    progress: GalleryProgress | None = None,
    pictures: GalleryPictures | None = None,
    **settings: object,
) -> Gallery:
    """All (or the chosen) maps of ``layer``, optimised in batches; see :func:`iter_gallery`."""
    parts = list(iter_gallery(model, layer, input_shape, channels, steps=steps, seed=seed,
                              batch_size=batch_size, data=data, cancel=cancel, progress=progress,
                              pictures=pictures, **settings))
    cat = torch.cat

    def joined(get: Callable[[Gallery], torch.Tensor | None]) -> torch.Tensor | None:
        values = [get(p) for p in parts]
        return None if any(v is None for v in values) else cat([v for v in values if v is not None])

    return Gallery(
        channels=[c for p in parts for c in p.channels],
        images=cat([p.images for p in parts]),
        value=cat([p.value for p in parts]),
        responded=cat([p.responded for p in parts]),
        dataset_max=joined(lambda p: p.dataset_max),
        quality=joined(lambda p: p.quality),
    )
