"""Reference models: the articles' classifiers and autoencoders, and the shipped digits CNN's and digits
autoencoder's weights."""

from .autoencoder import ConvAutoencoder, DigitsAutoencoder
from .cnn import DigitsCNN, SeedCNN
from .pretrained import pretrained_digits_autoencoder, pretrained_digits_cnn
from .training import evaluate, train_digits_autoencoder, train_digits_cnn, train_seed_cnn

__all__ = [
    "ConvAutoencoder",
    "DigitsAutoencoder",
    "DigitsCNN",
    "SeedCNN",
    "evaluate",
    "pretrained_digits_autoencoder",
    "pretrained_digits_cnn",
    "train_digits_autoencoder",
    "train_digits_cnn",
    "train_seed_cnn",
]
