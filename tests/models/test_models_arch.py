"""Reference architectures: layer names, shapes, argument checks."""

import pytest
import torch
from torch import nn

from convis_widgets.models import ConvAutoencoder, DigitsCNN, SeedCNN

SEED_CNN_LAYERS = [
    "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3", "pool3",
    "flatten", "fc1", "relu4", "dropout", "fc2",
]  # fmt: skip


DIGITS_CNN_LAYERS = [
    "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3",
    "flatten", "fc1", "relu4", "dropout", "fc2",
]  # fmt: skip


def test_digits_cnn_is_the_articles_shape() -> None:
    model = DigitsCNN()
    assert [name for name, _ in model.named_modules()][1:] == DIGITS_CNN_LAYERS
    assert model.input_shape == (1, 28, 28)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 4 and not any(m.inplace for m in relus)
    x = torch.rand(2, 1, 28, 28)
    sizes = {}
    for name, module in model.named_children():
        x = module(x)
        sizes[name] = tuple(x.shape[1:])
    # Mönchmeyer's CNN: 32 maps of 26x26, 64 of 11x11, and on the third layer 128 maps of 3x3.
    assert (sizes["relu1"], sizes["relu2"], sizes["relu3"]) == ((32, 26, 26), (64, 11, 11), (128, 3, 3))
    assert sizes["fc2"] == (10,)
    assert all(m.kernel_size == (3, 3) for m in (model.conv1, model.conv2, model.conv3))


@pytest.mark.parametrize("input_size", [17, 28.0, True])
def test_digits_cnn_refuses_inputs_too_small_for_three_convs(input_size: object) -> None:
    with pytest.raises(ValueError, match="input_size must be an int >= 18"):
        DigitsCNN(input_size=input_size)
    assert DigitsCNN(3, 7, 18)(torch.rand(1, 3, 18, 18)).shape == (1, 7)


def test_seed_cnn_layer_names_are_flat_and_readable() -> None:
    model = SeedCNN()
    assert [name for name, _ in model.named_modules()][1:] == SEED_CNN_LAYERS
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 4 and not any(m.inplace for m in relus)


def test_seed_cnn_default_size() -> None:
    n_params = sum(p.numel() for p in SeedCNN().parameters())
    assert 50_000 < n_params < 70_000


@pytest.mark.parametrize(
    ("in_channels", "input_size", "first_kernel"),
    [(1, 28, 3), (1, 28, 1), (1, 28, 9), (3, 32, 3), (3, 32, 5)],
)
def test_seed_cnn_shapes(in_channels: int, input_size: int, first_kernel: int) -> None:
    model = SeedCNN(in_channels, first_kernel, num_classes=7, input_size=input_size)
    assert model.input_shape == (in_channels, input_size, input_size)
    assert model.conv1.kernel_size == (first_kernel, first_kernel)
    assert model(torch.rand(2, *model.input_shape)).shape == (2, 7)


@pytest.mark.parametrize("first_kernel", [0, 2, -3, 29, 3.0, True])
@pytest.mark.parametrize("cls", [SeedCNN, ConvAutoencoder])
def test_bad_first_kernel_is_refused(cls: type, first_kernel: object) -> None:
    with pytest.raises(ValueError, match=rf"first_kernel must be an odd int .* got {first_kernel!r}"):
        cls(first_kernel=first_kernel, input_size=28)


@pytest.mark.parametrize(("input_size", "code"), [(32, 5), (28, 4)])
def test_autoencoder_round_trip_shapes(input_size: int, code: int) -> None:
    model = ConvAutoencoder(in_channels=3, first_kernel=5, input_size=input_size)
    x = torch.rand(2, *model.input_shape)
    latent = model.encode(x)
    assert latent.shape[1:] == model.latent_shape == (16, code, code)
    out = model(x)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    assert torch.equal(model.decode(latent), out)


def test_autoencoder_starts_at_the_mean_it_is_given() -> None:
    torch.manual_seed(0)
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        plain = ConvAutoencoder(1, 3, 28)(x).mean(dim=(0, 2, 3))
        dark = ConvAutoencoder(1, 3, 28, output_mean=(0.13,))(x).mean(dim=(0, 2, 3))
    assert abs(float(plain[0]) - 0.5) < 0.05 and abs(float(dark[0]) - 0.13) < 0.03
    with pytest.raises(ValueError, match=r"output_mean must be 3 values in \(0, 1\), one per channel; "
                                         r"got \[0.5\]"):
        ConvAutoencoder(output_mean=(0.5,))
    with pytest.raises(ValueError, match="got \\[0.0, 0.5, 0.5\\]"):
        ConvAutoencoder(output_mean=(0.0, 0.5, 0.5))


def test_autoencoder_layer_names() -> None:
    names = [name for name, _ in ConvAutoencoder().named_modules()]
    assert {"encoder.conv1", "encoder.conv3", "decoder.deconv1", "decoder.sigmoid"} <= set(names)


def test_autoencoder_bad_input_size() -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        ConvAutoencoder(input_size=30)
