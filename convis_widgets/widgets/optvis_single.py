"""The single-run part of a `FeatureVisualizer`: one objective optimised live, its curve, its snapshot
strip, its quality against the best image of the data set (cached per map), and its export."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from traitlets import Int

from ..compute import optvis
from ..compute.inputs import ImageData
from ..jobs import Job
from ..render.optvis import OptvisView, save_gif, save_picture, save_strip
from .optvis_target import TargetChoice
from .progress import Pace

DRAW_EVERY_S = 0.1  # the live picture is redrawn at most this often (plus every snapshot)
TAKEN_SHOWN = 3  # the status names this many of the latest mid-run setting changes


def _shown(value: object) -> str:
    """A setting's value as the status says it: 0.3, 6, on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


class SingleRun(TargetChoice):
    """Runs, draws and exports one optimisation; the widget supplies what is declared here without
    a value."""

    report = Int(0)  # 0: log-spaced snapshots; k: a snapshot every k steps
    n_reports = Int(6)
    step = Int(0, read_only=True)

    input_shape: tuple[int, ...]
    data: ImageData | None
    settings: optvis.Settings
    steps: int
    contrast: bool
    figure: Figure
    view: OptvisView
    dataset_best: float | None
    _best_cache: dict[tuple[str, int], float]
    _pace: Pace  # the running optimisation's ETA, timed from its first step
    _running_target: str  # the running optimisation's target, in words (its picture's title)

    def _reset_single(self) -> None:
        self.result: optvis.Step | None = None
        self.live: optvis.Settings | None = None  # the settings object a running loop reads
        self.history: tuple[list[int], list[float]] = ([], [])
        self.snapshots: list[tuple[int, np.ndarray]] = []
        self.frames: list[np.ndarray] = []
        self.taken: list[tuple[int, str, Any]] = []  # (step, setting, value): live changes the loop took up
        self.set_trait("step", 0)

    def strip_steps(self) -> list[int]:
        """Steps whose pictures go in the snapshot strip: log-spaced as in Mönchmeyer's "A simple CNN
        for the MNIST dataset" series, or every k."""
        report: Any = "log" if self.report == 0 else self.report
        return optvis.report_steps(self.steps, report=report, n_reports=self.n_reports)

    def _start_single(self) -> None:
        objective, self._running_target = self.make_objective(), self.target_title()
        self.live = self.settings.replace(report=1)
        live, strip = self.live, set(self.strip_steps())
        reference = (self.objective, self.layer, self.index)
        self._submit_run(lambda job: self._run_single(job, objective, live, strip, reference))

    def _run_single(self, job: Job, objective: optvis.objectives.Objective, live: optvis.Settings,
                    strip: set[int], reference: tuple[str, str, int]) -> None:
        steps: list[int] = []
        values: list[float] = []
        self.snapshots, self.frames, self.history, self.taken = [], [], (steps, values), []
        last_draw, self._pace = 0.0, Pace()
        for record in optvis.run(self.model, objective, self.input_shape, settings=live,
                                 cancel=lambda: job.cancelled):
            image = record.images[0].numpy()
            steps.append(record.step)
            values.append(float(record.value[0]))
            self.result = record
            self.taken += [(record.changed_at[name], name, value) for name, value in record.changed.items()]
            snap = record.step in strip or record.done
            if snap and not (self.snapshots and self.snapshots[-1][0] == record.step):
                self.snapshots.append((record.step, image))
            now = time.perf_counter()
            if snap or now - last_draw >= DRAW_EVERY_S:
                last_draw = now
                self.frames.append(image)
                self._draw_single(record, image)
        self._finish_single(reference)

    def _draw_single(self, record: optvis.Step, image: np.ndarray) -> None:
        steps, values = self.history
        title = f"{self._running_target}, step {record.step}"
        with self._drawing(self.figure):
            self.view.update(image, steps, values, title=title, contrast=self.contrast)
            self.view.set_strip(self.snapshots, dict(zip(steps, values, strict=True)), contrast=self.contrast)
            self.view.set_changes(sorted({step for step, _, _ in self.taken}))
        self.set_trait("step", record.step)
        rate = record.step / record.elapsed if record.elapsed > 0 else 0.0
        state = (f"ended ({record.reason})" if record.done
                 else f"running, {self._pace.eta_text(record.step, self.steps, record.elapsed)}")
        self._set_status(f"<b>step {record.step}</b> of {self.steps}, {rate:.0f} steps/s, "
                         f"objective {float(record.value[0]):.4g}: {state}{self._taken_text()}")

    def _finish_single(self, reference: tuple[str, str, int]) -> None:
        """The quality figure: the activation reached against the best over the data set."""
        record = self.result
        if record is None:
            return
        best = self._dataset_best(*reference)
        self.dataset_best = best
        reached = float(record.value[0])
        with self._drawing(self.figure):
            self.view.set_reference(best)
        quality = "" if best is None else (
            f"; reached {reached:.4g} = <b>{reached / best:.2f}x</b> the best image of the data set "
            f"({best:.4g})" if best > 0 else f"; the data set never drives this map (best {best:.4g})")
        responded = ("" if bool(record.responded[0])
                     else "; <b>the map never responded</b> (loss stayed at zero)")
        self._set_status(f"<b>step {record.step}</b> of {self.steps}: ended ({record.reason}){responded}"
                         f"{quality}{self._taken_text()}")

    def _taken_text(self) -> str:
        """"; changed: L2 decay = 0.3 from step 812": the last live changes and the step the loop took
        each up at (so a change that shows nothing visible is still confirmed)."""
        if not self.taken:
            return ""
        said = [f"<b>{optvis.settings.ROWS[name].label or name} = {_shown(value)} from step {step}</b>"
                for step, name, value in self.taken[-TAKEN_SHOWN:]]
        more = len(self.taken) - TAKEN_SHOWN
        return "; changed: " + ", ".join(said) + (f" (and {more} earlier)" if more > 0 else "")

    def _dataset_best(self, kind: str, layer: str, index: int) -> float | None:
        """The highest activation of that map over the data set (channel objective only), cached."""
        if kind != "channel" or self.data is None:
            return None
        key = (layer, index)
        if key not in self._best_cache:
            best = optvis.dataset_max_activation(self.model, self.data, layer=layer, channels=[index])
            self._best_cache[key] = float(best[0])
        return self._best_cache[key]

    def _export_single(self, folder: Path) -> list[Path]:
        """The picture and the snapshot strip (PNG) and the evolution (GIF)."""
        if self.result is None:
            raise RuntimeError("nothing to export yet: press Start first")
        image = self.result.images[0].numpy()
        return [save_picture(image, folder / "picture.png", contrast=self.contrast),
                save_strip(self.snapshots, folder / "snapshots.png", contrast=self.contrast),
                save_gif(self.frames, folder / "evolution.gif", contrast=self.contrast)]
