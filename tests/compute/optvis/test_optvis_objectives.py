"""Objectives: values and gradients on a model small enough to work out by hand, composition, errors."""

import pytest
import torch
from torch import nn

from convis_widgets.compute.optvis import objectives as obj
from convis_widgets.compute.optvis import output_shapes
from convis_widgets.compute.probe import capture


class Known(nn.Module):
    """(1, 2, 2) -> conv 1x1: map 0 = 2x, map 1 = 1 - x -> flat (8) -> linear: logit k = sum_j W[k, j] f_j."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(8, 3, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([2.0, -1.0]).view(2, 1, 1, 1))
            self.conv.bias.copy_(torch.tensor([0.0, 1.0]))
            self.fc.weight.copy_(torch.arange(24, dtype=torch.float32).view(3, 8) / 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flat(self.conv(x)))


X = torch.tensor([[[[0.1, 0.2], [0.3, 0.4]]], [[[0.5, -0.5], [1.0, 0.0]]]])


def value_and_grad(model, objective, x=X):
    x = x.clone().requires_grad_(True)
    names = sorted(n for n in objective.layers if n != obj.OUTPUT)
    with capture(model, names, detach=False) as cap:
        out = model(x)
    acts = {**cap, obj.OUTPUT: out}
    value = objective(acts)
    (g,) = torch.autograd.grad(value.sum(), x)
    return value.detach(), g


@pytest.fixture
def known():
    return Known()


def test_channel_is_the_map_mean(known):
    value, grad = value_and_grad(known, obj.channel("conv", 0))
    torch.testing.assert_close(value, 2 * X.mean(dim=(1, 2, 3)))
    torch.testing.assert_close(grad, torch.full_like(X, 0.5))
    value, grad = value_and_grad(known, obj.channel("conv", 1))
    torch.testing.assert_close(value, 1 - X.mean(dim=(1, 2, 3)))
    torch.testing.assert_close(grad, torch.full_like(X, -0.25))


def test_neuron_of_a_map_and_of_a_linear_layer(known):
    value, grad = value_and_grad(known, obj.neuron("conv", 1, y=0, x=1))
    torch.testing.assert_close(value, 1 - X[:, 0, 0, 1])
    expected = torch.zeros_like(X)
    expected[:, 0, 0, 1] = -1
    torch.testing.assert_close(grad, expected)
    value, grad = value_and_grad(known, obj.neuron("conv", 0))  # centre of a 2x2 map is (1, 1)
    torch.testing.assert_close(value, 2 * X[:, 0, 1, 1])
    value, _ = value_and_grad(known, obj.neuron("fc", 2))
    w = known.fc.weight[2].detach()
    feats = torch.cat([2 * X.flatten(1), 1 - X.flatten(1)], dim=1)
    torch.testing.assert_close(value, feats @ w)


def test_class_logit_is_pre_softmax(known):
    value, grad = value_and_grad(known, obj.class_logit(1))
    w = known.fc.weight[1].detach()
    feats = torch.cat([2 * X.flatten(1), 1 - X.flatten(1)], dim=1)
    torch.testing.assert_close(value, feats @ w)
    torch.testing.assert_close(grad, (2 * w[:4] - w[4:]).view(1, 1, 2, 2).expand_as(X))


def test_layer_l2_deepdream(known):
    value, grad = value_and_grad(known, obj.layer("conv"))
    a, b = 2 * X, 1 - X
    torch.testing.assert_close(value, (a.pow(2).flatten(1).sum(1) + b.pow(2).flatten(1).sum(1)) / 8)
    torch.testing.assert_close(grad, (2 * a * 2 + 2 * b * -1) / 8)


def test_joint_weights_two_maps(known):
    for w in (0.0, 0.3, 1.0):
        value, _ = value_and_grad(known, obj.joint("conv", 0, 1, w))
        m = X.mean(dim=(1, 2, 3))
        torch.testing.assert_close(value, w * 2 * m + (1 - w) * (1 - m))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        obj.joint("conv", 0, 1, 1.5)


def test_composition_and_description(known):
    combo = 2 * obj.channel("conv", 0) - obj.channel("conv", 1) / 2 + 1
    value, grad = value_and_grad(known, combo)
    m = X.mean(dim=(1, 2, 3))
    torch.testing.assert_close(value, 4 * m - (1 - m) / 2 + 1)
    torch.testing.assert_close(grad, torch.full_like(X, (4 + 0.5) / 4))
    assert combo.description == "2 * conv:0 - 0.5 * conv:1 + 1"
    assert combo.layers == {"conv"}
    both = obj.channel("conv", 0) + obj.class_logit(0)
    assert both.layers == {"conv", obj.OUTPUT} and both.needs_output
    assert sum([obj.channel("conv", 0), obj.channel("conv", 1)]).description == "conv:0 + conv:1"
    with pytest.raises(TypeError):
        obj.channel("conv", 0) * obj.channel("conv", 1)


def test_channels_gives_each_image_its_own_map(known):
    value, grad = value_and_grad(known, obj.channels("conv", [1, 0]))
    m = X.mean(dim=(1, 2, 3))
    torch.testing.assert_close(value, torch.stack([1 - m[0], 2 * m[1]]))
    torch.testing.assert_close(grad[0], torch.full_like(X[0], -0.25))
    torch.testing.assert_close(grad[1], torch.full_like(X[1], 0.5))
    assert obj.channels("conv", [1, 0]).batch == 2
    with pytest.raises(ValueError, match="batches of 2 and 3"):
        obj.channels("conv", [0, 1]) + obj.channels("conv", [0, 1, 0])


def test_diversity_penalises_alike_images(known):
    same = X[:1].expand(2, -1, -1, -1)
    value, _ = value_and_grad(known, obj.diversity("conv", 2.0), same)
    torch.testing.assert_close(value, torch.full((2,), -2.0))
    value, _ = value_and_grad(known, obj.diversity("conv"), X)
    assert bool((value > -1).all())


def test_index_errors_name_the_channel_count(known):
    shapes = output_shapes(known, ["conv", "fc", obj.OUTPUT], (1, 2, 2))
    with pytest.raises(ValueError, match="layer 'conv' has 2 channels.*0..1"):
        obj.channel("conv", 2).check(shapes)
    with pytest.raises(ValueError, match="layer 'fc' has 3 units"):
        obj.neuron("fc", 5).check(shapes)
    with pytest.raises(ValueError, match="outside layer 'conv'"):
        obj.neuron("conv", 0, y=3, x=0).check(shapes)
    with pytest.raises(ValueError, match="the model has 3 outputs"):
        obj.class_logit(3).check(shapes)
    with pytest.raises(TypeError, match="must be an int"):
        obj.channel("conv", 1.5)  # type: ignore[arg-type]
