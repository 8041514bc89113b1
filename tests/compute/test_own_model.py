"""A user's own model: block outputs, the default layer, the input shape taken from images, Grad-CAM's
default, optvis without input_shape and a first-kernel comparison of the user's network."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from own_models import BasicBlock, ResNet
from torch import nn

from convis_widgets.compute import model_checksum
from convis_widgets.compute.access import input_shape
from convis_widgets.compute.attribution import grad_cam
from convis_widgets.compute.errors import NotSpatialError
from convis_widgets.compute.optvis import objectives, run
from convis_widgets.compute.probe import (
    block_layers,
    block_outputs,
    capture,
    default_layer,
    layers,
    layers_and_blocks,
)
from convis_widgets.compute.training import compare_first_kernels
from convis_widgets.data import digits
from convis_widgets.models import DigitsCNN


class VGG(nn.Module):
    """VGG-shaped (K. Simonyan and A. Zisserman): a ``features`` trunk, adaptive pooling, a ``classifier``."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2))
        self.avgpool = nn.AdaptiveAvgPool2d(2)
        self.classifier = nn.Sequential(
            nn.Linear(64, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, 32), nn.ReLU(True), nn.Dropout(),
            nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def plain_sequential() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 11 * 11, 10))


CIFAR = (3, 32, 32)


@pytest.mark.parametrize(("make", "shape", "blocks", "default"), [
    (ResNet, CIFAR, ["bn1", "layer1", "layer2", "layer3", "linear"], "layer3"),
    (DigitsCNN, None, ["relu1", "relu2", "relu3", "relu4", "fc2"], "relu3"),
    (VGG, CIFAR, ["features.1", "features.3", "features.6", "classifier.1", "classifier.4", "classifier.6"],
     "features.6"),
    (plain_sequential, (1, 28, 28), ["2", "5", "7"], "5"),
], ids=["resnet", "digits-cnn", "vgg", "sequential"])
def test_block_outputs_and_the_default_layer(make, shape, blocks, default):
    model = make()
    before = model_checksum(model)
    assert block_outputs(model, shape) == blocks
    assert default_layer(model, shape) == default
    assert model_checksum(model) == before
    every = [i.name for i in layers(model, shape)]
    assert len(every) > len(blocks)
    # a block is a module of the model; those layers() lists keep its order
    listed = [b for b in blocks if b in every]
    assert listed == sorted(listed, key=every.index)


def test_block_records_are_what_capture_gives_and_include_functional_relus():
    torch.manual_seed(0)
    model = ResNet().eval()
    x = torch.rand(2, *CIFAR)
    infos = block_layers(model, CIFAR)
    assert [(i.name, i.type, i.output_shape, i.spatial) for i in infos] == [
        ("bn1", "BatchNorm2d", (8, 32, 32), True), ("layer1", "Sequential", (8, 32, 32), True),
        ("layer2", "Sequential", (16, 16, 16), True), ("layer3", "Sequential", (32, 8, 8), True),
        ("linear", "Linear", (10,), False)]
    assert infos[1].module is model.layer1
    with capture(model, [i.name for i in infos]) as got, torch.no_grad():
        model(x)
        stem = F.relu(model.bn1(model.conv1(x)))
        want = model.layer3(model.layer2(model.layer1(stem)))
    assert torch.equal(got["layer3"], want)
    assert float(got["layer3"].min()) >= 0  # the blocks' F.relu is inside the block output


def test_a_lone_trunk_of_blocks_is_opened_and_a_wrapper_looked_through():
    class Trunk(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(BasicBlock(3, 4, 2), BasicBlock(4, 4), BasicBlock(4, 8, 2))
            self.fc = nn.Linear(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.features(x).mean(dim=(2, 3)))

    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = ResNet()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    assert block_outputs(Trunk(), (3, 16, 16)) == ["features.0", "features.1", "features.2", "fc"]
    class Normalize(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.5))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x - self.mean) / 0.25

    resnet = block_outputs(ResNet(), CIFAR)
    assert block_outputs(Wrapper(), CIFAR) == ["net." + n for n in resnet]
    assert block_outputs(nn.Sequential(Normalize(), ResNet()), CIFAR) == ["1." + n for n in resnet]


def test_the_default_layer_is_more_than_1x1_and_falls_back_to_the_last_spatial_layer():
    to_1x1 = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 8, 3), nn.ReLU(), nn.Flatten(),
                           nn.Linear(8, 2))
    assert block_outputs(to_1x1, (1, 5, 5)) == ["1", "3", "5"]
    assert default_layer(to_1x1, (1, 5, 5)) == "1"
    no_weights = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    assert block_outputs(no_weights, (1, 8, 8)) == []
    assert default_layer(no_weights, (1, 8, 8)) == "1"
    with pytest.raises(NotSpatialError, match=r"spatial .* larger than 1x1; layers: 0 \(64,\), 1 \(3,\)"):
        default_layer(nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), (1, 8, 8))


