"""A run's own random numbers: a thread-local torch function mode that hands out its generators.

Inside ``with SeededRandom(seed):`` (this thread only) every random tensor call that names no
generator draws from the mode's own ``torch.Generator`` instead of torch's global one: the
``Tensor.uniform_``/``normal_``/``bernoulli_``/... methods, ``torch.rand``/``randn``/``randint``/
``randperm``/..., ``nn.init.*`` (which is how modules initialise their weights), ``F.rrelu`` and the
dropout family (``F.dropout``, ``dropout1d/2d/3d``, ``alpha_dropout``, ``feature_alpha_dropout``;
``nn.Dropout*`` call these), which torch offers no generator argument for and which are computed
here exactly as torch computes them on CPU. So building a model and training it from a seed is
reproducible while other threads (and the user's own cells) draw from the global generator, and
nothing process-wide is read or written. Python functions that draw internally without taking a
generator (e.g. ``F.gumbel_softmax``) still use the global generator.
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

__all__ = ["SeededRandom"]

_T = torch.Tensor
# Calls that take generator= (a missing one is supplied). nn.init.* pass generator=None themselves.
_TAKES_GENERATOR = frozenset({
    _T.uniform_, _T.normal_, _T.bernoulli_, _T.bernoulli, _T.random_, _T.exponential_, _T.cauchy_,
    _T.log_normal_, _T.geometric_, _T.multinomial,
    torch.rand, torch.randn, torch.randint, torch.randperm, torch.bernoulli, torch.normal,
    torch.multinomial, torch.poisson, torch.rrelu, torch.rrelu_,
})


def _like(draw: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """A ``*_like`` call as ATen writes it (``empty_like`` then an in-place draw from ``generator``),
    for torch releases whose ``rand_like``, ``randn_like`` and ``randint_like`` take no ``generator=``."""

    def like(input: torch.Tensor, *args: Any, generator: torch.Generator, dtype: torch.dtype | None = None,
             layout: torch.layout | None = None, device: Any = None, requires_grad: bool = False,
             memory_format: torch.memory_format = torch.preserve_format, **kwargs: Any) -> torch.Tensor:
        out = torch.empty_like(input, dtype=dtype, layout=layout, device=device,
                               memory_format=memory_format)
        return draw(out, *args, generator=generator, **kwargs).requires_grad_(requires_grad)

    return like


def _randint_into(out: torch.Tensor, low: int, high: int | None = None, *,
                  generator: torch.Generator) -> torch.Tensor:
    """``out`` filled as ``randint_like(x, high)`` or ``randint_like(x, low, high)`` fill it."""
    return out.random_(0, low, generator=generator) if high is None else \
        out.random_(low, high, generator=generator)


@functools.cache
def _like_takes_generator() -> bool:
    """Whether this torch's ``*_like`` calls take ``generator=`` (asked at first use, not at import:
    a training script caps torch's CPU kernels before their first use)."""
    try:
        torch.rand_like(torch.zeros(1), generator=torch.Generator())
    except TypeError:
        return False
    return True


LIKE_DRAWS: dict[Callable[..., torch.Tensor], Callable[..., torch.Tensor]] = {
    torch.rand_like: lambda out, generator: out.uniform_(0, 1, generator=generator),
    torch.randn_like: lambda out, generator: out.normal_(0, 1, generator=generator),
    torch.randint_like: _randint_into,
}
"""ATen's in-place draw behind each ``*_like`` call."""
_LIKE = {func: _like(draw) for func, draw in LIKE_DRAWS.items()}
_ALPHA = 1.7580993408473766  # SELU's negative saturation, as in ATen's alpha dropout


