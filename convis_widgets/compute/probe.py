"""Find a model's layers, capture their outputs with hooks, and compute receptive fields."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from ._compat import renamed_kwargs
from .access import Captured, ModelAccess, first_tensor, hooks, open_model, recording, resolve_layer_in
from .errors import NotSpatialError
from .inputs import Layer

Hook = Callable[[nn.Module, object, object], None]
"""A forward hook: (module, its inputs, its output)."""


@dataclass(frozen=True)
class LayerInfo:
    """One module that ran in a dry forward: its dotted name, class, per-example output shape (of
    its first call) and how many times it was called in one forward pass."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    spatial: bool
    module: nn.Module = field(compare=False, repr=False)
    calls: int = 1


def run_forward(model: nn.Module, x: torch.Tensor) -> object:
    """The model's output for ``x`` in eval mode, computed on a private view (see
    :mod:`.access`); the model's own errors become a ModelForwardError naming the input shape."""
    return open_model(model).forward(x)


def _is_leaf(m: nn.Module) -> bool:
    return next(m.children(), None) is None


Registration = tuple[nn.Module, str, Hook]
Finish = Callable[[], list[LayerInfo]]
Survey = Callable[[ModelAccess, nn.Module, torch.Tensor], tuple[list[Registration], Finish]]
"""One kind of layer list from a dry forward of a batch: its hooks on the view, and what turns
their records into :class:`LayerInfo` rows once the forward is done."""


def _dry_forward(model: nn.Module, input_shape: Sequence[int] | None, surveys: Sequence[Survey],
                 device: torch.device | str | None = None) -> list[list[LayerInfo]]:
    """Run the ``surveys`` on one dry forward of a zero batch through one private view."""
    access = open_model(model)
    x = access.zeros(access.input_shape(input_shape))
    if device is not None:
        x = x.to(device)
    parts = [survey(access, model, x) for survey in surveys]
    with hooks([reg for regs, _ in parts for reg in regs]), torch.no_grad():
        access.forward(x)
    return [finish() for _, finish in parts]


def _every_module(access: ModelAccess, model: nn.Module, x: torch.Tensor
                  ) -> tuple[list[Registration], Finish]:
    """The hooks and rows of :func:`layers`."""
    user_modules = dict(model.named_modules())
    alive: list[torch.Tensor] = [x]  # every output stays referenced, so ids stay unique
    seen_ids: set[int] = {id(x)}
    found: dict[str, dict[str, Any]] = {}
    calls: dict[str, int] = {}

    def make_hook(name: str, leaf: bool) -> Hook:
        def hook(_mod: nn.Module, _args: object, output: object) -> None:
            t = first_tensor(output)
            if t is None:
                return
            new = id(t) not in seen_ids
            alive.append(t)
            seen_ids.add(id(t))
            calls[name] = calls.get(name, 0) + 1
            if calls[name] == 1 and (leaf or new):
                shape = tuple(t.shape[1:])
                found[name] = dict(output_shape=shape, spatial=t.ndim == 4 and min(shape[1:]) >= 1)

        return hook

    def finish() -> list[LayerInfo]:
        return [LayerInfo(name=name, type=type(user_modules[name]).__name__, module=user_modules[name],
                          calls=calls[name], **info)
                for name, info in found.items()]

    return [(m, "forward", make_hook(name, _is_leaf(m))) for name, m in access.named_modules()], finish


def layers(
    model: nn.Module,
    input_shape: Sequence[int] | None,
    *,
    device: torch.device | str | None = None,
) -> list[LayerInfo]:
    """Every named submodule that runs in a dry forward of a zero batch, in execution order.

    Order is by when each module's output is ready (first call wins; ``calls`` counts them).
    All leaf modules that run are listed; containers only when they produce a new tensor (e.g.
    a ResNet block's output after the skip addition), not when they just hand on a child's output.
    """
    return _dry_forward(model, input_shape, [_every_module], device)[0]


def layers_and_blocks(model: nn.Module, input_shape: Sequence[int] | None = None
                      ) -> tuple[list[LayerInfo], list[LayerInfo]]:
    """:func:`layers` and :func:`block_layers` from one dry forward (what a layer picker lists)."""
    every, blocks = _dry_forward(model, input_shape, [_every_module, _blocks])
    return every, blocks


