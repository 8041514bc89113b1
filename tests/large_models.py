"""A VGG16-shaped CNN with random weights, built without torchvision, for the large-model checks.

Shaped as torchvision's ``vgg16``: 13 3x3 convs (64-64-M-128-128-M-256x3-M-512x3-M-512x3-M) with
ReLUs, an adaptive average pool to 7x7 and a 4096-4096-1000 classifier with dropout; 138,357,544
parameters (528 MiB in float32), 3x224x224 input. The weights come from a `torch.Generator` of
their own (torchvision's init: Kaiming-normal convs, N(0, 0.01) linears, zero biases), so building
it leaves torch's global random state alone, and the model is the same for a given seed.
"""

from __future__ import annotations

import torch
from torch import nn

VGG16_CONVS: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                                      512, 512, 512, "M", 512, 512, 512, "M")
VGG16_PARAMETERS = 138_357_544


class VGG16Shaped(nn.Module):
    """torchvision's VGG16 layout (``features``, ``avgpool``, ``classifier``) with random weights."""

    input_shape = (3, 224, 224)

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for v in VGG16_CONVS:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                assert isinstance(v, int)
                layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU(inplace=True)]
                channels = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(4096, 1000),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def vgg16_shaped(seed: int = 0) -> VGG16Shaped:
    """A VGG16-shaped model in eval mode, its weights drawn from ``torch.Generator().manual_seed(seed)``.

    The modules are made on the meta device (no default init, which would draw from torch's global
    generator and double the build time) and then filled once.
    """
    with torch.device("meta"):
        model = VGG16Shaped()
    model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=gen)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01, generator=gen)
                nn.init.zeros_(module.bias)
    return model.eval()
