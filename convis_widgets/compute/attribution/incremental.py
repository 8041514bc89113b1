"""Exact incremental inference for occlusion (Nakandala et al., SIGMOD 2019).

A patch changes a convolutional layer's output only inside the patch's receptive-field cone.
For the leading chain of the network (convs, poolings, batch norm in eval, elementwise
activations), each layer is computed only on the region that can change, from a crop of the
previous layer's (patched) activations, and pasted into copies of the clean activations.
When the region covers most of the map, the rest of the network runs plainly on the batch.
The chain is read from a ``torch.fx`` trace; a model that cannot be traced, or whose first
layer is not supported, is left to plain batching.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from ..access import forward_error, symbolic_trace

_POINTWISE_MODULES = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Softplus,
    nn.Identity,
    nn.Dropout,
    nn.Dropout2d,
    nn.BatchNorm2d,
)
_POINTWISE_FUNCTIONS = {
    F.relu,
    torch.relu,
    F.relu6,
    F.leaky_relu,
    F.elu,
    F.selu,
    F.gelu,
    F.silu,
    F.mish,
    torch.sigmoid,
    torch.tanh,
    F.hardtanh,
    F.hardswish,
    F.hardsigmoid,
    F.softplus,
}
_POINTWISE_METHODS = {"relu", "sigmoid", "tanh"}
REGION_LIMIT = 0.5  # stop cropping once a layer's changed region covers this share of its map


def _pair(v: Any) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


@dataclass
class _Op:
    """One layer of the chain: how to run it on a whole map, and its window geometry if spatial."""

    node: torch.fx.Node
    full: Callable[[torch.Tensor], torch.Tensor]
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    pad_value: float = 0.0
    valid: Callable[[torch.Tensor], torch.Tensor] | None = None  # the op without padding

    @property
    def spatial(self) -> bool:
        return self.valid is not None


def _module_op(node: torch.fx.Node, m: nn.Module) -> _Op | None:  # noqa: PLR0911 (one return per module kind)
    t = type(m)
    if t in _POINTWISE_MODULES:
        if t is nn.BatchNorm2d and m.training:
            return None
        if t in (nn.Dropout, nn.Dropout2d) and m.training:
            return None
        return _Op(node, m)
    if t is nn.Conv2d:
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            return None
        conv = cast(nn.Conv2d, m)

        def valid_conv(x: torch.Tensor) -> torch.Tensor:
            return F.conv2d(x, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)

        return _Op(
            node,
            m,
            _pair(m.kernel_size),
            _pair(m.stride),
            _pair(m.padding),
            _pair(m.dilation),
            0.0,
            valid_conv,
        )
    if t is nn.MaxPool2d:
        if m.ceil_mode or m.return_indices:
            return None
        k, d = _pair(m.kernel_size), _pair(m.dilation)
        s = _pair(m.stride if m.stride is not None else m.kernel_size)
        return _Op(node, m, k, s, _pair(m.padding), d, float("-inf"), lambda x: F.max_pool2d(x, k, s, 0, d))
    if t is nn.AvgPool2d:
        p = _pair(m.padding)
        if m.ceil_mode or (p != (0, 0) and not m.count_include_pad):
            return None
        k = _pair(m.kernel_size)
        s = _pair(m.stride if m.stride is not None else m.kernel_size)
        div = m.divisor_override
        assert div is None or isinstance(div, int)
        return _Op(node, m, k, s, p, (1, 1), 0.0, lambda x: F.avg_pool2d(x, k, s, 0, False, True, div))
    return None


def _constant(a: Any) -> bool:
    return not isinstance(a, torch.fx.Node) and not (
        isinstance(a, (tuple, list)) and not all(map(_constant, a))
    )


def _op_for(node: torch.fx.Node, prev: torch.fx.Node, gm: torch.fx.GraphModule) -> _Op | None:  # noqa: PLR0911 (one return per node kind)
    """The chain op for ``node`` if it takes only ``prev`` (plus constants) and is supported."""
    if not node.args or node.args[0] is not prev:
        return None
    rest, kwargs = node.args[1:], dict(node.kwargs)
    if not all(_constant(a) for a in (*rest, *kwargs.values())):
        return None
    if node.op == "call_module":
        if rest or kwargs:
            return None
        return _module_op(node, gm.get_submodule(str(node.target)))
    if node.op == "call_function" and node.target in _POINTWISE_FUNCTIONS:
        fn = node.target
        return _Op(node, lambda x: fn(x, *rest, **kwargs))
    if node.op == "call_method" and node.target in _POINTWISE_METHODS:
        method = str(node.target)
        return _Op(node, lambda x: getattr(x, method)(*rest, **kwargs))
    return None


@dataclass
class _Stage:
    """A spatial op (or none) followed by the pointwise ops after it: one crop, one paste."""

    spatial: _Op | None
    pointwise: list[_Op] = field(default_factory=list)

    def ops(self) -> list[_Op]:
        return ([self.spatial] if self.spatial else []) + self.pointwise

    @property
    def geometry(self) -> _Op:
        return (
            self.spatial if self.spatial is not None else _Op(self.pointwise[0].node, self.pointwise[0].full)
        )

    def full(self, x: torch.Tensor) -> torch.Tensor:
        for op in self.ops():
            x = op.full(x)
        return x


def _interval(
    lo: torch.Tensor, hi: torch.Tensor, op: _Op, axis: int, size_out: int
) -> tuple[torch.Tensor, ...]:
    """Output cells [lo', hi') whose window meets input cells [lo, hi)."""
    k, s, p, d = op.kernel[axis], op.stride[axis], op.padding[axis], op.dilation[axis]
    lo_out = torch.div(lo + p - d * (k - 1) + s - 1, s, rounding_mode="floor").clamp(min=0)
    hi_out = (torch.div(hi - 1 + p, s, rounding_mode="floor") + 1).clamp(max=size_out)
    return lo_out, hi_out


@dataclass
class _Region:
    """Where a stage recomputes for every position: fixed size, per-position start (rows, cols)."""

    size: tuple[int, int]
    starts: tuple[torch.Tensor, torch.Tensor]


class IncrementalOcclusion:
    """Scores of patched copies of one image, computed incrementally over a traced conv chain."""

    def __init__(self, gm: torch.fx.GraphModule, stages: list[_Stage],
                 front_nodes: list[torch.fx.Node]) -> None:
        self.gm = gm
        self.stages = stages
        self.front_nodes = front_nodes
        self.clean: list[torch.Tensor] = []  # clean output of each stage, for one image
        self.plans: list[_Region] = []
        self.window: _Patch | None = None  # the baseline in every window, before the first stage
        self.padded: list[torch.Tensor] = []  # stage i's clean input padded as it pads, (H, W, C)

    def prepare(
        self,
        image: torch.Tensor,
        baseline: torch.Tensor,
        rows: torch.Tensor,
        cols: torch.Tensor,
        window: tuple[int, int],
    ) -> bool:
        """Cache the clean activations of ``image`` and plan the regions for windows at (rows, cols)
        filled with ``baseline`` (C, H, W). Returns False when not even the first stage is worth cropping.
        """
        padded_base = F.pad(baseline, (0, window[1], 0, window[0]))
        win_r = rows[:, None] + torch.arange(window[0], device=rows.device)
        win_c = cols[:, None] + torch.arange(window[1], device=rows.device)
        values = padded_base.permute(1, 2, 0)[win_r[:, :, None], win_c[:, None, :]]
        self.window = _Patch(values, rows, cols)
        self.clean = []
        x = image.unsqueeze(0).clone()
        for stage in self.stages:
            x = stage.full(x)
            self.clean.append(x)
        h, w = image.shape[1:]
        lo = [rows, cols]
        hi = [(rows + window[0]).clamp(max=h), (cols + window[1]).clamp(max=w)]
        self.plans = []
        for stage, out in zip(self.stages, self.clean, strict=True):
            size_out = (int(out.shape[2]), int(out.shape[3]))
            geo = stage.geometry
            sizes, starts = [], []
            for axis in (0, 1):
                lo[axis], hi[axis] = _interval(lo[axis], hi[axis], geo, axis, size_out[axis])
                r = max(int((hi[axis] - lo[axis]).max()), 1)
                sizes.append(r)
                starts.append(lo[axis].clamp(max=size_out[axis] - r))
            if sizes[0] * sizes[1] > REGION_LIMIT * size_out[0] * size_out[1]:
                break
            self.plans.append(_Region((sizes[0], sizes[1]), (starts[0], starts[1])))
        self.padded = [
            F.pad(prev, (g.padding[1], g.padding[1], g.padding[0], g.padding[0]), value=g.pad_value)[0]
            .permute(1, 2, 0)
            .contiguous()
            for prev, g in zip(
                [image.unsqueeze(0), *self.clean],
                (s.geometry for s in self.stages[: len(self.plans)]),
                strict=False,
            )
        ]
        return bool(self.plans)

    def bytes_per_image(self, full: int) -> int:
        """Activation bytes one patched image takes here, given ``full``, what it takes in a plain
        forward pass: the cropped stages hold only their regions (sizes batches to memory)."""
        skipped = regions = 0
        for stage, plan, clean in zip(self.stages, self.plans, self.clean, strict=False):
            per_value = len(stage.ops()) * clean.element_size()
            skipped += clean[0].numel() * per_value
            regions += plan.size[0] * plan.size[1] * clean.shape[1] * per_value
        return max(full - skipped + regions, 1)

    def _tail(self, x: torch.Tensor) -> Any:
        env: dict[torch.fx.Node, Any] = {n: None for n in self.front_nodes}
        env[self.front_nodes[-1]] = x
        try:
            return torch.fx.Interpreter(self.gm).run(initial_env=env)
        except Exception as exc:
            raise forward_error(exc, f"a batch of {len(x)} occluded images") from exc

    def _crop(self, i: int, region: _Patch, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Stage i's input around each planned region: its clean (padded) input with the changed
        values (the window, or stage i-1's recomputed region) laid over it."""
        geo, plan = self.stages[i].geometry, self.plans[i]
        ph, pw = geo.padding
        dev = rows.device
        span = [
            (plan.size[a] - 1) * geo.stride[a] + geo.dilation[a] * (geo.kernel[a] - 1) + 1 for a in (0, 1)
        ]
        # gather one spare row and column (a copy of the last): changed values that fall outside a
        # crop are written there and cut off, so every write is one index_put without masks
        r_in = rows[:, None] * geo.stride[0] + torch.arange(span[0] + 1, device=dev).clamp(max=span[0] - 1)
        c_in = cols[:, None] * geo.stride[1] + torch.arange(span[1] + 1, device=dev).clamp(max=span[1] - 1)
        crop = self.padded[i][r_in[:, :, None], c_in[:, None, :]]  # (B, span + 1, span + 1, C)
        size_q, size_r = region.values.shape[1:3]
        q = region.rows[:, None] + ph - rows[:, None] * geo.stride[0] + torch.arange(size_q, device=dev)
        r = region.cols[:, None] + pw - cols[:, None] * geo.stride[1] + torch.arange(size_r, device=dev)
        q = torch.where((q >= 0) & (q < span[0]), q, span[0])
        r = torch.where((r >= 0) & (r < span[1]), r, span[1])
        bidx = torch.arange(len(rows), device=dev)[:, None, None]
        crop[bidx, q[:, :, None], r[:, None, :]] = region.values
        return crop[:, : span[0], : span[1]].permute(0, 3, 1, 2)  # channels_last: a fast conv path

    def __call__(self, index: torch.Tensor) -> Any:
        """Model output for the image occluded at the prepared window positions ``index``."""
        if self.window is None or not self.plans:
            raise RuntimeError("IncrementalOcclusion.prepare(...) must return True before it is called")
        region = self.window.select(index)
        done = len(self.plans)
        for i, stage in enumerate(self.stages[:done]):
            rows, cols = self.plans[i].starts[0][index], self.plans[i].starts[1][index]
            y = self._crop(i, region, rows, cols)
            y = stage.spatial.valid(y) if stage.spatial is not None and stage.spatial.valid else y
            for op in stage.pointwise:
                y = op.full(y)
            region = _Patch(y.permute(0, 2, 3, 1), rows, cols)
        x = region.paste(self.clean[done - 1])
        for stage in self.stages[done:]:
            x = stage.full(x)
        return self._tail(x)


