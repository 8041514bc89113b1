"""saliency, smoothgrad, grad_cam, guided_backprop, deconvnet: equal to Captum, and leave the model alone."""

import pytest
import torch
import torch.nn.functional as F
from attribution_models import FunctionalNet, ModuleNet, PaddedNet, flaky_net, seed_cnn
from captum.attr import Deconvolution, GuidedBackprop, LayerAttribution, LayerGradCam, Saliency
from torch import nn

from convis_widgets.compute import model_checksum
from convis_widgets.compute.attribution import (
    deconvnet,
    grad_cam,
    guided_backprop,
    saliency,
    smoothgrad,
)
from convis_widgets.compute.errors import LayerNotFoundError, ModelForwardError, NotSpatialError

# Captum announces its own ReLU hooks with a warning (warnings are errors in this suite)
pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU activations")


def images_for(model, n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, *model.input_shape), generator=g)


def grad_ready(x):
    """Captum warns (an error here) unless its input already requires grad."""
    return x.clone().requires_grad_(True)


def close(got, want, rtol=1e-5):
    want = want.detach()
    torch.testing.assert_close(got, want, rtol=rtol, atol=rtol * float(want.abs().max()))


@pytest.mark.parametrize("make", [lambda: seed_cnn(3), lambda: PaddedNet().eval()])
def test_saliency_equals_captum(make):
    model = make()
    x = images_for(model)
    close(saliency(model, x, [0, 1, 2]), Saliency(model).attribute(grad_ready(x), target=[0, 1, 2]))
    close(saliency(model, x, 1, abs=False), Saliency(model).attribute(grad_ready(x), target=1, abs=False))
    probs = Saliency(lambda t: model(t).softmax(1)).attribute(grad_ready(x), target=2)
    close(saliency(model, x, 2, probabilities=True), probs)


def test_predicted_target_is_each_images_top_class():
    model = seed_cnn(3)
    x = images_for(model)
    pred = model(x).argmax(1)
    close(saliency(model, x, "predicted"), Saliency(model).attribute(grad_ready(x), target=pred))
    close(saliency(model, x), saliency(model, x, pred.tolist()))


@pytest.mark.parametrize("layer", ["conv2", "relu3", "pool3"])
def test_grad_cam_equals_captum_layer_grad_cam(layer):
    model = seed_cnn(3)
    x = images_for(model)
    module = dict(model.named_modules())[layer]
    cam = LayerGradCam(model, module).attribute(grad_ready(x), target=[3, 1, 4], relu_attributions=True)
    close(grad_cam(model, x, [3, 1, 4], layer=layer, upsample=False), cam)
    up = LayerAttribution.interpolate(cam, (28, 28), interpolate_mode="bilinear")
    got = grad_cam(model, x, [3, 1, 4], layer=layer)
    assert got.shape == x.shape
    close(got, up)


def test_grad_cam_on_a_layer_followed_by_inplace_relu():
    model = PaddedNet().eval()
    x = images_for(model)
    got = grad_cam(model, x, 0, layer="bn", upsample=False)
    # by hand on the same network, with the in-place ReLU computed out of place
    act = model.bn(model.conv1(x)).detach().requires_grad_(True)
    y = model.pool2(model.relu2(model.conv2(model.pool1(F.relu(act)))))
    score = model.fc(y.flatten(1))[:, 0].sum()
    (g,) = torch.autograd.grad(score, act)
    want = F.relu((g.mean(dim=(2, 3), keepdim=True) * act).sum(1, keepdim=True)).detach()
    close(got, want)


def test_grad_cam_errors_name_the_layers():
    model = seed_cnn(3)
    x = images_for(model, 1)
    with pytest.raises(NotSpatialError, match="fc1"):
        grad_cam(model, x, 0, layer="fc1")
    with pytest.raises(LayerNotFoundError, match="did you mean 'conv2'"):
        grad_cam(model, x, 0, layer="conv_2")


@pytest.mark.parametrize("ours,theirs", [(guided_backprop, GuidedBackprop), (deconvnet, Deconvolution)])
def test_guided_backprop_and_deconvnet_equal_captum_on_relu_modules(ours, theirs):
    model = seed_cnn(3)
    x = images_for(model)
    close(ours(model, x, [5, 6, 7]), theirs(model).attribute(grad_ready(x), target=[5, 6, 7]))
    assert not torch.allclose(ours(model, x, 5), saliency(model, x, 5, abs=False))


@pytest.mark.parametrize("ours,theirs", [(guided_backprop, GuidedBackprop), (deconvnet, Deconvolution)])
def test_functional_and_inplace_relus_are_rectified_too(ours, theirs, no_hooks):
    torch.manual_seed(0)
    functional = FunctionalNet().eval()
    x = images_for(functional, 4)
    before = model_checksum(functional)
    want = theirs(ModuleNet(functional)).attribute(grad_ready(x), target=1)
    close(ours(functional, x, 1), want)
    # Captum itself only sees nn.ReLU modules: on the functional net it gives the plain gradient
    assert not torch.allclose(theirs(functional).attribute(grad_ready(x), target=1), want)
    assert model_checksum(functional) == before
    no_hooks(functional)


