"""Check user images before they reach the model, with messages that say what was expected."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from torch import nn

from .access import expected_input_shape, model_device, model_dtype
from .errors import InputError

__all__ = ["HasImages", "ImageData", "Images", "Layer", "check_images", "data_images", "expected_input_shape"]

Images = torch.Tensor | np.ndarray
"""A batch (N, C, H, W) or one image (C, H, W) of floats, as every technique takes them."""
Layer = str | int
"""A layer: its dotted module name, or an index into the function's list of layers (negative allowed)."""


class HasImages(Protocol):
    """A data set that holds its images as one batch, e.g. ``convis_widgets.data.ImageDataset``."""

    @property
    def images(self) -> Images:
        """The whole set as an (N, C, H, W) batch."""


ImageData = Images | HasImages
"""Images, or a data set holding them (its ``.images``)."""


def data_images(data: ImageData) -> Images:
    """The images of ``data``: the batch itself, or a data set's ``.images``."""
    return data if isinstance(data, (torch.Tensor, np.ndarray)) else data.images


def _fmt(shape: Sequence[int | str | None]) -> str:
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"


def check_images(  # noqa: PLR0912 (one branch per way a batch can be wrong, each with its message)
    images: Images,
    *,
    model: nn.Module | None = None,
    input_shape: Sequence[int | None] | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Validate (N, C, H, W) or single (C, H, W) float images and return them as a batch.

    The batch goes to ``device`` (default: the model's device) in the model's floating dtype.
    """
    if isinstance(images, np.ndarray):
        if not (np.issubdtype(images.dtype, np.floating)):
            raise InputError(
                f"images must be a float array; got dtype {images.dtype}: convert first, "
                "e.g. x.astype(np.float32) / 255"
            )
        x = torch.from_numpy(np.ascontiguousarray(images))
    elif isinstance(images, torch.Tensor):
        x = images.detach()
        if not x.is_floating_point():
            raise InputError(
                f"images must be a float tensor; got dtype {x.dtype}: convert first, "
                "e.g. x.float() / 255"
            )
    else:
        raise InputError(
            f"images must be a torch.Tensor or numpy array of shape (N, C, H, W); "
            f"got {type(images).__name__}"
        )
    if x.ndim == 3:
        x = x.unsqueeze(0)
    elif x.ndim != 4:
        hint = " (for one grayscale image add the channel dim: x[None])" if x.ndim == 2 else ""
        raise InputError(
            "expected images of shape (N, C, H, W) or one image (C, H, W); "
            f"got shape {tuple(x.shape)} with {x.ndim} dims{hint}"
        )
    if x.shape[0] == 0:
        raise InputError(f"empty batch: got shape {tuple(x.shape)}, need at least one image")
    if 0 in x.shape:
        raise InputError(f"images have a zero-size dimension: shape {tuple(x.shape)}")
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(bad.sum()) - n_nan
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise InputError(
            f"images contain {n_nan} NaN and {n_inf} Inf values (first at index {first}); "
            "clean or re-normalise the data"
        )
    want = tuple(input_shape) if input_shape is not None else None
    if want is None and model is not None:
        want = expected_input_shape(model)
    if want is not None and len(want) == 3:
        got = tuple(x.shape[1:])
        if any(w is not None and w != g for w, g in zip(want, got, strict=True)):
            names = ("C", "H", "W")
            exp = [str(w) if w is not None else n for w, n in zip(want, names, strict=True)]
            raise InputError(
                f"model expects images of shape {_fmt(['N', *exp])} "
                f"(channels, height, width = {', '.join(exp)}); got {_fmt(['N', *got])}"
            )
    if device is None and model is not None:
        device = model_device(model)
    dtype = model_dtype(model) if model is not None else x.dtype
    return x.to(device=device, dtype=dtype)