@renamed_kwargs(name="layer")
def resolve_layer(
    model: nn.Module, layer: object, *, names: Sequence[str] | None = None
) -> tuple[str, nn.Module]:
    """Look up a layer of ``model`` by dotted name, or by (negative-allowed) index into ``names``.

    A name that does not exist raises a LayerNotFoundError listing close matches and every valid
    name; anything but a str or an int raises a TypeError saying so.
    """
    modules = dict(model.named_modules())
    return resolve_layer_in([n for n in modules if n], modules, layer, names=names)


@renamed_kwargs(layer_names="layer")
@contextmanager
def capture(
    model: nn.Module, layer: Layer | Sequence[Layer], *, detach: bool = True
) -> Iterator[Captured]:
    """Record the outputs of the named layers during your own ``model(x)`` calls in the block.

    For scripts: the hooks sit on your model while the block runs (every technique of this
    package uses a private view instead) and are removed on exit, also on error. Each forward
    pass starts afresh; a module called twice in one pass keeps its first output. Outputs are
    detached clones (``detach=False``: the output itself, the network going on with a clone).
    """
    wanted = [layer] if isinstance(layer, (str, int)) else list(dict.fromkeys(layer))
    resolved = [resolve_layer(model, n) for n in wanted]
    with recording(model, resolved, detach=detach) as cap:
        yield cap


_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm, nn.PReLU)
_PASS_THROUGH = (nn.modules.dropout._DropoutNd, nn.Identity)


def _is_stage(m: nn.Module) -> bool:
    """A plain Sequential of blocks of one class (a ResNet stage such as ``layer1``)."""
    kids = list(m.children())
    return (type(m) is nn.Sequential and bool(kids) and len({type(k) for k in kids}) == 1
            and not _is_leaf(kids[0]) and type(kids[0]) not in _CONTAINERS)


def _units(prefix: str, m: nn.Module) -> list[tuple[str, nn.Module]]:
    """The candidate blocks under ``m``: its children, with plain containers opened (a trunk such
    as VGG's ``features``), except stages when there are several (ResNet's ``layer1``..)."""
    kids = [(prefix + n, c) for n, c in m.named_children()]
    stages = sum(_is_stage(c) for _, c in kids)
    out: list[tuple[str, nn.Module]] = []
    for name, c in kids:
        if type(c) in _CONTAINERS and not _is_leaf(c) and not (stages > 1 and _is_stage(c)):
            out.extend(_units(name + ".", c))
        else:
            out.append((name, c))
    return out


def _blocks(access: ModelAccess, model: nn.Module, _x: torch.Tensor
            ) -> tuple[list[Registration], Finish]:
    """The hooks and rows of :func:`block_layers`."""
    units = _units("", access.view)
    while True:  # a wrapper around the real network (perhaps with a parameter-free Normalize) is opened
        inner = [i for i, (_, m) in enumerate(units) if not _is_leaf(m)]
        if len(inner) != 1 or any(next(m.parameters(), None) is not None
                                  for i, (_, m) in enumerate(units) if i != inner[0]):
            break
        name, m = units[inner[0]]
        units[inner[0]:inner[0] + 1] = _units(name + ".", m)
    known = set(access.names)
    units = [(n, m) for n, m in units if n in known]  # a module shared under two names: its first
    ran: dict[str, tuple[torch.Size | None, torch.Size]] = {}
    calls: dict[str, int] = {}

    def make_hook(name: str) -> Hook:
        def hook(_mod: nn.Module, args: object, output: object) -> None:
            out = first_tensor(output)
            if out is None:
                return
            calls[name] = calls.get(name, 0) + 1
            if name not in ran:
                inp = first_tensor(args)
                ran[name] = (None if inp is None else inp.shape, out.shape)

        return hook

    def finish() -> list[LayerInfo]:
        return _grouped(model, dict(units), ran, calls)

    return [(m, "forward", make_hook(n)) for n, m in units], finish


def _grouped(model: nn.Module, kinds: dict[str, nn.Module],
             ran: dict[str, tuple[torch.Size | None, torch.Size]], calls: dict[str, int]) -> list[LayerInfo]:
    """The block outputs among the units that ran: a conv or container starts a block, the norms and
    activations after it carry it on, and the last of them names it."""
    blocks: list[str] = []
    group: list[str] = []
    for name, (in_shape, out_shape) in ran.items():  # in the order their outputs were ready
        m = kinds[name]
        starts = not _is_leaf(m) or (next(m.parameters(), None) is not None and not isinstance(m, _NORMS))
        if starts or in_shape != out_shape:  # a new block; a pool or flatten ends one and is none
            if group:
                blocks.append(group[-1])
            group = [name] if starts else []
        elif group and not isinstance(m, _PASS_THROUGH):  # norm, activation: the block goes on
            group.append(name)
    if group:
        blocks.append(group[-1])
    user_modules = dict(model.named_modules())
    return [
        LayerInfo(name=n, type=type(user_modules[n]).__name__, output_shape=tuple(ran[n][1][1:]),
                  spatial=len(ran[n][1]) == 4, module=user_modules[n], calls=calls[n])
        for n in blocks
    ]


