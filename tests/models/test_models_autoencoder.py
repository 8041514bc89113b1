"""The shipped digits autoencoder: small, loads in eval mode, reconstructs, and is reproduced bit for bit."""

import os
import subprocess
import sys
from importlib import resources

import pytest
import torch

from convis_widgets.data import digits
from convis_widgets.models import DigitsAutoencoder, pretrained_digits_autoencoder
from convis_widgets.models.training import SHIPPED_CPU_KERNELS


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


def test_the_training_script_reproduces_the_shipped_weights_bit_for_bit(tmp_path) -> None:
    # in a process of its own: torch and oneDNN take the script's kernel cap only before their first use
    out = tmp_path / "digits_autoencoder.pt"
    env = {k: v for k, v in os.environ.items() if k not in SHIPPED_CPU_KERNELS}
    script = [sys.executable, "-m", "convis_widgets.models.train_autoencoder", "--out", str(out)]
    done = subprocess.run(script, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "epoch  12/12" in done.stdout and "test reconstruction MSE 0.0208" in done.stdout, done.stdout
    trained = torch.load(out, weights_only=True)
    shipped = pretrained_digits_autoencoder().state_dict()
    assert trained.keys() == shipped.keys()
    assert all(torch.equal(trained[k], shipped[k]) for k in shipped)
