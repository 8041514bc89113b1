"""A run's schedule in one dataclass, shared by train_run, compare_first_kernels, the trainer, saved runs."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

KINDS = ("classifier", "autoencoder")
DEFAULT_OUT_DIR = Path("convis_runs")
DEFAULT_KERNELS = (3, 9)
# Chosen so the default 3x3-vs-9x9 comparison on the built-in digits takes well under a minute
# on 2 CPU cores (benchmarks/training.py) while the held-out loss has clearly settled.
DEFAULT_EPOCHS = 8
DEFAULT_BATCH_SIZE = 64
DEFAULT_LR = 3e-3
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine")


def check_kind(kind: str) -> None:
    """A clear error unless ``kind`` is one of :data:`KINDS`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainConfig:
    """How a run trains: epochs of shuffled batches, the optimizer and its learning-rate schedule.

    ``optimizer`` "adam" or "adamw" (decoupled weight decay); ``schedule`` "constant" or "cosine"
    (cosine annealing to 0 over all batches, stepped every batch); ``max_shift``: each training
    image is translated by its own random whole-pixel offset up to this (0: no augmentation).
    ``seed`` fixes the model's initial weights, the shuffling, the shifts and dropout.
    ``record_every`` k > 0 adds a record every k batches; ``probe_index`` picks the held-out image
    the records show (None: the one with the most contrast). Checked on construction.
    """

    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    lr: float = DEFAULT_LR
    weight_decay: float = 0.0
    seed: int = 0
    record_every: int = 0
    probe_index: int | None = None
    optimizer: str = "adam"
    schedule: str = "constant"
    max_shift: int = 0

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("batch_size", 1), ("record_every", 0), ("max_shift", 0)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ValueError(f"{name} must be an int >= {low}; got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number; got {self.lr!r}")
        wd = self.weight_decay
        if not (isinstance(wd, (int, float)) and not isinstance(wd, bool) and math.isfinite(wd) and wd >= 0):
            raise ValueError(f"weight_decay must be a number >= 0; got {wd!r}")
        if not _is_int(self.seed):
            raise ValueError(f"seed must be an int; got {self.seed!r}")
        if self.probe_index is not None and (not _is_int(self.probe_index) or self.probe_index < 0):
            raise ValueError(f"probe_index must be None or an int >= 0; got {self.probe_index!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}; got {self.schedule!r}")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (how a saved run's config holds them)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """The schedule part of a saved run's config (other keys ignored, missing ones defaulted)."""
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    def make_optimizer(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """Adam or AdamW over ``params`` with this learning rate and weight decay."""
        kind = torch.optim.AdamW if self.optimizer == "adamw" else torch.optim.Adam
        return kind(params, lr=self.lr, weight_decay=self.weight_decay)

    def make_schedule(self, optimizer: torch.optim.Optimizer, total_steps: int
                      ) -> torch.optim.lr_scheduler.LRScheduler | None:
        """The per-batch learning-rate schedule (None for a constant rate)."""
        if self.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total_steps)
        return None
