"""The shipped digits autoencoder: small, loads in eval mode, reconstructs, and is reproduced bit for bit."""

from importlib import resources

import pytest
import torch

from convis_widgets.data import digits
from convis_widgets.models import DigitsAutoencoder, pretrained_digits_autoencoder
from tests.models.scripts import needs_pinned_torch, same_weights, trained_by_script


def test_shape_and_bad_latent_size() -> None:
    model = DigitsAutoencoder(latent_dim=5)
    x = torch.rand(3, 1, 28, 28)
    assert model.encode(x).shape == (3, 5) and model(x).shape == x.shape
    with pytest.raises(ValueError, match="latent_dim must be a positive int, got 0"):
        DigitsAutoencoder(latent_dim=0)


def test_shipped_weights_load_and_reconstruct_the_test_digits() -> None:
    path = resources.files("convis_widgets.models") / "weights" / "digits_autoencoder.pt"
    n_params = sum(p.numel() for p in DigitsAutoencoder().parameters())
    assert 4 * n_params < len(path.read_bytes()) < 4 * n_params + 10_000
    model, test = pretrained_digits_autoencoder(), digits("test")
    assert not any(m.training for m in model.modules())
    with torch.no_grad():
        error = float(((model(test.images) - test.images) ** 2).mean())
    assert error < 0.025  # 0.0208 when shipped; predicting the mean image gives 0.11


@needs_pinned_torch
def test_the_training_script_reproduces_the_shipped_weights_bit_for_bit(tmp_path) -> None:
    trained, printed = trained_by_script("convis_widgets.models.train_autoencoder", tmp_path / "ae.pt")
    assert "epoch  12/12" in printed and "test reconstruction MSE 0.0208" in printed, printed
    assert same_weights(trained, pretrained_digits_autoencoder().state_dict())
