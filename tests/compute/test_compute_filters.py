"""Filter pictures and the smoothness score that separates learnt filters from noise."""

import numpy as np
import pytest
import torch
from torch import nn

from convis_widgets.compute import (
    NOISY_BELOW,
    LayerNotFoundError,
    conv_layers,
    filter_images,
    filter_report,
    smoothness,
)
from convis_widgets.compute.filters import NO_SPATIAL, conv_weight


def net_rgb() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3),
                         nn.ConvTranspose2d(2, 5, 2, stride=2), nn.Flatten())


def test_conv_layers(resnet):
    assert conv_layers(net_rgb()) == ["0", "2", "3"]
    assert conv_layers(resnet) == ["stem", "block.conv1", "block.conv2", "block.downsample.0"]


def test_filter_images_channels_mode_scaling():
    net = net_rgb()
    with torch.no_grad():
        net[2].weight.zero_()
        net[2].weight[0, 1] = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8.0]])
    imgs = filter_images(net, "2")  # 4 input channels: auto -> channels
    assert imgs.shape == (2, 4, 3, 3) and imgs.dtype == np.float32
    np.testing.assert_allclose(imgs[0, 1], np.arange(9).reshape(3, 3) / 8, rtol=1e-6)
    assert (imgs[0, 0] == 0.5).all()  # constant slice -> mid grey
    rand = filter_images(net, "0", mode="channels")
    assert rand.shape == (4, 3, 3, 3)
    assert np.allclose(rand.min(axis=(2, 3)), 0) and np.allclose(rand.max(axis=(2, 3)), 1)


