"""Reference classifier after Yitong Hu's "Feature visualization" report: conv-pool x3, fc, dropout,
fc, with flat readable names."""

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


FIRST_INIT_STD = 0.07


class DigitsCNN(nn.Module):
    """The MNIST CNN of R. Mönchmeyer's "A simple CNN for the MNIST dataset" series, for 28x28 digits.

    Three unpadded 3x3 convs of 32, 64 and 128 maps with 2x2 max-pooling after the first two
    (28 -> 26 -> 13 -> 11 -> 5 -> 3), so the third layer has 128 maps of 3x3 as in the article,
    then a small dense head. Each layer is its own attribute: ``conv1, relu1, pool1, conv2, relu2,
    pool2, conv3, relu3, flatten, fc1, relu4, dropout, fc2``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        input_size: int = 28,
        widths: tuple[int, int, int] = (32, 64, 128),
        hidden: int = 70,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        if len(widths) != 3:
            raise ValueError(f"widths must give 3 channel counts, got {widths!r}")
        if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 18:
            raise ValueError(
                f"input_size must be an int >= 18 (three 3x3 convs, two 2x poolings), got {input_size!r}"
            )
        side = ((input_size - 2) // 2 - 2) // 2 - 2
        w1, w2, w3 = widths
        self.input_shape = (in_channels, input_size, input_size)
        self.conv1 = nn.Conv2d(in_channels, w1, 3)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(w1, w2, 3)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(w2, w3, 3)
        self.relu3 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(w3 * side * side, hidden)
        self.relu4 = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)
        # He initialisation with zero biases: torch's default (uniform in +-1/sqrt(fan_in), biases
        # included) leaves about 7 of conv3's 128 maps dead on every digit before training starts.
        # The first layer starts small (normal, std FIRST_INIT_STD): its trained filters are then
        # shaped by the data rather than by the random start, and come out smooth (lecture notes
        # "Visualizing and understanding CNNs").
        for layer in (self.conv2, self.conv3, self.fc1):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)  # type: ignore[arg-type]  # every layer here has a bias
        nn.init.normal_(self.conv1.weight, 0.0, FIRST_INIT_STD)
        nn.init.zeros_(self.conv1.bias)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of (N, C, H, W) images."""
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.relu3(self.conv3(x))
        x = self.relu4(self.fc1(self.flatten(x)))
        return self.fc2(self.dropout(x))
