"""Deterministic CPU training and evaluation for the reference classifier."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..compute.training import torch_settings
from ..data import ImageDataset
from .cnn import SeedCNN

# Chosen so the first layer comes out smooth (seed 002): see train_pretrained.py's report.
DEFAULT_EPOCHS = 60
DEFAULT_WEIGHT_DECAY = 1.0


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, batch_size: int = 512) -> float:
    """Top-1 accuracy of a classifier on a data set of (image, label); the model's mode is kept."""
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    try:
        correct = total = 0
        for images, labels in DataLoader(dataset, batch_size=batch_size):
            predicted = model(images.to(device)).argmax(dim=1).cpu()
            correct += int((predicted == labels).sum())
            total += len(labels)
    finally:
        model.train(was_training)
    return correct / total


@contextlib.contextmanager
def _reproducible(seed: int, num_threads: int) -> Iterator[None]:
    """Seed torch, force deterministic kernels and a fixed thread count; restore all on exit."""
    with torch_settings(num_threads):
        torch.manual_seed(seed)
        yield


def _random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by its own random whole-pixel offset in [-max_shift, max_shift]."""
    if max_shift == 0:
        return images
    h, w = images.shape[-2:]
    padded = F.pad(images, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (len(images), 2), generator=generator)
    return torch.stack(
        [padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets.tolist())]
    )


def train_seed_cnn(
    train_set: ImageDataset,
    *,
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = DEFAULT_WEIGHT_DECAY,
    max_shift: int = 2,
    num_threads: int = 2,
    test_set: ImageDataset | None = None,
    log: Callable[[str], None] | None = None,
) -> SeedCNN:
    """Train a default SeedCNN on CPU with AdamW and a cosine schedule, bit-for-bit from a seed.

    Each epoch sends its mean train loss (and test accuracy, given ``test_set``) to ``log``.
    """
    with _reproducible(seed, num_threads):
        in_channels, size = train_set.images.shape[1], train_set.images.shape[-1]
        model = SeedCNN(in_channels, 3, len(train_set.classes), size)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        steps_per_epoch = -(-len(train_set) // batch_size)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
        generator = torch.Generator().manual_seed(seed)
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(len(train_set), generator=generator)
            total_loss = 0.0
            for batch in order.split(batch_size):
                images = _random_shift(train_set.images[batch], max_shift, generator)
                loss = F.cross_entropy(model(images), train_set.labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                total_loss += loss.item() * len(batch)
            if log is not None:
                line = f"epoch {epoch:3d}/{epochs}  train loss {total_loss / len(train_set):.4f}"
                if test_set is not None:
                    line += f"  test accuracy {evaluate(model, test_set):.2%}"
                log(line)
    return model.eval()
