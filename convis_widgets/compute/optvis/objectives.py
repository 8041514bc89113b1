"""What feature visualisation maximises: objectives that compose with + - and * and describe themselves.

An objective maps the captured layer outputs (and the model output) of a batch to one value per
image, higher = stronger. ``channel("conv3", 5) - 0.5 * channel("conv3", 7)`` is again an objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

OUTPUT = ""
"""Key under which the model's own output is handed to objectives (class logits)."""

Acts = Mapping[str, torch.Tensor]
Shapes = Mapping[str, tuple[int, ...]]
Check = Callable[[Shapes], None]


@dataclass(frozen=True)
class Objective:
    """A per-image value to maximise over the captured outputs ``acts`` (layer name -> tensor).

    ``layers`` names what must be captured (``OUTPUT`` for the model output), ``checks`` validate
    indices against the real output shapes before a run, ``batch`` is the batch size the objective
    needs (None: any).
    """

    fn: Callable[[Acts], torch.Tensor]
    description: str
    layers: frozenset[str]
    checks: tuple[Check, ...] = ()
    batch: int | None = None

    def __call__(self, acts: Acts) -> torch.Tensor:
        """Objective value per image, shape (B,)."""
        return self.fn(acts)

    def check(self, shapes: Shapes) -> None:
        """Raise a clear error if an index is out of range for the real output shapes."""
        for c in self.checks:
            c(shapes)

    @property
    def needs_output(self) -> bool:
        """Whether the model must run to its end (the objective reads the model output)."""
        return OUTPUT in self.layers

    def _combine(self, other: Objective, fn: Callable[[Acts], torch.Tensor], description: str) -> Objective:
        if self.batch is not None and other.batch is not None and self.batch != other.batch:
            raise ValueError(
                f"cannot combine objectives for batches of {self.batch} and {other.batch} images: "
                f"{self.description!r} and {other.description!r}"
            )
        return Objective(fn, description, self.layers | other.layers, self.checks + other.checks,
                         self.batch if self.batch is not None else other.batch)

    def __add__(self, other: object) -> Objective:
        if isinstance(other, (int, float)):
            k = float(other)
            return Objective(lambda a: self(a) + k, f"{self.description} + {k:g}", self.layers,
                             self.checks, self.batch)
        if not isinstance(other, Objective):
            return NotImplemented
        return self._combine(other, lambda a: self(a) + other(a), f"{self.description} + {other.description}")

    def __radd__(self, other: object) -> Objective:
        if isinstance(other, (int, float)) and other == 0:  # sum([...]) starts at 0
            return self
        return self.__add__(other)

    def __sub__(self, other: object) -> Objective:
        if isinstance(other, (int, float)):
            return self + (-float(other))
        if not isinstance(other, Objective):
            return NotImplemented
        return self._combine(other, lambda a: self(a) - other(a),
                             f"{self.description} - {_wrap(other.description)}")

    def __neg__(self) -> Objective:
        return Objective(lambda a: -self(a), f"-{_wrap(self.description)}", self.layers, self.checks,
                         self.batch)

    def __mul__(self, other: object) -> Objective:
        if isinstance(other, bool) or not isinstance(other, (int, float)):
            return NotImplemented
        k = float(other)
        return Objective(lambda a: k * self(a), f"{k:g} * {_wrap(self.description)}", self.layers,
                         self.checks, self.batch)

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> Objective:
        if isinstance(other, bool) or not isinstance(other, (int, float)):
            return NotImplemented
        if other == 0:
            raise ZeroDivisionError("an objective divided by 0")
        return self * (1.0 / float(other))

    def __repr__(self) -> str:
        return f"Objective({self.description!r})"


def _wrap(description: str) -> str:
    return f"({description})" if (" + " in description or " - " in description) else description


def _check_int(value: object, what: str) -> int:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {value!r}")
    return value


