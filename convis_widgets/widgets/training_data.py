"""Which data a `TrainingComparison` can train on: the built-in sets (those your ``model_fn``'s network
takes: its first conv's channel count must be theirs) and yours, and why a built-in set is left out."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from ..compute.access import expected_input_shape
from .training_progress import parse_kernels

BUILTIN = {"digits": "digits (built-in, 1x28x28)", "patches": "colour patches (built-in, 3x32x32)"}
BUILTIN_CHANNELS = {"digits": 1, "patches": 3}
DEFAULT_DATA = {"classifier": "digits", "autoencoder": "patches"}
USER = "yours"


def builtin_sets_for(model_fn: Callable[[int], nn.Module] | None, kernels: str | Sequence[int], *,
                     has_data: bool) -> tuple[list[str], int | None]:
    """The built-in sets a network from ``model_fn`` takes (all without one) and its input channel
    count (None without a ``model_fn``, or a network with no conv); refuses a network that takes
    neither built-in set when no data of its own is given."""
    if model_fn is None:
        return list(BUILTIN), None
    first = parse_kernels(kernels if isinstance(kernels, str) else ", ".join(map(str, kernels)))[0]
    shape = expected_input_shape(model_fn(first))
    channels = None if shape is None else shape[0]
    fits = [key for key, c in BUILTIN_CHANNELS.items() if channels in (None, c)]
    if not fits and not has_data:
        raise ValueError(f"model_fn's network takes {channels} input channels; the built-in sets have "
                         f"{BUILTIN_CHANNELS}: pass data= with {channels}-channel images")
    return fits, channels


def refused_text(offered: list[str], channels: int | None) -> str:
    """Why the built-in sets not ``offered`` are left out (the network's channel count), or ""."""
    refused = [key for key in BUILTIN if key not in offered]
    if not refused:
        return ""
    sets = " and ".join(f"{BUILTIN[k].split(' (')[0]} ({BUILTIN_CHANNELS[k]} channel"
                        f"{'s' if BUILTIN_CHANNELS[k] > 1 else ''})" for k in refused)
    return f"Not offered: the built-in {sets}, since your network takes {channels}."