def _dropout(x: torch.Tensor, p: float, train: bool, inplace: bool, g: torch.Generator, *,
             feature: bool, alpha: bool) -> torch.Tensor:
    """ATen's ``_dropout_impl`` (aten/src/ATen/native/Dropout.cpp), drawing its noise from ``g``."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if p == 0 or not train or x.numel() == 0:
        return x
    if p == 1:
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        return x.mul_(zero) if inplace else x.mul(zero)
    if feature:
        if x.dim() < 2:
            raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
        noise = x.new_empty((x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2))
    else:
        noise = torch.empty_like(x)
    noise.bernoulli_(1 - p, generator=g)
    if not alpha:
        noise.div_(1 - p)
        return x.mul_(noise) if inplace else x.mul(noise)
    a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
    b = noise.add(-1).mul_(_ALPHA * a).add_(_ALPHA * a * p)
    noise.mul_(a)
    return (x.mul_(noise) if inplace else x.mul(noise)).add_(b)


def _channel_dropout(spatial: int) -> Callable[..., torch.Tensor]:
    """``F.dropout{spatial}d``: whole channels, an unbatched input treated as a batch of one."""
    name = f"dropout{spatial}d"

    def drop(x: torch.Tensor, p: float, train: bool, inplace: bool, g: torch.Generator) -> torch.Tensor:
        batched = spatial + 2
        if spatial == 1 and x.dim() not in (2, 3):
            raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {x.dim()}D input")
        if spatial > 1 and x.dim() not in (batched - 1, batched):
            warnings.warn(f"{name}: Received a {x.dim()}-D input to {name}, which is deprecated "
                          "(use dropout instead)", stacklevel=5)
        if spatial == 2 or x.dim() == batched:  # dropout2d keeps torch's historic (N, C, L) reading
            return _dropout(x, p, train, inplace, g, feature=True, alpha=False)
        x = x.unsqueeze_(0) if inplace else x.unsqueeze(0)
        out = _dropout(x, p, train, inplace, g, feature=True, alpha=False)
        return out.squeeze_(0) if inplace else out.squeeze(0)

    return drop


def _rrelu(x: torch.Tensor, lower: float, upper: float, train: bool, inplace: bool,
           g: torch.Generator) -> torch.Tensor:
    fn = torch.rrelu_ if inplace else torch.rrelu
    return fn(x, lower, upper, train, generator=g)


def _flat(fn: Callable[..., torch.Tensor], **fixed: bool) -> Callable[..., torch.Tensor]:
    def call(x: torch.Tensor, p: float, train: bool, inplace: bool, g: torch.Generator) -> torch.Tensor:
        return fn(x, p, train, inplace, g, **fixed)

    return call


def _native(feature: bool, alpha: bool, inplace: bool) -> Callable[..., torch.Tensor]:
    """``torch.dropout(input, p, train)`` and its feature/alpha/in-place siblings."""
    def call(x: torch.Tensor, p: float, train: bool, g: torch.Generator) -> torch.Tensor:
        return _dropout(x, p, train, inplace, g, feature=feature, alpha=alpha)

    return call


# Python-level functions, called with their bound arguments and the generator. torch hands these to
# the mode before their body runs, and the body would then run with the mode off: so they are
# computed here rather than passed on.
_FUNCTIONAL: dict[Callable[..., Any], Callable[..., torch.Tensor]] = {
    F.dropout: _flat(_dropout, feature=False, alpha=False),
    F.alpha_dropout: _flat(_dropout, feature=False, alpha=True),
    F.feature_alpha_dropout: _flat(_dropout, feature=True, alpha=True),
    F.dropout1d: _channel_dropout(1),
    F.dropout2d: _channel_dropout(2),
    F.dropout3d: _channel_dropout(3),
    F.rrelu: _rrelu,
}
_SIGNATURES = {f: inspect.signature(f) for f in _FUNCTIONAL}
_NATIVE: dict[Callable[..., Any], Callable[..., torch.Tensor]] = {
    fn: _native(feature, alpha, inplace)
    for (fn, feature, alpha, inplace) in (
        (torch.dropout, False, False, False), (torch.dropout_, False, False, True),
        (torch.feature_dropout, True, False, False), (torch.feature_dropout_, True, False, True),
        (torch.alpha_dropout, False, True, False), (torch.alpha_dropout_, False, True, True),
        (torch.feature_alpha_dropout, True, True, False),
        (torch.feature_alpha_dropout_, True, True, True),
    )
}


def _device_of(args: Sequence[Any], kwargs: Mapping[str, Any]) -> torch.device:
    device = kwargs.get("device")
    if device is not None:
        return torch.device(device)
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value.device
    return torch.get_default_device()


class SeededRandom(TorchFunctionMode):
    """Random torch calls in this thread draw from generators of this object's own (see module doc).

    One CPU generator seeded with ``seed`` (the same stream ``torch.manual_seed(seed)`` gives),
    and one per other device, made when first needed. Enter it as often as needed: the
    generators go on where they stopped.
    """

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def generator(self, device: torch.device | str = "cpu") -> torch.Generator:
        """The generator of this mode for ``device``."""
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        g = self._generators.get(device)
        if g is None:
            g = self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return g

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (),
                           kwargs: Mapping[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _FUNCTIONAL:
            bound = _SIGNATURES[func].bind(*args, **kwargs)
            bound.apply_defaults()
            x = bound.args[0]
            return _FUNCTIONAL[func](*bound.args, self.generator(x.device))
        if func in _NATIVE:
            x, p, train = (*args, *(kwargs[n] for n in ("input", "p", "train")[len(args):]))
            return _NATIVE[func](x, p, train, self.generator(x.device))
        if func in _LIKE and kwargs.get("generator") is None and not _like_takes_generator():
            return _LIKE[func](*args, **{**kwargs, "generator": self.generator(_device_of(args, kwargs))})
        takes = func in _TAKES_GENERATOR or func in _LIKE
        if kwargs.get("generator", 0) is None or (takes and "generator" not in kwargs):
            device = _device_of(args, kwargs)
            if device.type != "meta":
                kwargs = {**kwargs, "generator": self.generator(device)}
        return func(*args, **kwargs)
