"""Feature inversion and DeepDream: the optimisation loop started from a user's image."""

from __future__ import annotations

import pytest
import torch

from convis_widgets.compute import model_checksum
from convis_widgets.compute.optvis import Settings, objectives, run
from convis_widgets.compute.optvis.from_image import (
    deep_dream,
    feature_distance,
    invert,
    target_features,
)
from convis_widgets.data import digits
from convis_widgets.models import pretrained_digits_cnn


@pytest.fixture(scope="module")
def cnn():
    return pretrained_digits_cnn()


@pytest.fixture(scope="module")
def digit():
    return digits("test").images[3:4]


def test_inversion_from_noise_brings_the_features_close_to_the_images(cnn, digit):
    before = model_checksum(cnn)
    records = list(invert(cnn, digit, layer="relu2", steps=96, report=1))
    _, target = target_features(cnn, digit, layer="relu2")
    start = float(feature_distance(cnn, records[0].images, target, layer="relu2"))
    end = float(feature_distance(cnn, records[-1].images, target, layer="relu2"))
    assert start > 0.5 and end < 0.1 * start  # measured: 1.000 -> 0.0023 after 96 steps
    assert float(records[-1].value[0]) == pytest.approx(-end, rel=1e-4)  # the objective is minus it
    values = [float(r.value[0]) for r in records]
    assert values[-1] > values[0]
    assert model_checksum(cnn) == before


def test_the_distance_is_zero_for_the_image_itself_and_relative_to_the_target(cnn, digit):
    _, target = target_features(cnn, digit, layer="relu3")
    assert float(feature_distance(cnn, digit, target, layer="relu3")) == pytest.approx(0.0, abs=1e-9)
    blank = torch.zeros_like(digit)
    _, zero_target = target_features(cnn, blank, layer="relu3")
    far = feature_distance(cnn, blank, target, layer="relu3")
    expected = (zero_target - target).pow(2).sum() / target.pow(2).sum()
    assert float(far) == pytest.approx(float(expected), rel=1e-5)


def test_deep_dream_starts_from_the_image_and_amplifies_the_layer(cnn, digit):
    records = list(deep_dream(cnn, digit, layer="relu2", steps=32, report=1))
    torch.testing.assert_close(records[0].images, digit)
    assert float(records[-1].value[0]) > 1.2 * float(records[0].value[0])  # measured 0.246 -> 0.318
    one = list(deep_dream(cnn, digit, layer="relu2", channel=5, steps=8, report=1))
    assert one[-1].step == 8 and "relu2:5" in objectives.channel("relu2", 5).description


def test_stop_keeps_what_the_inversion_reached(cnn, digit):
    steps = []

    def cancel() -> bool:
        return len(steps) >= 5

    for record in invert(cnn, digit, layer="relu1", steps=200, report=1, cancel=cancel):
        steps.append(record.step)
    assert record.reason == "cancelled" and record.step < 10 and record.images.shape == digit.shape


def test_bad_inputs_say_what_was_expected(cnn, digit):
    with pytest.raises(ValueError, match="give one image.*got a batch of 2"):
        list(invert(cnn, digits("test").images[:2], layer="relu2"))
    with pytest.raises(Exception, match="relu3"):
        list(invert(cnn, digit, layer="no_such_layer"))
    _, target = target_features(cnn, digit, layer="relu1")
    with pytest.raises(ValueError, match=r"target features have shape \(32, 26, 26\) but layer 'relu2'"):
        list(run(cnn, objectives.feature_match("relu2", target), (1, 28, 28), steps=2))
    with pytest.raises(ValueError, match="not finite"):
        objectives.feature_match("relu1", torch.full((2,), float("inf")))


def test_given_settings_are_read_live_and_keep_the_image_start(cnn, digit):
    live = Settings(steps=4, report=1, precursor=0)
    records = list(deep_dream(cnn, digit, layer="relu1", settings=live))
    torch.testing.assert_close(records[0].images, digit)
    assert records[-1].step == 4
