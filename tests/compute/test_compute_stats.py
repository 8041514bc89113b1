"""Channel statistics: dead, saturated and too-bright channels, streamed over a data set."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from convis_widgets.compute import (
    InputError,
    ModelForwardError,
    channel_statistics,
    channel_statistics_from_activations,
    model_checksum,
)

DEAD, SATURATED, BRIGHT = 5, 6, 7


def diagnostic_net() -> nn.Sequential:
    """1x1 conv + ReLU, 8 channels: 0-4 copy the input (times 1..1.4), 5 has bias -100 (dead),
    6 has weight 0 and bias 1 (constant 1: saturated), 7 has weight 50 (50x brighter)."""
    conv = nn.Conv2d(1, 8, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1, 1.1, 1.2, 1.3, 1.4, 1, 0, 50.0]).view(8, 1, 1, 1))
        conv.bias.copy_(torch.tensor([0, 0, 0, 0, 0, -100.0, 1, 0]))
    return nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16, 2))


@pytest.fixture
def data() -> torch.Tensor:
    return torch.rand(20, 1, 4, 4)  # positive: ReLU keeps channels 0-4 and 7


def test_flags_and_summary(data, no_hooks):
    net = diagnostic_net()
    before = model_checksum(net)
    s = channel_statistics(net, data, layer="1", batch_size=7)
    assert model_checksum(net) == before
    no_hooks(net)
    assert s.count == 20
    assert np.flatnonzero(s.dead).tolist() == [DEAD]
    assert np.flatnonzero(s.saturated).tolist() == [SATURATED]
    assert np.flatnonzero(s.disparity).tolist() == [BRIGHT]
    assert s.frac_zero[DEAD] == 1 and s.max[DEAD] == 0 and s.min[DEAD] == 0
    assert s.mean[SATURATED] == pytest.approx(1) and s.std[SATURATED] < 1e-6
    live = s.mean_abs[[0, 1, 2, 3, 4, SATURATED, BRIGHT]]
    assert s.disparity_ratio == pytest.approx(live.max() / np.median(live))
    assert s.disparity_ratio == pytest.approx(50 / 1.3)  # median of 7 live: channel 3
    assert s.summary() == (
        "1 of 8 channels dead (5); 1 saturated (6); "
        f"normalisation disparity: channel 7 is {s.disparity_ratio:.0f}x the median"
    )
    x = data.permute(1, 0, 2, 3).reshape(-1).double()
    assert s.mean[0] == pytest.approx(x.mean().item())
    assert s.std[0] == pytest.approx(x.std(unbiased=False).item())
    assert s.max[BRIGHT] == pytest.approx(50 * x.max().item())


def test_disparity_factor_and_quiet_summary(data):
    net = diagnostic_net()
    s = channel_statistics(net, data, layer="1", disparity_factor=100)
    assert not s.disparity.any()
    assert "no normalisation disparity (brightest 38.5x the median)" in s.summary()
    healthy = channel_statistics_from_activations(torch.rand(10, 3, 2, 2) + 0.5)
    assert healthy.summary().startswith("no dead channels (of 3); none saturated; no norm")


@pytest.mark.parametrize("batch_size", [1, 7, 20, 64])
def test_streaming_equals_whole_data(batch_size):
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU())
    data = torch.randn(20, 1, 6, 6) * 3 + 100  # large offset: tests the variance merge
    with torch.no_grad():
        act = net(data).double()
    whole = channel_statistics_from_activations(act)
    s = channel_statistics(net, data, layer="0", batch_size=batch_size)  # the conv: no zeros
    with torch.no_grad():
        pre = net[0](data).double()
    ref = channel_statistics_from_activations(pre)
    for field in ("mean", "std", "max", "min", "frac_zero", "mean_abs"):
        np.testing.assert_allclose(getattr(s, field), getattr(ref, field), rtol=1e-6, atol=1e-6)
    by_numpy = pre.permute(1, 0, 2, 3).reshape(6, -1).numpy()
    np.testing.assert_allclose(s.std, by_numpy.std(axis=1), rtol=1e-6)
    relu = channel_statistics(net, data, layer="1", batch_size=batch_size)
    for field in ("mean", "std", "frac_zero", "mean_abs"):
        np.testing.assert_allclose(getattr(relu, field), getattr(whole, field), rtol=1e-6,
                                   atol=1e-6)


def test_data_forms_agree(data):
    net = diagnostic_net()
    ref = channel_statistics(net, data, layer="0")
    labels = torch.zeros(20, dtype=torch.long)
    forms = [
        TensorDataset(data, labels),  # map-style Dataset of (image, label)
        TensorDataset(data),  # Dataset of (image,)
        DataLoader(TensorDataset(data, labels), batch_size=6),  # iterable of [x, y]
        [data[:9], data[9:]],  # iterable of batches
        data.numpy(),
    ]
    for form in forms:
        s = channel_statistics(net, form, layer="0", batch_size=8)
        np.testing.assert_allclose(s.mean, ref.mean, rtol=1e-6)
        np.testing.assert_allclose(s.std, ref.std, rtol=1e-6, atol=1e-9)
        assert s.count == 20


def test_max_batches_and_empty(data):
    net = diagnostic_net()
    assert channel_statistics(net, data, layer="0", batch_size=3, max_batches=2).count == 6
    with pytest.raises(InputError, match="empty data set"):
        channel_statistics(net, [], layer="0")
    with pytest.raises(InputError, match="empty data set"):
        channel_statistics(net, TensorDataset(data[:0]), layer="0")
    with pytest.raises(InputError, match="empty data set"):
        channel_statistics_from_activations(torch.zeros(0, 3, 2, 2))


def test_non_spatial_layer_features_are_channels(data):
    net = diagnostic_net()
    s = channel_statistics(net, data, layer="3")  # Linear: (N, 2) -> 2 channels of size 1
    assert s.mean.shape == (2,)
    with torch.no_grad():
        out = net(data).double()
    np.testing.assert_allclose(s.mean, out.mean(0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(s.std, out.std(0, unbiased=False).numpy(), rtol=1e-6)


def test_all_dead_layer():
    s = channel_statistics_from_activations(np.zeros((4, 3)))
    assert s.dead.all() and not s.saturated.any() and not s.disparity.any()
    assert np.isnan(s.disparity_ratio)
    assert s.summary() == "3 of 3 channels dead (0, 1, 2); none saturated"


def test_forward_error_in_stats(exploding, no_hooks):
    with pytest.raises(ModelForwardError, match="boom"):
        channel_statistics(exploding, torch.rand(3, 1, 6, 6), layer="2")
    no_hooks(exploding)
    # the pass stops after the wanted layer: the layer that raises after it never runs
    assert channel_statistics(exploding, torch.rand(3, 1, 6, 6), layer="1").count == 3


def test_bad_images_in_data(data):
    with pytest.raises(InputError, match="float"):
        channel_statistics(diagnostic_net(), (data * 255).to(torch.uint8), layer="0")
