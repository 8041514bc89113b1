"""Training runs as iterators of records, and first-layer comparisons (seed 000: 3x3 against 9x9).

A run yields a :class:`Record` per epoch (and, if asked, every k batches): losses, time, the
first-layer filters, per-channel statistics of the first layer's activation and a fixed probe
image's reconstruction or activation. Runs stop between batches when cancelled, stop (and say
why) when the loss stops being finite, and are saved as JSON history plus a state dict.
Built-in kinds import the reference models and data lazily: this module needs torch + numpy only.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .filters import conv_layers, conv_weight, smoothness
from .probe import capture
from .state import model_device

KINDS = ("classifier", "autoencoder")
DEFAULT_OUT_DIR = Path("convis_runs")
DEFAULT_KERNELS = (3, 9)
# Chosen so the default 3x3-vs-9x9 comparison on the built-in digits takes well under a minute
# on 2 CPU cores (benchmarks/training.py) while the held-out loss has clearly settled.
DEFAULT_EPOCHS = 8
DEFAULT_BATCH_SIZE = 64
DEFAULT_LR = 3e-3
HELD_OUT_FRACTION = 0.2
EVAL_BATCH_SIZE = 256
FORMAT = "convis-run/1"
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.PReLU, nn.Tanh, nn.Sigmoid)

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Cancel = Callable[[], bool] | threading.Event | None
Pair = tuple[torch.Tensor, torch.Tensor | None]  # images, labels
Data = Any  # an ImageDataset, an (N, C, H, W) tensor, or an (images, labels) pair


class TrainingDiverged(RuntimeError):
    """The loss stopped being finite: the run was stopped and what it reached was saved."""


@dataclass
class Record:
    """One look at a run: after ``step`` of ``total_steps`` batches (epoch ``epoch``, ``batch`` into it).

    Epoch records (``batch == 0``) carry the held-out loss, the per-channel statistics of the
    first layer's activation over the held-out set and the probe; records taken every k
    batches carry the train loss and filters only. ``train_loss`` is the mean since the
    previous record (None for the record before training). ``elapsed``: this run's own seconds.
    """

    run: str
    epoch: int
    batch: int
    step: int
    total_steps: int
    elapsed: float
    train_loss: float | None
    filters: np.ndarray
    val_loss: float | None = None
    val_accuracy: float | None = None
    frac_zero: np.ndarray | None = None
    dead: np.ndarray | None = None
    probe: np.ndarray | None = None

    @property
    def is_epoch(self) -> bool:
        """True for a record taken at an epoch boundary (with held-out figures)."""
        return self.val_loss is not None

    @property
    def progress(self) -> float:
        """Fraction of the run's batches done."""
        return self.step / self.total_steps

    @property
    def eta(self) -> float | None:
        """Seconds this run still needs at its pace so far (None before the first batch)."""
        return self.elapsed / self.step * (self.total_steps - self.step) if self.step else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (arrays as nested lists, with their dtypes kept by :meth:`from_dict`)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, np.ndarray):
                out[key] = value.tolist()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        for key, dtype in (("filters", np.float32), ("frac_zero", np.float64), ("dead", np.bool_),
                           ("probe", np.float32)):
            if d.get(key) is not None:
                d[key] = np.asarray(d[key], dtype=dtype)
        return cls(**d)