def test_grad_cam_defaults_to_the_last_block_not_the_shortcut_conv_defined_last():
    torch.manual_seed(0)
    model = ResNet()
    x = torch.rand(2, *CIFAR)
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert convs[-1] == "layer3.1.conv2" and "layer3.0.shortcut.0" in convs
    default = grad_cam(model, x, 0)
    torch.testing.assert_close(default, grad_cam(model, x, 0, layer="layer3"))
    assert not torch.allclose(default, grad_cam(model, x, 0, layer="layer3.0.shortcut.0"))


def test_the_input_shape_comes_from_images_and_a_wrong_guess_names_the_first_conv():
    model = ResNet()
    x = torch.rand(4, *CIFAR)
    assert input_shape(model, None, images=x) == CIFAR
    assert input_shape(model, None, images=x[0].numpy()) == CIFAR
    assert input_shape(model, None, images=(x, torch.zeros(4))) == CIFAR
    assert input_shape(DigitsCNN(), None, images=digits("test")) == (1, 28, 28)
    assert input_shape(model, (3, 16, 16), images=x) == (3, 16, 16)  # a stated shape wins
    with pytest.raises(ValueError, match=r"input_shape needed .*e\.g\. \(3, 28, 28\).*"
                                         r"first conv layer 'conv1' takes 3 channels"):
        input_shape(model, None)
    with pytest.raises(ValueError, match=r"\(1, 28, 28\) has 1 channels but the model's first conv layer "
                                         r"'conv1' takes 3, e\.g\. \(3, 28, 28\)"):
        input_shape(model, (1, 28, 28))
    with pytest.raises(ValueError, match=r"has 1 channels .* 'conv1' takes 3"):
        input_shape(model, None, images=torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) or \(C, H, W\).*got shape \(32, 32\)"):
        input_shape(model, None, images=torch.rand(32, 32))
    with pytest.raises(ValueError, match="has 3 channels but the model's `input_shape` attribute says 1"):
        input_shape(DigitsCNN(), (3, 28, 28))


def test_optvis_takes_the_input_shape_from_its_data():
    torch.manual_seed(0)
    model = ResNet()
    steps = list(run(model, objectives.channel("layer2", 0), data=torch.rand(4, *CIFAR), steps=2,
                     precursor=0))
    assert steps[-1].done
    assert tuple(steps[-1].images.shape) == (1, *CIFAR)


def test_compare_first_kernels_trains_the_users_network(tmp_path):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(48, 3, 16, 16, generator=g)
    labels = torch.arange(48) % 10
    comparison = compare_first_kernels("classifier", (3, 5), epochs=1, data=(images, labels),
                                       model_fn=lambda k: ResNet(width=4, first_kernel=k), batch_size=16,
                                       out_dir=tmp_path)
    records = list(comparison)
    assert {r.run for r in records} == {"3x3", "5x5"}
    trained = [run_.model() for run_ in comparison.runs]
    assert [type(m).__name__ for m in trained] == ["ResNet", "ResNet"]
    assert [m.conv1.kernel_size for m in trained] == [(3, 3), (5, 5)]


class CountedResNet(ResNet):
    """The user's ResNet, counting its forward passes (the views a technique opens share the class)."""

    forwards = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        type(self).forwards += 1
        return super().forward(x)


@pytest.mark.parametrize(("make", "shape"), [(CountedResNet, CIFAR), (DigitsCNN, None), (VGG, CIFAR),
                                             (plain_sequential, (1, 28, 28))],
                         ids=["resnet", "digits-cnn", "vgg", "sequential"])
def test_layers_and_blocks_in_one_forward_equal_the_two_lists(make, shape):
    model = make()
    every, blocks = layers_and_blocks(model, shape)
    assert [(i.name, i.output_shape, i.calls) for i in every] == \
        [(i.name, i.output_shape, i.calls) for i in layers(model, shape)]
    assert [(i.name, i.output_shape, i.calls) for i in blocks] == \
        [(i.name, i.output_shape, i.calls) for i in block_layers(model, shape)]


def test_a_layer_picker_lists_both_views_from_one_dry_forward():
    model = CountedResNet()
    CountedResNet.forwards = 0
    layers_and_blocks(model, CIFAR)
    assert CountedResNet.forwards == 1
    layers(model, CIFAR)
    block_layers(model, CIFAR)
    assert CountedResNet.forwards == 3
