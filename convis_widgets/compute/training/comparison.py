"""First-layer comparisons: one run per first-kernel size, same architecture, data, seed and schedule."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import torch
from torch import nn

from ..cancel import Cancel
from .builtins import builtin
from .config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_KERNELS,
    DEFAULT_LR,
    DEFAULT_OUT_DIR,
    TrainConfig,
    check_kind,
)
from .data import Data, as_tensors, prepare
from .run import Training, new_folder
from .trainer import Loss, Trainer


class Comparison(Training):
    """An iterator of the records of several runs trained together; see :func:`compare_first_kernels`."""


def check_kernels(kernels: Sequence[int], image_size: int) -> list[int]:
    """Odd kernel sizes from 1 to the image size, no repeats; a clear error otherwise."""
    ks = list(kernels)
    bad = [k for k in ks if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0
           or k > image_size]
    if not ks or bad:
        raise ValueError(f"first-layer kernel sizes must be odd ints from 1 to the image size "
                         f"({image_size}); got {ks!r}" + (f" (bad: {bad})" if bad else ""))
    if len(set(ks)) != len(ks):
        raise ValueError(f"kernel sizes repeat in {ks!r}")
    return ks


def _folder_name(kind: str, name: str, shape: Sequence[int], count: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("_") or "data"
    return f"{kind}-{safe}-{'x'.join(map(str, shape))}-{count}"


def data_folder(kind: str, data: Data | None = None) -> str:
    """The folder, under ``out_dir``, that holds the comparisons of ``kind`` on ``data`` (None: the
    kind's built-in data), e.g. "classifier-digits-train-1x28x28-4000": one folder per data set."""
    check_kind(kind)
    if data is None:
        data = builtin(kind).data_fn()[0]
    images, _, name = as_tensors(data, "data")
    return _folder_name(kind, name, images.shape[1:], len(images))


def settings_name(kernels: Sequence[int], config: TrainConfig, model: str | None = None) -> str:
    """A comparison's folder name from its settings, e.g. "3x3-vs-9x9-8ep-lr0.003-b64-seed0" (the
    model class is added when it is not the built-in one; the date is added on saving)."""
    ks = "-vs-".join(f"{k}x{k}" for k in kernels)
    model_part = f"{re.sub(r'[^A-Za-z0-9_]+', '_', model)}-" if model else ""
    return f"{model_part}{ks}-{config.epochs}ep-lr{config.lr:g}-b{config.batch_size}-seed{config.seed}"


def _builtin_maker(kind: str, shape: tuple[int, ...], num_classes: int, images: torch.Tensor
                   ) -> Callable[[int], nn.Module]:
    """The built-in model of ``kind`` per first kernel; an autoencoder is told its training images'
    mean per channel, to start from that output (from 0.5 a sigmoid output saturates on dark digits)."""
    default = builtin(kind).model_fn
    mean = tuple(float(m) for m in images.float().mean(dim=(0, 2, 3))) if kind == "autoencoder" else None
    return lambda k: default(k, shape, num_classes, output_mean=mean)


def compare_first_kernels(
    kind: str,
    kernels: Sequence[int] = DEFAULT_KERNELS,
    *,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    out_dir: str | os.PathLike[str] | None = DEFAULT_OUT_DIR,
    data: Data | None = None,
    val_data: Data | None = None,
    model_fn: Callable[[int], nn.Module] | None = None,
    loss: Loss | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    weight_decay: float = 0.0,
    record_every: int = 0,
    probe_index: int | None = None,
    cancel: Cancel = None,
) -> Comparison:
    """Train one run per first-layer kernel size: same architecture, data, seed and schedule.

    ``kind`` "classifier" (built-in: SeedCNN, cross-entropy, the digits) or "autoencoder"
    (built-in: ConvAutoencoder, MSE, colour patches); ``data``, ``model_fn(first_kernel)`` and
    ``loss`` replace them. Runs are interleaved batch by batch in the calling thread, so all
    curves grow together; each draws from its own generators, so it gives what it would give
    alone. Iterate the result for records (``record.run`` names the run, e.g. "3x3"); each run
    is saved under ``out_dir/<data folder>/<settings>-<date>/`` (:func:`data_folder`, one per data
    set, and :func:`settings_name`, e.g. ``3x3-vs-9x9-8ep-lr0.003-b64-seed0-20261202-054100``);
    ``run.model()`` of ``result.runs`` gives the trained models.
    """
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                         record_every=record_every, probe_index=probe_index)
    check_kind(kind)
    inputs = prepare(kind, data, val_data, seed)
    ks = check_kernels(kernels, min(inputs.shape[1:]))
    if model_fn is None:
        if kind == "classifier" and inputs.train[1] is None:
            raise ValueError("a classifier comparison needs labelled data: "
                             "pass (images, labels) or an ImageDataset")
        make = _builtin_maker(kind, inputs.shape, inputs.class_count() if kind == "classifier" else 0,
                              inputs.train[0])
    else:
        make = model_fn
    trainers = []
    for k in ks:
        trainer = Trainer(f"{k}x{k}", partial(make, k), inputs.train, inputs.val, kind=kind, config=config,
                          loss=loss, cancel=cancel, data_name=inputs.name, builtin_model=model_fn is None,
                          extra={"kernels": ks})
        if trainer.first_kernel != k:
            raise ValueError(f"model_fn({k}) built a first conv layer of kernel {trainer.first_kernel}, "
                             f"not {k}")
        trainers.append(trainer)
    home = None if out_dir is None else Path(out_dir) / _folder_name(kind, inputs.name, inputs.shape,
                                                                      inputs.given)
    model = None if model_fn is None else trainers[0].run.config["model"]
    return Comparison(trainers, new_folder(home, settings_name(ks, config, model)))
