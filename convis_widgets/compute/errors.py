"""Exceptions raised by the compute core, each with a message that says what to do next."""

from __future__ import annotations

import difflib
from collections.abc import Sequence


def _join(items: Sequence[object]) -> str:
    return ", ".join(repr(x) for x in items) if items else "(none)"


class LayerNotFoundError(ValueError):
    """A layer name or index that does not exist in the model."""

    def __init__(self, name: str | int, valid_names: Sequence[str]) -> None:
        self.name = name
        self.valid_names = list(valid_names)
        self.suggestions: list[str] = []
        n = len(self.valid_names)
        if isinstance(name, int):
            span = f"{-n}..{n - 1}" if n else "none (the model has no layers)"
            msg = (
                f"layer index {name} is out of range: {n} layers, valid indices {span}; "
                f"layers: {_join(self.valid_names)}"
            )
        else:
            self.suggestions = difflib.get_close_matches(name, self.valid_names, n=5, cutoff=0.5)
            hint = f"; did you mean {_join(self.suggestions)}?" if self.suggestions else ""
            msg = f"no layer named {name!r}{hint}; valid names: {_join(self.valid_names)}"
        super().__init__(msg)


class NotSpatialError(ValueError):
    """A layer without an (N, C, H, W) output given to a view that needs a spatial map.

    Give the layer, its output shape and the spatial layers, or just one ready-made message.
    """

    def __init__(
        self,
        layer: str,
        output_shape: Sequence[int] | None = None,
        spatial_layers: Sequence[str] | None = None,
        reason: str = "",
    ) -> None:
        self.layer = layer
        self.output_shape = None if output_shape is None else tuple(output_shape)
        self.spatial_layers = list(spatial_layers or [])
        if output_shape is None and spatial_layers is None:
            super().__init__(layer)
            return
        why = reason or "its output is not a 4-D (N, C, H, W) map"
        super().__init__(
            f"layer {layer!r} (output shape {self.output_shape}) is not spatial: {why}; "
            f"spatial layers: {_join(self.spatial_layers)}"
        )


class InputError(ValueError):
    """Images that the model cannot take: wrong shape, dtype, channel count, NaN/Inf, empty."""


class ModelForwardError(RuntimeError):
    """The user's model raised inside its forward pass; raised ``from`` the original error."""
