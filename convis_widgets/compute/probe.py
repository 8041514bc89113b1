"""Find a model's layers, capture their outputs with hooks, and compute receptive fields."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from .access import Captured, first_tensor, hooks, open_model, recording, resolve_layer_in
from .errors import NotSpatialError


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


def run_forward(model: nn.Module, x: torch.Tensor) -> Any:
    """The model's output for ``x`` in eval mode, computed on a private view (see
    :mod:`.access`); the model's own errors become a ModelForwardError naming the input shape."""
    return open_model(model).forward(x)


def _is_leaf(m: nn.Module) -> bool:
    return next(m.children(), None) is None


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
    access = open_model(model)
    shape = access.input_shape(input_shape)
    x = access.zeros(shape)
    if device is not None:
        x = x.to(device)
    user_modules = dict(model.named_modules())
    alive: list[torch.Tensor] = [x]  # every output stays referenced, so ids stay unique
    seen_ids: set[int] = {id(x)}
    found: dict[str, dict[str, Any]] = {}
    calls: dict[str, int] = {}

    def make_hook(name: str, leaf: bool) -> Any:
        def hook(mod: nn.Module, args: Any, output: Any) -> None:
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

    regs = [(m, "forward", make_hook(name, _is_leaf(m))) for name, m in access.named_modules()]
    with hooks(regs), torch.no_grad():
        access.forward(x)
    return [
        LayerInfo(name=name, type=type(user_modules[name]).__name__, module=user_modules[name],
                  calls=calls[name], **info)
        for name, info in found.items()
    ]


def resolve_layer(
    model: nn.Module, name: object, *, names: Sequence[str] | None = None
) -> tuple[str, nn.Module]:
    """Look up a layer of ``model`` by dotted name, or by (negative-allowed) index into ``names``.

    A name that does not exist raises a LayerNotFoundError listing close matches and every valid
    name; anything but a str or an int raises a TypeError saying so.
    """
    modules = dict(model.named_modules())
    return resolve_layer_in([n for n in modules if n], modules, name, names=names)


@contextmanager
def capture(
    model: nn.Module, layer_names: str | Sequence[str], *, detach: bool = True
) -> Iterator[Captured]:
    """Record the outputs of the named layers during your own ``model(x)`` calls in the block.

    For scripts: the hooks sit on your model while the block runs (every technique of this
    package uses a private view instead) and are removed on exit, also on error. Each forward
    pass starts afresh; a module called twice in one pass keeps its first output. Outputs are
    detached clones (``detach=False``: the output itself, the network going on with a clone).
    """
    wanted = [layer_names] if isinstance(layer_names, str) else list(dict.fromkeys(layer_names))
    resolved = [resolve_layer(model, n) for n in wanted]
    with recording(model, resolved, detach=detach) as cap:
        yield cap


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


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
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


def receptive_field(
    model: nn.Module, layer_name: str, input_shape: Sequence[int] | None
) -> ReceptiveField:
    """Receptive field of one unit of ``layer_name`` by conv arithmetic over a hooked dry run.

    Every tensor a module outputs carries its field. Conv2d, MaxPool2d, AvgPool2d (and, as
    transposed convs, ConvTranspose2d and Upsample) change it; modules that keep the spatial
    shape pass it on. Tensors made outside modules (``x + identity``, ``F.relu``) take the
    widest field among earlier tensors of the same spatial shape, i.e. the main path of a
    ResNet block (the union with the skip branch). Exact for conv/pool stacks; conservative
    for transposed convs and upsampling. Spatial changes done with torch.nn.functional
    (``F.max_pool2d``) or non-spatial layers (Linear, AdaptiveAvgPool2d) end the geometry.
    """
    name, _ = resolve_layer(model, layer_name)
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

    def make_hook(mname: str, module: nn.Module) -> Any:
        def hook(mod: nn.Module, args: Any, output: Any) -> None:
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
