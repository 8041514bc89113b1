"""Run records and their files: Record, Run, and saving and loading runs (JSON history + state dict)."""

from __future__ import annotations

import copy
import json
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..pace import seconds_left
from .builtins import builtin
from .config import DEFAULT_OUT_DIR

FORMAT = "convis-run/1"
_OURS = re.compile(r'"format"\s*:\s*"convis-run/')


class RunLoadWarning(RuntimeWarning):
    """:func:`load_runs` left out saved runs it could not read; the message names each and why."""


class NotARunError(ValueError):
    """The file is not a saved convis run (another program's JSON)."""


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
        return seconds_left(self.step, self.total_steps, self.elapsed)

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
    """A training run: its settings, records, how it ended, and its weights.

    ``config`` holds the :class:`TrainConfig` fields and what the run was made of (kind, model
    class, data, input shape, loss, first kernel, torch's thread count). While a run trains,
    ``trained`` is the trainer's own model (a copy, never the model you passed); :meth:`model`
    hands out a copy of it in eval mode. A run loaded from disk has ``state_dict`` instead.
    ``probe_image``: the held-out image (C, H, W) its records' probes show, saved with the run.
    """

    name: str
    config: dict[str, Any]
    records: list[Record] = field(default_factory=list)
    status: str = "running"  # "running", "finished", "cancelled" or "failed"
    reason: str = ""
    state_dict: dict[str, torch.Tensor] | None = None
    path: Path | None = None
    trained: nn.Module | None = field(default=None, repr=False, compare=False)
    probe_image: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def last_epoch(self) -> Record | None:
        """The latest record with held-out figures."""
        return next((r for r in reversed(self.records) if r.is_epoch), None)

    def model(self, model_fn: Callable[[int], nn.Module] | None = None) -> nn.Module:
        """The trained model in eval mode, yours to change.

        A copy of the trainer's model while the run is in memory; for a loaded run, a built-in
        model rebuilt through the registry (or ``model_fn(first_kernel)``) with the saved weights.
        """
        if self.trained is not None and model_fn is None:
            return copy.deepcopy(self.trained).eval()
        state = self.state_dict if self.state_dict is not None or self.trained is None \
            else self.trained.state_dict()
        if state is None:
            raise ValueError(f"run {self.name!r} has no saved weights")
        c = self.config
        if model_fn is not None:
            model = model_fn(c["first_kernel"])
        else:
            b = builtin(c["kind"])
            if not (c.get("builtin") or c.get("model") == b.model_name):
                raise ValueError(f"run {self.name!r} used a {c.get('model')}: pass model_fn to rebuild it")
            model = b.model_fn(c["first_kernel"], tuple(c["input_shape"]), c["num_classes"])
        model.load_state_dict(state)
        return model.eval()

    def save(self, folder: Path) -> Path:
        """Write ``<name>.json`` (settings, status, history) and ``<name>.pt`` (weights) into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.json"
        doc = {"format": FORMAT, "name": self.name, "config": self.config, "status": self.status,
               "reason": self.reason, "records": [r.to_dict() for r in self.records],
               "probe_image": None if self.probe_image is None else self.probe_image.tolist()}
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
    """A run saved by :meth:`Run.save`, from its ``.json`` file.

    Raises :class:`NotARunError` for another program's file, ValueError for a damaged run.
    """
    path = Path(path)
    text = path.read_text(errors="replace")
    if not _OURS.search(text):
        raise NotARunError(f"{path} is not a saved convis run")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is damaged (not valid JSON: {exc})") from exc
    if not isinstance(doc, dict) or not str(doc.get("format", "")).startswith("convis-run/"):
        raise NotARunError(f"{path} is not a saved convis run")
    if doc["format"] != FORMAT:
        raise ValueError(f"{path} is in format {doc['format']!r}; this version reads {FORMAT!r}")
    try:
        records = [Record.from_dict(r) for r in doc["records"]]
        run = Run(doc["name"], doc["config"], records, doc["status"], doc["reason"], path=path)
        if doc.get("probe_image") is not None:  # runs saved before the probe image was kept have none
            run.probe_image = np.asarray(doc["probe_image"], dtype=np.float32)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is damaged ({type(exc).__name__}: {exc})") from exc
    weights = path.with_suffix(".pt")
    if weights.is_file():
        try:
            run.state_dict = torch.load(weights, weights_only=True, map_location="cpu")
        except Exception as exc:  # a truncated or foreign .pt: torch raises several kinds
            raise ValueError(f"{weights} is damaged ({type(exc).__name__}: {exc})") from exc
    return run


def load_runs(out_dir: str | os.PathLike[str] = DEFAULT_OUT_DIR) -> list[Run]:
    """Every run saved under ``out_dir`` (searched recursively), in path order.

    Other programs' JSON files are passed over. Runs that cannot be read (damaged files, a
    newer format) are left out with one :class:`RunLoadWarning` naming each and why.
    """
    root = Path(out_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no saved runs: {root} is not a folder")
    runs, unreadable = [], []
    for path in sorted(root.rglob("*.json")):
        try:
            runs.append(load_run(path))
        except NotARunError:
            continue
        except (OSError, ValueError) as exc:
            unreadable.append(f"{path.relative_to(root)}: {exc}")
    if unreadable:
        warnings.warn(f"{len(unreadable)} saved run(s) under {root} could not be read and were left "
                      "out: " + "; ".join(unreadable), RunLoadWarning, stacklevel=2)
    return runs
