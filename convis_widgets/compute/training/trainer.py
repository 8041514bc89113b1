"""The one training loop: a Trainer builds its model from a seed, trains it batch by batch, takes records."""

from __future__ import annotations

import copy
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..access import TURNS, first_tensor, forward_error, model_device, open_model
from ..cancel import Cancel, stopper
from ..filters import conv_layers, conv_weight
from .config import TrainConfig, check_kind
from .data import Pair, check_labels
from .records import Record, Run
from .seeding import SeededRandom

EVAL_BATCH_SIZE = 256
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.PReLU, nn.Tanh, nn.Sigmoid)
# Hook tables of observers (forward and backward hooks): a trained copy starts without the
# user's, so their hooks never see our passes. Forward pre-hooks (prune, weight_norm) are kept.
_OBSERVERS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
              "_backward_hooks", "_backward_pre_hooks")

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class TrainingDiverged(RuntimeError):
    """The loss stopped being finite: the run was stopped and what it reached was saved."""


def own_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` to train, without its forward and backward hooks; ``model`` is untouched."""
    memo: dict[int, Any] = {id(m.__dict__[t]): OrderedDict() for m in model.modules()
                            for t in _OBSERVERS if t in m.__dict__}
    try:
        return copy.deepcopy(model, memo)
    except Exception as exc:
        raise TypeError(f"a run trains a copy of the model, and {type(model).__name__} could not be "
                        f"copied ({type(exc).__name__}: {exc}): pass a function that builds it") from exc


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


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by its own random whole-pixel offset in [-max_shift, max_shift] (zero fill)."""
    if max_shift == 0:
        return images
    h, w = images.shape[-2:]
    padded = F.pad(images, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (len(images), 2), generator=generator)
    return torch.stack(
        [padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets.tolist())]
    )


def default_loss(kind: str) -> Loss:
    """Cross-entropy for a classifier, MSE for an autoencoder."""
    return F.cross_entropy if kind == "classifier" else F.mse_loss


class Trainer:
    """One run: its model, built from the seed, trained batch by batch by :meth:`steps`.

    ``build`` makes the model under :class:`SeededRandom` (``config.seed``), so its initial
    weights and, later, its dropout come from the run's own generator; another generator from
    the same seed shuffles the batches and draws the shifts. The model is the trainer's own
    (``run.trained``) and stays in training mode: held-out passes go through a private
    eval-mode view of it (:func:`open_model`). ``val`` None: records carry no held-out figures.
    ``log`` receives one line per epoch. ``run.config`` is what a saved run records.
    """

    def __init__(self, name: str, build: Callable[[], nn.Module], train: Pair, val: Pair | None, *,
                 kind: str, config: TrainConfig, loss: Loss | None = None, cancel: Cancel = None,
                 log: Callable[[str], None] | None = None, data_name: str = "data",
                 builtin_model: bool = False, extra: dict[str, Any] | None = None) -> None:
        check_kind(kind)
        if kind == "classifier" and (train[1] is None or (val is not None and val[1] is None)):
            raise ValueError("a classifier run needs labels for its training and held-out images")
        self.random = SeededRandom(config.seed)
        with self.random:
            model = build()
        if not isinstance(model, nn.Module):
            raise TypeError(f"the model function must return a torch.nn.Module; got {type(model).__name__}")
        self.model, self.kind, self.config, self.log = model, kind, config, log
        self.stop = stopper(cancel)
        self.loss = loss or default_loss(kind)
        self.train_x, self.train_y = train
        self.val_x: torch.Tensor | None = None if val is None else val[0]
        self.val_y: torch.Tensor | None = None if val is None else val[1]
        self.first, self.act = first_layers(model)
        self.device = model_device(model)
        num_classes = self._check_classes() if kind == "classifier" else 0
        probe = config.probe_index
        if self.val_x is not None:
            if probe is None:  # the busiest held-out image shows the most
                probe = int(self.val_x.flatten(1).std(dim=1).argmax())
            if not 0 <= probe < len(self.val_x):
                raise ValueError(f"probe_index must be in 0..{len(self.val_x) - 1}; got {probe}")
        self.probe_index = probe
        self.batches_per_epoch = -(-len(self.train_x) // config.batch_size)
        self.total_steps = config.epochs * self.batches_per_epoch
        self.optimizer = config.make_optimizer(model.parameters())
        self.schedule = config.make_schedule(self.optimizer, self.total_steps)
        self.shuffle = torch.Generator().manual_seed(config.seed)
        self.folder: Path | None = None
        self.elapsed = 0.0
        run_config = {
            "kind": kind, "model": type(model).__name__, "builtin": builtin_model, "data": data_name,
            "input_shape": list(self.train_x.shape[1:]), "num_classes": num_classes,
            "loss": getattr(self.loss, "__name__", type(self.loss).__name__),
            "first_kernel": self.first_kernel, "num_threads": torch.get_num_threads(),
            **replace(config, probe_index=probe).to_dict(), **(extra or {}),
        }
        self.run = Run(name, run_config, trained=model)
        if self.val_x is not None and probe is not None:
            self.run.probe_image = self.val_x[probe].float().cpu().numpy()

    @property
    def first_kernel(self) -> int:
        """Kernel size of the first conv layer."""
        return int(conv_weight(self.model, self.first).shape[-1])

    @torch.no_grad()
    def _check_classes(self) -> int:
        """Labels against the model's class count (its output width, from one dry forward)."""
        with self.random:
            out = first_tensor(open_model(self.model).forward(self.train_x[:1].to(self.device)))
        labels = [(y, w) for y, w in ((self.train_y, "data"), (self.val_y, "val_data")) if y is not None]
        if out is None or out.ndim != 2:
            return max(int(y.max()) for y, _ in labels) + 1
        k = int(out.shape[1])
        source = f" (the model outputs {k} classes)"
        # Positions are not named: they would be positions in the training part of a split.
        self.train_y = check_labels(self.train_y, k, "data", source, locate=False)  # type: ignore[arg-type]
        if self.val_y is not None:
            self.val_y = check_labels(self.val_y, k, "val_data", source, locate=False)
        return k

    def _target(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return x if self.kind == "autoencoder" or y is None else y.to(self.device)

    @torch.no_grad()
    def _evaluate(self) -> tuple[float, float | None, np.ndarray, np.ndarray, np.ndarray]:
        """Held-out loss (and accuracy), the first activation's per-channel stats, the probe."""
        assert self.val_x is not None and self.probe_index is not None
        access = open_model(self.model)  # an eval-mode view: the trained model keeps its mode
        total = correct = 0.0
        zeros: torch.Tensor | None = None  # per channel: how many activation values are exactly 0
        values = 0
        probe: np.ndarray | None = None
        with self.random:
            for start in range(0, len(self.val_x), EVAL_BATCH_SIZE):
                x = self.val_x[start:start + EVAL_BATCH_SIZE].to(self.device)
                y = None if self.val_y is None else self.val_y[start:start + EVAL_BATCH_SIZE]
                outs = access.outputs(x, [self.act], output=True)
                out, act = outs[""], outs[self.act]
                total += float(self.loss(out, self._target(x, y))) * len(x)
                if self.kind == "classifier" and y is not None:
                    correct += float((out.argmax(dim=1).cpu() == y).sum())
                a = act.reshape(act.shape[0], act.shape[1], -1)
                counted = (a == 0).sum(dim=(0, 2)).cpu()
                zeros = counted if zeros is None else zeros + counted
                values += a.shape[0] * a.shape[2]
                if start <= self.probe_index < start + len(x):
                    shown = out if self.kind == "autoencoder" else act
                    probe = shown[self.probe_index - start].float().cpu().numpy()
        n = len(self.val_x)
        accuracy = correct / n if self.kind == "classifier" else None
        assert probe is not None and zeros is not None
        frac_zero = zeros.double().numpy() / values
        return total / n, accuracy, frac_zero, frac_zero == 1.0, probe

    def _record(self, epoch: int, batch: int, train_loss: float | None, *, held_out: bool) -> Record:
        step = epoch * self.batches_per_epoch + batch
        filters = conv_weight(self.model, self.first).float().cpu().numpy()
        rec = Record(self.run.name, epoch, batch, step, self.total_steps, self.elapsed, train_loss, filters)
        if held_out and self.val_x is not None:
            rec.val_loss, rec.val_accuracy, rec.frac_zero, rec.dead, rec.probe = self._evaluate()
        self.run.records.append(rec)
        return rec

    def _log(self, rec: Record) -> None:
        if self.log is None:
            return
        line = f"epoch {rec.epoch:3d}/{self.config.epochs}  train loss {rec.train_loss:.4f}"
        if rec.val_loss is not None:
            line += f"  held-out loss {rec.val_loss:.4f}"
        if rec.val_accuracy is not None:
            line += f"  held-out accuracy {rec.val_accuracy:.2%}"
        self.log(line)

    def save(self) -> None:
        """Save history and weights (when the run has a folder)."""
        if self.folder is not None:
            self.run.state_dict = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            self.run.save(self.folder)

    def end(self, status: str, reason: str = "") -> None:
        """Mark the run finished, cancelled or failed, and save it."""
        self.run.status, self.run.reason = status, reason
        self.save()

    def steps(self) -> Iterator[Record | None]:
        """Train batch by batch: yields None after a batch, a Record when one was taken."""
        cfg = self.config
        t0 = time.perf_counter()
        first = self._record(0, 0, None, held_out=True)
        self.elapsed = first.elapsed = time.perf_counter() - t0
        self.save()
        yield first
        self.model.train()
        for epoch in range(cfg.epochs):
            order = torch.randperm(len(self.train_x), generator=self.shuffle)
            loss_sum, seen = 0.0, 0
            for b, idx in enumerate(torch.split(order, cfg.batch_size), start=1):
                if self.stop():
                    self.end("cancelled", f"stopped by the user at epoch {epoch + 1}, batch {b}")
                    return
                t0 = time.perf_counter()
                x = random_shift(self.train_x[idx], cfg.max_shift, self.shuffle).to(self.device)
                y = None if self.train_y is None else self.train_y[idx]
                try:
                    with self.random, TURNS.forward():
                        out = self.model(x)
                except Exception as exc:
                    raise forward_error(exc, f"a training batch of shape {tuple(x.shape)}") from exc
                with self.random:
                    loss = self.loss(out, self._target(x, y))
                value = loss.detach().item()
                if not math.isfinite(value):
                    self.end("failed", f"the loss was {value} at epoch {epoch + 1}, batch {b}: "
                                       "stopped there (try a lower learning rate)")
                    return
                self.optimizer.zero_grad()
                torch.autograd.backward(loss)
                self.optimizer.step()
                if self.schedule is not None:
                    self.schedule.step()
                loss_sum, seen = loss_sum + value * len(idx), seen + len(idx)
                last = b == self.batches_per_epoch
                due = cfg.record_every and b % cfg.record_every == 0 and not last
                rec = None
                if last or due:
                    rec = self._record(epoch + 1 if last else epoch, 0 if last else b, loss_sum / seen,
                                       held_out=bool(last))
                    loss_sum, seen = 0.0, 0
                self.elapsed += time.perf_counter() - t0
                if rec is not None:
                    rec.elapsed = self.elapsed
                    if last:
                        self._log(rec)
                        self.save()
                yield rec
        self.end("finished")

    def run_to_end(self) -> Run:
        """Train every batch now; raise :class:`TrainingDiverged` if the loss stopped being finite."""
        for _ in self.steps():
            pass
        if self.run.status == "failed":
            raise TrainingDiverged(f"run {self.run.name!r}: {self.run.reason}")
        return self.run
