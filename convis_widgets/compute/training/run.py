"""One training run as an iterator of records (train_run), and the loop that drives trainers in turn."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator
from pathlib import Path

import numpy as np
from torch import nn

from ..cancel import Cancel
from .config import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_OUT_DIR, TrainConfig, check_kind
from .data import Data, prepare
from .records import Record, Run
from .trainer import Loss, Trainer, TrainingDiverged, own_copy


def drive(trainers: list[Trainer]) -> Generator[Record, None, None]:
    """Round-robin the trainers batch by batch in this thread, yielding their records.

    A run the consumer abandons is saved as cancelled; a run stopped on a non-finite loss raises
    :class:`TrainingDiverged` once the other runs are done.
    """
    steps = [t.steps() for t in trainers]
    live = list(range(len(trainers)))
    done = object()
    try:
        while live:
            out: list[Record] = []
            while live and not out:
                for i in list(live):
                    rec = next(steps[i], done)
                    if rec is done:
                        live.remove(i)
                    elif isinstance(rec, Record):
                        out.append(rec)
            yield from out
    except Exception as exc:
        for t in trainers:
            if t.run.status == "running":
                t.end("failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        for t in trainers:
            if t.run.status == "running":
                t.end("cancelled", "the loop over its records was left before the end")
    failed = [t.run for t in trainers if t.run.status == "failed"]
    if failed:
        raise TrainingDiverged("; ".join(f"run {r.name!r}: {r.reason}" for r in failed)
                               + "; what it reached was saved" * any(r.path for r in failed))


def new_folder(out_dir: str | os.PathLike[str] | None, stem: str) -> Path | None:
    """A fresh folder for one run or comparison under ``out_dir`` (never reusing an old one)."""
    if out_dir is None:
        return None
    base = Path(out_dir) / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder, k = base, 1
    while folder.exists():
        k += 1
        folder = base.with_name(f"{base.name}-{k}")
    folder.mkdir(parents=True)
    return folder


class Training:
    """An iterator of the records of one or more runs trained together in the calling thread.

    ``runs``: their :class:`Run` objects, filled as records come (``run.model()`` is a run's
    trained model); ``folder``: where they are saved (None if not); ``probe_image``: the held-out
    image the records' probes show. :meth:`close` (or leaving a ``for`` loop and dropping the
    iterator) stops the runs and saves each as cancelled.
    """

    def __init__(self, trainers: list[Trainer], folder: Path | None) -> None:
        for t in trainers:
            t.folder = folder
        self.runs = [t.run for t in trainers]
        first = trainers[0]
        assert first.run.probe_image is not None
        self.probe_image: np.ndarray = first.run.probe_image
        self.folder = folder
        self._records = drive(trainers)

    @property
    def run(self) -> Run:
        """The (first) run."""
        return self.runs[0]

    def __iter__(self) -> Training:
        return self

    def __next__(self) -> Record:
        return next(self._records)

    def close(self) -> None:
        """Stop now; unfinished runs are saved as cancelled."""
        self._records.close()


def train_run(
    model: nn.Module | Callable[[], nn.Module],
    data: Data,
    val_data: Data | None = None,
    *,
    kind: str = "classifier",
    loss: Loss | None = None,
    name: str = "run",
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    weight_decay: float = 0.0,
    seed: int = 0,
    record_every: int = 0,
    probe_index: int | None = None,
    cancel: Cancel = None,
    out_dir: str | os.PathLike[str] | None = DEFAULT_OUT_DIR,
) -> Training:
    """Train a model with Adam on ``data``; iterate the result for a Record per epoch (and every
    ``record_every`` batches).

    ``model``: a function that builds it (built with the run's own generator from ``seed``, so
    the run is reproducible from the seed on CPU) or a module, of which the run trains a deep
    copy: your module is never changed. The trained model is ``result.run.model()``.
    ``kind``: "classifier" (targets are integer labels, default loss cross-entropy, accuracy
    reported) or "autoencoder" (targets are the images, default loss MSE). The run is saved
    under ``out_dir/<name>-<time>/`` after the first record, every epoch and when it ends (also
    when cancelled or stopped on a non-finite loss, which then raises :class:`TrainingDiverged`).
    ``val_data`` None holds out 20% of ``data``. The probe is held-out image ``probe_index``
    (default: the one with the most contrast). Random numbers come from the run's own
    generators and torch's global settings are left alone; torch's thread count is recorded.
    """
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                         record_every=record_every, probe_index=probe_index)
    check_kind(kind)
    inputs = prepare(kind, data, val_data, seed)
    build = (lambda: own_copy(model)) if isinstance(model, nn.Module) else model
    trainer = Trainer(name, build, inputs.train, inputs.val, kind=kind, config=config, loss=loss,
                      cancel=cancel, data_name=inputs.name)
    return Training([trainer], new_folder(out_dir, name))
