"""Channel mosaics (render.grid): the tiling, its normalisation, and the click-to-channel inverse."""

import math

import numpy as np
import pytest
import torch

from convis_widgets.render.grid import channel_grid, grid_cell, grid_shape


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


def test_a_mosaic_of_activations_has_one_cell_per_channel_with_gaps():
    act = torch.rand(4, 16, 16)
    g = channel_grid(act)  # 2 x 2 cells of 16 px, 1 px gaps
    assert g.shape == (2 * 17 - 1, 2 * 17 - 1)
    assert np.isnan(g[16]).all() and np.isnan(g[:, 16]).all()
    assert np.nanmin(g) == 0.0 and np.nanmax(g) == 1.0
