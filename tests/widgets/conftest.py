"""Widget tests run their jobs inline (synchronously) unless a test asks for the worker thread."""

import pytest
import torch
from torch import nn

from convis_widgets.jobs import set_default_executor


@pytest.fixture(autouse=True)
def inline_jobs():
    old = set_default_executor("inline")
    yield
    set_default_executor(old)


class DeadChannelNet(nn.Module):
    """conv(1->4) + ReLU where channel 2 can never fire (bias -100), then a linear head."""

    input_shape = (1, 8, 8)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        with torch.no_grad():
            self.conv.bias[2] = -100.0
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.relu(self.conv(x)))))


@pytest.fixture
def dead_net():
    return DeadChannelNet().eval()


@pytest.fixture
def small_images():
    return torch.rand(5, 1, 8, 8)
