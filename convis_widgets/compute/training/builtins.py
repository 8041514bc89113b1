"""Built-in model and data per kind, registered from above: compute never imports models or data.

``import convis_widgets`` registers the reference models and data sets (SeedCNN on the digits for
"classifier", ConvAutoencoder on the colour patches for "autoencoder") with functions that import
them only when called. :func:`compare_first_kernels` uses them when given no ``data`` or no
``model_fn``, and :meth:`Run.model` rebuilds a built-in model's run through the same entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from torch import nn

from .config import check_kind


class ModelFn(Protocol):
    """(first_kernel, input_shape (C, H, W), num_classes) -> a fresh model; ``output_mean`` (an
    autoencoder's training images' mean per channel, else None) lets a model start from that output."""

    def __call__(self, first_kernel: int, input_shape: tuple[int, ...], num_classes: int, *,
                 output_mean: tuple[float, ...] | None = None) -> nn.Module:
        """A fresh model for these data."""


DataFn = Callable[[], tuple[Any, Any]]
"""() -> (training data, held-out data)."""


@dataclass(frozen=True)
class Builtin:
    """A kind's default model (and the class name its saved runs carry) and default data."""

    kind: str
    model_fn: ModelFn
    data_fn: DataFn
    model_name: str


_REGISTRY: dict[str, Builtin] = {}


def register_builtin(kind: str, *, model_fn: ModelFn, data_fn: DataFn, model_name: str) -> None:
    """Make ``model_fn`` and ``data_fn`` the defaults of ``kind`` (replacing earlier ones)."""
    check_kind(kind)
    _REGISTRY[kind] = Builtin(kind, model_fn, data_fn, model_name)


def builtin(kind: str) -> Builtin:
    """The registered defaults of ``kind``; a clear error when there are none."""
    check_kind(kind)
    found = _REGISTRY.get(kind)
    if found is None:
        raise LookupError(f"no built-in model and data are registered for kind {kind!r} (importing "
                          "convis_widgets registers them): pass data= and model_fn=")
    return found
