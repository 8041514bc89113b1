"""Reference models: the seed articles' classifiers and autoencoder, and the shipped digits CNN's weights."""

from .autoencoder import ConvAutoencoder
from .cnn import DigitsCNN, SeedCNN
from .pretrained import pretrained_digits_cnn
from .training import evaluate, train_digits_cnn, train_seed_cnn

__all__ = [
    "ConvAutoencoder",
    "DigitsCNN",
    "SeedCNN",
    "evaluate",
    "pretrained_digits_cnn",
    "train_digits_cnn",
    "train_seed_cnn",
]