def block_layers(model: nn.Module, input_shape: Sequence[int] | None = None) -> list[LayerInfo]:
    """The network's blocks as :class:`LayerInfo` records, in execution order (see :func:`block_outputs`)."""
    return _dry_forward(model, input_shape, [_blocks])[0]


def block_outputs(model: nn.Module, input_shape: Sequence[int] | None = None) -> list[str]:
    """Names of the modules whose outputs are the network's blocks, in execution order.

    A block is a top-level module (a plain container such as VGG's ``features`` or a top-level
    ``nn.Sequential`` is opened, a ResNet stage such as ``layer1`` is one block, its functional
    ``F.relu`` included) or a conv/linear layer with the norms and activations after it (named
    by the last of them). Pools, flattens, dropouts and identities are no blocks of their own.
    """
    return [info.name for info in block_layers(model, input_shape)]


def default_layer(model: nn.Module, input_shape: Sequence[int] | None = None) -> str:
    """The last spatial block output (4-D, more than 1x1): what Grad-CAM and the widgets start on.

    Falls back to the last spatial layer of :func:`layers`; a NotSpatialError when there is none.
    """
    def wide(info: LayerInfo) -> bool:
        return info.spatial and info.output_shape[1] * info.output_shape[2] > 1

    blocks = [i.name for i in block_layers(model, input_shape) if wide(i)]
    if blocks:
        return blocks[-1]
    every = layers(model, input_shape)
    spatial = [i.name for i in every if wide(i)]
    if not spatial:
        raise NotSpatialError(
            "the model has no layer with a spatial (N, C, H, W) output larger than 1x1; layers: "
            + ", ".join(f"{i.name} {i.output_shape}" for i in every)
        )
    return spatial[-1]


