"""Every bad input gets an error of the right type whose message says what was expected and what
was given, before any work is done."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from convis_widgets.compute import InputError, LayerNotFoundError, activations, layers, receptive_field
from convis_widgets.compute.attribution import grad_cam, occlusion_map, saliency, smoothgrad
from convis_widgets.compute.optvis import Settings, dataset_max_activation, gallery, run
from convis_widgets.compute.optvis import objectives as obj
from convis_widgets.compute.stats import channel_statistics


def cnn() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 3))


def meta_cnn() -> nn.Module:
    with torch.device("meta"):
        return cnn()


IMAGES = torch.rand(2, 1, 8, 8)
SHAPE = (1, 8, 8)
NAN_IMAGES = IMAGES.clone()
NAN_IMAGES[1, 0, 3, 4] = float("nan")

CASES: dict[str, tuple[Callable[[], object], type[Exception], list[str]]] = {
    # the model
    "meta-device model, activations": (lambda: activations(meta_cnn(), IMAGES, layer="1"), ValueError,
                                       ["meta device", "'0.weight'", "to_empty"]),
    "meta-device model, optvis": (lambda: run(meta_cnn(), obj.channel("1", 0), SHAPE), ValueError,
                                  ["meta device"]),
    "not a module": (lambda: activations("resnet", IMAGES, layer="1"), TypeError,
                     ["torch.nn.Module", "str"]),
    # layers
    "layer None": (lambda: activations(cnn(), IMAGES, layer=[None]), TypeError,
                   ["name (str) or an index (int)", "NoneType None", "'0'", "'4'"]),
    "layer 1.5": (lambda: grad_cam(cnn(), IMAGES, 0, layer=1.5), TypeError,
                  ["name (str) or an index (int)", "float 1.5"]),
    "layer name unknown": (lambda: channel_statistics(cnn(), IMAGES, layer="conv1"), LayerNotFoundError,
                           ["no layer named 'conv1'", "valid names", "'0'"]),
    "grad_cam, no spatial layer to default to": (
        lambda: grad_cam(nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), IMAGES, 0), ValueError,
        ["no layer with a spatial", "larger than 1x1", "0 (64,)"]),
    # input shapes
    "input_shape negative": (lambda: layers(cnn(), (1, -8, 8)), ValueError,
                             ["positive ints", "(1, -8, 8)"]),
    "input_shape a string": (lambda: layers(cnn(), "1x8x8"), TypeError,
                             ["sequence of ints", "'1x8x8'"]),
    "input_shape two dims": (lambda: layers(cnn(), (8, 8)), ValueError,
                             ["(C, H, W)", "(8, 8)", "e.g. (1, 28, 28)"]),
    "input_shape wrong channels": (lambda: receptive_field(cnn(), "0", (3, 8, 8)), ValueError,
                                   ["3 channels", "takes 1", "e.g. (1, 28, 28)"]),
    "optvis input_shape wrong channels": (lambda: run(cnn(), obj.channel("1", 0), (3, 8, 8)), ValueError,
                                          ["3 channels", "takes 1"]),
    # images
    "uint8 images": (lambda: saliency(cnn(), (IMAGES * 255).to(torch.uint8)), InputError,
                     ["float", "torch.uint8", "/ 255"]),
    "NaN images": (lambda: activations(cnn(), NAN_IMAGES, layer="1"), InputError,
                   ["1 NaN", "(1, 0, 3, 4)"]),
    # occlusion
    "baseline NaN": (lambda: occlusion_map(cnn(), IMAGES, 0, window=(2, 2), stride=(2, 2),
                                           baseline=float("nan")),
                     ValueError, ["finite number", "nan"]),
    "baseline tensor with NaN": (lambda: occlusion_map(cnn(), IMAGES, 0, window=(2, 2), stride=(2, 2),
                                                       baseline=torch.full(SHAPE, float("nan"))),
                                 ValueError, ["finite numbers", "NaN"]),
    "window float": (lambda: occlusion_map(cnn(), IMAGES, 0, window=(2.5, 2), stride=(2, 2)), ValueError,
                     ["window", "pair of ints", "(2.5, 2)"]),
    "smoothgrad batch_size str": (lambda: smoothgrad(cnn(), IMAGES, 0, batch_size="8"), ValueError,
                                  ["batch_size", "int >= 1", "'8'"]),
    # optvis settings
    "lr NaN": (lambda: Settings(lr=float("nan")), ValueError, ["lr must be a finite number >= 0", "nan"]),
    "lr Inf": (lambda: Settings(lr=float("inf")), ValueError, ["lr must be a finite number", "inf"]),
    "lr negative": (lambda: Settings(lr=-1), ValueError, ["lr must be", "-1"]),
    "fft_decay NaN": (lambda: Settings(fft_decay=float("nan")), ValueError, ["fft_decay", "nan"]),
    "steps 0": (lambda: Settings(steps=0), ValueError, ["steps must be an int >= 1", "0"]),
    "batch str": (lambda: Settings(batch="2"), ValueError, ["batch must be an int >= 1", "'2'"]),
    "init uint8": (lambda: Settings(init=torch.zeros(1, 8, 8, dtype=torch.uint8)), ValueError,
                   ["init image must hold floats", "torch.uint8"]),
    "init NaN": (lambda: Settings(init=torch.full(SHAPE, float("nan"))), ValueError,
                 ["init image", "NaN"]),
    "value_range reversed": (lambda: Settings(value_range=(1, 0)), ValueError,
                             ["value_range must be (low, high)", "(1, 0)"]),
    "value_range a number": (lambda: Settings(value_range=1.0), ValueError,
                             ["value_range must be a sequence", "1.0"]),
    "unknown setting": (lambda: Settings(learning_rate=0.1), TypeError,
                        ["['learning_rate']", "valid settings", "lr"]),
    # data for the gallery's quality figure
    "gallery data uint8": (lambda: dataset_max_activation(cnn(), (IMAGES * 255).to(torch.uint8), layer="1"),
                           InputError, ["float", "torch.uint8"]),
    "gallery data NaN": (lambda: gallery(cnn(), "1", SHAPE, steps=2, data=NAN_IMAGES), InputError,
                         ["NaN"]),
    "gallery data wrong channels": (lambda: dataset_max_activation(cnn(), torch.rand(2, 3, 8, 8), layer="1"),
                                    InputError, ["(N, 1, H, W)", "(N, 3, 8, 8)"]),
    "gallery batch_size 0": (lambda: dataset_max_activation(cnn(), IMAGES, layer="1", batch_size=0),
                             ValueError, ["batch_size", "int >= 1", "0"]),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gets_a_clear_error(case):
    call, error, fragments = CASES[case]
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    missing = [f for f in fragments if f not in message]
    assert not missing, f"{missing} not in: {message}"


def test_numpy_numbers_are_settings_too():
    s = Settings(lr=np.float32(0.1), steps=np.int64(3))
    assert s.steps == 3
