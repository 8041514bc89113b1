"""`TrainingComparison`: one model per first-layer kernel size, trained and watched side by side."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np
from traitlets import Float, Int, Unicode, validate

from ..compute.training import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_OUT_DIR,
    KINDS,
    Comparison,
    Record,
    Run,
    as_tensors,
    compare_first_kernels,
    load_runs,
    summarize,
    verdict,
)
from ..jobs import Job
from ..render.training import FirstLayerView, LossView, results_table
from .base import ConvisWidget

BUILTIN = {"digits": "digits (built-in, 1x28x28)", "patches": "colour patches (built-in, 3x32x32)"}
DEFAULT_DATA = {"classifier": "digits", "autoencoder": "patches"}
USER = "yours"


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


def _saved_folders(out_dir: Path) -> list[Path]:
    """Folders under ``out_dir`` holding saved runs, newest name last."""
    if not out_dir.is_dir():
        return []
    return sorted({p.parent for p in out_dir.rglob("*.json")})


class TrainingComparison(ConvisWidget):
    """Train one model per first-layer kernel size, live: loss curves, filters, dead channels, a verdict.

    ``data``: your own set for the "yours" choice (an ImageDataset, an image tensor for the
    autoencoder, or a (train, held-out) pair of them); the built-in digits and colour patches are
    always offered. Every run is saved under ``out_dir`` and can be loaded back with Load.
    """

    kind = Unicode("classifier")
    dataset = Unicode("digits")
    kernels = Unicode("3, 9")
    epochs = Int(DEFAULT_EPOCHS)
    batch_size = Int(DEFAULT_BATCH_SIZE)
    lr = Float(DEFAULT_LR)
    seed = Int(0)
    out_dir = Unicode(str(DEFAULT_OUT_DIR))

    def __init__(
        self,
        *,
        kind: str = "classifier",
        data: Any = None,
        dataset: str | None = None,
        kernels: str | list[int] | tuple[int, ...] = (3, 9),
        epochs: int = DEFAULT_EPOCHS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        lr: float = DEFAULT_LR,
        seed: int = 0,
        out_dir: str | os.PathLike[str] = DEFAULT_OUT_DIR,
        figsize: tuple[float, float] = (9.0, 3.2),
    ) -> None:
        super().__init__()
        self.user_data = data
        if data is not None:  # fail now, not at Start
            as_tensors(data[0] if isinstance(data, tuple) and not _is_pair_of_tensors(data) else data)
        self.histories: dict[str, list[Record]] = {}
        self.runs: list[Run] = []
        self.summaries: list = []
        self.verdict = ""
        self.comparison: Comparison | None = None

        style = {"description_width": "initial"}
        self.kind_buttons = w.ToggleButtons(options=list(KINDS), description="model", style=style)
        options = [(label, key) for key, label in BUILTIN.items()]
        if data is not None:
            options.append((f"yours ({_data_name(data)})", USER))
        self.data_dropdown = w.Dropdown(options=options, description="data", style=style)
        self.kernels_text = w.Text(description="first kernels", style=style, layout=w.Layout(width="12em"))
        self.epochs_box = w.BoundedIntText(min=1, max=1000, description="epochs", style=style,
                                           layout=w.Layout(width="9em"))
        self.batch_box = w.BoundedIntText(min=1, max=4096, description="batch", style=style,
                                          layout=w.Layout(width="9em"))
        self.lr_box = w.BoundedFloatText(min=1e-6, max=10.0, step=1e-4, description="lr", style=style,
                                         layout=w.Layout(width="10em"))
        self.seed_box = w.IntText(description="seed", style=style, layout=w.Layout(width="8em"))
        self.start_button = w.Button(description="Start", button_style="success", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.out_text = w.Text(description="saved in", style=style, layout=w.Layout(width="18em"))
        self.saved_dropdown = w.Dropdown(description="saved runs", style=style, layout=w.Layout(width="30em"))
        self.load_button = w.Button(description="Load", icon="folder-open")
        for control, css in ((self.kind_buttons, "kind"), (self.data_dropdown, "data"),
                             (self.kernels_text, "kernels"), (self.epochs_box, "epochs"),
                             (self.start_button, "start"), (self.stop_button, "stop"),
                             (self.load_button, "load"), (self.saved_dropdown, "saved")):
            control.add_class(f"convis-{css}")
        self.progress = w.VBox()
        self.status = w.HTML()
        self.status.add_class("convis-status")
        self.table = w.HTML()
        self.table.add_class("convis-table")
        self.loss_figure = self._new_figure(figsize)
        self.loss_view = LossView(self.loss_figure)
        self.layer_figure = self._new_figure((figsize[0], figsize[1] * 1.6))
        self.layer_view = FirstLayerView(self.layer_figure)
        self.children = [
            w.HBox([self.kind_buttons, self.data_dropdown]),
            w.HBox([self.kernels_text, self.epochs_box, self.batch_box, self.lr_box, self.seed_box]),
            w.HBox([self.start_button, self.stop_button, self.out_text, self.saved_dropdown,
                    self.load_button]),
            self.progress, self.loss_figure.canvas, self.layer_figure.canvas, self.status, self.table,
            self.errors,
        ]
        self.add_class("convis-training-comparison")

        self.kind = kind
        self.dataset = dataset if dataset is not None else (USER if data is not None else DEFAULT_DATA[kind])
        self.kernels = kernels if isinstance(kernels, str) else ", ".join(map(str, kernels))
        self.epochs, self.batch_size, self.lr, self.seed = epochs, batch_size, lr, seed
        self.out_dir = str(out_dir)
        for control, name in ((self.kind_buttons, "kind"), (self.data_dropdown, "dataset"),
                              (self.kernels_text, "kernels"), (self.epochs_box, "epochs"),
                              (self.batch_box, "batch_size"), (self.lr_box, "lr"),
                              (self.seed_box, "seed"), (self.out_text, "out_dir")):
            w.link((self, name), (control, "value"))
        self.observe(self._follow_kind, names="kind")
        self.observe(lambda change: self._list_saved(), names="out_dir")
        self.start_button.on_click(lambda _: self._clicked(self.start))
        self.stop_button.on_click(lambda _: self.stop())
        self.load_button.on_click(lambda _: self._clicked(self.load))
        self._list_saved()
        self.status.value = "Choose the settings and press <b>Start</b>."

    @validate("kind")
    def _valid_kind(self, proposal):
        if proposal["value"] not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {proposal['value']!r}")
        return proposal["value"]

    @validate("dataset")
    def _valid_dataset(self, proposal):
        valid = list(BUILTIN) + ([USER] if self.user_data is not None else [])
        if proposal["value"] not in valid:
            raise ValueError(f"dataset must be one of {valid}; got {proposal['value']!r}"
                             + ("" if self.user_data is not None else " (pass data= for 'yours')"))
        return proposal["value"]

    def _follow_kind(self, change) -> None:
        """A built-in data set follows the kind: digits for the classifier, patches for the autoencoder."""
        if self.dataset in BUILTIN:
            self.dataset = DEFAULT_DATA[change["new"]]

    def _data(self) -> tuple[Any, Any]:
        if self.dataset == USER:
            data = self.user_data
            return data if isinstance(data, tuple) and not _is_pair_of_tensors(data) else (data, None)
        from ..data import digits, patches

        load = digits if self.dataset == "digits" else patches
        return load("train"), load("test")

    # --- running -------------------------------------------------------------------------

    def start(self) -> Job:
        """Start a comparison with the current settings (stopping one that runs)."""
        settings = dict(kind=self.kind, kernels=parse_kernels(self.kernels), epochs=self.epochs,
                        batch_size=self.batch_size, lr=self.lr, seed=self.seed, out_dir=self.out_dir)
        train, val = self._data()
        return self._submit(lambda job: self._train(job, settings, train, val))

    def stop(self) -> None:
        """Stop the running comparison before its next batch; what the runs reached is kept and saved."""
        runner = getattr(self, "runner", None)  # None when close() runs on a half-built widget
        job = runner.current if runner is not None else None
        if job is not None:
            job.cancel()

    def _clicked(self, action) -> None:
        """Run a button's action; its error is shown in the widget (a callback's would be lost)."""
        try:
            action()
        except Exception as exc:
            self._show_error(exc)

    def _busy(self, busy: bool) -> None:
        self.start_button.disabled = busy
        self.stop_button.disabled = not busy

    def _train(self, job: Job, settings: dict, train: Any, val: Any) -> None:
        self._busy(True)
        comparison = None
        try:
            comparison = compare_first_kernels(data=train, val_data=val, cancel=lambda: job.cancelled,
                                               **settings)
            self.comparison = comparison
            probe = comparison.probe_image if settings["kind"] == "autoencoder" else None
            self._reset([r.name for r in comparison.runs], probe,
                        f"{settings['kind']} on {comparison.runs[0].config['data']}")
            self.runs = comparison.runs
            for record in comparison:
                self._show(record, comparison.runs)
            self._finish(comparison.runs, "stopped" if job.cancelled else "done")
        except BaseException:
            if comparison is not None:
                self._finish(comparison.runs, "stopped on an error")
            raise
        finally:
            self._busy(False)
            self._list_saved()

    def _reset(self, names: list[str], probe_image: np.ndarray | None, title: str) -> None:
        self.histories = {name: [] for name in names}
        self.summaries, self.verdict = [], ""
        bars = []
        for name in names:
            bar = w.FloatProgress(0.0, min=0.0, max=1.0, description=name,
                                  layout=w.Layout(width="22em"))
            bars.append(w.HBox([bar, w.Label("waiting")]))
        with self.draw_lock:
            self.loss_view.reset(names, title)
            self.layer_view.reset(names, probe_image)
            self.progress.children = bars
            self.table.value = ""

    def _show(self, record: Record, runs: list[Run]) -> None:
        """Draw one record: that run's curves always, its first layer at epoch records."""
        self.histories[record.run].append(record)
        history = self.histories[record.run]
        run = next(r for r in runs if r.name == record.run)
        per_epoch = record.total_steps / run.config["epochs"]
        trained = [r for r in history if r.train_loss is not None]
        held = [r for r in history if r.is_epoch]
        with self.draw_lock:
            self.loss_view.update(
                record.run,
                (np.array([r.step / per_epoch for r in trained]), np.array([r.train_loss for r in trained])),
                (np.array([r.epoch for r in held]), np.array([r.val_loss for r in held])))
            if record.is_epoch:
                self.layer_view.update(record.run, record.filters, probe=record.probe,
                                       probe_is_image=run.config["kind"] == "autoencoder",
                                       frac_zero=record.frac_zero, dead=record.dead, epoch=record.epoch)
                self.layer_figure.canvas.draw_idle()
            self.loss_figure.canvas.draw_idle()
        self._progress(record, runs)

    def _progress(self, record: Record, runs: list[Run]) -> None:
        names = [r.name for r in runs]
        box = self.progress.children[names.index(record.run)]
        bar, label = box.children
        eta = "" if record.eta is None else f", about {record.eta:.0f} s of its own left"
        loss = "" if record.val_loss is None else f", held-out loss {record.val_loss:.4f}"
        bar.value = record.progress
        label.value = f"epoch {record.epoch}/{runs[0].config['epochs']}{loss}{eta}"
        lasts = [self.histories[n][-1] for n in names if self.histories[n]]
        left = sum(r.eta or 0.0 for r in lasts)
        self.status.value = f"training {len(names)} runs interleaved: about {left:.0f} s left in all"

    def _finish(self, runs: list[Run], how: str) -> None:
        self.summaries = [summarize(r) for r in runs if r.last_epoch is not None]
        self.verdict = verdict(self.summaries)
        for run, box in zip(runs, self.progress.children, strict=False):
            label = box.children[1]
            label.value = f"{run.status}" + (f": {run.reason}" if run.reason else "")
        folder = runs[0].path.parent if runs and runs[0].path is not None else None
        self.table.value = results_table(self.summaries, self.verdict)
        where = f"; saved in {folder}" if folder is not None else ""
        self.status.value = f"{how}{where}"

    # --- saved runs ----------------------------------------------------------------------

    def _list_saved(self) -> None:
        folders = _saved_folders(Path(self.out_dir))
        self.saved_dropdown.options = [(str(f.relative_to(self.out_dir)) or ".", str(f)) for f in folders]
        if folders:
            self.saved_dropdown.value = str(folders[-1])

    def load(self, folder: str | os.PathLike[str] | None = None) -> list[Run]:
        """Show saved runs (a folder of them; default: the one chosen under "saved runs") with their table."""
        chosen = folder if folder is not None else self.saved_dropdown.value
        if chosen is None:
            raise FileNotFoundError(f"no saved runs under {self.out_dir}")
        runs = load_runs(chosen)
        if not runs:
            raise FileNotFoundError(f"no saved runs in {chosen}")
        self.runner.cancel()
        self._clear_error()
        c = runs[0].config
        probe = None
        self._reset([r.name for r in runs], probe, f"saved: {c['kind']} on {c['data']}")
        self.runs = runs
        for run in runs:
            for record in run.records:
                self._show(record, runs)
        self._finish(runs, "loaded")
        return runs

    def close(self) -> None:
        """Stop the runs (each is saved as cancelled), then close as every convis widget does."""
        self.stop()
        super().close()


def _is_pair_of_tensors(data: tuple) -> bool:
    """(images, labels) rather than (train set, held-out set)."""
    import torch

    return len(data) == 2 and isinstance(data[0], torch.Tensor) and data[0].ndim == 4 \
        and isinstance(data[1], torch.Tensor) and data[1].ndim == 1


def _data_name(data: Any) -> str:
    first = data[0] if isinstance(data, tuple) and not _is_pair_of_tensors(data) else data
    return str(getattr(first, "name", "data"))
