"""activations(), the channel mosaic and its click-to-channel inverse, channel_mean()."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from convis_widgets.compute import (
    LayerNotFoundError,
    ModelForwardError,
    activations,
    channel_grid,
    channel_mean,
    grid_cell,
    grid_shape,
    model_checksum,
)


def test_activations_match_manual_forward_and_leave_model_alone(plain, no_hooks):
    plain.train()
    x = torch.rand(3, 1, 14, 14)
    before = model_checksum(plain)
    acts = activations(plain, x, ["0", "4"])
    assert list(acts) == ["0", "4"]
    with torch.no_grad():
        torch.testing.assert_close(acts["0"], plain[0](x))
        torch.testing.assert_close(acts["4"], plain[:5](x))
    assert all(not a.requires_grad and a.device.type == "cpu" for a in acts.values())
    assert model_checksum(plain) == before and plain.training
    no_hooks(plain)
    assert list(activations(plain, x[0].numpy(), "3")) == ["3"]  # one image, numpy, one name


def test_activations_decoder_layers(ae):
    x = torch.rand(2, 1, 8, 8)
    acts = activations(ae, x, ["2", "3", "4"])
    assert acts["2"].shape == (2, 4, 8, 8)  # ConvTranspose2d
    assert acts["3"].shape == (2, 4, 16, 16)  # Upsample
    with torch.no_grad():
        torch.testing.assert_close(acts["3"], ae[:4](x))
    assert channel_grid(acts["3"][0]).shape == (2 * 17 - 1, 2 * 17 - 1)


def test_activations_forward_error(exploding, no_hooks):
    with pytest.raises(ModelForwardError, match=r"\(2, 1, 6, 6\).*boom"):
        activations(exploding, torch.rand(2, 1, 6, 6), "2")
    no_hooks(exploding)


def test_activations_stop_after_the_last_wanted_layer(exploding, no_hooks):
    """The pass ends once the wanted layers ran: a layer after them is never called."""
    acts = activations(exploding, torch.rand(2, 1, 6, 6), "1")
    assert acts["1"].shape == (2, 2, 4, 4)
    no_hooks(exploding)


def test_grid_shape():
    assert grid_shape(16) == (4, 4)
    assert grid_shape(10) == (3, 4)
    assert grid_shape(1) == (1, 1)
    assert grid_shape(10, ncols=5) == (2, 5)
    with pytest.raises(ValueError):
        grid_shape(0)


def test_channel_grid_layout_by_hand():
    act = np.arange(5, dtype=float)[:, None, None] * np.ones((5, 2, 3))  # channel k == k
    g = channel_grid(act, normalize="none")  # 3 cols, 2 rows, 1 px padding
    assert g.shape == (2 * 3 - 1, 3 * 4 - 1) and g.dtype == np.float32
    nan = math.nan
    expected = np.array([
        [0, 0, 0, nan, 1, 1, 1, nan, 2, 2, 2],
        [0, 0, 0, nan, 1, 1, 1, nan, 2, 2, 2],
        [nan] * 11,
        [3, 3, 3, nan, 4, 4, 4, nan, nan, nan, nan],
        [3, 3, 3, nan, 4, 4, 4, nan, nan, nan, nan],
    ])
    np.testing.assert_array_equal(g, expected)
    g2 = channel_grid(torch.tensor(act), ncols=5, pad=0, pad_value=-1.0, normalize="global")
    assert g2.shape == (2, 15)
    np.testing.assert_allclose(g2[0, ::3], np.arange(5) / 4)


def test_channel_grid_normalisation():
    rng = np.random.default_rng(0)
    act = rng.normal(size=(3, 4, 4)) * np.array([1, 100, 1])[:, None, None]
    act[2] = 7.0  # constant map
    g = channel_grid(act, ncols=3, pad=0)
    for k in range(2):
        cell = g[:, 4 * k : 4 * k + 4]
        assert cell.min() == 0 and cell.max() == pytest.approx(1)
    assert (g[:, 8:] == 0).all()
    glob = channel_grid(act, ncols=3, pad=0, normalize="global")
    assert glob.min() == 0 and glob.max() == pytest.approx(1)
    with pytest.raises(ValueError, match="normalize must be one of"):
        channel_grid(act, normalize="per_image")
    assert channel_grid(np.arange(4.0), normalize="none").shape == (3, 3)  # (F,) -> 1x1 maps


@pytest.mark.parametrize("c,h,w,ncols,pad", [(5, 2, 3, None, 1), (16, 4, 4, 5, 2), (3, 1, 1, 2, 0)])
def test_grid_cell_inverts_channel_grid(c, h, w, ncols, pad):
    act = np.arange(c, dtype=float)[:, None, None] * np.ones((c, h, w))
    g = channel_grid(act, ncols=ncols, pad=pad, normalize="none")
    cols = grid_shape(c, ncols)[1]
    for r in range(g.shape[0]):
        for q in range(g.shape[1]):
            cell = grid_cell(r, q, h, w, cols, pad, n_channels=c)
            if np.isnan(g[r, q]):
                assert cell is None
            else:
                assert cell == g[r, q]
    assert grid_cell(-1, 0, h, w, cols, pad) is None
    assert grid_cell(0, g.shape[1] + pad, h, w, cols, pad) is None  # right of the last column
    assert grid_cell(0.4, 0.45, h, w, cols, pad) == 0  # matplotlib coords round to pixels


def test_channel_mean():
    a = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    torch.testing.assert_close(channel_mean(a), a.mean(1))
    torch.testing.assert_close(channel_mean(a[0]), a[0].mean(0))
    assert channel_mean(np.ones((3, 2, 2), dtype=np.int64)).dtype == torch.float32
    with pytest.raises(ValueError):
        channel_mean(torch.ones(3, 2))


def test_activations_of_non_spatial_layer(plain):
    out = activations(plain, torch.rand(2, 1, 14, 14), ["6"])
    assert out["6"].shape == (2, 10)


def test_unknown_layer_in_activations(plain):
    with pytest.raises(LayerNotFoundError):
        activations(plain, torch.rand(1, 1, 14, 14), ["nope"])


def test_activations_follow_model_dtype():
    net = nn.Sequential(nn.Conv2d(1, 1, 3)).double()
    assert activations(net, torch.rand(1, 1, 5, 5), "0")["0"].dtype == torch.float64
