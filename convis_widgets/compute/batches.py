"""The images of a data set, batch by batch, whatever form it comes in: one reader for every
streaming pass (top-k, channel statistics, feature vectors, latent codes)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from typing import cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from .errors import InputError
from .inputs import Images

__all__ = ["DataSource", "held_images", "image_batches", "known_length"]

DataSource = Images | Dataset[object] | Iterable[object]
"""A data set for a streaming pass: an (N, C, H, W) tensor or array, an ``ImageDataset`` (or any
object with an ``.images`` batch), a Dataset of images or (image, label) pairs, or an iterable of
batches such as a DataLoader (its batches in the order it gives them)."""


def known_length(data: object) -> int | None:
    """Number of images in ``data``, when it can be told without reading it."""
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return 1 if data.ndim == 3 else len(data)
    held = getattr(data, "images", None)
    if isinstance(held, (torch.Tensor, np.ndarray)):
        return len(held)
    if isinstance(data, DataLoader):
        inner = data.dataset
        return len(inner) if isinstance(inner, Sized) and not isinstance(inner, IterableDataset) else None
    if isinstance(data, Dataset) and isinstance(data, Sized) and not isinstance(data, IterableDataset):
        return len(data)
    return None


def _images_of(item: object) -> Images:
    """The images of a batch or a data set item: an (images, labels) pair gives its first part."""
    return cast(Images, item[0] if isinstance(item, (tuple, list)) else item)


def held_images(data: object) -> Images | None:
    """The images of ``data`` as one (N, C, H, W) batch when it holds them so (a tensor, an array, an
    ``ImageDataset``), else None (read batch by batch)."""
    held = getattr(data, "images", None)
    source = held if isinstance(held, (torch.Tensor, np.ndarray)) else data
    if isinstance(source, (torch.Tensor, np.ndarray)):
        return source[None] if source.ndim == 3 else source
    return None


def image_batches(data: DataSource, batch_size: int, *, skip: int = 0) -> Iterator[Images]:
    """Batches of images from ``data`` (see :data:`DataSource`), leaving out the first ``skip`` images
    (how a resumed pass goes on where it stopped)."""
    batch = held_images(data)
    if batch is not None:
        for start in range(skip, len(batch), batch_size):
            yield batch[start : start + batch_size]
        return
    source = data
    if isinstance(source, Dataset) and not isinstance(source, (IterableDataset, DataLoader)):
        n = known_length(source)
        if n is None:
            raise InputError(f"a map-style Dataset needs a length; {type(source).__name__} has no __len__")
        for start in range(skip, n, batch_size):
            stop = min(n, start + batch_size)
            yield torch.stack([torch.as_tensor(_images_of(source[i])) for i in range(start, stop)])
        return
    if isinstance(source, (str, bytes)) or not isinstance(source, Iterable):
        raise InputError(
            "data must be an (N, C, H, W) tensor or array, an ImageDataset, a Dataset of images or "
            f"(image, label) pairs, or a DataLoader; got {type(source).__name__}"
        )
    left = skip
    for item in source:
        images = _images_of(item)
        if left:
            n = 1 if images.ndim == 3 else len(images)
            if n <= left:
                left -= n
                continue
            images, left = (images[None] if images.ndim == 3 else images)[left:], 0
        yield images
