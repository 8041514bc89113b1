"""ActivationExplorer driven from Python as a front end would drive it: traits, set_state, clicks."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from matplotlib.backend_bases import MouseEvent

from convis_widgets import ActivationExplorer
from convis_widgets.compute.errors import InputError, LayerNotFoundError, NotSpatialError
from convis_widgets.compute.state import model_checksum
from convis_widgets.data import digits
from convis_widgets.models import pretrained_digits_cnn
from convis_widgets.render.grid import channel_grid


@pytest.fixture(scope="module")
def digits_model():
    return pretrained_digits_cnn()


@pytest.fixture(scope="module")
def test_images():
    return digits("test").images[:6]


def click_grid(explorer: ActivationExplorer, row_px: float, col_px: float) -> None:
    """Send a mouse click at a pixel of the channel grid, the way ipympl delivers one."""
    canvas = explorer.figure.canvas
    explorer.figure.canvas.draw()  # fixes the axes' layout, as the browser's first draw does
    x, y = explorer.view.ax_grid.transData.transform((col_px, row_px))
    event = MouseEvent("button_press_event", canvas, x, y, button=1)
    canvas.callbacks.process("button_press_event", event)


def test_first_view_shows_every_channel_of_the_first_spatial_layer(digits_model, test_images):
    ex = ActivationExplorer(digits_model, test_images)
    assert ex.layer == "relu1"  # the first block output: conv1 and its ReLU
    assert ex.current.shape == (32, 26, 26)
    expected = channel_grid(ex.current, ncols=6, normalize="per_channel")
    np.testing.assert_allclose(ex.view.im_grid.get_array().filled(np.nan), expected)
    assert "relu1" in ex.status.value and "over the 6 given images" in ex.status.value
    ex.close()


def test_constructor_choices_are_kept(digits_model, test_images):
    ex = ActivationExplorer(digits_model, test_images, layer="relu2", image_index=4,
                            normalize="global")
    assert (ex.layer, ex.image_index, ex.normalize) == ("relu2", 4, "global")
    assert ex.layer_dropdown.value == "relu2" and ex.image_slider.value == 4
    assert ex.normalize_buttons.value == "global" and ex.current.shape == (64, 11, 11)
    ex.close()
    by_index = ActivationExplorer(digits_model, test_images, layer=-1)
    assert by_index.layer == "relu3"
    by_index.close()


def test_layer_dropdown_and_image_slider_redraw(digits_model, test_images):
    ex = ActivationExplorer(digits_model, test_images, layers="all")
    first = ex.current.copy()
    ex.layer_dropdown.set_state({"index": [i.name for i in ex.layer_infos].index("conv2")})
    assert ex.layer == "conv2" and ex.current.shape == (64, 11, 11)
    assert "conv2" in ex.status.value
    conv2_image0 = ex.current.copy()
    ex.image_slider.set_state({"value": 3})
    assert ex.image_index == 3
    assert not np.allclose(ex.current, conv2_image0)
    ex.layer = "conv1"
    assert ex.current.shape == first.shape and not np.allclose(ex.current, first)
    ex.close()


def test_click_on_grid_enlarges_that_channel(digits_model, test_images):
    ex = ActivationExplorer(digits_model, test_images)
    # conv1's 32 maps of 26x26 with 1-px gaps: the one in row 1, column 2 of the grid
    columns = (ex.view.mosaic.shape[1] + 1) // 27
    assert columns >= 3
    click_grid(ex, row_px=1 * 27 + 10, col_px=2 * 27 + 10)
    assert ex.channel == columns + 2
    enlarged = ex.view.im_channel.get_array()
    np.testing.assert_allclose(enlarged, ex.current[columns + 2])  # its own values, not the shades
    click_grid(ex, row_px=26.2, col_px=5)  # on the gap between rows: no change
    assert ex.channel == columns + 2
    ex.layer = "conv2"  # another layer: the selection is cleared
    assert ex.channel is None
    ex.close()


def test_dead_channels_are_found_and_struck_out(dead_net, small_images):
    ex = ActivationExplorer(dead_net, small_images, layers="all")
    assert ex.layer == "conv"  # before the ReLU channel 2 is negative, not zero: not dead
    assert len(ex.dead_channels) == 0 and len(ex.view.dead_lines.get_segments()) == 0
    ex.layer = "relu"
    np.testing.assert_array_equal(ex.dead_channels, [2])
    assert len(ex.view.dead_lines.get_segments()) == 5  # 4 sides and a diagonal
    assert "dead" in ex.status.value
    ex.layer = "pool"
    np.testing.assert_array_equal(ex.dead_channels, [2])
    ex.close()


def test_normalize_toggle_changes_the_grid(digits_model, test_images):
    ex = ActivationExplorer(digits_model, test_images)
    per_channel = ex.view.mosaic.copy()
    ex.normalize_buttons.value = "global"
    assert ex.normalize == "global"
    assert not np.allclose(np.nan_to_num(per_channel), np.nan_to_num(ex.view.mosaic))
    ex.close()


def test_bad_inputs_give_clear_errors(digits_model, test_images):
    with pytest.raises(InputError, match=r"1, 28, 28"):
        ActivationExplorer(digits_model, torch.rand(2, 3, 32, 32))
    bad = test_images.clone()
    bad[1, 0, 3, 3] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        ActivationExplorer(digits_model, bad)
    with pytest.raises(InputError):
        ActivationExplorer(digits_model, (test_images * 255).to(torch.uint8))
    with pytest.raises(LayerNotFoundError, match="conv1"):
        ActivationExplorer(digits_model, test_images, layer="conv_1")
    with pytest.raises(LayerNotFoundError):
        ActivationExplorer(digits_model, test_images, layer=99)
    with pytest.raises(NotSpatialError, match="fc1"):
        ActivationExplorer(digits_model, test_images, layer="fc1")
    with pytest.raises(TypeError, match="colour_map"):
        ActivationExplorer(digits_model, test_images, colour_map="gray")
    ex = ActivationExplorer(digits_model, test_images)
    with pytest.raises(IndexError, match="0..5"):
        ex.image_index = 6
    with pytest.raises(NotSpatialError):
        ex.layer = "fc2"
    assert ex.layer == "relu1"
    ex.close()


def test_a_forward_that_raises_is_shown_in_the_widget(dead_net, small_images):
    ex = ActivationExplorer(dead_net, small_images)
    assert ex.last_error is None

    def broken(_module, _inputs):
        raise RuntimeError("sensor unplugged")

    handle = dead_net.conv.register_forward_pre_hook(broken)  # a pre-hook of the model's own runs
    try:
        ex.image_index = 2
    finally:
        handle.remove()
    assert ex.last_error is not None and "sensor unplugged" in str(ex.last_error)
    shown = "".join(o.get("text", "") for o in ex.errors.outputs)
    assert "ActivationExplorer" in shown and "sensor unplugged" in shown
    ex.image_index = 3  # the next good draw clears the error
    assert ex.last_error is None and ex.errors.outputs == ()
    ex.close()


def test_model_is_unchanged_and_hooks_freed(digits_model, test_images):
    before = model_checksum(digits_model)
    ex = ActivationExplorer(digits_model, test_images)
    for name in ("conv2", "relu3", "pool2"):
        ex.layer = name
    ex.close()
    assert model_checksum(digits_model) == before
    for module in digits_model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks


def test_worker_thread_draws_and_close_leaves_no_thread(digits_model, test_images):
    from convis_widgets.jobs import set_default_executor

    set_default_executor("thread")
    ex = ActivationExplorer(digits_model, test_images)
    assert ex.wait(30)
    assert ex.current.shape == (32, 26, 26)
    for name in ("conv2", "conv3", "conv1", "relu2"):
        ex.layer = name  # each change cancels the previous job
    assert ex.wait(30) and ex.current.shape == (64, 11, 11) and ex.last_error is None
    canvas = ex.figure.canvas
    ex.close()
    assert canvas.comm is None  # the figure widget is closed too
    assert not [t for t in threading.enumerate() if t.name == "convis-widgets-job"]


def test_decoder_layers_of_the_autoencoder():
    from convis_widgets.data import patches
    from convis_widgets.models import ConvAutoencoder

    model = ConvAutoencoder().eval()
    ex = ActivationExplorer(model, patches("test").images[:3], layer=-2)
    assert ex.layer == "decoder.conv" and ex.current.shape == (3, 32, 32)
    ex.layer = "decoder.deconv2"
    assert ex.current.shape == (16, 16, 16)
    ex.close()


def test_figure_is_made_once_and_updated_in_place(digits_model, test_images):
    ex = ActivationExplorer(digits_model, test_images)
    figure, canvas, grid_image = ex.figure, ex.figure.canvas, ex.view.im_grid
    for name in ("conv2", "pool2", "relu1"):
        ex.layer = name
        ex.image_index = (ex.image_index + 1) % len(test_images)
    assert ex.figure is figure and ex.figure.canvas is canvas and ex.view.im_grid is grid_image
    assert len(figure.axes) == 5 and len(ex.view.ax_grid.images) == 1  # four panels and a colour bar
    ex.close()


def test_tiles_carry_channel_numbers_and_the_pointer_reads_the_activation(digits_model, test_images):
    ex = ActivationExplorer(digits_model, test_images)
    try:
        assert [t.get_text() for t in ex.view.numbers.texts] == [str(k) for k in range(32)]
        # map 7 sits in row 1, column 1 of the 6-column grid of 26x26 maps with 1-px gaps
        said = ex.view.ax_grid.format_coord(27 + 5, 27 + 9)
        assert said == f"channel 7 (y=9, x=5): activation {ex.current[7, 9, 5]:.3g}"
        assert "own range" in ex.view.colorbar.ax.get_ylabel()
        ex.normalize = "global"
        assert ex.view.scale.get_clim() == pytest.approx((ex.current.min(), ex.current.max()))
    finally:
        ex.close()


def test_a_click_opens_the_channel_in_the_linked_visualizer(digits_model, test_images):
    from convis_widgets import FeatureVisualizer

    fv = FeatureVisualizer(digits_model, mode="gallery")
    ex = ActivationExplorer(digits_model, test_images, layer="relu2", visualizer=fv)
    try:
        click_grid(ex, row_px=12 + 3, col_px=2 * 12 + 3)  # row 1, column 2 of relu2's 8-column grid
        assert ex.channel == 10 and ex.last_error is None
        assert (fv.mode, fv.objective, fv.layer, fv.index) == ("single", "channel", "relu2", 10)
        assert "opened in the FeatureVisualizer" in ex.status.value
        assert fv not in ex.children  # linked, shown where the user put it
    finally:
        ex.close()
        fv.close()


def test_with_none_linked_the_first_click_makes_a_visualizer_below(digits_model, test_images):
    from convis_widgets import FeatureVisualizer

    ex = ActivationExplorer(digits_model, test_images)
    try:
        click_grid(ex, row_px=3, col_px=27 + 3)  # channel 1
        (made,) = ex.linked
        assert isinstance(made, FeatureVisualizer) and ex.children[-1] is made
        assert (made.layer, made.index, made.mode) == ("relu1", 1, "single")
        click_grid(ex, row_px=3, col_px=2 * 27 + 3)  # channel 2: the same visualizer again
        assert ex.linked == [made] and (made.index, list(ex.children).count(made)) == (2, 1)
    finally:
        ex.close()


def test_link_needs_a_view_that_opens_maps(digits_model, test_images):
    ex = ActivationExplorer(digits_model, test_images)
    with pytest.raises(TypeError, match=r"open_map\(layer, index\).*got Figure"):
        ex.link(ex.figure)
    ex.close()
