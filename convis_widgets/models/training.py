"""Training and evaluation of the reference classifiers, on the one training loop of compute.training."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..compute.access import open_model
from ..compute.training import TrainConfig, Trainer
from ..data import ImageDataset
from .autoencoder import DigitsAutoencoder
from .cnn import DigitsCNN, SeedCNN

# The shipped DigitsCNN's recipe (train_pretrained.py, about 1.5 minutes on 2 CPU threads): at least
# 98% on the 1,000 test digits with at most 10% dead maps in any conv layer. Weight decay stays small:
# AdamW with 1.0 (SeedCNN's recipe) leaves a third of the third layer's maps dead.
DEFAULT_EPOCHS = 20
DEFAULT_BATCH_SIZE = 64
DEFAULT_LR = 1.2e-3
DEFAULT_WEIGHT_DECAY = 1e-2
DEFAULT_MAX_SHIFT = 2
SHIPPED_THREADS = 2
"""torch's thread count the shipped weights were trained with (train_pretrained.py sets it)."""
SHIPPED_CPU_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
"""The CPU kernels the shipped weights were trained with: torch's and oneDNN's AVX-512 kernels sum
in another order, and on an AVX-512 machine the weights differ from the first epoch on. Any x86-64
machine of the last decade has AVX2."""


def use_shipped_cpu_kernels() -> None:
    """Cap torch's and oneDNN's CPU kernels at :data:`SHIPPED_CPU_KERNELS` (where the environment
    sets no cap of its own), for the training scripts: both read the cap at their first use, so
    this works only before any tensor work in the process. A script may set process state; the
    library never does."""
    for name, value in SHIPPED_CPU_KERNELS.items():
        os.environ.setdefault(name, value)
# The shipped DigitsAutoencoder's recipe (train_autoencoder.py, about 1.5 minutes on 2 CPU threads):
# mean squared reconstruction error about 0.021 on the 1,000 test digits.
AUTOENCODER_EPOCHS = 12
AUTOENCODER_LR = 2e-3
AUTOENCODER_WEIGHT_DECAY = 1e-4
# SeedCNN's recipe (train_seed_cnn), as before.
SEED_CNN_EPOCHS = 60
SEED_CNN_WEIGHT_DECAY = 1.0


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, batch_size: int = 512) -> float:
    """Top-1 accuracy of a classifier on a data set of (image, label), on an eval-mode view of it
    (the model itself, its mode included, is left as it is)."""
    access = open_model(model)
    correct = total = 0
    # Iterating a DataLoader draws a seed from its generator: its own, not torch's global one.
    for images, labels in DataLoader(dataset, batch_size=batch_size, generator=torch.Generator()):
        predicted = access.forward(images.to(access.device)).argmax(dim=1).cpu()
        correct += int((predicted == labels).sum())
        total += len(labels)
    return correct / total


def _train(
    name: str,
    build: Callable[[int, int, int], nn.Module],
    train_set: ImageDataset,
    config: TrainConfig,
    num_threads: int,
    test_set: ImageDataset | None,
    log: Callable[[str], None] | None,
) -> nn.Module:
    """Train ``build(in_channels, num_classes, side)`` on the one loop (compute.training.Trainer)."""
    in_channels, size = train_set.images.shape[1], train_set.images.shape[-1]
    num_classes = len(train_set.classes)
    val = (test_set.images, test_set.labels) if test_set is not None and log is not None else None
    if log is not None and torch.get_num_threads() != num_threads:
        log(f"note: torch runs {torch.get_num_threads()} threads, not {num_threads}: the weights may "
            f"differ in the last bits from ones trained with {num_threads} (torch.set_num_threads)")
    trainer = Trainer(name, lambda: build(in_channels, num_classes, size),
                      (train_set.images, train_set.labels), val, kind="classifier", config=config, log=log,
                      data_name=train_set.name)
    trainer.run_to_end()
    return trainer.model.eval()


def train_digits_cnn(
    train_set: ImageDataset,
    *,
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    weight_decay: float = DEFAULT_WEIGHT_DECAY,
    max_shift: int = DEFAULT_MAX_SHIFT,
    num_threads: int = SHIPPED_THREADS,
    test_set: ImageDataset | None = None,
    log: Callable[[str], None] | None = None,
) -> DigitsCNN:
    """Train a default DigitsCNN (the shipped model's recipe) with AdamW, a cosine schedule and random
    shifts, bit-for-bit from a seed.

    Each epoch sends its mean train loss (and, given ``test_set``, the held-out loss and accuracy
    on it) to ``log``. Random numbers come from generators of the run's own (torch's global
    state is left alone). ``num_threads`` is not set (a library function leaves torch's thread
    count to the script): results are bit-for-bit the same for the same thread count, and
    ``log`` is told when torch runs with another count than ``num_threads``.
    """
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                         optimizer="adamw", schedule="cosine", max_shift=max_shift)
    model = _train("digits-cnn", lambda c, n, s: DigitsCNN(c, n, s), train_set, config, num_threads,
                   test_set, log)
    assert isinstance(model, DigitsCNN)
    return model


def train_seed_cnn(
    train_set: ImageDataset,
    *,
    seed: int = 0,
    epochs: int = SEED_CNN_EPOCHS,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = SEED_CNN_WEIGHT_DECAY,
    max_shift: int = 2,
    num_threads: int = SHIPPED_THREADS,
    test_set: ImageDataset | None = None,
    log: Callable[[str], None] | None = None,
) -> SeedCNN:
    """Train a default SeedCNN (3x3 first layer) with AdamW, a cosine schedule and random shifts,
    bit-for-bit from a seed; ``log``, ``test_set`` and ``num_threads`` as in :func:`train_digits_cnn`."""
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                         optimizer="adamw", schedule="cosine", max_shift=max_shift)
    model = _train("seed-cnn", lambda c, n, s: SeedCNN(c, 3, n, s), train_set, config, num_threads,
                   test_set, log)
    assert isinstance(model, SeedCNN)
    return model


def train_digits_autoencoder(
    train_set: ImageDataset,
    *,
    seed: int = 0,
    latent_dim: int = 16,
    epochs: int = AUTOENCODER_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = AUTOENCODER_LR,
    weight_decay: float = AUTOENCODER_WEIGHT_DECAY,
    num_threads: int = SHIPPED_THREADS,
    test_set: ImageDataset | None = None,
    log: Callable[[str], None] | None = None,
) -> DigitsAutoencoder:
    """Train a DigitsAutoencoder on MSE with AdamW and a cosine schedule, bit-for-bit from a seed;
    ``log``, ``test_set`` (its held-out loss) and ``num_threads`` as in :func:`train_digits_cnn`."""
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                         optimizer="adamw", schedule="cosine")
    if log is not None and torch.get_num_threads() != num_threads:
        log(f"note: torch runs {torch.get_num_threads()} threads, not {num_threads}: the weights may "
            f"differ in the last bits from ones trained with {num_threads} (torch.set_num_threads)")
    val = (test_set.images, None) if test_set is not None and log is not None else None
    trainer = Trainer("digits-autoencoder", lambda: DigitsAutoencoder(latent_dim), (train_set.images, None),
                      val, kind="autoencoder", config=config, log=log, data_name=train_set.name)
    trainer.run_to_end()
    model = trainer.model.eval()
    assert isinstance(model, DigitsAutoencoder)
    return model