@dataclass
class Run:
    """A training run: its settings, records, how it ended and (once saved) its weights."""

    name: str
    config: dict[str, Any]
    records: list[Record] = field(default_factory=list)
    status: str = "running"  # "running", "finished", "cancelled" or "failed"
    reason: str = ""
    state_dict: dict[str, torch.Tensor] | None = None
    path: Path | None = None

    @property
    def last_epoch(self) -> Record | None:
        """The latest record with held-out figures."""
        return next((r for r in reversed(self.records) if r.is_epoch), None)

    def model(self, model_fn: Callable[[int], nn.Module] | None = None) -> nn.Module:
        """The trained model in eval mode: a built-in kind is rebuilt, else ``model_fn(first_kernel)``."""
        if self.state_dict is None:
            raise ValueError(f"run {self.name!r} has no saved weights")
        c = self.config
        if model_fn is not None:
            model = model_fn(c["first_kernel"])
        elif c.get("model") in ("SeedCNN", "ConvAutoencoder"):
            model = _builtin_model(c["kind"], c["first_kernel"], tuple(c["input_shape"]), c["num_classes"])
        else:
            raise ValueError(f"run {self.name!r} used a {c.get('model')}: pass model_fn to rebuild it")
        model.load_state_dict(self.state_dict)
        return model.eval()

    def save(self, folder: Path) -> Path:
        """Write ``<name>.json`` (settings, status, history) and ``<name>.pt`` (weights) into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.json"
        doc = {"format": FORMAT, "name": self.name, "config": self.config, "status": self.status,
               "reason": self.reason, "records": [r.to_dict() for r in self.records]}
        if self.state_dict is not None:
            _atomic(path.with_suffix(".pt"), lambda p: torch.save(self.state_dict, p))
        _atomic(path, lambda p: p.write_text(json.dumps(doc)))
        self.path = path
        return path


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write to a temporary file and rename it, so a killed kernel never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def load_run(path: str | os.PathLike[str]) -> Run:
    """A run saved by :meth:`Run.save`, from its ``.json`` file."""
    path = Path(path)
    doc = json.loads(path.read_text())
    if doc.get("format") != FORMAT:
        raise ValueError(f"{path} is not a saved convis run (format {doc.get('format')!r})")
    weights = path.with_suffix(".pt")
    state = torch.load(weights, weights_only=True, map_location="cpu") if weights.is_file() else None
    return Run(doc["name"], doc["config"], [Record.from_dict(r) for r in doc["records"]],
               doc["status"], doc["reason"], state, path)


def load_runs(out_dir: str | os.PathLike[str] = DEFAULT_OUT_DIR) -> list[Run]:
    """Every run saved under ``out_dir`` (searched recursively), in path order."""
    root = Path(out_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no saved runs: {root} is not a folder")
    runs = []
    for path in sorted(root.rglob("*.json")):
        with contextlib.suppress(ValueError, KeyError, json.JSONDecodeError):
            runs.append(load_run(path))
    return runs


@contextlib.contextmanager
def torch_settings(num_threads: int, *, deterministic: bool = True) -> Iterator[None]:
    """Fix torch's thread count (and deterministic kernels); restore them and the CPU RNG on exit."""
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        if threads != num_threads:
            torch.set_num_threads(num_threads)
        if deterministic:
            torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)


def default_threads() -> int:
    """Threads for a run (or all runs of an interleaved comparison): torch's count, within the cores."""
    return max(1, min(torch.get_num_threads(), os.cpu_count() or 1))


