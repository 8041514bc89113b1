"""The data set a widget takes when it is given none: the built-in set that fits the model's input."""

from __future__ import annotations

import torch

from ..compute.access import input_shape
from ..compute.errors import InputError
from ..data import ImageDataset
from ..data.builtin import builtin_for


def builtin_data(model: torch.nn.Module, split: str, widget: str) -> ImageDataset:
    """The built-in ``split`` ("train" or "test") whose images fit ``model``'s input (real MNIST
    digits for 1x28x28); an InputError telling ``widget``'s user to give a data set when none fits."""
    try:
        shape: tuple[int, ...] | None = tuple(input_shape(model, None, spatial=True))
    except ValueError:  # the model does not tell its input size
        shape = None
    found = builtin_for(shape, split) if shape is not None else None
    if found is None:
        raise InputError(f"there is no built-in data set for this model's inputs "
                         f"({shape or 'size unknown'}): give {widget}(model, dataset) an ImageDataset "
                         "or an (N, C, H, W) tensor")
    return found
