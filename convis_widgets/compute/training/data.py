"""What a run trains on: images and labels taken from the user's data, checked, and split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch

from ..inputs import ImageData
from .builtins import builtin

HELD_OUT_FRACTION = 0.2
Pair = tuple[torch.Tensor, torch.Tensor | None]  # images, labels
Data = ImageData | tuple[torch.Tensor, torch.Tensor | None] | list[torch.Tensor]
"""What a run trains on: an ``ImageDataset`` (its images and labels), an (N, C, H, W) tensor, or an
(images, labels) pair."""


def _where(mask: torch.Tensor, limit: int = 5) -> str:
    idx = mask.nonzero().flatten().tolist()
    shown = ", ".join(map(str, idx[:limit]))
    return f"index {shown}" + (f" and {len(idx) - limit} more" if len(idx) > limit else "")


def as_tensors(data: Data, what: str = "data") -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """(images, labels or None, name) of an ImageDataset, an image tensor or an (images, labels) pair.

    Images must be finite floats (N, C, H, W); a clear error names how many are not, and which.
    """
    images: object
    labels: object
    if isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels, name = data[0], data[1], what
    elif hasattr(data, "images") and hasattr(data, "labels"):
        images, labels, name = data.images, data.labels, str(getattr(data, "name", what))
    else:
        images, labels, name = data, None, what
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        got = f"{type(images).__name__} {tuple(images.shape)}" if hasattr(images, "shape") else repr(images)
        raise ValueError(f"{what} must hold float (N, C, H, W) images (an ImageDataset, a tensor or "
                         f"an (images, labels) pair); got {got}")
    if len(images) == 0:
        raise ValueError(f"{what} is empty: a run needs at least one image")
    bad = ~torch.isfinite(images).flatten(1).all(dim=1)
    if bad.any():
        raise ValueError(f"{what}: {int(bad.sum())} of {len(images)} images hold NaN or infinite values "
                         f"({_where(bad)}): drop or repair them before training")
    if labels is not None:
        labels = torch.as_tensor(labels)
        if labels.shape != (len(images),):
            raise ValueError(f"{what}: {len(images)} images but labels of shape {tuple(labels.shape)}")
    return images, labels, name


def train_and_held_out(data: Data | tuple[Data, Data]) -> tuple[Data, Data | None]:
    """A user's data as (training set, held-out set or None): a (train, held-out) pair of sets, or
    one set; an (images, labels) pair of tensors is one set, not two."""
    if not isinstance(data, tuple) or len(data) != 2:
        return data, None
    first, second = data
    if isinstance(first, torch.Tensor) and first.ndim == 4 and isinstance(second, torch.Tensor) \
            and second.ndim == 1:
        return cast(Data, data), None  # images and their labels
    return first, second


def check_labels(labels: torch.Tensor, num_classes: int | None, what: str, source: str = "", *,
                 locate: bool = True) -> torch.Tensor:
    """Class indices as int64: integers from 0 to ``num_classes`` - 1, or a clear error (naming
    the offending positions when ``locate``)."""
    expected = "integer class indices" + (f" from 0 to {num_classes - 1}" if num_classes else " >= 0")
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"{what}: a classifier needs {expected} as labels; got {labels.dtype} labels "
                         "(convert them with labels.long() if they are whole numbers)")
    labels = labels.to(torch.int64)
    negative = labels < 0
    if negative.any():
        raise ValueError(f"{what}: a classifier needs {expected} as labels; got {int(labels.min())} "
                         f"({int(negative.sum())} negative, {_where(negative)})")
    if num_classes is not None:
        over = labels >= num_classes
        if over.any():
            where = f", {_where(over)}" if locate else ""
            raise ValueError(f"{what}: labels must be {expected}{source}; got {int(labels.max())} "
                             f"({int(over.sum())} too large{where})")
    return labels


def split_held_out(
    images: torch.Tensor, labels: torch.Tensor | None, seed: int, fraction: float = HELD_OUT_FRACTION
) -> tuple[Pair, Pair]:
    """A seeded split into (train, held-out) when the user gave no held-out set."""
    n_val = int(round(len(images) * fraction))
    if n_val < 1 or n_val >= len(images):
        raise ValueError(f"cannot hold out {fraction:.0%} of {len(images)} images: pass a held-out set")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    val, train = order[:n_val], order[n_val:]
    pick = (lambda _idx: None) if labels is None else (lambda idx: labels[idx])
    return (images[train], pick(train)), (images[val], pick(val))


@dataclass
class RunData:
    """Checked training and held-out pairs, the data's name and, if it lists them, its class count."""

    train: Pair
    val: Pair
    name: str
    num_classes: int | None = None
    given: int = 0  # images in the data as given (before a held-out split)

    @property
    def shape(self) -> tuple[int, ...]:
        """Per-image shape (C, H, W)."""
        return tuple(self.train[0].shape[1:])

    def class_count(self) -> int:
        """Classes listed by the data, else one more than the largest label."""
        if self.num_classes:
            return self.num_classes
        labels = [y for _, y in (self.train, self.val) if y is not None]
        return max(int(y.max()) for y in labels) + 1 if labels else 0


def prepare(kind: str, data: Data | None, val_data: Data | None, seed: int) -> RunData:
    """Take, check and (without ``val_data``) split the data; None is the kind's built-in data."""
    if data is None:
        if val_data is not None:
            raise ValueError("val_data was given without data")
        data, val_data = builtin(kind).data_fn()
    x, y, name = as_tensors(data, "data")
    classes = getattr(data, "classes", None)
    num_classes = len(classes) if classes else None
    source = f" (the data lists {num_classes} classes)" if num_classes else ""
    if kind == "classifier" and y is not None:
        y = check_labels(y, num_classes, "data", source)
    if val_data is None:
        train, val = split_held_out(x, y, seed)
    else:
        vx, vy, _ = as_tensors(val_data, "val_data")
        if vx.shape[1:] != x.shape[1:]:
            raise ValueError(f"held-out images are {tuple(vx.shape[1:])}, training images "
                             f"{tuple(x.shape[1:])}: they must match")
        if kind == "classifier" and vy is not None:
            vy = check_labels(vy, num_classes, "val_data", source)
        train, val = (x, y), (vx, vy)
    return RunData(train, val, name, num_classes, len(x))