def _cancelled(cancel: Cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def as_tensors(data: Data, what: str = "data") -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """(images, labels or None, name) of an ImageDataset, an image tensor or an (images, labels) pair."""
    if hasattr(data, "images") and hasattr(data, "labels"):
        images, labels, name = data.images, data.labels, str(getattr(data, "name", what))
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels, name = data[0], data[1], what
    else:
        images, labels, name = data, None, what
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        got = f"{type(images).__name__} {tuple(images.shape)}" if hasattr(images, "shape") else repr(images)
        raise ValueError(f"{what} must hold float (N, C, H, W) images (an ImageDataset, a tensor or "
                         f"an (images, labels) pair); got {got}")
    if len(images) == 0:
        raise ValueError(f"{what} is empty: a run needs at least one image")
    if labels is not None:
        labels = torch.as_tensor(labels)
        if labels.shape != (len(images),):
            raise ValueError(f"{what}: {len(images)} images but labels of shape {tuple(labels.shape)}")
    return images, labels, name


def split_held_out(
    images: torch.Tensor, labels: torch.Tensor | None, seed: int, fraction: float = HELD_OUT_FRACTION
) -> tuple[tuple[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor | None]]:
    """A seeded split into (train, held-out) when the user gave no held-out set."""
    n_val = int(round(len(images) * fraction))
    if n_val < 1 or n_val >= len(images):
        raise ValueError(f"cannot hold out {fraction:.0%} of {len(images)} images: pass a held-out set")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    val, train = order[:n_val], order[n_val:]
    pick = (lambda idx: None) if labels is None else (lambda idx: labels[idx])
    return (images[train], pick(train)), (images[val], pick(val))


def _builtin_model(kind: str, first_kernel: int, input_shape: tuple[int, ...], num_classes: int
                   ) -> nn.Module:
    from ..models import ConvAutoencoder, SeedCNN  # lazy: compute does not depend on models

    c, h, _ = input_shape
    if kind == "classifier":
        return SeedCNN(c, first_kernel, num_classes, h)
    return ConvAutoencoder(c, first_kernel, h)


def _builtin_data(kind: str) -> tuple[Data, Data]:
    from ..data import digits, patches  # lazy: compute does not depend on data

    return (digits("train"), digits("test")) if kind == "classifier" else (patches("train"), patches("test"))


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")


def _check_schedule(epochs: int, batch_size: int, lr: float, record_every: int) -> None:
    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1),
                             ("record_every", record_every, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}; got {value!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number; got {lr!r}")


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


def first_layers(model: nn.Module) -> tuple[str, str]:
    """The first conv layer's name and the module whose output is its activation (the next ReLU-like one)."""
    convs = conv_layers(model)
    if not convs:
        raise ValueError(f"{type(model).__name__} has no conv layer: a run watches the first conv layer")
    names = [n for n, _ in model.named_modules()]
    modules = dict(model.named_modules())
    after = names[names.index(convs[0]) + 1:]
    act = next((n for n in after if not any(True for _ in modules[n].children())), None)
    return convs[0], act if act is not None and isinstance(modules[act], _ACTIVATIONS) else convs[0]


class _Trainer:
    """One run's state; :meth:`steps` trains one batch per ``next`` (yielding a Record when one is due).

    Each batch swaps in this run's own RNG state (dropout), so interleaved runs give the same
    results as runs made alone.
    """

    def __init__(self, name: str, model: nn.Module, train: tuple[torch.Tensor, torch.Tensor | None],
                 val: tuple[torch.Tensor, torch.Tensor | None], *, kind: str, loss: Loss,
                 epochs: int, batch_size: int, lr: float, weight_decay: float, seed: int,
                 record_every: int, probe_index: int | None, cancel: Cancel, folder: Path | None,
                 config: dict[str, Any]) -> None:
        if kind == "classifier" and (train[1] is None or val[1] is None):
            raise ValueError("a classifier run needs labels for its training and held-out images")
        if probe_index is None:  # the busiest held-out image shows the most
            probe_index = int(val[0].flatten(1).std(dim=1).argmax())
        if not 0 <= probe_index < len(val[0]):
            raise ValueError(f"probe_index must be in 0..{len(val[0]) - 1}; got {probe_index}")
        self.model, self.kind, self.loss = model, kind, loss
        self.train_x, self.train_y = train
        self.val_x, self.val_y = val
        self.epochs, self.batch_size, self.record_every = epochs, batch_size, record_every
        self.probe_index, self.cancel, self.folder = probe_index, cancel, folder
        self.first, self.act = first_layers(model)
        self.device = model_device(model)
        self.batches_per_epoch = -(-len(self.train_x) // batch_size)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        self.shuffle = torch.Generator().manual_seed(seed)
        self.rng = torch.get_rng_state()
        self.run = Run(name, config)
        self.elapsed = 0.0

    def _target(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return x if self.kind == "autoencoder" or y is None else y.to(self.device)

    @torch.no_grad()
    def _evaluate(self) -> tuple[float, float | None, np.ndarray, np.ndarray, np.ndarray]:
        """Held-out loss (and accuracy), the first activation's per-channel stats, the probe."""
        was_training = self.model.training
        self.model.eval()
        total = correct = 0.0
        zeros: torch.Tensor | None = None  # per channel: how many activation values are exactly 0
        values = 0
        probe: np.ndarray | None = None
        try:
            with capture(self.model, self.act) as cap:
                for start in range(0, len(self.val_x), EVAL_BATCH_SIZE):
                    x = self.val_x[start:start + EVAL_BATCH_SIZE].to(self.device)
                    y = None if self.val_y is None else self.val_y[start:start + EVAL_BATCH_SIZE]
                    out = self.model(x)
                    total += float(self.loss(out, self._target(x, y))) * len(x)
                    if self.kind == "classifier" and y is not None:
                        correct += float((out.argmax(dim=1).cpu() == y).sum())
                    a = cap[self.act]
                    a = a.reshape(a.shape[0], a.shape[1], -1)
                    counted = (a == 0).sum(dim=(0, 2)).cpu()
                    zeros = counted if zeros is None else zeros + counted
                    values += a.shape[0] * a.shape[2]
                    if start <= self.probe_index < start + len(x):
                        shown = out if self.kind == "autoencoder" else cap[self.act]
                        probe = shown[self.probe_index - start].float().cpu().numpy()
        finally:
            self.model.train(was_training)
        n = len(self.val_x)
        accuracy = correct / n if self.kind == "classifier" else None
        assert probe is not None and zeros is not None
        frac_zero = zeros.double().numpy() / values
        return total / n, accuracy, frac_zero, frac_zero == 1.0, probe

    def _filters(self) -> np.ndarray:
        return conv_weight(self.model, self.first).float().numpy()

    def _record(self, epoch: int, batch: int, train_loss: float | None, *, held_out: bool) -> Record:
        step = epoch * self.batches_per_epoch + batch
        rec = Record(self.run.name, epoch, batch, step, self.epochs * self.batches_per_epoch,
                     self.elapsed, train_loss, self._filters())
        if held_out:
            rec.val_loss, rec.val_accuracy, rec.frac_zero, rec.dead, rec.probe = self._evaluate()
        self.run.records.append(rec)
        return rec

    def save(self) -> None:
        """Save history and weights (when the run has a folder)."""
        if self.folder is not None:
            self.run.state_dict = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            self.run.save(self.folder)

    def _end(self, status: str, reason: str = "") -> None:
        self.run.status, self.run.reason = status, reason
        self.save()

    def steps(self) -> Iterator[Record | None]:
        """Train batch by batch: yields None after a batch, a Record when one was taken."""
        t0 = time.perf_counter()
        first = self._record(0, 0, None, held_out=True)
        self.elapsed = first.elapsed = time.perf_counter() - t0
        self.save()
        yield first
        self.model.train()
        for epoch in range(self.epochs):
            order = torch.randperm(len(self.train_x), generator=self.shuffle)
            loss_sum, seen = 0.0, 0
            for b, idx in enumerate(order.split(self.batch_size), start=1):
                if _cancelled(self.cancel):
                    self._end("cancelled", f"stopped by the user at epoch {epoch + 1}, batch {b}")
                    return
                t0 = time.perf_counter()
                torch.set_rng_state(self.rng)
                x = self.train_x[idx].to(self.device)
                y = None if self.train_y is None else self.train_y[idx]
                loss = self.loss(self.model(x), self._target(x, y))
                value = loss.detach().item()
                if not math.isfinite(value):
                    self.rng = torch.get_rng_state()
                    self._end("failed", f"the loss was {value} at epoch {epoch + 1}, batch {b}: "
                                        "stopped there (try a lower learning rate)")
                    return
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                self.rng = torch.get_rng_state()
                loss_sum, seen = loss_sum + value * len(idx), seen + len(idx)
                last = b == self.batches_per_epoch
                due = self.record_every and b % self.record_every == 0 and not last
                rec = None
                if last or due:
                    rec = self._record(epoch + 1 if last else epoch, 0 if last else b, loss_sum / seen,
                                       held_out=bool(last))
                    loss_sum, seen = 0.0, 0
                self.elapsed += time.perf_counter() - t0
                if rec is not None:
                    rec.elapsed = self.elapsed
                    if last:
                        self.save()
                yield rec
        self._end("finished")


def _prepare(kind: str, data: Data | None, val_data: Data | None, seed: int) -> tuple[Pair, Pair, str]:
    if data is None:
        if val_data is not None:
            raise ValueError("val_data was given without data")
        data, val_data = _builtin_data(kind)
    x, y, name = as_tensors(data, "data")
    if val_data is None:
        train, val = split_held_out(x, y, seed)
    else:
        vx, vy, _ = as_tensors(val_data, "val_data")
        if vx.shape[1:] != x.shape[1:]:
            raise ValueError(f"held-out images are {tuple(vx.shape[1:])}, training images "
                             f"{tuple(x.shape[1:])}: they must match")
        train, val = (x, y), (vx, vy)
    return train, val, name


def _default_loss(kind: str) -> Loss:
    return F.cross_entropy if kind == "classifier" else F.mse_loss


def _trainer(name: str, model_fn: Callable[[], nn.Module], train: Any, val: Any, *, kind: str,
             loss: Loss | None, epochs: int, batch_size: int, lr: float, weight_decay: float, seed: int,
             record_every: int, probe_index: int | None, cancel: Cancel, folder: Path | None,
             config: dict[str, Any]) -> _Trainer:
    """Build the model from the seed and a trainer holding the RNG state that follows it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_fn()
        return _Trainer(name, model, train, val, kind=kind, loss=loss or _default_loss(kind),
                        epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                        seed=seed, record_every=record_every, probe_index=probe_index, cancel=cancel,
                        folder=folder, config=config)


def _config(kind: str, model: nn.Module, data_name: str, train: Any, loss: Loss | None, **extra: Any
            ) -> dict[str, Any]:
    x, y = train
    num_classes = int(y.max()) + 1 if y is not None and kind == "classifier" else 0
    return {"kind": kind, "model": type(model).__name__, "data": data_name,
            "input_shape": list(x.shape[1:]), "num_classes": num_classes,
            "loss": getattr(loss or _default_loss(kind), "__name__", type(loss).__name__), **extra}


def _new_folder(out_dir: str | os.PathLike[str] | None, stem: str) -> Path | None:
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
    num_threads: int | None = None,
    cancel: Cancel = None,
    out_dir: str | os.PathLike[str] | None = DEFAULT_OUT_DIR,
) -> Iterator[Record]:
    """Train ``model`` with Adam on ``data``; yield a Record per epoch (and every ``record_every`` batches).

    ``kind``: "classifier" (targets are labels, default loss cross-entropy, accuracy reported) or
    "autoencoder" (targets are the images, default loss MSE). ``model`` may be a function that
    builds it: then it is built under ``torch.manual_seed(seed)`` and the run is reproducible
    from the seed on CPU. The run is saved under ``out_dir/<name>-<time>/`` after the first
    record, every epoch and when it ends (also when cancelled or stopped on a non-finite loss,
    which then raises :class:`TrainingDiverged`). ``val_data`` None holds out 20% of ``data``.
    The probe is held-out image ``probe_index`` (default: the one with the most contrast).
    """
    _check_kind(kind)
    _check_schedule(epochs, batch_size, lr, record_every)
    train, val, data_name = _prepare(kind, data, val_data, seed)
    threads = num_threads or default_threads()
    build = model if not isinstance(model, nn.Module) else (lambda: model)
    trainer = _trainer(name, build, train, val, kind=kind, loss=loss, epochs=epochs, batch_size=batch_size,
                       lr=lr, weight_decay=weight_decay, seed=seed, record_every=record_every,
                       probe_index=probe_index, cancel=cancel, folder=None, config={})
    trainer.run.config = _config(kind, trainer.model, data_name, train, loss, epochs=epochs,
                                 batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                                 num_threads=threads, first_kernel=_kernel_of(trainer))
    trainer.folder = _new_folder(out_dir, name)
    yield from _drive([trainer], threads)


def _kernel_of(trainer: _Trainer) -> int:
    return int(conv_weight(trainer.model, trainer.first).shape[-1])


def _drive(trainers: list[_Trainer], threads: int) -> Generator[Record, None, None]:
    """Round-robin the trainers batch by batch in this thread (torch settings held only while training).

    A run the consumer abandons is saved as cancelled; a run stopped on a non-finite loss raises
    :class:`TrainingDiverged` once the other runs are done.
    """
    steps = [t.steps() for t in trainers]
    live = list(range(len(trainers)))
    deterministic = all(t.device.type == "cpu" for t in trainers)
    done = object()
    try:
        while live:
            out: list[Record] = []
            with torch_settings(threads, deterministic=deterministic):
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
                t._end("failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        for t in trainers:
            if t.run.status == "running":
                t._end("cancelled", "the loop over its records was left before the end")
    failed = [t.run for t in trainers if t.run.status == "failed"]
    if failed:
        raise TrainingDiverged("; ".join(f"run {r.name!r}: {r.reason}" for r in failed)
                               + "; what it reached was saved" * any(r.path for r in failed))


class Comparison:
    """An iterator of the records of several runs trained together; see :func:`compare_first_kernels`."""

    def __init__(self, trainers: list[_Trainer], threads: int, folder: Path | None) -> None:
        self.runs = [t.run for t in trainers]
        self.probe_image: np.ndarray = trainers[0].val_x[trainers[0].probe_index].cpu().numpy()
        self.folder = folder
        self.num_threads = threads
        self._records = _drive(trainers, threads)

    def __iter__(self) -> Comparison:
        return self

    def __next__(self) -> Record:
        return next(self._records)

    def close(self) -> None:
        """Stop now; unfinished runs are saved as cancelled."""
        self._records.close()


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
    num_threads: int | None = None,
    cancel: Cancel = None,
) -> Comparison:
    """Train one run per first-layer kernel size: same architecture, data, seed and schedule.

    ``kind`` "classifier" (SeedCNN, cross-entropy, built-in digits by default) or "autoencoder"
    (ConvAutoencoder, MSE, built-in colour patches by default); ``model_fn(first_kernel)`` and
    ``loss`` replace the model and loss. Runs are interleaved batch by batch in the calling
    thread, so all curves grow together and the threads used stay ``num_threads`` (default:
    torch's count within the machine's cores). Iterate the result for records (``record.run``
    names the run, e.g. "3x3"); each run is saved under ``out_dir/<kind>-<data>-seed<seed>-<time>/``.
    """
    _check_kind(kind)
    _check_schedule(epochs, batch_size, lr, record_every)
    train, val, data_name = _prepare(kind, data, val_data, seed)
    shape = tuple(train[0].shape[1:])
    ks = check_kernels(kernels, min(shape[1:]))
    if model_fn is None:
        num_classes = int(train[1].max()) + 1 if kind == "classifier" and train[1] is not None else 0
        if kind == "classifier" and train[1] is None:
            raise ValueError("a classifier comparison needs labelled data: "
                             "pass (images, labels) or an ImageDataset")
        make: Callable[[int], nn.Module] = partial(_builtin_model, kind, input_shape=shape,
                                                    num_classes=num_classes)
    else:
        make = model_fn
    threads = num_threads or default_threads()
    trainers = []
    for k in ks:
        trainer = _trainer(f"{k}x{k}", partial(make, k), train, val, kind=kind, loss=loss, epochs=epochs,
                           batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                           record_every=record_every, probe_index=probe_index, cancel=cancel, folder=None,
                           config={})
        if _kernel_of(trainer) != k:
            raise ValueError(f"model_fn({k}) built a first conv layer of kernel {_kernel_of(trainer)}, "
                             f"not {k}")
        trainer.run.config = _config(kind, trainer.model, data_name, train, loss, first_kernel=k,
                                     epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                                     seed=seed, num_threads=threads, kernels=ks)
        trainers.append(trainer)
    folder = _new_folder(out_dir, f"{kind}-{data_name}-seed{seed}")
    for t in trainers:
        t.folder = folder
    return Comparison(trainers, threads, folder)


@dataclass
class RunSummary:
    """The figures of a run's end that the comparison table shows."""

    name: str
    status: str
    epochs: int
    val_loss: float
    val_accuracy: float | None
    dead: int
    channels: int
    smoothness: float
    seconds: float


def summarize(run: Run) -> RunSummary:
    """Final held-out loss and accuracy, dead first-layer channels, filter smoothness, time of a run."""
    last = run.last_epoch
    if last is None:
        raise ValueError(f"run {run.name!r} has no held-out record yet")
    filters = run.records[-1].filters
    smooth = float(smoothness(filters).mean()) if filters.shape[2] * filters.shape[3] > 1 else float("nan")
    dead = last.dead if last.dead is not None else np.zeros(0, dtype=bool)
    return RunSummary(run.name, run.status, last.epoch, float(last.val_loss or 0.0), last.val_accuracy,
                      int(dead.sum()), len(dead), smooth, run.records[-1].elapsed)


def verdict(summaries: Sequence[RunSummary], *, level_within: float = 0.02) -> str:
    """One line naming the first layer with the lowest held-out loss (or saying they end level)."""
    if not summaries:
        return "no run has reached an epoch yet"
    ranked = sorted(summaries, key=lambda s: s.val_loss)
    best = ranked[0]
    if len(ranked) == 1:
        return f"only {best.name} ran: held-out loss {best.val_loss:.4f}"
    runner_up = ranked[1]
    others = ", ".join(f"{s.val_loss:.4f} ({s.name})" for s in ranked[1:])
    if runner_up.val_loss - best.val_loss <= level_within * runner_up.val_loss:
        return (f"{best.name} and {runner_up.name} first layers end level: held-out loss "
                f"{best.val_loss:.4f} against {others}")
    epochs = {s.epochs for s in ranked}
    after = f" after {best.epochs} epochs" if len(epochs) == 1 else " (runs stopped at different epochs)"
    return (f"{best.name} first layer is better: held-out loss {best.val_loss:.4f} against {others}{after}; "
            f"filter smoothness {best.smoothness:.2f} vs {runner_up.smoothness:.2f}, "
            f"dead channels {best.dead} vs {runner_up.dead}")
