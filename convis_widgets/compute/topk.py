"""Top-k maximally activating examples of every channel of a layer, with their receptive-field crops.

The lecture notes "Visualizing and understanding CNNs" (computer-vision course notes, week 46):
feed a large data set through the network, keep track of which images maximally activate each
unit, and look at what the unit sees in its receptive field. Here a channel's score on an image
is its spatial maximum; one streaming pass keeps a running top-k per channel (a stable sort of
the k kept candidates with the batch's, so ties keep the earlier image), together with the crop
of the input that the unit at the maximum sees (:func:`.probe.receptive_field`, clipped at the
border and marked so). Memory grows with k and the channel count, never with the data set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from .access import ModelAccess, open_model
from .batches import DataSource, held_images, image_batches, known_length
from .cancel import Cancel, RunCancelled, stopper
from .errors import InputError, NotSpatialError
from .inputs import Images, Layer, check_images
from .probe import ReceptiveField, layers, receptive_field

__all__ = ["TopK", "TopKData", "held_images", "image_batches", "iter_top_k", "top_k"]

TopKData = DataSource
"""What :func:`top_k` reads: see :data:`.batches.DataSource`."""


@dataclass(frozen=True)
class TopK:
    """The top-k examples of every channel of ``layer`` over the images seen so far.

    ``indices`` (channels, k) int64: positions in the data (in the order it was read), strongest
    first; ``values`` (channels, k) float32: the channel's spatial maximum on each; ``positions``
    (channels, k, 2) int64: (row, col) of that maximum in the map; ``boxes`` (channels, k, 4)
    int64: (top, left, bottom, right) of the input region the unit there sees, bottom/right
    exclusive, clipped to the input exactly as :meth:`.ReceptiveField.region`; ``clipped``
    (channels, k) bool: the unit's field reaches past the border (the crop is partial);
    ``crops`` (channels, k, C, h, w) float32: the field's pixels, (h, w) the field size, zero where
    the field lies outside the input. ``field`` is None when the layer has no spatial geometry
    (a Linear layer, or one after a global pooling): each unit then sees the whole input.
    ``k`` is the number asked for; the arrays have fewer columns while fewer images were seen.
    ``seen`` images of ``total`` (None when the data cannot tell) were read; ``done``: the last
    batch is in; ``cancelled``: the pass stopped early and can be resumed from this record.
    """

    layer: str
    k: int
    indices: torch.Tensor
    values: torch.Tensor
    positions: torch.Tensor
    boxes: torch.Tensor
    clipped: torch.Tensor
    crops: torch.Tensor
    field: ReceptiveField | None
    seen: int
    total: int | None
    done: bool = False
    cancelled: bool = False

    @property
    def fraction(self) -> float | None:
        """Share of the data set read so far (None when its length is unknown)."""
        return None if not self.total else self.seen / self.total


def _check_k(k: object) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1 (examples kept per channel); got {k!r}")


def _check_batch_size(batch_size: object) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")


def _resolve(access: ModelAccess, model: torch.nn.Module, layer: Layer, shape: tuple[int, ...]) -> str:
    """The layer's dotted name; an int indexes the layers that run (:func:`.probe.layers`)."""
    if isinstance(layer, int) and not isinstance(layer, bool):
        return access.resolve(layer, names=[info.name for info in layers(model, shape)])[0]
    return access.resolve(layer)[0]


def _field(model: torch.nn.Module, layer: str, shape: tuple[int, ...]) -> ReceptiveField | None:
    """The layer's receptive field for inputs of ``shape``, or None where it has no spatial geometry."""
    try:
        return receptive_field(model, layer, shape)
    except NotSpatialError:
        return None


