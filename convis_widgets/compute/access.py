"""Every contact with the user's model: a private view to run it on, hooks, forwards, captures.

The user's model stays theirs while we work on it: their own cells run forwards and training
steps on it, and several widgets may hold it at once. So no technique runs the model itself.
:func:`open_model` builds a *view*: a copy of the module tree (new module objects, in eval mode,
with hook tables of their own) whose parameters and buffers are a snapshot of the model's
(shared with it, never written, when the parameters are over :data:`COPY_LIMIT_BYTES`).
Consequences, each by construction rather than by restoring things afterwards:

* the user's modules never carry one of our hooks, and our hooks see only our own forwards
  (an early stop can never reach the user's ``model(x)`` or another technique);
* the user's ``training`` flags, ``requires_grad`` and ``.grad`` are never switched: gradients
  are taken with :func:`torch.autograd.grad` with respect to inputs, never accumulated;
* any number of techniques, iterators and threads can work on one model at once; nothing is
  held between steps of an iterator, so nothing can deadlock;
* the user's in-place training steps do not show in a technique's pictures (the snapshot).

The view keeps the model's forward pre-hooks (how ``torch.nn.utils.prune`` and ``weight_norm``
compute weights) and drops its forward and backward hooks (observers that must not record our
passes). Modules held in plain Python lists are not registered with torch and stay shared.

Capture rule, the same everywhere: each forward pass starts afresh, and a module called more
than once in one pass keeps the output of its *first* call (the call :func:`probe.layers`
lists it at).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.fx
from torch import nn

from .errors import LayerNotFoundError, ModelForwardError


class _Turns:
    """Our forwards run side by side; a torch.fx trace runs alone. A trace patches
    ``nn.Module.__call__`` for the whole process while it runs, so a forward in another thread
    during a trace would go through the tracer. (The user's own forwards cannot take part; a
    trace lasts milliseconds.)"""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._forwards = 0
        self._tracing = False

    @contextmanager
    def forward(self) -> Iterator[None]:
        with self._cond:
            while self._tracing:
                self._cond.wait()
            self._forwards += 1
        try:
            yield
        finally:
            with self._cond:
                self._forwards -= 1
                self._cond.notify_all()

    @contextmanager
    def trace(self) -> Iterator[None]:
        with self._cond:
            while self._tracing or self._forwards:
                self._cond.wait()
            self._tracing = True
        try:
            yield
        finally:
            with self._cond:
                self._tracing = False
                self._cond.notify_all()


TURNS = _Turns()

COPY_LIMIT_BYTES = 128 * 2**20
"""Parameters up to this size are snapshotted for a view; larger models (VGG16 is 528 MB) are
shared with it read-only, so a view costs them no memory."""

HOOK_TABLES = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
"""The hook tables of every module; tests assert they come back as they went in."""

_DROPPED = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_backward_hooks",
    "_backward_pre_hooks",
)
_KEPT = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs")


def first_tensor(value: Any) -> torch.Tensor | None:
    """The tensor itself, or the first tensor inside a (nested) tuple/list/dict output."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        items: Any = value
    elif isinstance(value, dict):
        items = value.values()
    else:
        return None
    for item in items:
        t = first_tensor(item)
        if t is not None:
            return t
    return None


Shape = tuple[int | None, ...]


def expected_input_shape(model: nn.Module) -> Shape | None:
    """Per-example input shape the model wants: ``model.input_shape``, else (C, None, None).

    The channel count comes from the first Conv2d; None marks sizes that cannot be known.
    """
    shape = getattr(model, "input_shape", None)
    if shape is not None:
        return tuple(None if s is None else int(s) for s in shape)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return (m.in_channels, None, None)
    return None


