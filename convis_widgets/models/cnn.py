"""Reference classifier from seed 001: conv-pool x3, fc, dropout, fc, with flat readable names."""

from __future__ import annotations

import torch
from torch import nn


def check_first_kernel(first_kernel: int, input_size: int) -> None:
    """Refuse a first kernel that is not an odd int in 1..input_size ("same" padding needs odd)."""
    if (
        isinstance(first_kernel, bool)
        or not isinstance(first_kernel, int)
        or first_kernel < 1
        or first_kernel % 2 == 0
        or first_kernel > input_size
    ):
        raise ValueError(
            f"first_kernel must be an odd int between 1 and input_size={input_size}, got {first_kernel!r}"
        )


class SeedCNN(nn.Module):
    """Small CNN for 28x28 (MNIST, digits) or 32x32 (CIFAR, SVHN) images.

    Every layer, ReLUs included, is its own attribute so ``named_modules()`` lists ``conv1, relu1,
    pool1, ..., fc1, relu4, dropout, fc2`` and hooks can reach each of them.
    """

    def __init__(
        self,
        in_channels: int = 1,
        first_kernel: int = 3,
        num_classes: int = 10,
        input_size: int = 28,
        widths: tuple[int, int, int] = (16, 32, 64),
        hidden: int = 64,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_first_kernel(first_kernel, input_size)
        if input_size < 8:
            raise ValueError(f"input_size must be at least 8 (three 2x poolings), got {input_size}")
        if len(widths) != 3:
            raise ValueError(f"widths must give 3 channel counts, got {widths!r}")
        w1, w2, w3 = widths
        self.input_shape = (in_channels, input_size, input_size)
        self.conv1 = nn.Conv2d(in_channels, w1, first_kernel, padding=first_kernel // 2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(w1, w2, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(w2, w3, 3, padding=1)
        self.relu3 = nn.ReLU()
        self.pool3 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        side = input_size // 2 // 2 // 2
        self.fc1 = nn.Linear(w3 * side * side, hidden)
        self.relu4 = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of (N, C, H, W) images."""
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.pool3(self.relu3(self.conv3(x)))
        x = self.relu4(self.fc1(self.flatten(x)))
        return self.fc2(self.dropout(x))
