"""`TrainingComparison`: one model per first-layer kernel size, trained and watched side by side."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import ipywidgets as w
import numpy as np
from torch import nn
from traitlets import Bunch, Float, Int, Unicode, validate

from ..compute.training import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_OUT_DIR,
    HELD_OUT_FRACTION,
    KINDS,
    Comparison,
    Record,
    Run,
    as_tensors,
    builtin,
    compare_first_kernels,
    data_folder,
    other_seeds,
    summarize,
    train_and_held_out,
    verdict,
)
from ..jobs import Job
from ..render.training import FirstLayerView, LossView, results_table
from .base import one_of
from .figures import LockedCanvas
from .training_data import BUILTIN, DEFAULT_DATA, USER, builtin_sets_for, refused_text
from .training_progress import RunBars, parse_kernels, start_text
from .training_saved import SavedComparisons

LOSS_NAMES = {"cross_entropy": "cross-entropy loss", "mse_loss": "mean squared error"}


class TrainingComparison(SavedComparisons):
    """Train one model per first-layer kernel size, live: loss curves, filters, dead channels, a verdict.

    ``data``: your own set for the "yours" choice (an ImageDataset, an image tensor for the
    autoencoder, or a (train, held-out) pair of them); the built-in digits and colour patches are
    always offered. ``model_fn``: your network instead of the built-in one, a callable that takes the
    first conv layer's kernel size and returns a fresh model whose first conv has that kernel (one
    copy is trained per size, each from the same seed). Every comparison is saved under ``out_dir``,
    in a folder per data set and a subfolder named by its settings and date; "saved" lists
    those of the current kind and data set, and Load shows one again as it was shown live. Keyword
    arguments are the traits: ``kind``, ``dataset`` (default "yours" when ``data`` is given, else
    the kind's built-in set), ``kernels`` ("3, 9" or a list of ints), ``epochs``, ``batch_size``,
    ``lr``, ``seed`` and ``out_dir``.
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
        data: Any = None,
        model_fn: Callable[[int], nn.Module] | None = None,
        figsize: tuple[float, float] = (8.6, 3.0),
        **choices: Any,
    ) -> None:
        super().__init__(**choices)
        if model_fn is not None and (isinstance(model_fn, nn.Module) or not callable(model_fn)):
            raise TypeError("model_fn must be a callable that takes the first kernel size and returns a "
                            "fresh model, not a model (e.g. model_fn=lambda k: MyNet(first_kernel=k)); "
                            f"got {type(model_fn).__name__}")
        self.user_data = data
        self.model_fn = model_fn
        if data is not None:  # fail now, not at Start
            as_tensors(train_and_held_out(data)[0])
        self.builtin, self._model_channels = builtin_sets_for(model_fn, choices.get("kernels", (3, 9)),
                                                              has_data=data is not None)
        self.histories: dict[str, list[Record]] = {}
        self.runs: list[Run] = []
        self.summaries: list = []
        self.verdict = ""
        self.comparison: Comparison | None = None

        self._build_controls()
        self.progress = RunBars()
        self.table = self._tag(w.HTML(), "table")
        self.intro = self._tag(w.HTML(), "intro")  # what Start does, shown until the first run
        self.loss_figure = self._new_figure(figsize)
        self.loss_view = LossView(self.loss_figure)
        self.layer_figure = self._new_figure((figsize[0], figsize[1] * 1.6))
        self.layer_view = FirstLayerView(self.layer_figure)
        self._view_canvases = [cast(LockedCanvas, f.canvas) for f in (self.loss_figure, self.layer_figure)]
        for canvas in self._view_canvases:
            canvas.toolbar_visible = False  # it would cover the axis labels; these views need no zoom
            canvas.layout.display = "none"  # no empty axes before Start
        self._paces: dict[Path, float | None] = {}
        self.children = [
            w.HBox([self.kind_buttons, self.data_dropdown]),
            w.HBox([self.kernels_text, self.epochs_box, self.batch_box, self.lr_box, self.seed_box]),
            w.HBox([self.start_button, self.stop_button, self.out_text]),
            w.HBox([self.saved_dropdown, self.load_button]),
            self.intro, self.progress, self.loss_figure.canvas, self.layer_figure.canvas, self.status,
            self.table, self.errors,
        ]

        self._set_choices({"kind": choices.pop("kind", "classifier")})  # checked before it picks the data
        dataset, kernels = choices.pop("dataset", None), choices.pop("kernels", (3, 9))
        default = USER if data is not None else DEFAULT_DATA[self.kind]
        if default not in self.builtin + [USER]:
            default = self.builtin[0]
        self._set_choices({
            "dataset": dataset if dataset is not None else default,
            "kernels": kernels if isinstance(kernels, str) else ", ".join(map(str, kernels)),
            "out_dir": str(choices.pop("out_dir", DEFAULT_OUT_DIR)), **choices})
        self._link_controls()
        self._observe(self._follow_kind, names="kind")
        self._observe(lambda _change: self._list_saved(), names=["out_dir", "kind", "dataset"])
        self._observe(lambda _change: self._describe(), names=["kind", "dataset", "kernels", "epochs",
                                                               "batch_size", "lr", "seed", "out_dir"])
        self._list_saved()
        self._describe()
        self._set_status("Choose the settings and press <b>Start</b>, or pick a saved comparison and "
                         "press <b>Load</b>.")

    def _build_controls(self) -> None:
        """Every control, made and tagged once; `_link_controls` links each to its trait."""
        c, style = self._control, {"description_width": "initial"}
        self.kind_buttons = c("kind", w.ToggleButtons(options=list(KINDS), description="model", style=style))
        options = [(BUILTIN[key], key) for key in self.builtin]
        if self.user_data is not None:
            name = getattr(train_and_held_out(self.user_data)[0], "name", None)  # tensors have none
            options.append((f"your data ({name})" if name else "your data", USER))
        self.data_dropdown = c("dataset", w.Dropdown(options=options, description="data", style=style),
                               "data")
        self.kernels_text = c("kernels", w.Text(description="first kernels", style=style,
                                                layout=w.Layout(width="12em")))
        self.epochs_box = c("epochs", w.BoundedIntText(min=1, max=1000, description="epochs", style=style,
                                                       layout=w.Layout(width="9em")))
        self.batch_box = c("batch_size", w.BoundedIntText(min=1, max=4096, description="batch", style=style,
                                                          layout=w.Layout(width="9em")))
        self.lr_box = c("lr", w.BoundedFloatText(min=1e-6, max=10.0, step=1e-4, description="lr", style=style,
                                                 layout=w.Layout(width="10em")))
        self.seed_box = c("seed", w.IntText(description="seed", style=style, layout=w.Layout(width="8em")))
        self._start_stop_buttons()
        self.out_text = c("out_dir", w.Text(description="saved in", style=style,
                                            layout=w.Layout(width="18em")))
        self.saved_dropdown = self._tag(w.Dropdown(  # its width follows the names; empty, still a select
            description="saved", style=style,
            layout=w.Layout(min_width="min(20em, calc(100% - 4px))")), "saved")
        self.load_button = self._button("Load", "load", self.load, icon="folder-open")

    @validate("kind")
    def _valid_kind(self, proposal: Bunch) -> Any:
        return one_of(proposal, KINDS)

    @validate("dataset")
    def _valid_dataset(self, proposal: Bunch) -> Any:
        valid = self.builtin + ([USER] if self.user_data is not None else [])
        if proposal["value"] not in valid:
            why = refused_text(self.builtin, self._model_channels) if proposal["value"] in BUILTIN else ""
            raise ValueError(f"dataset must be one of {valid}; got {proposal['value']!r}"
                             + ("" if self.user_data is not None else " (pass data= for 'yours')")
                             + (f". {why}" if why else ""))
        return proposal["value"]

    def _follow_kind(self, change: Bunch) -> None:
        """A built-in data set follows the kind: digits for the classifier, patches for the autoencoder."""
        if self.dataset in BUILTIN and DEFAULT_DATA[change["new"]] in self.builtin:
            self.dataset = DEFAULT_DATA[change["new"]]

    def _data(self) -> tuple[Any, Any]:
        if self.dataset == USER:
            return train_and_held_out(self.user_data)
        from ..data import digits, patches

        load = digits if self.dataset == "digits" else patches
        return load("train"), load("test")

    def _home(self) -> Path:
        """The folder of the current kind and data set's saved comparisons (one per data set)."""
        return Path(self.out_dir) / data_folder(self.kind, self._data()[0])

    def _describe(self) -> None:
        """Say before Start what Start will train, on what, and how long it should take; after a run,
        once a setting changes, say it above that run's views (which stay until the next Start)."""
        self.intro.value = self._start_text()
        if self.histories:
            self.intro.value = f"The views below are the last run's. Next, {self.intro.value}"
            self.intro.layout.display = None

    def _start_text(self) -> str:
        try:
            kernels = parse_kernels(self.kernels)
        except ValueError as exc:
            return f"<b>Start</b> needs first-kernel sizes: {html.escape(str(exc))}."
        train, val = self._data()
        n_train = len(as_tensors(train)[0])
        n_val = len(as_tensors(val)[0]) if val is not None else round(n_train * HELD_OUT_FRACTION)
        if val is None:
            n_train -= n_val
        model = "copies of your network" if self.model_fn is not None else \
            f"{builtin(self.kind).model_name} {self.kind}s"
        labels = {key: text for text, key in self.data_dropdown.options}
        text = start_text(kernels, model, labels.get(self.dataset, self.dataset), n_train, n_val,
                          self.epochs, self.batch_size, self.lr, self.seed, self._pace(),
                          classifier=self.kind == "classifier")
        refused = refused_text(self.builtin, self._model_channels)
        return text + (f"<br>{html.escape(refused)}" if refused else "")

    # --- running -------------------------------------------------------------------------

    def start(self) -> Job:
        """Start a comparison with the current settings (stopping one that runs)."""
        settings = dict(kind=self.kind, kernels=parse_kernels(self.kernels), epochs=self.epochs,
                        batch_size=self.batch_size, lr=self.lr, seed=self.seed, out_dir=self.out_dir,
                        model_fn=self.model_fn)
        train, val = self._data()
        return self._submit_run(lambda job: self._train(job, settings, train, val))

    def _train(self, job: Job, settings: dict, train: Any, val: Any) -> None:
        comparison = None
        try:
            comparison = compare_first_kernels(data=train, val_data=val, cancel=lambda: job.cancelled,
                                               **settings)
            self.comparison = comparison
            self._reset(comparison.runs, f"{'your ' if settings['model_fn'] else ''}{settings['kind']} on "
                                         f"{comparison.runs[0].config['data']}")
            self.runs = comparison.runs
            for record in comparison:
                self._show(record, comparison.runs)
            self._finish(comparison.runs, "stopped" if job.cancelled else "done")
        except BaseException:
            if comparison is not None:
                self._finish(comparison.runs, "stopped on an error")
            raise
        finally:
            self._list_saved()

    def _reset(self, runs: list[Run], title: str) -> None:
        """Lay the views out for ``runs`` (and show them in place of the message of what Start does)."""
        names = [r.name for r in runs]
        config = runs[0].config
        self.histories = {name: [] for name in names}
        self.summaries, self.verdict = [], ""
        with self.draw_lock:
            self.loss_view.reset(names, title, accuracy=config["kind"] == "classifier",
                                 loss_name=LOSS_NAMES.get(config["loss"], f"{config['loss']} loss"))
            self.layer_view.reset(names, runs[0].probe_image)
            self.progress.reset(names)
            self.table.value = ""
        self.intro.layout.display = "none"
        for canvas in self._view_canvases:
            canvas.layout.display = None

    def _show(self, record: Record, runs: list[Run]) -> None:
        """Draw one record: that run's curves always, its first layer at epoch records."""
        self.histories[record.run].append(record)
        history = self.histories[record.run]
        run = next(r for r in runs if r.name == record.run)
        per_epoch = record.total_steps / run.config["epochs"]
        trained = [r for r in history if r.train_loss is not None]
        held = [r for r in history if r.is_epoch]
        with self._drawing(self.loss_figure, *([self.layer_figure] if record.is_epoch else [])):
            self.loss_view.update(
                record.run,
                (np.array([r.step / per_epoch for r in trained]), np.array([r.train_loss for r in trained])),
                (np.array([r.epoch for r in held]), np.array([r.val_loss for r in held])),
                None if record.val_accuracy is None else
                (np.array([r.epoch for r in held]), np.array([r.val_accuracy for r in held])))
            if record.is_epoch:
                self.layer_view.update(record.run, record.filters, probe=record.probe,
                                       probe_is_image=run.config["kind"] == "autoencoder",
                                       frac_zero=record.frac_zero, dead=record.dead, epoch=record.epoch)
        lasts = [self.histories[r.name][-1] for r in runs if self.histories[r.name]]
        self._set_status(self.progress.show(record, run.config["epochs"], lasts))

    def _finish(self, runs: list[Run], how: str) -> None:
        """The table of ``runs`` and the verdict, pooled with the comparisons of the same settings
        saved before them with other seeds (then over seeds, the run-to-run spread)."""
        self.summaries = [summarize(r) for r in runs if r.last_epoch is not None]
        finished = bool(runs) and all(r.status == "finished" for r in runs)
        seeds = other_seeds(runs) if finished else []
        self.verdict = verdict(self.summaries + [summarize(r) for comparison in seeds for r in comparison])
        self.progress.finish(runs)
        folder = runs[0].path.parent if runs and runs[0].path is not None else None
        self.table.value = results_table(self.summaries, self.verdict)
        where = f"; saved in {folder}" if folder is not None else ""
        others = ", ".join(str(c[0].config["seed"]) for c in seeds)
        pooled = (f"; the verdict pools the saved runs of seed{'s' if len(seeds) > 1 else ''} {others} with "
                  "these settings" if seeds else "")
        self._set_status(f"{how}{where}{pooled}")