def _shape(shapes: Shapes, layer: str) -> tuple[int, ...]:
    if layer not in shapes:
        raise KeyError(f"layer {layer!r} was not captured; captured: {sorted(shapes)}")
    return shapes[layer]


def _name(layer: str) -> str:
    return "the model output" if layer == OUTPUT else f"layer {layer!r}"


def _channel_check(layer: str, indices: Sequence[int], what: str = "channel") -> Check:
    def check(shapes: Shapes) -> None:
        shape = _shape(shapes, layer)
        if len(shape) == 0:
            raise ValueError(f"{_name(layer)} has a scalar output per image; it has no {what}s")
        n = shape[0]
        bad = [i for i in indices if not -n <= i < n]
        if bad:
            kind = "channels" if len(shape) == 3 else "units"
            raise ValueError(
                f"{what} {bad[0]} is out of range: {_name(layer)} has {n} {kind} "
                f"(output shape {shape}), valid {what}s 0..{n - 1}"
            )

    return check


def _map_mean(t: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B,): mean over everything but the batch."""
    return t.reshape(t.shape[0], -1).mean(dim=1)


def channel(layer: str, index: int) -> Objective:
    """Mean of one map (conv layer) or the value of one unit (linear layer), per image."""
    index = _check_int(index, "channel index")

    def fn(acts: Acts) -> torch.Tensor:
        return _map_mean(acts[layer][:, index])

    return Objective(fn, f"{layer}:{index}", frozenset({layer}), (_channel_check(layer, [index]),))


def channels(layer: str, indices: Sequence[int]) -> Objective:
    """One channel per batch image: image ``i`` maximises the mean of map ``indices[i]``."""
    idx = [_check_int(i, "channel index") for i in indices]
    if not idx:
        raise ValueError("channels() needs at least one channel index")
    on_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}  # (rows, indices), made once

    def fn(acts: Acts) -> torch.Tensor:
        a = acts[layer]
        if a.shape[0] != len(idx):
            raise ValueError(f"channels({layer!r}, ...) needs a batch of {len(idx)} images, got {a.shape[0]}")
        if a.device not in on_device:
            dev = a.device
            on_device[dev] = (torch.arange(len(idx), device=dev), torch.tensor(idx, device=dev))
        rows, index = on_device[a.device]
        return _map_mean(a[rows, index])

    span = f"{idx[0]}..{idx[-1]}" if len(idx) > 1 else str(idx[0])
    return Objective(fn, f"{layer}:[{span}]", frozenset({layer}), (_channel_check(layer, idx),), len(idx))


def neuron(layer: str, index: int, y: int | None = None, x: int | None = None) -> Objective:
    """One unit: channel ``index`` at (y, x) of a map (the centre when None), or unit ``index`` of a
    linear layer."""
    index = _check_int(index, "unit index")

    def position(shape: tuple[int, ...]) -> tuple[int, int]:
        h, w = shape[-2], shape[-1]
        return (h // 2 if y is None else y, w // 2 if x is None else x)

    def fn(acts: Acts) -> torch.Tensor:
        a = acts[layer]
        if a.ndim == 2:
            return a[:, index]
        yy, xx = position(tuple(a.shape[1:]))
        return a[:, index, yy, xx]

    def check(shapes: Shapes) -> None:
        shape = _shape(shapes, layer)
        if len(shape) == 3:
            yy, xx = position(shape)
            if not (0 <= yy < shape[1] and 0 <= xx < shape[2]):
                raise ValueError(
                    f"neuron position (y={yy}, x={xx}) is outside {_name(layer)}'s "
                    f"{shape[1]}x{shape[2]} map"
                )
        elif len(shape) != 1 or y is not None or x is not None:
            if len(shape) == 1:
                raise ValueError(f"{_name(layer)} is a flat layer of {shape[0]} units: give no y/x")
            raise ValueError(
                f"neuron() needs a (C, H, W) map or a flat layer; {_name(layer)} has shape {shape}"
            )

    where = "" if y is None and x is None else f"@({y},{x})"
    return Objective(fn, f"{layer}:{index}{where} unit", frozenset({layer}),
                     (_channel_check(layer, [index], "unit"), check))


def class_logit(index: int) -> Objective:
    """The pre-softmax score of one class (sargupta, "DL05": maximise the score, not the probability)."""
    index = _check_int(index, "class index")

    def fn(acts: Acts) -> torch.Tensor:
        out = acts[OUTPUT]
        return out.reshape(out.shape[0], -1)[:, index]

    def check(shapes: Shapes) -> None:
        n = 1
        for s in _shape(shapes, OUTPUT):
            n *= s
        if not -n <= index < n:
            raise ValueError(
                f"class {index} is out of range: the model has {n} outputs, valid classes 0..{n - 1}"
            )

    return Objective(fn, f"class {index} logit", frozenset({OUTPUT}), (check,))


def layer(name: str) -> Objective:
    """DeepDream: mean of the squared activations of the whole layer."""

    def fn(acts: Acts) -> torch.Tensor:
        return _map_mean(acts[name].pow(2))

    return Objective(fn, f"{name} L2 (DeepDream)", frozenset({name}))


def joint(layer: str, a: int, b: int, weight: float) -> Objective:
    """``weight * channel(a) + (1 - weight) * channel(b)``: the two-filter experiment of Hu's
    "Feature visualization"."""
    w = float(weight)
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"joint weight must be in [0, 1], got {weight!r}")
    both = w * channel(layer, a) + (1.0 - w) * channel(layer, b)
    return Objective(both.fn, f"{layer}:{a} x{w:g} + {layer}:{b} x{1 - w:g}", both.layers, both.checks)


def diversity(layer: str, weight: float = 1.0) -> Objective:
    """Batch diversity (Lucent): minus ``weight`` times each image's mean cosine similarity of its
    Gram matrix with the other images' (0 for a batch of one)."""
    w = float(weight)

    def fn(acts: Acts) -> torch.Tensor:
        a = acts[layer]
        b = a.shape[0]
        if b < 2:
            return a.new_zeros(b)
        flat = a.reshape(b, a.shape[1], -1)
        gram = torch.nn.functional.normalize((flat @ flat.transpose(1, 2)).reshape(b, -1), dim=1)
        sim = gram @ gram.T
        others = (sim.sum(dim=1) - sim.diagonal()) / (b - 1)
        return -w * others

    return Objective(fn, f"{w:g} * diversity({layer})", frozenset({layer}))