class _Running:
    """The running top-k of every channel, as CPU tensors updated in place batch by batch.

    With ``source`` (the data's images, when it holds them as one batch) crops are cut from it
    when a result is asked for; otherwise (a DataLoader) each winner's crop is kept as it comes.
    """

    def __init__(self, name: str, k: int, field: ReceptiveField | None, image_shape: tuple[int, ...],
                 channels: int, source: Images | None) -> None:
        c, h, w = image_shape
        self.name, self.k, self.field, self.image_shape, self.channels = name, k, field, image_shape, channels
        self.source = source
        self.crop_hw = field.size if field is not None else (h, w)
        self.values = torch.empty(channels, 0)
        self.indices = torch.empty(channels, 0, dtype=torch.int64)
        self.positions = torch.empty(channels, 0, 2, dtype=torch.int64)
        self.crops = torch.empty(channels, 0, c, *self.crop_hw) if source is None else None
        self.seen = 0

    @classmethod
    def resume(cls, state: TopK, image_shape: tuple[int, ...], source: Images | None) -> _Running:
        """A running top-k that goes on from ``state`` (copied: the given TopK stays as it is)."""
        run = cls(state.layer, state.k, state.field, image_shape, int(state.values.shape[0]), source)
        if state.crops.shape[2:] != (image_shape[0], *run.crop_hw):
            raise ValueError(
                f"resume= holds crops of shape {tuple(state.crops.shape[2:])} but these images give "
                f"{(image_shape[0], *run.crop_hw)}: resume only the same pass over the same data"
            )
        run.values, run.indices = state.values.clone(), state.indices.clone()
        run.positions, run.seen = state.positions.clone(), state.seen
        if run.crops is not None:
            run.crops = state.crops.clone()
        return run

    def _boxes(self, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(unclipped field, clipped box) of the units at ``pos`` (..., 2), each (..., 4): (top,
        left, bottom, right), bottom/right exclusive; the clipped one is :meth:`.ReceptiveField.region`."""
        _, h, w = self.image_shape
        if self.field is None:
            whole = torch.tensor([0, 0, h, w]).expand(*pos.shape[:-1], 4)
            return whole, whole
        f = self.field
        lo, hi, clip_lo, clip_hi = [], [], [], []
        for axis, size in enumerate((h, w)):
            centre = f.offset[axis] + pos[..., axis].double() * f.stride[axis]
            half = (f.size[axis] - 1) / 2
            a = torch.ceil(centre - half - 1e-9).long()
            b = torch.floor(centre + half + 1e-9).long() + 1
            limit = size if f.reach is None else min(size, math.floor(f.reach[axis] + 1e-9) + 1)
            lo.append(a)
            hi.append(b)
            clip_lo.append(a.clamp(min=0))
            clip_hi.append(torch.maximum(b.clamp(max=limit), a.clamp(min=0)))
        field = torch.stack([lo[0], lo[1], hi[0], hi[1]], dim=-1)
        clipped = torch.stack([clip_lo[0], clip_lo[1], clip_hi[0], clip_hi[1]], dim=-1)
        return field, clipped

    def _crops(self, images: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """(M, C, h, w) crops of ``images`` (M, C, H, W) over the fields of the units at ``pos``
        (M, 2), zero where a field lies outside the input."""
        field, box = self._boxes(pos)
        rh, rw = self.crop_hw
        m, c, h, w = images.shape
        rows = field[:, 0:1] + torch.arange(rh)  # (M, rh)
        cols = field[:, 1:2] + torch.arange(rw)
        inside = (((rows >= box[:, 0:1]) & (rows < box[:, 2:3]))[:, :, None]
                  & ((cols >= box[:, 1:2]) & (cols < box[:, 3:4]))[:, None, :])  # (M, rh, rw)
        flat = (rows.clamp(0, h - 1)[:, :, None] * w + cols.clamp(0, w - 1)[:, None, :]).reshape(m, 1, -1)
        picked = images.reshape(m, c, h * w).gather(2, flat.expand(-1, c, -1)).reshape(m, c, rh, rw)
        return (picked * inside[:, None]).float()

    def update(self, act: torch.Tensor, images: torch.Tensor) -> None:
        """Merge one batch: its activations (N, C, H, W) or (N, C) and the images (on the CPU).

        Only channels where some image of the batch beats the k-th kept value are re-sorted; once
        the top-k has settled most batches change few."""
        n = act.shape[0]
        best, where = act.reshape(n, act.shape[1], -1).max(dim=2)
        best, where = best.T.float().cpu(), where.T.cpu()  # (C, N)
        kept = self.values.shape[1]
        if kept < self.k:
            rows = torch.arange(self.channels)
        else:
            rows = (best > self.values[:, -1:]).any(dim=1).nonzero().squeeze(1)
            if not len(rows):
                self.seen += n
                return
        values = torch.cat([self.values[rows], best[rows]], dim=1)  # (R, kept + N)
        order = torch.sort(values, dim=1, descending=True, stable=True).indices[:, : self.k]
        row, col = (order >= kept).nonzero(as_tuple=True)  # entries taken from this batch
        batch_row = order[row, col] - kept
        flat_pos = where[rows[row], batch_row]
        map_w = act.shape[3] if act.ndim == 4 else 1
        pos = torch.stack([flat_pos // map_w, flat_pos % map_w], dim=1)
        old = order.clamp(max=max(kept - 1, 0))

        def merged(previous: torch.Tensor, fresh: torch.Tensor) -> torch.Tensor:
            """The kept entries in the new order, with this batch's winners written in (in place
            once every channel holds k)."""
            if kept:
                taken = previous[rows[:, None], old]
            else:
                taken = previous.new_empty(*order.shape, *previous.shape[2:])
            taken[row, col] = fresh
            if taken.shape[1] != kept:  # still filling up: every channel was merged
                return taken
            previous[rows] = taken
            return previous

        self.values = merged(self.values, best[rows[row], batch_row])
        self.indices = merged(self.indices, self.seen + batch_row)
        self.positions = merged(self.positions, pos)
        if self.crops is not None:
            self.crops = merged(self.crops, self._crops(images[batch_row], pos))
        self.seen += n

    def result(self, total: int | None, *, done: bool = False, cancelled: bool = False,
               copy: bool = True) -> TopK:
        """The state as a :class:`TopK`; ``copy`` makes it independent of later batches."""
        field, boxes = self._boxes(self.positions)
        if self.crops is not None:
            crops = self.crops.clone() if copy else self.crops
        else:
            assert self.source is not None
            flat = self.indices.reshape(-1)
            if isinstance(self.source, np.ndarray):
                picked = torch.as_tensor(self.source[flat.numpy()])
            else:
                picked = self.source[flat.to(self.source.device)].cpu()
            crops = self._crops(picked, self.positions.reshape(-1, 2)).reshape(
                *self.indices.shape, *self.crops_shape)
        indices, values, positions = self.indices, self.values, self.positions
        if copy:
            indices, values, positions = indices.clone(), values.clone(), positions.clone()
        return TopK(layer=self.name, k=self.k, indices=indices, values=values, positions=positions,
                    boxes=boxes.contiguous(), clipped=(field != boxes).any(dim=-1), crops=crops,
                    field=self.field, seen=self.seen, total=total, done=done, cancelled=cancelled)

    @property
    def crops_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of one crop."""
        return (self.image_shape[0], *self.crop_hw)