@dataclass
class _Patch:
    """Recomputed values of one stage, channels last (B, h, w, C), at per-image (rows, cols) of its map."""

    values: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor

    def select(self, index: torch.Tensor) -> _Patch:
        """The patches of the positions ``index``."""
        return _Patch(self.values[index], self.rows[index], self.cols[index])

    def paste(self, clean: torch.Tensor) -> torch.Tensor:
        """Copies of the clean (1, C, H, W) map with each image's values laid in."""
        b, h, w, _ = self.values.shape
        dev = self.values.device
        out = clean.expand(b, -1, -1, -1).clone()
        r = self.rows[:, None] + torch.arange(h, device=dev)
        c = self.cols[:, None] + torch.arange(w, device=dev)
        bidx = torch.arange(b, device=dev)[:, None, None]
        out[bidx, :, r[:, :, None], c[:, None, :]] = self.values
        return out


def incremental_runner(model: nn.Module) -> IncrementalOcclusion | None:
    """An :class:`IncrementalOcclusion` for the model's leading conv chain, or None if there is none."""
    try:
        gm = symbolic_trace(model)
    except Exception:
        return None
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        return None
    prev = placeholders[0]
    ops: list[_Op] = []
    while len(prev.users) == 1:
        op = _op_for(next(iter(prev.users)), prev, gm)
        if op is None:
            break
        ops.append(op)
        prev = op.node
    stages: list[_Stage] = []
    for op in ops:
        if op.spatial or not stages:
            stages.append(_Stage(op if op.spatial else None, [] if op.spatial else [op]))
        else:
            stages[-1].pointwise.append(op)
    if not stages:
        return None
    front = [placeholders[0], *(op.node for op in ops)]
    return IncrementalOcclusion(gm, stages, front)


def region_share(runner: IncrementalOcclusion) -> list[float]:
    """Per stage that is cropped, the share of its map that is recomputed (for reports)."""
    return [
        plan.size[0] * plan.size[1] / (clean.shape[2] * clean.shape[3])
        for plan, clean in zip(runner.plans, runner.clean, strict=False)
    ]