def feature_match(layer: str, target: torch.Tensor) -> Objective:
    """Feature inversion (Mahendran and Vedaldi, in the lecture notes "Visualizing and understanding
    CNNs"): minus the squared distance of each image's ``layer`` output to ``target`` (one image's
    output, without the batch), over the target's squared norm, so 0 is a perfect match."""
    goal = target.detach()
    scale = float(goal.double().pow(2).sum())
    if not math.isfinite(scale):
        raise ValueError(f"the target features of {_name(layer)} are not finite")
    scale = scale if scale > 0 else 1.0  # an all-zero target: the plain squared distance
    on_device: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def fn(acts: Acts) -> torch.Tensor:
        a = acts[layer]
        key = (a.device, a.dtype)
        if key not in on_device:
            on_device[key] = goal.to(device=a.device, dtype=a.dtype)
        diff = (a - on_device[key]).reshape(a.shape[0], -1)
        return -diff.pow(2).sum(dim=1) / scale

    def check(shapes: Shapes) -> None:
        shape = _shape(shapes, layer)
        if tuple(shape) != tuple(goal.shape):
            raise ValueError(f"the target features have shape {tuple(goal.shape)} but {_name(layer)} "
                             f"outputs {tuple(shape)} per image")

    return Objective(fn, f"match {layer} features", frozenset({layer}), (check,))