def iter_top_k(
    model: torch.nn.Module,
    layer: Layer,
    data: TopKData,
    k: int = 9,
    *,
    batch_size: int = 256,
    resume: TopK | None = None,
    cancel: Cancel = None,
) -> Iterator[TopK]:
    """The streaming pass of :func:`top_k` as an iterator: a :class:`TopK` after every batch (its
    ``seen``/``total``/``fraction`` the progress), so a view fills in as it goes. Once ``cancel``
    asks, the last record is yielded marked ``cancelled`` and the iteration ends; pass it as
    ``resume=`` to go on with the same data where it stopped. Arguments are checked at the call."""
    access, stop = _start(model, layer, k, batch_size, resume, cancel)
    return _pass(access, model, layer, data, k, batch_size, resume, stop, snapshots=True)


def _start(model: torch.nn.Module, layer: Layer, k: int, batch_size: int, resume: TopK | None,
           cancel: Cancel) -> tuple[ModelAccess, Callable[[], bool]]:
    """The checks made before any data is read, and the model's view."""
    _check_k(k)
    _check_batch_size(batch_size)
    stop = stopper(cancel)
    access = open_model(model)
    if isinstance(layer, str):
        access.resolve(layer)  # a wrong name fails now, listing the real ones
    if resume is not None:
        if not isinstance(resume, TopK):
            raise TypeError(f"resume must be a TopK from an earlier pass; got {type(resume).__name__}")
        if isinstance(layer, str) and resume.layer != layer:
            raise ValueError(f"resume= is a pass over layer {resume.layer!r}, not {layer!r}")
        if resume.k != k:
            raise ValueError(f"resume= keeps k={resume.k}, not k={k}")
    return access, stop


