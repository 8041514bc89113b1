"""Every technique of the compute core gives the model back exactly as it came in, hooks included,
also when the model's forward raises half-way through."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convis_widgets.compute import (
    ModelForwardError,
    activations,
    channel_statistics,
    filter_images,
    filter_report,
    layers,
    model_checksum,
    receptive_field,
)


class MixedStateNet(nn.Module):
    """Train-mode BatchNorm (its running stats move on any forward), a frozen bias, an old grad."""

    input_shape = (1, 8, 8)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 3)
        self.fail = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.bn(self.conv(x))))
        if self.fail:
            raise RuntimeError("forward broke half-way")
        return self.fc(x.flatten(1))


def mixed_state_net() -> MixedStateNet:
    net = MixedStateNet().train()
    net.conv.bias.requires_grad_(False)
    net.fc.weight.grad = torch.ones_like(net.fc.weight)
    return net


def no_hooks(model: nn.Module) -> bool:
    return all(not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks)
               for m in model.modules())


IMAGES = torch.rand(6, 1, 8, 8)
TECHNIQUES = {
    "layers": lambda m: layers(m, (1, 8, 8)),
    "receptive_field": lambda m: receptive_field(m, "pool", (1, 8, 8)),
    "activations": lambda m: activations(m, IMAGES, layer=["conv", "relu", "fc"]),
    "channel_statistics": lambda m: channel_statistics(m, IMAGES, layer="relu", batch_size=4),
    "filter_images": lambda m: filter_images(m, "conv"),
    "filter_report": lambda m: filter_report(m, "conv"),
}


@pytest.mark.parametrize("name", TECHNIQUES)
def test_model_comes_back_unchanged(name):
    net = mixed_state_net()
    before = model_checksum(net)
    TECHNIQUES[name](net)
    assert model_checksum(net) == before
    assert net.training and net.bn.training and not net.conv.bias.requires_grad
    assert torch.equal(net.fc.weight.grad, torch.ones_like(net.fc.weight))
    assert net.conv.weight.grad is None
    assert no_hooks(net)


RAISING = {  # each needs the part of the forward after the failure
    "layers": TECHNIQUES["layers"],
    "receptive_field": TECHNIQUES["receptive_field"],
    "activations": TECHNIQUES["activations"],
    "channel_statistics": lambda m: channel_statistics(m, IMAGES, layer="fc", batch_size=4),
}


@pytest.mark.parametrize("name", RAISING)
def test_model_comes_back_unchanged_when_its_forward_raises(name):
    net = mixed_state_net()
    net.fail = True
    before = model_checksum(net)
    with pytest.raises(ModelForwardError, match="forward broke half-way"):
        RAISING[name](net)
    assert model_checksum(net) == before
    assert no_hooks(net)
