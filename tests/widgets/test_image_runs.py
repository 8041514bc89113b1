"""FeatureInversion and DeepDream without a browser: Start, Stop, live settings, what was reached."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from convis_widgets.compute import model_checksum
from convis_widgets.data import digits
from convis_widgets.jobs import set_default_executor
from convis_widgets.models import pretrained_digits_cnn
from convis_widgets.widgets.from_image import DeepDream, FeatureInversion
from tests.own_models import ResNet


@pytest.fixture(scope="module")
def cnn():
    return pretrained_digits_cnn()


@pytest.fixture(scope="module")
def digit():
    return digits("test").images[3]


@pytest.fixture
def threads():
    old = set_default_executor("thread")
    yield
    set_default_executor(old)


def wait_until(condition, timeout: float = 60.0) -> None:
    t0 = time.time()
    while not condition():
        if time.time() - t0 > timeout:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_inversion_runs_from_noise_to_a_close_match_and_says_so(cnn, digit):
    before = model_checksum(cnn)
    default = FeatureInversion(cnn, digit)
    assert default.layer == "relu3"  # the middle of relu1..relu3, relu4, fc2
    default.close()
    inv = FeatureInversion(cnn, digit, steps=64, layer="relu2")
    assert "Start" in inv.status.value
    inv.start()
    assert inv.result is not None and inv.result.done and inv.result.step == 64
    assert inv.distance() < 0.05  # from about 1.0 at the noise start
    steps, distances = inv.history  # the curve plots the distance itself, falling to the last
    assert steps[0] == 0 and distances[-1] < distances[0]
    assert distances[-1] == pytest.approx(inv.distance())
    assert inv.view.curve.get_ydata()[-1] == pytest.approx(inv.distance())
    assert "step 64" in inv.status.value and "ended" in inv.status.value
    shown = np.ma.filled(inv.view.im_now.get_array(), np.nan)
    np.testing.assert_allclose(shown, inv.result.images[0, 0].numpy(), atol=1e-6)
    assert model_checksum(cnn) == before
    inv.layer = "relu4"  # between runs: the picture is still relu2's, and the status says so
    assert "layer <b>relu4</b> chosen (the picture is the last run's)" in inv.status.value
    assert "relu2" in inv.view.ax_now.get_title()
    inv.close()


def test_stop_takes_effect_within_a_step_and_keeps_the_picture(cnn, digit, threads):
    inv = FeatureInversion(cnn, digit, steps=5000)
    inv.start()
    wait_until(lambda: inv.result is not None and inv.result.step >= 3)
    inv.stop()
    assert inv.wait(30)
    assert inv.result.reason == "cancelled" and inv.result.step < 5000
    assert not inv.running and inv.stop_button.disabled and not inv.start_button.disabled
    inv.close()


def test_a_regulariser_change_mid_run_is_taken_up_and_said_with_its_step(cnn, digit, threads):
    inv = FeatureInversion(cnn, digit, steps=5000)
    inv.start()
    wait_until(lambda: inv.result is not None and inv.result.step >= 3)
    inv.l2 = 0.3
    wait_until(lambda: any(name == "l2" for _, name, _ in inv.changes))
    step, _, value = next(c for c in inv.changes if c[1] == "l2")
    assert value == 0.3 and step > 3
    wait_until(lambda: f"from step {step}" in inv.status.value)
    assert "L2 decay 0.3" in inv.status.value
    inv.stop()
    assert inv.wait(30)
    inv.close()


def test_deep_dream_starts_from_the_image_and_strengthens_the_layer(cnn, digit):
    dream = DeepDream(cnn, digit, layer="relu2", steps=24)
    dream.start()
    steps, values = dream.history
    assert steps[0] == 0 and values[-1] > values[0]
    assert dream.change().max() > 0.05  # the image moved
    np.testing.assert_allclose(np.ma.filled(dream.view.im_given.get_array(), np.nan), digit[0].numpy())
    one = DeepDream(cnn, digit, layer="relu2", channel=5, steps=4)
    one.start()
    assert one.result.step == 4
    dream.close()
    one.close()


def test_a_users_resnet_and_its_colour_image():
    model = ResNet().eval()
    image = torch.rand(3, 32, 32)
    before = model_checksum(model)
    inv = FeatureInversion(model, image, steps=4, layer="layer1")
    inv.start()
    assert inv.result.images.shape == (1, 3, 32, 32)
    dream = DeepDream(model, image, steps=4)
    assert dream.layer in {i.name for i in dream._listed()}
    dream.start()
    assert model_checksum(model) == before
    inv.close()
    dream.close()


def test_bad_inputs_say_what_was_expected(cnn, digit):
    with pytest.raises(ValueError, match="give one image.*got a batch of 2"):
        FeatureInversion(cnn, digits("test").images[:2])
    with pytest.raises(ValueError, match="relu1"):
        DeepDream(cnn, digit, layer="nope")
    with pytest.raises(ValueError, match=r"channel must be -1 \(the whole layer\) or one of relu2's maps, "
                       r"0\.\.63; got 500"):
        DeepDream(cnn, digit, layer="relu2", channel=500, steps=2)


def test_deep_dream_picks_one_map_from_its_control_and_follows_the_layer(cnn, digit):
    dream = DeepDream(cnn, digit, layer="relu2", steps=2)
    box = dream.controls["channel"]
    assert (box.min, box.max, box.value) == (-1, 63, -1)  # relu2 has 64 maps; -1: the whole layer
    box.value = 40
    assert dream.channel == 40
    dream.layer = "relu1"  # 32 maps: map 40 is no map of it
    assert (box.max, dream.channel) == (31, -1)
    dream.channel = 5
    dream.start()
    assert dream.result.step == 2
    with pytest.raises(ValueError, match="got 32"):
        dream.channel = 32
    assert "got 32" in str(dream.errors.outputs) and dream.channel == 5
    dream.close()
