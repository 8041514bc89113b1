"""The one Dataset type every built-in set and loader returns: images and labels in memory."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class ImageDataset(Dataset):
    """In-memory image classification set: float32 NCHW images in [0, 1] and int64 labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: list[str], name: str) -> None:
        if images.ndim != 4 or images.dtype != torch.float32:
            raise ValueError(
                f"images must be a float32 (N, C, H, W) tensor, got {images.dtype} {tuple(images.shape)}"
            )
        if labels.shape != (len(images),):
            raise ValueError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}")
        self.images = images
        self.labels = labels.to(torch.int64)
        self.classes = list(classes)
        self.name = name

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    def head(self, n: int) -> ImageDataset:
        """The first ``n`` images and labels as a set of their own (a quick run on part of the data)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        kept = min(n, len(self))
        return ImageDataset(self.images[:kept], self.labels[:kept], self.classes, f"{self.name}-{kept}")

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        return f"ImageDataset({self.name!r}, {n} images of {c}x{h}x{w}, {len(self.classes)} classes)"
