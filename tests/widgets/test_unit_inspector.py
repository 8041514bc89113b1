"""UnitInspector without a browser: one channel's views, linked, filled in as the slow parts finish."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.backend_bases import MouseEvent

from convis_widgets.compute import model_checksum, optvis
from convis_widgets.compute.errors import InputError
from convis_widgets.compute.probe import layers
from convis_widgets.compute.topk import top_k
from convis_widgets.data import digits
from convis_widgets.jobs import set_default_executor
from convis_widgets.models import pretrained_digits_cnn
from convis_widgets.widgets.unit_inspector import UnitInspector, producing_conv
from tests.own_models import ResNet

QUICK = optvis.Settings(steps=16)



def title(ax) -> str:
    """An axes' title on one line (the view wraps long titles to their panel's width)."""
    return " ".join(ax.get_title().split())

@pytest.fixture(scope="module")
def cnn():
    return pretrained_digits_cnn()


@pytest.fixture(scope="module")
def test_digits():
    return digits("test").head(300)


def shown(ax) -> np.ndarray:
    return np.ma.filled(ax.get_images()[-1].get_array(), np.nan)  # the overlay where there is one


def test_the_shipped_model_alone_gives_every_view_of_one_channel(cnn):
    before = model_checksum(cnn)
    ui = UnitInspector(cnn, settings=QUICK)  # the built-in test digits: 1,000 real MNIST digits
    assert ui.layer == "relu2" and ui.channel == 0 and len(ui.images) == 1000
    found = ui.topk["relu2"]
    assert found.done and found.seen == 1000
    assert ("relu2", 0) in ui.patterns and "relu2" in ui.stats
    assert "map 0" in ui.status.value and "over 1,000 images" in ui.status.value
    assert "filter 0 of conv2" in title(ui.view.ax_filter)
    assert "Grad-CAM of class" in title(ui.view.ax_cam)
    assert model_checksum(cnn) == before
    ui.close()


def test_the_top_k_shown_are_those_of_top_k_with_their_fields(cnn, test_digits):
    ui = UnitInspector(cnn, test_digits, settings=QUICK, layer="relu1", channel=3)
    expected = top_k(cnn, "relu1", test_digits.images, k=9)
    assert torch.equal(ui.topk["relu1"].indices[3], expected.indices[3])
    images = shown(ui.view.ax_images)
    first = test_digits.images[int(expected.indices[3, 0]), 0].numpy()
    np.testing.assert_allclose(images[:28, :28], first)
    assert len(ui.view.boxes.get_segments()) + len(ui.view.clipped_boxes.get_segments()) == 4 * 9
    keys = [t.get_text() for t in ui.view.ax_images.get_legend().get_texts()]
    cut = bool(ui.view.clipped_boxes.get_segments())
    assert keys == ["receptive field", *(["field cut by the border"] if cut else [])]  # only what is drawn
    ui.close()


def test_changing_the_channel_changes_every_view_of_it(cnn, test_digits):
    ui = UnitInspector(cnn, test_digits, settings=QUICK, layer="relu2")
    before = {ax: shown(ax).copy() for ax in (ui.view.ax_pattern, ui.view.ax_filter, ui.view.ax_map,
                                              ui.view.ax_crops, ui.view.ax_images)}
    ui.channel = 7
    for ax, old in before.items():
        new = shown(ax)
        assert new.shape != old.shape or not np.allclose(new, old, equal_nan=True), title(ax)
    assert "map 7" in title(ui.view.ax_crops) and "map 7" in ui.status.value
    assert ("relu2", 0) in ui.patterns and ("relu2", 7) in ui.patterns  # each map's pattern is kept
    ui.close()


def test_a_click_on_a_top_image_makes_it_the_current_image(cnn, test_digits):
    ui = UnitInspector(cnn, test_digits, settings=QUICK, layer="relu2", channel=2)
    ui.figure.canvas.draw()
    rank = 4  # the middle tile of the 3x3 mosaic
    x, y = ui.view.ax_images.transData.transform((29 + 14, 29 + 14))
    ui.figure.canvas.callbacks.process("button_press_event", MouseEvent("button_press_event",
                                                                        ui.figure.canvas, x, y, button=1))
    assert ui.image_index == int(ui.topk["relu2"].indices[2, rank])
    assert f"on image {ui.image_index}" in title(ui.view.ax_map)
    ui.close()


def test_open_map_shows_the_asked_channel_of_the_asked_layer(cnn, test_digits):
    ui = UnitInspector(cnn, test_digits, settings=QUICK, layer="relu1", channel=31)
    ui.open_map("relu3", 100)
    assert (ui.layer, ui.channel, ui.channel_slider.max) == ("relu3", 100, 127)
    assert "map 100" in title(ui.view.ax_crops)
    ui.open_map("relu1", 5)
    assert (ui.layer, ui.channel, ui.channel_slider.max) == ("relu1", 5, 31)
    ui.close()


def test_a_channel_change_during_the_pass_resumes_it_instead_of_starting_again(cnn):
    old = set_default_executor("thread")
    try:
        ui = UnitInspector(cnn, settings=QUICK)
        ui.channel = 1  # while the first job still reads the data set
        assert ui.wait(120)
        found = ui.topk["relu2"]
        assert found.done and found.seen == 1000
        expected = top_k(cnn, "relu2", ui.images, k=9)
        assert torch.equal(found.indices, expected.indices)
        assert ("relu2", 1) in ui.patterns
        ui.close()
    finally:
        set_default_executor(old)


def test_a_users_resnet_with_its_own_images():
    model = ResNet().eval()
    images = torch.rand(40, 3, 32, 32)
    before = model_checksum(model)
    ui = UnitInspector(model, images, settings=QUICK, k=4)
    assert ui.layer in ("layer1", "layer2")
    ui.open_map("layer3", 3)
    assert "filter 3 of layer3.1.conv2" in title(ui.view.ax_filter)
    assert ui.topk["layer3"].indices.shape == (32, 4)
    assert "label" not in title(ui.view.ax_map)  # a tensor has no labels
    assert model_checksum(model) == before
    ui.close()


def test_the_filter_behind_a_block_output_is_its_conv():
    model = ResNet()
    infos = layers(model, (3, 32, 32))
    assert producing_conv(infos, "layer1.0.conv1") == "layer1.0.conv1"
    assert producing_conv(infos, "layer2.0.bn2") == "layer2.0.conv2"
    assert producing_conv(infos, "bn1") == "conv1"
    assert producing_conv(infos, "no such layer") is None


def test_bad_choices_say_what_was_expected(cnn, test_digits):
    with pytest.raises(ValueError, match=r"k must be an int >= 1 \(top examples kept per channel\); got 0"):
        UnitInspector(cnn, test_digits, k=0)
    with pytest.raises(InputError, match=r"no built-in data set for this model's inputs \(size unknown\)"):
        UnitInspector(ResNet())
    ui = UnitInspector(cnn, test_digits, settings=QUICK, layer="relu1")
    with pytest.raises(ValueError, match=r"from 0 to 31 \(layer 'relu1' has 32 channels\); got 40"):
        ui.channel = 40
    assert "channel must be from 0 to 31" in str(ui.errors.outputs)
    with pytest.raises(ValueError, match="relu3"):
        ui.layer = "fc2"
    ui.close()