def test_filter_images_rgb_mode():
    net = net_rgb()
    with torch.no_grad():
        net[0].weight[1] = 0
        net[0].weight[1, 0, 1, 1] = 2.0  # red centre
        net[0].weight[1, 2, 0, 0] = -1.0  # blue corner, the minimum
    imgs = filter_images(net, "0")  # 3 input channels: auto -> rgb
    assert imgs.shape == (4, 3, 3, 3)
    for k in range(4):  # each filter scaled by its own min/max over all 3 colours
        assert imgs[k].min() == 0 and imgs[k].max() == pytest.approx(1)
    np.testing.assert_allclose(imgs[1, 1, 1], [1, 1 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(imgs[1, 0, 0], [1 / 3, 1 / 3, 0], atol=1e-7)
    np.testing.assert_array_equal(imgs, filter_images(net, "0", mode="rgb"))
    with pytest.raises(ValueError, match="mode='rgb' needs 3 input channels.*has 4"):
        filter_images(net, "2", mode="rgb")
    with pytest.raises(ValueError, match="mode must be"):
        filter_images(net, "0", mode="gray")


def test_filter_images_conv_transpose_is_out_in():
    net = net_rgb()  # ConvTranspose2d(2, 5, 2): weight (in=2, out=5, 2, 2)
    with torch.no_grad():
        net[3].weight.zero_()
        net[3].weight[1, 4] = torch.tensor([[0, 1], [2, 4.0]])
    imgs = filter_images(net, "3")
    assert imgs.shape == (5, 2, 2, 2)
    np.testing.assert_allclose(imgs[4, 1], [[0, 0.25], [0.5, 1]])
    assert filter_report(net, "3").smoothness.shape == (5,)


def test_non_conv_layer_lists_conv_layers():
    with pytest.raises(ValueError, match=r"'1' \(ReLU\) has no 4-D conv weight; conv layers: "
                                         r"\['0', '2', '3'\]"):
        filter_images(net_rgb(), "1")
    with pytest.raises(LayerNotFoundError):
        filter_report(net_rgb(), "conv9")


def _grid(k):
    r = np.arange(k) - (k - 1) / 2
    return np.meshgrid(r, r, indexing="ij")


def smooth_bank(k: int, cin: int) -> np.ndarray:
    """Filters a trained first layer learns: blobs, oriented gradients, Gabors, colour opponents."""
    y, x = _grid(k)
    pats = [np.cos(t) * x + np.sin(t) * y for t in np.linspace(0, np.pi, 6, endpoint=False)]
    if k >= 5:
        pats += [np.exp(-(x**2 + y**2) / (2 * s**2)) for s in (1.0, 1.5)]
        pats += [np.exp(-(x**2 + y**2) / (k**2 / 2)) * np.cos(2 * np.pi * (np.cos(t) * x
                 + np.sin(t) * y) / k + ph) for t in (0, np.pi / 3, 2 * np.pi / 3)
                 for ph in (0, np.pi / 2)]
    bank = np.stack([np.stack([p * (1 + 0.3 * c) for c in range(cin)]) for p in pats])
    if cin == 3:  # red-on / blue-off blob, spatially flat per colour
        bank = np.concatenate([bank, np.array([1.0, 0.2, -1.0])[None, :, None, None]
                               * np.ones((1, 3, k, k)) + 0.05 * x])
    return bank


@pytest.mark.parametrize("cin,k", [(1, 5), (3, 3)])
def test_smoothness_calibration(cin, k):
    rng = np.random.default_rng(0)
    for seed in range(5):  # random init: about zero, flagged noisy
        torch.manual_seed(seed)
        conv = nn.Conv2d(cin, 16, k)
        report = filter_report(nn.Sequential(conv), "0")
        assert abs(report.mean) < NOISY_BELOW
        assert report.noisy.mean() >= 0.6
        assert report.verdict.startswith("noisy filters (mean smoothness")
        assert "not converged or weakly regularised" in report.verdict
    bank = smooth_bank(k, cin)
    s = smoothness(bank)
    assert s.min() > NOISY_BELOW + 0.2, s
    conv = nn.Conv2d(cin, len(bank), k)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(bank))
    report = filter_report(nn.Sequential(conv), "0")
    assert not report.noisy.any()
    assert report.verdict == f"smooth filters (mean smoothness {report.mean:.2f}): looks converged"
    # a little noise on a smooth filter keeps it smooth; pure noise does not
    noisy = bank + 0.05 * bank.std() * rng.normal(size=bank.shape)
    assert (smoothness(noisy) > NOISY_BELOW).all()
    assert smoothness(rng.normal(size=(200, cin, 7, 7))).mean() == pytest.approx(0, abs=0.03)


def test_smoothness_by_hand():
    # ramp: h pairs 0 / 3, v pairs 4 / 4 -> r = 4/7; 9 values: noise level b = -1/8
    ramp = np.array([[-1.0, 0, 1]] * 3)[None, None]
    assert smoothness(ramp)[0] == pytest.approx((4 / 7 + 1 / 8) / (1 + 1 / 8))
    checker = np.array([[1.0, -1], [-1, 1]])[None, None]  # r = -1, b = -1/3
    assert smoothness(checker)[0] == pytest.approx(-0.5)
    flat = np.full((2, 1, 3, 3), 0.3)
    flat[1] = 0
    np.testing.assert_array_equal(smoothness(flat), [1, 1])
    assert ((-1 <= (s := smoothness(np.random.default_rng(1).normal(size=(50, 2, 3, 3)))))
            & (s <= 1)).all()
    with pytest.raises(ValueError, match=r"\(out, in, kh, kw\)"):
        smoothness(np.ones((4, 3, 3)))


def test_filter_report_threshold():
    net = net_rgb()
    report = filter_report(net, "2", noisy_below=-2)
    assert report.threshold == -2 and not report.noisy.any()
    assert report.verdict.startswith("smooth filters")
    assert filter_report(net, "2").threshold == NOISY_BELOW


def test_one_by_one_kernels_get_nan_smoothness_and_a_verdict_saying_why():
    s = smoothness(np.random.default_rng(0).normal(size=(4, 3, 1, 1)))
    assert s.shape == (4,) and np.isnan(s).all()
    assert smoothness(np.ones((2, 1, 1, 2)))[0] == 1  # a 1x2 kernel has one neighbour pair: scored
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(4, 6, 1), nn.ReLU(), nn.Conv2d(6, 2, 3))
    report = filter_report(net, "0")
    assert np.isnan(report.smoothness).all() and np.isnan(report.mean)
    assert report.noisy.dtype == bool and not report.noisy.any() and report.noisy.shape == (6,)
    assert report.verdict == NO_SPATIAL and "1x1 kernels have no spatial structure" in report.verdict
    pictures = filter_images(net, "0", mode="channels")
    assert pictures.shape == (6, 4, 1, 1)
    w = net[0].weight.detach().numpy()[:, :, 0, 0]  # 1x1: scaled over each filter's input channels
    want = (w - w.min(1, keepdims=True)) / (w.max(1, keepdims=True) - w.min(1, keepdims=True))
    np.testing.assert_allclose(pictures[:, :, 0, 0], want, rtol=1e-5, atol=1e-6)
    assert filter_report(net, "2").verdict.endswith(("looks converged", "weakly regularised"))


def test_conv_weight_is_a_copy_even_for_float64_cpu_weights():
    net = nn.Sequential(nn.Conv2d(1, 2, 3)).double()
    w = conv_weight(net, "0")
    w += 1
    assert not torch.equal(w, net[0].weight.detach())
