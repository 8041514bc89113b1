"""Built-in data sets made from files that ship with scikit-learn, so nothing is downloaded."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from .dataset import ImageDataset

SPLITS = ("train", "test")
DIGITS_TEST_SIZE = 360
DIGITS_SEED = 0
PATCH_SIZE = 32
PATCH_STRIDE = 16
# Each photograph is 640 px wide: columns [0, 512) give train patches, [512, 640) test ones.
PATCH_TEST_COLUMN = 512


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Resample all 1,797 digits to MNIST's layout once and split them (stratified, fixed seed)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    small = torch.from_numpy(bunch.images / 16.0).float().unsqueeze(1)
    # MNIST keeps each digit in a 20x20 box centred in a 28x28 frame.
    big = F.interpolate(small, size=(20, 20), mode="bicubic", align_corners=False).clamp_(0, 1)
    images = F.pad(big, (4, 4, 4, 4))
    labels = torch.from_numpy(bunch.target).long()
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)),
        test_size=DIGITS_TEST_SIZE,
        stratify=bunch.target,
        random_state=DIGITS_SEED,
    )
    return {
        split: (images[torch.from_numpy(idx)], labels[torch.from_numpy(idx)])
        for split, idx in (("train", np.sort(train_idx)), ("test", np.sort(test_idx)))
    }


def digits(split: str = "train") -> ImageDataset:
    """scikit-learn's 8x8 digits resampled to MNIST's layout (1,437 train / 360 test images)."""
    _check_split(split)
    images, labels = _digits_arrays()[split]
    return ImageDataset(images.clone(), labels.clone(), [str(d) for d in range(10)], f"digits-{split}")


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
