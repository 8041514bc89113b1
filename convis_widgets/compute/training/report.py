"""The report of finished runs: each run's end figures (RunSummary) and a one-line verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..filters import smoothness
from .records import Run


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
