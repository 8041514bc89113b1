"""A widget's data set: the built-in set that fits the model's input when it is given none, and
the images, labels and class names of whatever it is given, read and checked once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import torch

from ..compute.access import input_shape
from ..compute.errors import InputError
from ..compute.inputs import ImageData, Images, check_images
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


@dataclass(frozen=True)
class LabelledImages:
    """The images of a widget's data set on the CPU, checked against the model, with their labels
    (None when the set has none) and class names (numbered when the set names none)."""

    images: torch.Tensor
    labels: np.ndarray | None
    classes: list[str]

    def name(self, index: int) -> str:
        """How an image is named in titles: "7 (#12)" (its class, then its index), or "image 12"."""
        if self.labels is None:
            return f"image {index}"
        label = int(self.labels[index])
        return f"{self.classes[label] if label < len(self.classes) else label} (#{index})"


def labelled_images(model: torch.nn.Module, dataset: ImageData) -> LabelledImages:
    """The images, labels and class names of ``dataset`` (an ``ImageDataset`` or a batch), its
    images checked against ``model``'s input with the usual clear errors."""
    held = getattr(dataset, "images", None)
    images = check_images(cast(Images, dataset if held is None else held), model=model, device="cpu")
    given = getattr(dataset, "labels", None)
    labels = None if given is None else np.asarray(given)
    classes = [str(c) for c in getattr(dataset, "classes", [])] or (
        [str(c) for c in range(int(labels.max()) + 1)] if labels is not None and len(labels) else [])
    return LabelledImages(images, labels, classes)