def _pass(access: ModelAccess, model: torch.nn.Module, layer: Layer, data: TopKData, k: int,
          batch_size: int, resume: TopK | None, stop: Callable[[], bool], *, snapshots: bool
          ) -> Iterator[TopK]:
    """The pass: a snapshot after every batch, or (``snapshots`` False) only the final state."""
    total = known_length(data)
    batches = image_batches(data, batch_size, skip=resume.seen if resume is not None else 0)
    first = next(batches, None)
    if first is None:
        if resume is None:
            raise InputError("empty data set: top_k needs at least one image")
        yield replace(resume, total=total)
        return
    shape = tuple(int(s) for s in check_images(first, model=model, device="cpu").shape[1:])
    name = _resolve(access, model, layer, shape)
    if resume is not None and resume.layer != name:
        raise ValueError(f"resume= is a pass over layer {resume.layer!r}, not {name!r}")
    run: _Running | None = None
    pending: Images | None = first
    with access.reader([name]) as read, torch.no_grad():
        while pending is not None:
            images = check_images(pending, model=model, device="cpu")
            if tuple(images.shape[1:]) != shape:
                got = tuple(images.shape[1:])
                raise InputError(f"images change shape within the data: {shape}, then {got}")
            act = read(images.to(access.device))[name]
            if run is None:
                if act.ndim not in (2, 4):
                    raise NotSpatialError(f"layer {name!r} outputs shape {tuple(act.shape[1:])}: top-k needs "
                                          "(C, H, W) maps or (F,) units")
                field = _field(model, name, shape) if act.ndim == 4 else None
                source = held_images(data)
                run = (_Running.resume(resume, shape, source) if resume is not None
                       else _Running(name, k, field, shape, int(act.shape[1]), source))
                if run.channels != act.shape[1]:
                    raise ValueError(f"resume= has {run.channels} channels but layer {name!r} has "
                                     f"{act.shape[1]}: resume only the same pass")
            run.update(act, images)
            if stop():
                yield run.result(total, cancelled=True, copy=snapshots)
                return
            pending = next(batches, None)  # read ahead: the record says whether it is the last
            if snapshots or pending is None:
                yield run.result(total, done=pending is None, copy=snapshots)


def top_k(model: torch.nn.Module, layer: Layer, data: TopKData, k: int = 9, *, batch_size: int = 256,
          cancel: Cancel = None) -> TopK:
    """The ``k`` images that most activate each channel of ``layer`` over ``data`` (by the channel's
    spatial maximum), with where and the crop of its receptive field, in one streaming pass whose
    memory grows with k and the channel count only; a :class:`RunCancelled` if ``cancel`` asks."""
    access, stop = _start(model, layer, k, batch_size, None, cancel)
    (result,) = _pass(access, model, layer, data, k, batch_size, None, stop, snapshots=False)
    if result.cancelled:
        raise RunCancelled(f"top_k was cancelled after {result.seen} images")
    return result
