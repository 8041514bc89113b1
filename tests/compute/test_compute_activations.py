"""activations() and channel_mean()."""

import numpy as np
import pytest
import torch
from torch import nn

from convis_widgets.compute import (
    LayerNotFoundError,
    ModelForwardError,
    activations,
    channel_mean,
    model_checksum,
)


def test_activations_match_manual_forward_and_leave_model_alone(plain, no_hooks):
    plain.train()
    x = torch.rand(3, 1, 14, 14)
    before = model_checksum(plain)
    acts = activations(plain, x, layer=["0", "4"])
    assert list(acts) == ["0", "4"]
    with torch.no_grad():
        torch.testing.assert_close(acts["0"], plain[0](x))
        torch.testing.assert_close(acts["4"], plain[:5](x))
    assert all(not a.requires_grad and a.device.type == "cpu" for a in acts.values())
    assert model_checksum(plain) == before and plain.training
    no_hooks(plain)
    assert list(activations(plain, x[0].numpy(), layer="3")) == ["3"]  # one image, numpy, one name


def test_activations_decoder_layers(ae):
    x = torch.rand(2, 1, 8, 8)
    acts = activations(ae, x, layer=["2", "3", "4"])
    assert acts["2"].shape == (2, 4, 8, 8)  # ConvTranspose2d
    assert acts["3"].shape == (2, 4, 16, 16)  # Upsample
    with torch.no_grad():
        torch.testing.assert_close(acts["3"], ae[:4](x))


def test_activations_forward_error(exploding, no_hooks):
    with pytest.raises(ModelForwardError, match=r"\(2, 1, 6, 6\).*boom"):
        activations(exploding, torch.rand(2, 1, 6, 6), layer="2")
    no_hooks(exploding)


def test_activations_stop_after_the_last_wanted_layer(exploding, no_hooks):
    """The pass ends once the wanted layers ran: a layer after them is never called."""
    acts = activations(exploding, torch.rand(2, 1, 6, 6), layer="1")
    assert acts["1"].shape == (2, 2, 4, 4)
    no_hooks(exploding)


def test_channel_mean():
    a = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    torch.testing.assert_close(channel_mean(a), a.mean(1))
    torch.testing.assert_close(channel_mean(a[0]), a[0].mean(0))
    assert channel_mean(np.ones((3, 2, 2), dtype=np.int64)).dtype == torch.float32
    with pytest.raises(ValueError):
        channel_mean(torch.ones(3, 2))


def test_activations_of_non_spatial_layer(plain):
    out = activations(plain, torch.rand(2, 1, 14, 14), layer=["6"])
    assert out["6"].shape == (2, 10)


def test_unknown_layer_in_activations(plain):
    with pytest.raises(LayerNotFoundError):
        activations(plain, torch.rand(1, 1, 14, 14), layer=["nope"])


def test_activations_follow_model_dtype():
    net = nn.Sequential(nn.Conv2d(1, 1, 3)).double()
    assert activations(net, torch.rand(1, 1, 5, 5), layer="0")["0"].dtype == torch.float64
