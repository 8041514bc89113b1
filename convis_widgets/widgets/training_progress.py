"""What a `TrainingComparison` tells of a run: before Start, what Start will train and how long it
should take; while it runs, one bar per run with its epoch, held-out loss and ETA, and the status
line's ETA for all runs together (they train interleaved)."""

from __future__ import annotations

import html

import ipywidgets as w

from ..compute.training import LAST_EPOCHS, MIN_EPOCHS, Record, Run
from .progress import ESTIMATING, eta_text, format_duration, total_eta_text


def parse_kernels(text: str) -> list[int]:
    """'3, 9' -> [3, 9]; a clear error for anything else (the odd/size checks come with the data)."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        kernels = [int(p.lower().split("x")[0]) for p in parts]
    except ValueError:
        raise ValueError(f"first-kernel sizes must be ints separated by commas, e.g. '3, 9'; got {text!r}"
                         ) from None
    if not kernels:
        raise ValueError("give at least one first-kernel size, e.g. '3, 9'")
    return kernels


def start_text(kernels: list[int], model: str, data: str, n_train: int, n_val: int, epochs: int,
               batch_size: int, lr: float, seed: int, pace: float | None, *, classifier: bool = True) -> str:
    """The message shown before Start (HTML): what it trains, on what, and how long it should take
    at ``pace`` (seconds per epoch of one run, from the latest saved comparison; None if none)."""
    sizes = " and ".join(f"{k}x{k}" for k in kernels)
    if pace is None:
        when = ("There is no saved comparison on this data to time it by: the time left shows once "
                "the first batches are timed.")
    else:
        when = (f"It should take about {format_duration(pace * epochs * len(kernels))} (at the "
                "pace of the latest saved comparison on this data).")
    figures = "loss and accuracy" if classifier else "loss"
    seeds = "saved runs of these settings with other seeds are pooled into the verdict"
    end = (f"a verdict on the held-out {figures} over the last {LAST_EPOCHS} epochs ({seeds}: start again "
           "with another seed to measure the run-to-run spread)" if epochs >= MIN_EPOCHS
           else f"no verdict from one seed: {epochs} epoch{' is' if epochs == 1 else 's are'} too few to "
                f"measure the noise (train {MIN_EPOCHS} or more, or start again with another seed: {seeds})")
    return (
        f"<b>Start</b> trains {len(kernels)} {model} side by side, identical but for the first layer's "
        f"kernel ({sizes}), on {html.escape(data)}: {n_train:,} training images, {n_val:,} held out; "
        f"{epochs} epochs of batches of {batch_size}, learning rate {lr:g}, seed {seed}. {when} The loss "
        "curves grow batch by batch; each run's first-layer filters, its maps of a probe image and its "
        f"dead channels update every epoch; at the end a table and {end}.")


class RunBars(w.VBox):
    """One row per run (a bar named after it, and a label), in the order of the runs."""

    def reset(self, names: list[str]) -> None:
        """A bar for each run in ``names``, empty and waiting."""
        self.names = list(names)
        self.children = [w.HBox([w.FloatProgress(0.0, min=0.0, max=1.0, description=name,
                                                 layout=w.Layout(width="22em")), w.Label("waiting")])
                         for name in names]

    def show(self, record: Record, epochs: int, lasts: list[Record]) -> str:
        """Move ``record``'s run's bar to it; the status line for all runs, given the latest record
        of each run that has started (``lasts``)."""
        bar, label = self.children[self.names.index(record.run)].children
        eta = eta_text(record.step, record.total_steps, record.elapsed)
        loss = "" if record.val_loss is None else f", held-out loss {record.val_loss:.4f}"
        bar.value = record.progress
        label.value = f"epoch {record.epoch}/{epochs}{loss}" + (f", {eta}" if eta else "")
        unstarted = [(0.0, 1.0, 0.0)] * (len(self.names) - len(lasts))
        left = total_eta_text([(r.step, r.total_steps, r.elapsed) for r in lasts] + unstarted)
        left += " for all of them" if left not in ("", ESTIMATING) else ""
        return f"training {len(self.names)} runs interleaved" + (f": {left}" if left else "")

    def finish(self, runs: list[Run]) -> None:
        """Each run's label says how it ended (done, or cancelled and why)."""
        for run, row in zip(runs, self.children, strict=False):
            row.children[1].value = f"{run.status}" + (f": {run.reason}" if run.reason else "")
