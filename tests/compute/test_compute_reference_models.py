"""Receptive fields and layer discovery on the project's two reference models, by hand."""

from __future__ import annotations

import pytest
import torch

from convis_widgets.compute import layers, receptive_field
from convis_widgets.models import ConvAutoencoder, SeedCNN


def field(model, name, shape):
    rf = receptive_field(model, name, shape)
    return rf.size[0], rf.stride[0], rf.offset[0]


@pytest.mark.parametrize("k, sizes", [
    # r_out = r_in + (k - 1) j_in; j_out = j_in s; start_out = start_in + ((k - 1)/2 - p) j_in
    # conv1 (k, pad k//2), pool 2, conv 3 pad 1, pool 2, conv 3 pad 1, pool 2
    (3, {"conv1": (3, 1, 0), "pool1": (4, 2, 0.5), "conv2": (8, 2, 0.5), "pool2": (10, 4, 1.5),
         "conv3": (18, 4, 1.5), "relu3": (18, 4, 1.5), "pool3": (22, 8, 3.5)}),
    (9, {"conv1": (9, 1, 0), "pool1": (10, 2, 0.5), "conv2": (14, 2, 0.5), "pool2": (16, 4, 1.5),
         "conv3": (24, 4, 1.5), "pool3": (28, 8, 3.5)}),
])
def test_seed_cnn_receptive_fields(k, sizes):
    model = SeedCNN(first_kernel=k)
    for name, expected in sizes.items():
        assert field(model, name, (1, 28, 28)) == expected, name


def test_seed_cnn_gradient_stays_inside_the_receptive_field():
    """The input gradient of one conv3 unit is zero outside the region the arithmetic gives."""
    model = SeedCNN().eval()
    rf = receptive_field(model, "conv3", (1, 28, 28))
    x = torch.rand(1, 1, 28, 28, requires_grad=True)
    out = {}
    handle = model.conv3.register_forward_hook(lambda m, i, o: out.setdefault("y", o))
    try:
        model(x)
    finally:
        handle.remove()
    i, j = 3, 5
    out["y"][0, :, i, j].sum().backward()
    support = x.grad[0, 0] != 0
    rows, cols = rf.region(i, j)
    outside = support.clone()
    outside[rows, cols] = False
    assert support.any() and not outside.any()


def test_autoencoder_encoder_fields_and_shapes():
    model = ConvAutoencoder()
    shapes = {info.name: info.output_shape for info in layers(model, (3, 32, 32))}
    assert shapes["encoder.relu3"] == (16, 5, 5) and shapes["decoder.sigmoid"] == (3, 32, 32)
    # conv1 3 p1: r3 j1 s0; pool: r4 j2 s.5; conv2 3 p1: r8 j2; pool2: r10 j4 s1.5; conv3 k4 p0:
    # r = 10 + 3*4 = 22, start = 1.5 + 1.5*4 = 7.5
    assert field(model, "encoder.pool2", (3, 32, 32)) == (10, 4, 1.5)
    assert field(model, "encoder.conv3", (3, 32, 32)) == (22, 4, 7.5)
    assert field(ConvAutoencoder(first_kernel=9), "encoder.conv3", (3, 32, 32)) == (28, 4, 7.5)
    decoder = receptive_field(model, "decoder.deconv2", (3, 32, 32))
    assert decoder.size[0] >= 22 and decoder.stride[0] < 4  # upsampling refines the jump
