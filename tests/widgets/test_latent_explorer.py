"""LatentExplorer without a browser: directions, samples and lines through an autoencoder's latent space."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convis_widgets.compute import model_checksum
from convis_widgets.compute.latent import encode, fit_latent, fragmentation
from convis_widgets.models import pretrained_digits_autoencoder
from convis_widgets.render import png_bytes
from convis_widgets.widgets.latent_explorer import SAMPLES, LatentExplorer


@pytest.fixture(scope="module")
def autoencoder():
    return pretrained_digits_autoencoder()


@pytest.fixture
def explorer(autoencoder):  # per test: made after the jobs were set to run inline
    explorer = LatentExplorer(autoencoder)
    yield explorer
    explorer.close()


def shown(explorer: LatentExplorer) -> list[str]:
    return [name for name, box in explorer.mode_rows.items() if box.layout.display != "none"]


def test_the_shipped_autoencoder_alone_fits_the_training_digits(autoencoder, explorer):
    assert len(explorer.images) == 4000 and explorer.errors.outputs == ()
    assert "4,000 images encoded to 16 numbers each" in explorer.status.value
    expected = fit_latent(encode(autoencoder, explorer.images))
    assert explorer.encoded is not None
    torch.testing.assert_close(explorer.encoded.distribution.mean, expected.mean)
    share = f"{float(expected.explained[0]):.0%}"
    assert explorer.sliders[0].description == f"direction 1 ({share})"
    assert shown(explorer) == ["sliders", "reset"]


def test_a_slider_moves_the_code_and_the_picture(explorer):
    explorer.mode = "directions"
    explorer.reset()
    before = png_bytes(explorer.figure)
    explorer.sliders[1].value = 2.5
    assert explorer.position == [0.0, 2.5]
    assert "(+0.0, +2.5) s.d." in explorer.view.ax_decoded.get_title()
    assert png_bytes(explorer.figure) != before
    far = "far" in explorer.status.value.split("This code lies")[-1].split("(")[0]
    assert bool(explorer.figure.legends) == far  # the red frame's key only with a red frame
    key = explorer.view.ax_scatter.collections[0].colorbar  # the codes' colours have a key
    assert key is not None and key.ax.get_ylabel() == "label"
    assert [t.get_text() for t in key.ax.get_yticklabels()] == [str(d) for d in range(10)]
    explorer.position = [-1.0]
    assert [s.value for s in explorer.sliders[:3]] == [-1.0, 0.0, 0.0]
    explorer.reset()
    assert explorer.position == [] and all(s.value == 0 for s in explorer.sliders)


def test_samples_say_how_many_fall_far_from_the_training_codes(explorer):
    explorer.mode = "samples"
    assert shown(explorer) == ["new_samples"]
    seed = explorer.seed
    explorer.samples_button.click()
    assert explorer.seed == seed + 1
    enc = explorer.encoded
    frag = fragmentation(enc.distribution.sample(SAMPLES, seed=seed + 1), enc.codes)
    assert f"{int(frag.far.sum())} of {SAMPLES} sampled codes lie far" in explorer.status.value
    framed = [ax for ax in explorer.figure.axes if ax.patches]
    assert len(framed) == int(frag.far.sum())
    assert bool(explorer.figure.legends) == bool(framed)  # the red frame's key only with a red frame


def test_a_line_between_two_digits_of_different_classes(explorer):
    explorer.mode = "line"
    assert shown(explorer) == ["line"]
    labels = explorer.labels
    assert labels[explorer.image_a] != labels[explorer.image_b]
    explorer.line_steps = 5
    assert explorer.status.value.startswith("5 codes from")
    titled = [ax.get_title() for ax in explorer.figure.axes if "d=" in ax.get_title()]
    assert len(titled) == 5 and titled[0].startswith("0.00") and titled[-1].startswith("1.00")


def test_bad_choices_are_refused_with_what_was_expected(explorer):
    with pytest.raises(ValueError, match=r"mode must be one of \['directions', 'samples', 'line'\]"):
        explorer.mode = "grid"
    with pytest.raises(ValueError, match="at most 6 numbers"):
        explorer.position = [0.0] * 7
    with pytest.raises(ValueError, match="within -3.0 to 3.0"):
        explorer.position = [5.0]
    with pytest.raises(IndexError, match="image_a must be an image index in 0..3999; got 4000"):
        explorer.image_a = 4000
    with pytest.raises(ValueError, match="line_steps must be from 3 to 12; got 2"):
        explorer.line_steps = 2
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        LatentExplorer(pretrained_digits_autoencoder(), steps=3)


def test_a_model_that_is_no_autoencoder_or_too_few_images():
    with pytest.raises(TypeError, match="needs encode\\(\\) and decode\\(\\) methods"):
        LatentExplorer(nn.Conv2d(1, 1, 3), torch.rand(5, 1, 8, 8))
    with pytest.raises(ValueError, match="at least 2 images; got 1"):
        LatentExplorer(pretrained_digits_autoencoder(), torch.rand(1, 1, 28, 28))


class Parts(nn.Module):
    """A user's autoencoder known by its encoder and decoder submodules, trained mode on."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8))
        self.decoder = nn.Sequential(nn.Linear(8, 64), nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8)))


def test_a_users_autoencoder_and_tensor_data_are_left_as_they_were():
    torch.manual_seed(0)
    model = Parts().train()
    before = model_checksum(model)
    explorer = LatentExplorer(model, torch.rand(40, 1, 8, 8), mode="samples")
    assert explorer.errors.outputs == () and "of 16 sampled codes" in explorer.status.value
    explorer.mode = "line"
    assert "8 codes from image 0 to image 1" in explorer.status.value
    assert model.training and model_checksum(model) == before
    explorer.close()
