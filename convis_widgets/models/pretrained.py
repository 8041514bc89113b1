"""The shipped pretrained reference models: the digits CNN and the digits autoencoder."""

from __future__ import annotations

from importlib import resources

import torch

from .autoencoder import DigitsAutoencoder
from .cnn import DigitsCNN

DIGITS_WEIGHTS = "digits_cnn.pt"
AUTOENCODER_WEIGHTS = "digits_autoencoder.pt"


def pretrained_digits_cnn() -> DigitsCNN:
    """DigitsCNN() trained on the built-in digits' 4,000 train images (train_pretrained.py), in eval mode."""
    model = DigitsCNN()
    with (resources.files("convis_widgets.models") / "weights" / DIGITS_WEIGHTS).open("rb") as f:
        model.load_state_dict(torch.load(f, weights_only=True, map_location="cpu"))
    return model.eval()


def pretrained_digits_autoencoder() -> DigitsAutoencoder:
    """DigitsAutoencoder() (16 numbers a code) trained on the built-in digits' 4,000 train images
    (train_autoencoder.py), in eval mode."""
    model = DigitsAutoencoder()
    with (resources.files("convis_widgets.models") / "weights" / AUTOENCODER_WEIGHTS).open("rb") as f:
        model.load_state_dict(torch.load(f, weights_only=True, map_location="cpu"))
    return model.eval()
