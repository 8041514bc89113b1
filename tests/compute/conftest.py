"""Tiny models for the compute tests, each small enough to check by hand."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn


def plain_stack() -> nn.Sequential:
    """(1, 14, 14) -> conv3 (4,12,12) -> relu -> pool2 (4,6,6) -> conv3 pad1 (8,6,6) -> fc."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 6 * 6, 10),
    )


class Nested(nn.Module):
    """features/head Sequentials: (1, 10, 10) -> conv3 (3,8,8) -> relu -> pool2 (3,4,4) -> fc."""

    input_shape = (1, 10, 10)

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Block(nn.Module):
    """ResNet basic block with a strided main path and a 1x1 downsample skip."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                        nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.downsample(x))


class TinyResNet(nn.Module):
    """(1, 8, 8) -> stem conv3 pad1 (4,8,8) -> block stride 2 (8,4,4) -> gap -> fc (3)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.block = Block(4, 8, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.block(self.stem(x))), 1))


class FunctionalReLU(nn.Module):
    """Activations via F.relu: (1, 6, 6) -> conv3 (2,4,4) -> conv3 (3,2,2) -> fc (4)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3)
        self.conv2 = nn.Conv2d(2, 3, 3)
        self.fc = nn.Linear(12, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.fc(x.flatten(1))


def autoencoder() -> nn.Sequential:
    """(1, 8, 8) -> conv s2 (4,4,4) -> relu -> convT s2 (4,8,8) -> upsample x2 (4,16,16) -> conv."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(4, 4, 2, stride=2),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(4, 1, 3, padding=1),
    )


class Boom(nn.Module):
    """Raises in forward, to check that hooks come off after a failing forward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom inside forward")


@pytest.fixture
def plain() -> nn.Sequential:
    return plain_stack()


@pytest.fixture
def nested() -> Nested:
    return Nested()


@pytest.fixture
def resnet() -> TinyResNet:
    return TinyResNet()


@pytest.fixture
def functional() -> FunctionalReLU:
    return FunctionalReLU()


@pytest.fixture
def ae() -> nn.Sequential:
    return autoencoder()


@pytest.fixture
def exploding() -> nn.Sequential:
    """conv -> relu -> Boom: the forward fails after the first two layers ran."""
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), Boom())


def assert_no_hooks(model: nn.Module) -> None:
    """Every module's hook dicts are empty."""
    for name, m in model.named_modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                     "_backward_pre_hooks"):
            assert not getattr(m, attr), f"{attr} left on {name!r}"


@pytest.fixture
def no_hooks():
    return assert_no_hooks
