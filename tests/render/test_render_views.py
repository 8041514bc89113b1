"""render/__init__: figures without pyplot, PNG output, display conversion, outlines and the
activation and filter views (what each draws: image data, limits, titles, outlines)."""

import matplotlib
import numpy as np
import pytest
from PIL import Image

from convis_widgets.render import (
    DEAD_COLOR,
    NOISY_COLOR,
    ActivationView,
    FilterView,
    cell_outlines,
    image_for_display,
    new_figure,
    png_bytes,
    save_png,
)
from convis_widgets.render.grid import channel_grid


def test_new_figure_is_not_registered_with_pyplot_and_saves_a_png(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = new_figure((2.0, 1.0), dpi=50)
    assert plt.get_fignums() == before
    ax = fig.add_subplot()
    ax.imshow(np.eye(4), cmap="gray")
    path = save_png(fig, tmp_path / "sub" / "eye.png")
    picture = np.asarray(Image.open(path).convert("L"))
    assert picture.shape == (50, 100) and picture.std() > 10
    data = png_bytes(fig)
    assert data.startswith(b"\x89PNG") and data == path.read_bytes()


def test_image_for_display():
    grey = np.linspace(-1, 2, 12, dtype=np.float32).reshape(1, 3, 4)
    np.testing.assert_array_equal(image_for_display(grey), grey[0])  # grey is shown as it is
    two = np.stack([np.zeros((3, 4)), np.ones((3, 4))])
    np.testing.assert_array_equal(image_for_display(two), np.full((3, 4), 0.5))  # mean of channels
    rgb = np.stack([np.full((2, 2), v) for v in (0.2, 0.4, 0.6)]).astype(np.float32)
    shown = image_for_display(rgb)
    assert shown.shape == (2, 2, 3)
    np.testing.assert_allclose(shown[0, 0], [0.2, 0.4, 0.6])
    normalised = rgb * 10 - 3  # outside [0, 1]: stretched to it
    stretched = image_for_display(normalised)
    assert stretched.min() == 0.0 and stretched.max() == 1.0


def test_cell_outlines_surround_the_cells():
    seg = cell_outlines(np.array([4]), h=2, w=3, ncols=3, pad=1)  # cell 4: row 1, col 1
    assert seg.shape == (4, 2, 2)
    xs, ys = seg[..., 0], seg[..., 1]
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (3.5, 6.5, 2.5, 4.5)
    struck = cell_outlines(np.array([0, 1]), 2, 3, 3, strike=True)
    assert struck.shape == (10, 2, 2)
    np.testing.assert_array_equal(struck[4], [[-0.5, -0.5], [2.5, 1.5]])  # the diagonal
    assert cell_outlines(np.array([], dtype=int), 2, 3, 3).shape == (0, 2, 2)


@pytest.fixture
def activation_view():
    fig = new_figure((6.0, 4.0))
    return ActivationView(fig)


def test_activation_view_draws_the_mosaic_mean_and_dead_channels(activation_view):
    rng = np.random.default_rng(0)
    act = rng.random((5, 3, 4)).astype(np.float32)
    image = rng.random((1, 6, 8)).astype(np.float32)
    dead = np.array([False, True, False, False, True])
    activation_view.update(image, act, layer="conv1", dead=dead, channel=None)
    mosaic = activation_view.im_grid.get_array()
    np.testing.assert_array_equal(np.ma.filled(mosaic, np.nan), channel_grid(act, ncols=3))
    assert activation_view.geometry == (5, 3, 4, 3)
    assert activation_view.ax_grid.get_xlim() == (-0.5, 3 * 5 - 1 - 0.5)
    assert activation_view.ax_grid.get_ylim() == (2 * 4 - 1 - 0.5, -0.5)
    assert activation_view.ax_grid.get_title() == "conv1: 5 channels of 3x4, 2 dead (struck out)"
    np.testing.assert_allclose(activation_view.im_mean.get_array(), act.mean(axis=0))
    np.testing.assert_array_equal(activation_view.im_input.get_array(), image[0])
    assert len(activation_view.dead_lines.get_segments()) == 2 * 5  # outline and strike per dead one
    assert matplotlib.colors.to_hex(activation_view.dead_lines.get_colors()[0]) == DEAD_COLOR
    assert activation_view.ax_channel.get_title() == "click a channel"
    assert activation_view.selected_lines.get_segments() == []


def test_activation_view_selects_one_channel(activation_view):
    act = np.arange(4 * 2 * 2, dtype=np.float32).reshape(4, 2, 2)
    activation_view.update(np.zeros((1, 4, 4)), act, layer="relu", channel=3)
    cell = activation_view.im_channel.get_array()
    np.testing.assert_allclose(cell, [[0, 1 / 3], [2 / 3, 1]])  # channel 3, scaled on its own
    assert activation_view.ax_channel.get_title() == "channel 3"
    (outline,) = [np.asarray(s) for s in activation_view.selected_lines.get_segments()[:1]]
    assert outline[0].tolist() == [2.5, 2.5]  # row 1, col 1 of a 2x2 mosaic of 2 px cells
    assert activation_view.ax_grid.get_title() == "relu: 4 channels of 2x2"
    activation_view.select(7)  # past the last channel: nothing selected
    assert activation_view.ax_channel.get_title() == "click a channel"


def test_filter_view_grey_and_rgb(tmp_path):
    fig = new_figure((6.0, 3.0))
    view = FilterView(fig)
    filters = np.random.default_rng(1).random((6, 3, 3)).astype(np.float32)
    smooth = np.linspace(-0.5, 0.9, 6)
    noisy = smooth < 0.1
    view.update(filters, smooth, noisy, layer="conv1", threshold=0.1, input_channel=2)
    np.testing.assert_array_equal(np.ma.filled(view.im.get_array(), np.nan),
                                  channel_grid(filters, ncols=3, normalize="none"))
    assert view.im.get_clim() == (0.0, 1.0)
    assert view.ax_filters.get_title() == "conv1: 6 filters 3x3, input channel 2"
    x, y = view.points.get_data()
    np.testing.assert_array_equal(x, np.arange(6))
    np.testing.assert_allclose(y, smooth)
    assert list(view.threshold_line.get_ydata()) == [0.1, 0.1] and view.threshold_line.get_visible()
    assert len(view.noisy_lines.get_segments()) == 4 * int(noisy.sum())
    assert matplotlib.colors.to_hex(view.noisy_lines.get_colors()[0]) == NOISY_COLOR
    assert view.ax_smooth.get_xlim() == (-1, 6)
    rgb = np.random.default_rng(2).random((4, 3, 3, 3)).astype(np.float32)
    view.update(rgb, np.full(4, np.nan), np.zeros(4, bool), layer="stem", threshold=0.1)
    shown = view.im.get_array()
    assert shown.shape == (7, 7, 3)
    np.testing.assert_array_equal(shown[:3, :3], rgb[0])
    assert (shown[3] == 1.0).all()  # white gaps between colour filters
    assert not view.threshold_line.get_visible()
    assert view.ax_smooth.get_title() == "smoothness: none for 1x1 kernels"
    picture = np.asarray(Image.open(save_png(fig, tmp_path / "f.png")).convert("L"))
    assert picture.std() > 10
