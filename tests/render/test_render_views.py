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
    np.testing.assert_allclose(cell, [[12, 13], [14, 15]])  # channel 3, its own values
    assert activation_view.im_channel.get_clim() == (12.0, 15.0)
    assert activation_view.ax_channel.get_title() == "channel 3: 12 to 15"
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
    assert view.ax_filters.get_title() == "conv1: 6 filters 3x3, input channel 2, 3 noisy (red)"
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


def test_activation_view_numbers_tiles_reads_values_and_names_its_scale(activation_view):
    act = np.arange(5 * 3 * 4, dtype=np.float32).reshape(5, 3, 4) - 10.0
    activation_view.update(np.zeros((1, 6, 8)), act, layer="conv1", channel=None)
    assert [t.get_text() for t in activation_view.numbers.texts] == ["0", "1", "2", "3", "4"]
    # channel 4 sits in row 1, column 1 of a 3-column mosaic of 3x4 tiles with 1-px gaps
    x, y = 1 * 5 + 2, 1 * 4 + 1
    said = activation_view.ax_grid.format_coord(x, y)
    assert said == f"channel 4 (y=1, x=2): activation {act[4, 1, 2]:.3g}"
    assert activation_view.ax_grid.format_coord(4, 0) == ""  # the gap between tiles
    assert activation_view.colorbar.ax.get_ylabel() == "each map scaled to its own range"
    activation_view.update(np.zeros((1, 6, 8)), act, layer="conv1", normalize="global")
    assert activation_view.colorbar.ax.get_ylabel() == "activation, one scale for all maps"
    assert activation_view.scale.get_clim() == (-10.0, 49.0)
    activation_view.select(2)
    assert activation_view.ax_channel.format_coord(3, 2) == f"x=3, y=2: channel 2 {act[2, 2, 3]:.3g}"


def test_tile_numbers_thin_out_on_large_mosaics():
    from convis_widgets.render.tiles import MAX_NUMBERED

    view = ActivationView(new_figure((6.0, 4.0)))
    n = MAX_NUMBERED + 25  # 169 maps: 13 a row
    view.update(np.zeros((1, 4, 4)), np.zeros((n, 2, 2), np.float32), layer="big")
    assert [t.get_text() for t in view.numbers.texts] == [str(k) for k in range(0, n, 13)]


def test_filter_view_numbers_filters_reads_weights_and_keeps_boxes_whole():
    view = FilterView(new_figure((6.0, 3.0)))
    weights = np.random.default_rng(3).normal(size=(6, 3, 3)).astype(np.float32)
    pictures = (weights - weights.min()) / np.ptp(weights)
    smooth = np.linspace(-0.5, 0.9, 6)
    view.update(pictures, smooth, smooth < 0.1, layer="conv1", threshold=0.1, weights=weights)
    assert [t.get_text() for t in view.numbers.texts] == [str(k) for k in range(6)]
    assert view.ax_filters.format_coord(4 + 2, 1) == f"filter 1 (y=1, x=2): weight {weights[1, 1, 2]:.3g}"
    assert view.ax_smooth.format_coord(4.2, 0.0) == f"filter 4: smoothness {smooth[4]:.2f}"
    assert not view.noisy_lines.get_clip_on()  # boxes on the mosaic's edge are drawn whole
    assert [t.get_text() for t in view.ax_smooth.get_legend().get_texts()] == ["a filter", "noisy below 0.10"]
