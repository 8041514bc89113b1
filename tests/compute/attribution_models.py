"""Small classifiers for the attribution tests: each exercises one kind of layer geometry."""

import torch
import torch.nn.functional as F
from torch import nn

from convis_widgets.models import SeedCNN


def seed_cnn(first_kernel: int = 3, side: int = 28) -> nn.Module:
    torch.manual_seed(first_kernel)
    return SeedCNN(first_kernel=first_kernel, input_size=side).eval()


class PaddedNet(nn.Module):
    """5x5 conv pad 2, batch norm, in-place ReLU, 3x3/2 max pool pad 1, conv pad 1, avg pool, fc."""

    input_shape = (2, 20, 20)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 6, 5, padding=2)
        self.bn = nn.BatchNorm2d(6)
        self.relu1 = nn.ReLU(inplace=True)
        self.pool1 = nn.MaxPool2d(3, 2, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.AvgPool2d(2)
        self.fc = nn.Linear(8 * 5 * 5, 5)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.2, 0.2)
            self.bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.bn(self.conv1(x))))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc(x.flatten(1))


class StridedNet(nn.Module):
    """Stride-2 convs (the second without padding), then a linear head."""

    input_shape = (1, 24, 24)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, stride=2, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(6, 8, 3, stride=2)
        self.relu2 = nn.ReLU()
        self.fc = nn.Linear(8 * 5 * 5, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.relu2(self.conv2(self.relu1(self.conv1(x)))), 1))


class FunctionalNet(nn.Module):
    """ReLUs written every functional way: F.relu, in-place F.relu, torch.relu, Tensor.relu_."""

    input_shape = (1, 16, 16)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.conv3 = nn.Conv2d(6, 6, 3)
        self.fc1 = nn.Linear(6 * 6 * 6, 12)
        self.fc2 = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.conv2(x), inplace=True)
        x = torch.relu(self.conv3(x))
        return self.fc2(self.fc1(x.flatten(1)).relu_())


class ModuleNet(nn.Module):
    """FunctionalNet rewritten with nn.ReLU modules (shares its weights): what Captum can see."""

    def __init__(self, f: FunctionalNet) -> None:
        super().__init__()
        self.f = f
        self.r1, self.r2, self.r3, self.r4 = nn.ReLU(), nn.ReLU(), nn.ReLU(), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.f
        x = F.max_pool2d(self.r1(f.conv1(x)), 2)
        x = self.r3(f.conv3(self.r2(f.conv2(x))))
        return f.fc2(self.r4(f.fc1(x.flatten(1))))


class Branchy(nn.Module):
    """Data-dependent control flow: cannot be traced, so occlusion falls back to plain batching."""

    input_shape = (1, 12, 12)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.fc = nn.Linear(3 * 10 * 10, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x))
        if float(y.mean()) > 100.0:  # never true, but fx cannot know
            y = -y
        return self.fc(y.flatten(1))


CALLS: dict[str, list[int]] = {}


def count_call(x: torch.Tensor, key: str) -> torch.Tensor:
    """Count a real call under ``key`` and raise on the planned one (CALLS[key] = [calls, n])."""
    seen = CALLS[key]
    seen[0] += 1
    if seen[0] == seen[1]:
        raise RuntimeError(f"failing on call {seen[1]}")
    return x


torch.fx.wrap("count_call")  # an fx trace records the call instead of running it


class RaisesOnCall(nn.Module):
    """Identity that raises on its ``n``-th call, also when run from an fx graph."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.key = f"raises-{id(self)}"
        CALLS[self.key] = [0, n]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return count_call(x, self.key)


def flaky_net(n: int) -> nn.Sequential:
    """conv -> ReLU(inplace) -> pool -> (raises on call n) -> fc; 12x12 input, 3 classes."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2), RaisesOnCall(n),
        nn.Flatten(), nn.Linear(4 * 6 * 6, 3),
    ).eval()
