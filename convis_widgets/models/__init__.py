"""Reference models: the seed articles' classifier and autoencoder, and shipped digits weights."""

from .autoencoder import ConvAutoencoder
from .cnn import SeedCNN
from .pretrained import pretrained_digits_cnn
from .training import evaluate, train_seed_cnn

__all__ = [
    "ConvAutoencoder",
    "SeedCNN",
    "evaluate",
    "pretrained_digits_cnn",
    "train_seed_cnn",
]