def test_inplace_relu_module_is_handled():
    model = PaddedNet().eval()  # relu1 is nn.ReLU(inplace=True)
    x = images_for(model)
    close(guided_backprop(model, x, 2), GuidedBackprop(model).attribute(grad_ready(x), target=2))


def test_smoothgrad_is_seeded_and_averages_saliency_over_noisy_copies():
    model = seed_cnn(3)
    x = images_for(model, 2)
    a = smoothgrad(model, x, 4, samples=10, noise=0.2, seed=3, batch_size=4)
    close(a, smoothgrad(model, x, 4, samples=10, noise=0.2, seed=3, batch_size=10))
    assert not torch.allclose(a, smoothgrad(model, x, 4, samples=10, noise=0.2, seed=4))
    gen = torch.Generator().manual_seed(3)
    want = []
    for img in x:
        sigma = 0.2 * float(img.max() - img.min())
        noisy = img + sigma * torch.randn((10, *img.shape), generator=gen)
        want.append(Saliency(model).attribute(grad_ready(noisy), target=4).mean(0))
    close(a, torch.stack(want))
    close(smoothgrad(model, x, 4, samples=1, noise=0.0), saliency(model, x, 4))


def test_smoothgrad_rejects_bad_settings():
    model = seed_cnn(3)
    x = images_for(model, 1)
    with pytest.raises(ValueError, match="samples must be an int >= 1; got 0"):
        smoothgrad(model, x, 0, samples=0)
    with pytest.raises(ValueError, match="noise must be a fraction of the input range >= 0"):
        smoothgrad(model, x, 0, noise=-0.1)


def test_bad_targets_give_clear_errors():
    model = seed_cnn(3)
    x = images_for(model, 2)
    with pytest.raises(ValueError, match="target class 12 is out of range: the model has 10 classes"):
        saliency(model, x, 12)
    with pytest.raises(ValueError, match="target must be a class index, one index per image, or 'predicted'"):
        guided_backprop(model, x, "best")
    with pytest.raises(ValueError, match="target must be an int class index; got 1.5"):
        deconvnet(model, x, 1.5)


METHODS = {
    "saliency": lambda m, x: saliency(m, x, 0),
    "smoothgrad": lambda m, x: smoothgrad(m, x, 0, samples=6, batch_size=2),
    "grad_cam": lambda m, x: grad_cam(m, x, 0, layer="0"),
    "guided_backprop": lambda m, x: guided_backprop(m, x, 0),
    "deconvnet": lambda m, x: deconvnet(m, x, 0),
}


@pytest.mark.parametrize("name", list(METHODS))
def test_no_hook_mode_or_change_left_also_when_forward_raises(name, no_hooks):
    model = flaky_net(2)
    model.train()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    before = model_checksum(model)
    x = torch.rand(2, 1, 12, 12)
    with pytest.raises(ModelForwardError, match="failing on call 2"):
        METHODS[name](model, x)
        METHODS[name](model, x)  # methods with a single forward raise on their second run
    assert model_checksum(model) == before
    assert model.training
    no_hooks(model)
    assert torch._C._len_torch_function_stack() == 0
    torch.ones(3).relu()  # no mode left: a plain call works and records nothing


class OneConv(nn.Module):
    """Captum's BasicModel_ConvNet_One_Conv: conv 1->2 (all-ones 3x3, biases -50 and -75), ReLU, fc 8->4."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, 1)
        self.relu1 = nn.ReLU()
        self.fc1 = nn.Linear(8, 4)
        self.relu2 = nn.ReLU()
        with torch.no_grad():
            self.conv1.weight.fill_(1.0)
            self.conv1.bias.copy_(torch.tensor([-50.0, -75.0]))
            self.fc1.weight.copy_(torch.cat([torch.ones(4, 5), -torch.ones(4, 3)], dim=1))
            self.fc1.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu2(self.fc1(self.relu1(self.conv1(x)).view(-1, 8)))


class FrontPool(nn.Module):
    """A parameter-free layer in front of the first parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(1)
        self.net = OneConv()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.pool(x))


CAPTUM_ONE_CONV = torch.tensor([[[[11.25, 13.5], [20.25, 22.5]]]])  # captum test_simple_input_conv(_no_grad)


@pytest.mark.parametrize("frozen", ["nothing", "the model", "the layer"])
def test_grad_cam_on_frozen_weights_matches_captum(frozen):
    model = OneConv()
    if frozen == "the model":
        model.requires_grad_(False)
    elif frozen == "the layer":
        model.conv1.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    x = torch.arange(16.0).view(1, 1, 4, 4)
    cam = grad_cam(model, x, 0, layer="conv1", upsample=False)
    torch.testing.assert_close(cam, CAPTUM_ONE_CONV)
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())


def test_grad_cam_on_a_layer_in_front_of_the_first_parameter():
    model = FrontPool().requires_grad_(False)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    cam = grad_cam(model, x, 0, layer="pool", upsample=False)
    assert cam.shape == (1, 1, 4, 4) and float(cam.sum()) > 0
    torch.testing.assert_close(grad_cam(model, x, 0, layer="net.conv1", upsample=False), CAPTUM_ONE_CONV)