def _named_tensors(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    yield from model.named_parameters()
    yield from model.named_buffers()


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter or buffer (CPU if it has none)."""
    for _, t in _named_tensors(model):
        return t.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """Floating dtype of the model's first floating parameter or buffer (float32 if none)."""
    for _, t in _named_tensors(model):
        if t.is_floating_point():
            return t.dtype
    return torch.float32


def _parameter_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


class _View:
    """A copy of the module tree in eval mode with its own hook tables, built in one traversal.

    ``modules`` maps every dotted name ("" for the root) to its copy; shared modules and tied
    weights stay shared (and tied) inside the view. Parameters are snapshotted (detached copies
    that do not require grad) when ``snapshot``, else shared with the model; buffers are always
    copied. ``tensors`` holds the user's (name, tensor) pairs, in the order torch lists them.
    """

    def __init__(self, model: nn.Module, snapshot: bool) -> None:
        self.snapshot = snapshot
        self.modules: dict[str, nn.Module] = {}
        self.tensors: list[tuple[str, torch.Tensor]] = []
        self._copies: dict[int, nn.Module] = {}
        self._tensor_copies: dict[int, torch.Tensor] = {}
        self.root = self._copy(model, "")

    def _tensor(self, t: torch.Tensor, name: str, is_param: bool) -> torch.Tensor:
        key = id(t)
        if key not in self._tensor_copies:
            self.tensors.append((name, t))
            if is_param and not self.snapshot:
                self._tensor_copies[key] = t
            elif is_param:
                self._tensor_copies[key] = nn.Parameter(t.detach().clone(), requires_grad=False)
            else:
                self._tensor_copies[key] = t.detach().clone()
        return self._tensor_copies[key]

    def _copy(self, m: nn.Module, name: str) -> nn.Module:
        if id(m) in self._copies:
            return self._copies[id(m)]
        c = object.__new__(type(m))
        self._copies[id(m)] = c
        self.modules[name] = c
        d = c.__dict__
        d.update(m.__dict__)
        prefix = name + "." if name else ""
        d["_parameters"] = {
            k: None if p is None else self._tensor(p, prefix + k, True) for k, p in m._parameters.items()
        }
        d["_buffers"] = {
            k: None if b is None else self._tensor(b, prefix + k, False) for k, b in m._buffers.items()
        }
        d["_modules"] = {
            k: None if s is None else self._copy(s, prefix + k) for k, s in m._modules.items()
        }
        for table in _DROPPED:
            if table in d:
                d[table] = OrderedDict()
        for table in _KEPT:
            if table in d:
                d[table] = OrderedDict(d[table])
        d["training"] = False
        if isinstance(c, nn.RNNBase):  # RNNs keep a list of their weights outside _parameters
            c._init_flat_weights()
        return c


class _Stop(Exception):
    """Raised by a recording hook once every wanted layer ran: the rest of the pass is skipped."""


class Captured(Mapping[str, torch.Tensor]):
    """Layer outputs recorded in the latest forward pass (first call of each module, see module doc)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self._data: dict[str, torch.Tensor] = {}

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in self._data:
            state = "was not captured" if key not in self.names else "has not run yet"
            raise KeyError(f"layer {key!r} {state}; captured: {list(self._data)}")
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return (n for n in self.names if n in self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        shapes = {n: tuple(t.shape) for n, t in self.items()}
        return f"Captured({shapes})"


@contextmanager
def hooks(
    registrations: Sequence[tuple[nn.Module, str, Callable[..., Any]]],
) -> Iterator[None]:
    """Register ``(module, kind, fn)`` hooks (kind: "forward" or "forward_pre") for the block.

    Every handle goes into one list and all are removed in ``finally``, also when a
    registration or the block raises.
    """
    handles = []
    try:
        for module, kind, fn in registrations:
            if kind == "forward":
                handles.append(module.register_forward_hook(fn))
            elif kind == "forward_pre":
                handles.append(module.register_forward_pre_hook(fn))
            else:
                raise ValueError(f"hook kind must be 'forward' or 'forward_pre'; got {kind!r}")
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def recording(
    root: nn.Module | None,
    modules: Sequence[tuple[str, nn.Module]],
    *,
    detach: bool = True,
    stop_early: bool = False,
) -> Iterator[Captured]:
    """Record the outputs of ``modules`` (name, module) in every forward pass of ``root``.

    ``detach``: keep a detached clone (later in-place ops cannot change it). Otherwise keep the
    output itself, graph and all, and hand the rest of the network a clone of it, so the kept
    tensor is on the path to the model output (its gradient is the layer's) and an in-place op
    after it cannot overwrite it. ``stop_early`` ends the pass once every module ran (private
    views only). A pre-hook on ``root`` starts each pass afresh; with ``root`` None the caller
    clears ``Captured._data`` before each pass itself (a view's forward does).
    """
    cap = Captured([n for n, _ in modules])

    def reset(_mod: nn.Module, _args: Any) -> None:
        cap._data = {}

    def make(name: str) -> Callable[..., Any]:
        def hook(_mod: nn.Module, _args: Any, output: Any) -> Any:
            if name in cap._data:
                return None
            t = first_tensor(output)
            if t is None:
                return None
            replaced = None
            if detach:
                cap._data[name] = t.detach().clone()
            elif isinstance(output, torch.Tensor):
                cap._data[name], replaced = output, output.clone()
            else:
                cap._data[name] = t.clone()
            if stop_early and len(cap._data) == len(cap.names):
                raise _Stop
            return replaced

        return hook

    regs: list[tuple[nn.Module, str, Callable[..., Any]]] = [(m, "forward", make(n)) for n, m in modules]
    if root is not None:
        regs.append((root, "forward_pre", reset))
    with hooks(regs):
        yield cap


def forward_error(exc: Exception, what: str) -> ModelForwardError:
    """The model's own exception as a ModelForwardError naming the input (raise it ``from`` exc)."""
    return ModelForwardError(f"the model raised in forward on {what}: {type(exc).__name__}: {exc}")


class ModelAccess:
    """One technique's way into a model: a private eval-mode view, layer lookup, forwards, hooks.

    Make one per call or iterator with :func:`open_model`; it is not shared between threads.
    """

    def __init__(self, model: nn.Module, snapshot: bool | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        if isinstance(model, torch.jit.ScriptModule):
            raise TypeError(
                "model is a TorchScript module; convis-widgets needs the Python nn.Module "
                "(load the model's class and its state_dict instead of torch.jit.load)"
            )
        if snapshot is None:
            snapshot = _parameter_bytes(model) <= COPY_LIMIT_BYTES
        self.model = model
        self.snapshot = snapshot
        built = _View(model, snapshot)
        meta = [n for n, t in built.tensors if t.is_meta]
        if meta:
            raise ValueError(
                f"the model's weights are on the meta device (not loaded yet), e.g. {meta[0]!r}: "
                "move it to a real device with model.to_empty(device='cpu') and load its state_dict"
            )
        self.view = built.root
        self._modules = built.modules
        self._names = [n for n in built.modules if n]
        self.device = model_device(model)
        self.dtype = model_dtype(model)
        self._captures: list[Captured] = []

    @property
    def names(self) -> list[str]:
        """Dotted names of every submodule, in definition order."""
        return list(self._names)

    def named_modules(self) -> Iterator[tuple[str, nn.Module]]:
        """(name, view module) of every submodule, in definition order."""
        return ((n, self._modules[n]) for n in self._names)

    def resolve(self, layer: object, *, names: Sequence[str] | None = None) -> tuple[str, nn.Module]:
        """(name, view module) of a layer given by dotted name or by index into ``names``."""
        return resolve_layer_in(self._names, self._modules, layer, names=names)

    def forward(self, x: torch.Tensor, *, what: str | None = None) -> Any:
        """The view's output for ``x``; the model's own errors become a ModelForwardError."""
        for cap in self._captures:  # each pass starts afresh
            cap._data = {}
        try:
            with TURNS.forward():
                return self.view(x)
        except _Stop:
            return None
        except (ModelForwardError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise forward_error(exc, what or f"an input of shape {tuple(x.shape)}") from exc

    def call(self, method: str, x: torch.Tensor, *, what: str | None = None) -> Any:
        """The view's ``method`` (e.g. an autoencoder's ``encode``) applied to ``x``, taking turns with
        fx traces as :meth:`forward` does; the model's own errors become a ModelForwardError."""
        try:
            with TURNS.forward():
                return getattr(self.view, method)(x)
        except (ModelForwardError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise forward_error(exc, what or f"{method}() of an input of shape {tuple(x.shape)}") from exc

    @contextmanager
    def record(
        self, layers: Sequence[str], *, detach: bool = True, stop_early: bool = False
    ) -> Iterator[Captured]:
        """Record the named layers' outputs in each of this view's forwards (see :func:`recording`)."""
        modules = [self.resolve(n) for n in dict.fromkeys(layers)]
        with recording(None, modules, detach=detach, stop_early=stop_early) as cap:
            self._captures.append(cap)
            try:
                yield cap
            finally:
                self._captures.remove(cap)

    @contextmanager
    def reader(
        self, layers: Sequence[str], *, detach: bool = True, output: bool = False
    ) -> Iterator[Callable[[torch.Tensor], dict[str, torch.Tensor]]]:
        """A function ``x -> {layer: output}`` for the block: one forward per call (``x`` cast to the
        model's dtype), stopping after the last wanted layer unless ``output`` also asks for the
        model's output (key "").
        The hooks sit on the private view only, once for the whole block (a loop's many steps)."""
        wanted = list(dict.fromkeys(layers))

        def read(x: torch.Tensor) -> dict[str, torch.Tensor]:
            out = self.forward(x if x.dtype == self.dtype else x.to(self.dtype))
            acts = dict(cap._data)
            if len(acts) != len(wanted):
                missing = [n for n in wanted if n not in acts]
                raise ValueError(f"layer(s) {missing} did not run in the model's forward pass")
            if output:
                t = first_tensor(out)
                if t is None:
                    raise ValueError("the model's output holds no tensor")
                acts[""] = t
            return acts

        with self.record(wanted, detach=detach, stop_early=not output) as cap:
            yield read

    def outputs(
        self, x: torch.Tensor, layers: Sequence[str], *, detach: bool = True, output: bool = False
    ) -> dict[str, torch.Tensor]:
        """One forward: the named layers' outputs (see :meth:`reader`)."""
        with self.reader(layers, detach=detach, output=output) as read:
            return read(x)

    def input_shape(
        self, given: Sequence[int] | None, *, spatial: bool = False, images: Any = None
    ) -> tuple[int, ...]:
        """The per-example input shape to use: ``given``, else the images', else the model's own, checked."""
        return input_shape(self.model, given, spatial=spatial, images=images)

    def zeros(self, shape: Sequence[int], batch: int = 1) -> torch.Tensor:
        """A zero batch on the model's device and dtype (for dry forwards)."""
        return torch.zeros((batch, *shape), device=self.device, dtype=self.dtype)


def open_model(model: nn.Module, *, snapshot: bool | None = None) -> ModelAccess:
    """A :class:`ModelAccess` on ``model``: the one way any technique touches a user's model.

    ``snapshot`` None copies the weights when they total up to :data:`COPY_LIMIT_BYTES`.
    """
    return ModelAccess(model, snapshot)


def resolve_layer_in(
    all_names: Sequence[str],
    modules: Mapping[str, nn.Module],
    layer: object,
    *,
    names: Sequence[str] | None = None,
) -> tuple[str, nn.Module]:
    """Look ``layer`` up by dotted name, or by (negative-allowed) index into ``names``."""
    if isinstance(layer, bool) or not isinstance(layer, (str, int)):
        raise TypeError(
            f"a layer is given by its name (str) or an index (int); got {type(layer).__name__} "
            f"{layer!r}; valid names: {', '.join(map(repr, all_names)) or '(none)'}"
        )
    if isinstance(layer, int):
        if names is None:
            raise TypeError("an int layer index needs names=[...] (e.g. from layers(model, ...))")
        if not -len(names) <= layer < len(names):
            raise LayerNotFoundError(layer, names)
        layer = names[layer]
    if layer == "" or layer not in modules:
        raise LayerNotFoundError(layer, list(names) if names is not None else list(all_names))
    return layer, modules[layer]


def images_shape(images: Any) -> tuple[int, ...]:
    """Per-example shape (C, H, W) of images: an (N, C, H, W) or (C, H, W) tensor or array, an
    ImageDataset (its ``.images``) or an (images, labels) pair."""
    if isinstance(images, (tuple, list)) and images:
        images = images[0]
    shape = getattr(getattr(images, "images", images), "shape", None)
    if shape is None or len(shape) not in (3, 4):
        got = f"shape {tuple(shape)}" if shape is not None else type(images).__name__
        raise ValueError(
            "images to take the input shape from must be (N, C, H, W) or (C, H, W) (a tensor, an array, "
            f"an ImageDataset or an (images, labels) pair); got {got}"
        )
    return tuple(int(s) for s in shape[-3:])


def _channels_source(model: nn.Module) -> str:
    """Where the model's channel count comes from, for messages: "first conv layer 'conv1' takes"."""
    if getattr(model, "input_shape", None) is not None:
        return "`input_shape` attribute says"
    name = next(n for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    return f"first conv layer {name!r} takes"


def input_shape(
    model: nn.Module, given: Sequence[int] | None, *, spatial: bool = False, images: Any = None
) -> tuple[int, ...]:
    """The per-example input shape: ``given`` (checked), else that of ``images``, else what the model tells.

    ``spatial`` asks for (C, H, W). The error says what was given and suggests a shape whose
    channel count is the model's own (its first conv layer's, named).
    """
    known = expected_input_shape(model)
    channels = known[0] if known else None
    example = f"({channels if channels is not None else 1}, 28, 28)"
    if given is None and images is not None:
        given = images_shape(images)
    if given is None:
        if known is None or any(s is None for s in known):
            takes = f"; its {_channels_source(model)} {channels} channels" if channels is not None else ""
            raise ValueError(
                f"input_shape needed (per example, without the batch, e.g. {example}): pass "
                f"input_shape= or images, or give the model an `input_shape` attribute{takes}; "
                f"the model only tells {known}"
            )
        shape: tuple[Any, ...] = tuple(known)
    else:
        if isinstance(given, (str, bytes)) or not hasattr(given, "__len__"):
            raise TypeError(
                f"input_shape must be a sequence of ints (per example, without the batch, e.g. "
                f"{example}); got {type(given).__name__} {given!r}"
            )
        shape = tuple(given)
        bad = [s for s in shape if isinstance(s, bool) or not isinstance(s, int) or s < 1]
        if not shape or bad:
            raise ValueError(
                f"input_shape must be positive ints (per example, without the batch, e.g. {example}); "
                f"got {given!r}"
            )
    if (spatial or channels is not None) and len(shape) != 3:
        why = "" if spatial else " for a model whose first layer is a Conv2d"
        raise ValueError(f"input_shape must be (C, H, W){why}, e.g. {example}; got {shape}")
    if channels is not None and len(shape) == 3 and shape[0] != channels:
        raise ValueError(
            f"input_shape {shape} has {shape[0]} channels but the model's {_channels_source(model)} "
            f"{channels}, e.g. {example}"
        )
    return tuple(int(s) for s in shape)


def output_bytes(access: ModelAccess, x1: torch.Tensor) -> int:
    """Bytes of every module output for one forward of ``x1`` (sizes batches to a memory budget)."""
    total = [0]

    def count(_mod: nn.Module, _args: Any, output: Any) -> None:
        t = first_tensor(output)
        if t is not None:
            total[0] += t.numel() * t.element_size()

    with hooks([(m, "forward", count) for _, m in access.named_modules()]):
        access.forward(x1)
    return max(total[0], x1.numel() * x1.element_size())


def symbolic_trace(module: nn.Module) -> torch.fx.GraphModule:
    """``torch.fx.symbolic_trace`` of a view, taking turns with every forward we run (see TURNS)."""
    with TURNS.trace():
        return torch.fx.symbolic_trace(module)