def conv_output_size(
    w: int, kernel: int, padding: int = 0, stride: int = 1, dilation: int = 1
) -> int:
    """Output size of a conv/pool: floor((W + 2P - D*(F-1) - 1) / S) + 1; error if below 1."""
    if kernel < 1 or stride < 1 or dilation < 1 or padding < 0:
        raise ValueError(
            f"need kernel, stride, dilation >= 1 and padding >= 0; got kernel={kernel}, "
            f"stride={stride}, dilation={dilation}, padding={padding}"
        )
    out = (w + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError(
            f"input size {w} is too small for kernel={kernel}, padding={padding}, "
            f"stride={stride}, dilation={dilation}: output size would be {out}"
        )
    return out


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one unit of a layer, in input pixels (rows, cols).

    ``size``: extent of the field; ``stride``: jump between neighbouring units; ``offset``:
    input coordinate of the centre of unit (0, 0) (may be negative or fractional); ``reach``:
    the last input row and column any unit of the layer sees (a pooling or strided conv in
    floor mode leaves the last rows or columns of its input unused).
    """

    size: tuple[int, int]
    stride: tuple[float, float]
    offset: tuple[float, float]
    input_size: tuple[int, int] | None = None
    reach: tuple[float, float] | None = None

    def region(self, i: int, j: int) -> tuple[slice, slice]:
        """Input rows and cols seen by unit (i, j), clipped to the input."""
        out = []
        for axis, k in enumerate((i, j)):
            centre = self.offset[axis] + k * self.stride[axis]
            half = (self.size[axis] - 1) / 2
            lo = max(math.ceil(centre - half - 1e-9), 0)
            hi = math.floor(centre + half + 1e-9) + 1
            if self.input_size is not None:
                hi = min(hi, self.input_size[axis])
            if self.reach is not None:
                hi = min(hi, math.floor(self.reach[axis] + 1e-9) + 1)
            out.append(slice(lo, max(hi, lo)))
        return out[0], out[1]


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, Sequence):
        return (int(v[0]), int(v[-1]))
    return (int(v), int(v))


@dataclass(frozen=True)
class _Geom:
    """Receptive-field state of one tensor, per axis, in exact fractions: field size ``r``, jump
    ``j``, centre of cell 0 ``start``, and ``reach``, the last input pixel its real cells see."""

    r: tuple[Fraction, Fraction]
    j: tuple[Fraction, Fraction]
    start: tuple[Fraction, Fraction]
    shape: tuple[int, int]
    reach: tuple[Fraction, Fraction]


def _reached(prev: _Geom, r: Sequence[Fraction], j: Sequence[Fraction], start: Sequence[Fraction],
             shape: tuple[int, int]) -> _Geom:
    """The new geometry; its reach is where its last cell's field ends, within what came before."""
    reach = tuple(min(prev.reach[a], start[a] + (shape[a] - 1) * j[a] + (r[a] - 1) / 2) for a in (0, 1))
    return _Geom((r[0], r[1]), (j[0], j[1]), (start[0], start[1]), shape, (reach[0], reach[1]))


def _conv_like(m: nn.Module) -> tuple[tuple[int, int], ...] | None:
    """(kernel, stride, padding, dilation) pairs of a Conv2d/MaxPool2d/AvgPool2d, else None."""
    if isinstance(m, nn.Conv2d):
        k, d = _pair(m.kernel_size), _pair(m.dilation)
        if isinstance(m.padding, str):
            p = (0, 0) if m.padding == "valid" else (d[0] * (k[0] - 1) // 2, d[1] * (k[1] - 1) // 2)
        else:
            p = _pair(m.padding)
        return k, _pair(m.stride), p, d
    if isinstance(m, nn.MaxPool2d):
        k = _pair(m.kernel_size)
        s = _pair(m.stride) if m.stride is not None else k
        return k, s, _pair(m.padding), _pair(m.dilation)
    if isinstance(m, nn.AvgPool2d):
        k = _pair(m.kernel_size)
        s = _pair(m.stride) if m.stride is not None else k
        return k, s, _pair(m.padding), (1, 1)
    return None


def _transposed_like(
    m: nn.Module, in_shape: tuple[int, int], out_shape: tuple[int, int]
) -> tuple[tuple[Fraction, Fraction], ...] | str | None:
    """(kernel, stride, padding, dilation) of a ConvTranspose2d or Upsample seen as one.

    Nearest upsampling by an integer factor s is exactly a transposed conv with kernel s and
    stride s; bilinear/bicubic (align_corners=False) get a conservative field one/two input
    units wide on each side. Returns a reason string when the geometry cannot be followed.
    """
    if isinstance(m, nn.ConvTranspose2d):
        if isinstance(m.padding, str):
            return f"padding={m.padding!r} not supported"
        k, s, p, d = _pair(m.kernel_size), _pair(m.stride), _pair(m.padding), _pair(m.dilation)
        return tuple((Fraction(a), Fraction(b)) for a, b in (k, s, p, d))
    if isinstance(m, nn.Upsample):
        scales = []
        for i, o in zip(in_shape, out_shape, strict=True):
            if o % i:
                return f"non-integer upsampling factor {o}/{i}"
            scales.append(Fraction(o // i))
        mode = m.mode
        if mode == "nearest":
            ks = list(scales)
            ps = [Fraction(0)] * 2
        elif mode in ("bilinear", "bicubic") and not m.align_corners:
            taps = 1 if mode == "bilinear" else 2
            ks = [2 * taps * s + 1 for s in scales]
            ps = [(2 * taps * s + 1 - s) / 2 for s in scales]
        else:
            return f"upsampling mode {mode!r} (align_corners={m.align_corners}) not supported"
        one = Fraction(1)
        return (ks[0], ks[1]), (scales[0], scales[1]), (ps[0], ps[1]), (one, one)
    return None


def _apply_conv(g: _Geom, geo: Sequence[tuple[Any, Any]], shape: tuple[int, int]) -> _Geom:
    k, s, p, d = geo
    r = tuple(g.r[a] + (k[a] - 1) * d[a] * g.j[a] for a in (0, 1))
    j = tuple(g.j[a] * s[a] for a in (0, 1))
    st = tuple(g.start[a] + (Fraction((k[a] - 1) * d[a], 2) - p[a]) * g.j[a] for a in (0, 1))
    return _reached(g, r, j, st, shape)


def _apply_transposed(g: _Geom, geo: Sequence[tuple[Any, Any]], shape: tuple[int, int]) -> _Geom:
    k, s, p, d = geo
    r = tuple(g.r[a] + (k[a] - 1) * d[a] / s[a] * g.j[a] for a in (0, 1))
    j = tuple(g.j[a] / s[a] for a in (0, 1))
    st = tuple(g.start[a] + (2 * p[a] - (k[a] - 1) * d[a]) / (2 * s[a]) * g.j[a] for a in (0, 1))
    return _reached(g, r, j, st, shape)


def _spatial(t: torch.Tensor | None) -> tuple[int, int] | None:
    return (int(t.shape[-2]), int(t.shape[-1])) if t is not None and t.ndim == 4 else None


def _number(f: Fraction) -> float:
    return int(f) if f.denominator == 1 else float(f)


@renamed_kwargs(layer_name="layer")
def receptive_field(  # noqa: PLR0915 (the walk and its hooks read best as one function)
    model: nn.Module, layer: Layer, input_shape: Sequence[int] | None
) -> ReceptiveField:
    """Receptive field of one unit of ``layer`` by conv arithmetic over a hooked dry run.

    Every tensor a module outputs carries its field. Conv2d, MaxPool2d, AvgPool2d (and, as
    transposed convs, ConvTranspose2d and Upsample) change it; modules that keep the spatial
    shape pass it on. Tensors made outside modules (``x + identity``, ``F.relu``) take the
    widest field among earlier tensors of the same spatial shape, i.e. the main path of a
    ResNet block (the union with the skip branch). Exact for conv/pool stacks; conservative
    for transposed convs and upsampling. Spatial changes done with torch.nn.functional
    (``F.max_pool2d``) or non-spatial layers (Linear, AdaptiveAvgPool2d) end the geometry.
    """
    name, _ = resolve_layer(model, layer)
    access = open_model(model)
    x = access.zeros(access.input_shape(input_shape))
    in_hw = _spatial(x)
    if in_hw is None:
        raise ValueError(f"receptive fields need a (C, H, W) input shape; got {tuple(x.shape[1:])}")
    zero, one = Fraction(0), Fraction(1)
    g0 = _Geom((one, one), (one, one), (zero, zero), in_hw, (Fraction(in_hw[0] - 1), Fraction(in_hw[1] - 1)))
    known: dict[int, tuple[torch.Tensor, _Geom | str]] = {id(x): (x, g0)}
    geoms = [g0]
    result: dict[str, tuple[torch.Tensor, _Geom | str]] = {}

    def widest(shape: tuple[int, int] | None) -> _Geom | str:
        same = [g for g in geoms if g.shape == shape]
        if not same:
            return "its spatial size was changed outside nn modules (e.g. by F.max_pool2d)"
        return max(same, key=lambda g: g.r[0] * g.r[1])

    def make_hook(mname: str, module: nn.Module) -> Hook:
        def hook(_mod: nn.Module, args: object, output: object) -> None:
            out = first_tensor(output)
            if out is None:
                return
            if id(out) in known:
                result.setdefault(mname, known[id(out)])
                return
            out_hw = _spatial(out)
            inp = first_tensor(args)
            g_in: _Geom | str
            if inp is not None and id(inp) in known:
                g_in = known[id(inp)][1]
            else:
                g_in = widest(_spatial(inp))
            g: _Geom | str
            if out_hw is None:
                g = "its output is not a 4-D (N, C, H, W) map"
            elif not _is_leaf(module):
                g = widest(out_hw)
            elif isinstance(g_in, str):
                g = g_in
            elif (conv := _conv_like(module)) is not None:
                g = _apply_conv(g_in, conv, out_hw)
            elif (tr := _transposed_like(module, g_in.shape, out_hw)) is not None:
                g = tr if isinstance(tr, str) else _apply_transposed(g_in, tr, out_hw)
            elif out_hw == g_in.shape:
                g = g_in
            else:
                g = (
                    f"spatial geometry is lost at {mname!r} ({type(module).__name__}, "
                    f"{g_in.shape} -> {out_hw})"
                )
            if isinstance(g, _Geom):
                geoms.append(g)
            known[id(out)] = (out, g)
            result.setdefault(mname, (out, g))

        return hook

    with hooks([(m, "forward", make_hook(n, m)) for n, m in access.named_modules()]), torch.no_grad():
        access.forward(x)

    if name not in result:
        raise ValueError(f"layer {name!r} did not run in the forward pass")
    out, g = result[name]
    if isinstance(g, str):
        ok = [n for n, (_, gg) in result.items() if isinstance(gg, _Geom)]
        raise NotSpatialError(name, tuple(out.shape[1:]), ok, reason=g)
    return ReceptiveField(
        size=(math.ceil(g.r[0]), math.ceil(g.r[1])),
        stride=(_number(g.j[0]), _number(g.j[1])),
        offset=(_number(g.start[0]), _number(g.start[1])),
        input_size=in_hw,
        reach=(_number(g.reach[0]), _number(g.reach[1])),
    )
