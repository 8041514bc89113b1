"""FilterGallery driven from Python: layers, input channels, RGB first layers and noisy flags."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from convis_widgets import FilterGallery
from convis_widgets.compute.filters import conv_weight, filter_images
from convis_widgets.compute.state import model_checksum
from convis_widgets.models import SeedCNN, pretrained_digits_cnn


def test_layers_and_input_channels():
    model = pretrained_digits_cnn()
    before = model_checksum(model)
    g = FilterGallery(model)
    assert g.layer == "conv1" and g.shown.shape == (32, 3, 3)
    assert g.channel_slider.disabled
    g.layer_dropdown.set_state({"index": 1})
    assert g.layer == "conv2" and g.shown.shape == (64, 3, 3)
    assert g.channel_slider.max == 31 and not g.channel_slider.disabled
    g.channel_slider.set_state({"value": 5})
    np.testing.assert_allclose(g.shown, filter_images(model, "conv2", mode="channels")[:, 5])
    assert "conv2" in g.status.value
    g.layer = "conv1"
    assert g.input_channel == 0
    g.close()
    assert model_checksum(model) == before


def test_trained_first_layer_is_smooth_and_random_one_noisy():
    trained = FilterGallery(pretrained_digits_cnn())
    random = FilterGallery(SeedCNN())
    assert trained.report.smoothness.mean() > random.report.smoothness.mean() + 0.2
    assert random.report.noisy.mean() > 0.5
    assert "noisy" in random.status.value
    assert len(random.view.noisy_lines.get_segments()) == 4 * random.report.noisy.sum()
    trained.close()
    random.close()


def test_constructor_choices_are_kept():
    model = pretrained_digits_cnn()
    g = FilterGallery(model, layer="conv3", input_channel=5)
    assert (g.layer, g.input_channel) == ("conv3", 5)
    assert (g.layer_dropdown.value, g.channel_slider.value, g.channel_slider.max) == ("conv3", 5, 63)
    np.testing.assert_allclose(g.shown, filter_images(model, "conv3", mode="channels")[:, 5])
    g.close()
    with pytest.raises(IndexError, match="0..0"):
        FilterGallery(model, input_channel=1)  # conv1 has one input channel


def test_rgb_first_layer():
    g = FilterGallery(SeedCNN(in_channels=3, input_size=32))
    assert g.shown.shape == (16, 3, 3, 3)
    assert g.view.im.get_array().ndim == 3
    g.close()


def test_bad_inputs():
    with pytest.raises(ValueError, match="no convolution layer"):
        FilterGallery(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
    g = FilterGallery(pretrained_digits_cnn())
    with pytest.raises(ValueError, match="conv layers"):
        g.layer = "fc1"
    g.layer = "conv3"
    with pytest.raises(IndexError, match=r"0\.\.63"):  # conv3 has 64 input channels
        g.input_channel = 70
    assert g.input_channel == 0  # refused, and shown in the widget as well as raised
    assert isinstance(g.last_error, IndexError) and "input_channel=70" in g.errors.outputs[-1]["text"]
    with pytest.raises(TypeError):
        FilterGallery(pretrained_digits_cnn(), cmap="gray")
    g.close()


def test_one_by_one_conv_layer_shows_its_filters_with_a_note():
    model = nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.Conv2d(6, 8, 1), nn.ReLU(), nn.Conv2d(8, 3, 1))
    g = FilterGallery(model, layer="2")
    try:
        assert g.last_error is None and g.errors.outputs == ()
        assert g.shown.shape == (8, 1, 1) and g.channel_slider.max == 5
        assert "1x1 kernels have no spatial structure" in g.status.value
        assert np.isnan(g.report.smoothness).all() and not g.report.noisy.any()
        assert len(g.view.noisy_lines.get_segments()) == 0
        assert "1x1" in g.view.ax_smooth.get_title() and "8 filters 1x1" in g.view.ax_filters.get_title()
        g.input_channel = 4
        np.testing.assert_allclose(g.shown, filter_images(model, "2", mode="channels")[:, 4])
        g.layer = "0"  # back to 3x3 kernels: scored again
        assert np.isfinite(g.report.smoothness).all() and "1x1" not in g.status.value
        assert g.view.ax_smooth.get_title().startswith("smoothness\n(lag-1")
    finally:
        g.close()


def test_one_input_channel_hides_the_slider_and_tiles_are_numbered():
    model = pretrained_digits_cnn()
    g = FilterGallery(model)
    try:
        assert g.channel_slider.layout.display == "none"  # conv1 reads one input channel
        assert [t.get_text() for t in g.view.numbers.texts] == [str(k) for k in range(32)]
        weight = conv_weight(model, "conv1").numpy()
        # filter 9 sits in row 1, column 3 of conv1's 6-column grid of 3x3 filters with 1-px gaps
        assert g.view.ax_filters.format_coord(3 * 4 + 2, 4 + 1) == (
            f"filter 9 (y=1, x=2): weight {weight[9, 0, 1, 2]:.3g}")
        g.layer = "conv2"
        assert g.channel_slider.layout.display is None and not g.channel_slider.disabled
        g.input_channel = 3
        assert g.view.ax_filters.format_coord(2, 0) == (
            f"filter 0 (y=0, x=2): weight {conv_weight(model, 'conv2')[0, 3, 0, 2]:.3g}")
    finally:
        g.close()


def test_the_verdict_counts_noisy_filters():
    g = FilterGallery(pretrained_digits_cnn(), layer="conv2")
    try:
        k, n = int(g.report.noisy.sum()), len(g.report.noisy)
        assert k / n > 0.25  # conv2 of the shipped CNN: about half its filters below the threshold
        assert f"{k} of {n} noisy" in g.status.value and "looks converged" not in g.status.value
        assert "made for first-layer filters" in g.status.value  # a deeper layer says what the check is for
        assert f"{k} noisy (red)" in g.view.ax_filters.get_title()
        g.layer = "conv1"
        assert "first-layer" not in g.status.value
    finally:
        g.close()
