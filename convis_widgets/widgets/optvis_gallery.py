"""The gallery part of a `FeatureVisualizer`: a range of maps of one layer optimised as batches in a
grid of numbered tiles that fill as the run goes (pictures at log-spaced steps), a click on a tile
opening its map alone, and its export."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backend_bases import MouseEvent
from matplotlib.figure import Figure
from traitlets import Int, Tuple, validate

from ..compute import optvis
from ..compute.inputs import ImageData
from ..jobs import Job
from ..render import save_png
from ..render.optvis import GalleryView
from .optvis_target import TargetChoice
from .progress import Pace

GALLERY_BATCH = 64  # maps optimised together (one forward/backward per step for the batch)
STATUS_EVERY_S = 0.1  # the status says the step within a batch at most this often
DRAW_EVERY_S = 0.25  # a batch's pictures between its reported steps are drawn at most this often
DRAW_SHARE = 0.2  # and drawing them takes at most about this share of the run's time


def maps_text(lo: int, hi: int, n: int) -> str:
    """Maps ``lo`` to ``hi`` of a layer of ``n`` in words: "maps 0-15 of 64", or "all 64 maps"."""
    return f"all {n} maps" if (lo, hi) == (0, n - 1) else f"maps {lo}-{hi} of {n}"


@dataclass
class _Fill:
    """A gallery run's pictures so far: one row per map of the range, tiles drawn as they change."""

    layer: str
    channels: list[int]
    shape: tuple[int, ...]
    steps: int  # of each batch
    images: np.ndarray = field(init=False)
    done: np.ndarray = field(init=False)
    active: np.ndarray = field(init=False)
    responded: np.ndarray = field(init=False)
    value: np.ndarray = field(init=False)
    quality: np.ndarray = field(init=False)
    dirty: set[int] = field(default_factory=set)  # tiles changed since the last draw
    position: dict[int, int] = field(init=False)  # map number -> row
    stopped: np.ndarray = field(init=False)  # maps of a batch stopped before its end
    stopped_at: int | None = None  # the step that batch had reached

    def __post_init__(self) -> None:
        n = len(self.channels)
        self.images = np.zeros((n, *self.shape), dtype=np.float32)
        self.done, self.active, self.responded, self.stopped = (np.zeros(n, bool) for _ in range(4))
        self.value, self.quality = (np.full(n, np.nan, dtype=np.float32) for _ in range(2))
        self.position = {c: k for k, c in enumerate(self.channels)}

    def rows(self, channels: list[int]) -> list[int]:
        idx = [self.position[c] for c in channels]
        self.dirty.update(idx)
        return idx

    def finished(self) -> np.ndarray:
        """Maps whose batch ran to its end."""
        return self.done & ~self.stopped

    def gallery(self) -> optvis.Gallery:
        """The finished maps as a `Gallery` (what export writes)."""
        d = self.done
        return optvis.Gallery(channels=[c for c, ok in zip(self.channels, d, strict=True) if ok],
                              images=torch.from_numpy(self.images[d]), value=torch.from_numpy(self.value[d]),
                              responded=torch.from_numpy(self.responded[d]), dataset_max=None,
                              quality=torch.from_numpy(self.quality[d]))


class GalleryRun(TargetChoice):
    """Runs, draws and exports a gallery; the widget supplies what is declared here without a value."""

    gallery_range = Tuple(Int(), Int(), default_value=(0, 0))

    input_shape: tuple[int, ...]
    data: ImageData | None
    settings: optvis.Settings
    contrast: bool
    report: int
    n_reports: int
    gallery: optvis.Gallery | None
    gallery_figure: Figure
    gallery_view: GalleryView
    gallery_layer: str  # the layer whose maps the gallery figure shows

    @validate("gallery_range")
    def _valid_range(self, proposal: dict[str, Any]) -> tuple[int, int]:
        lo, hi = proposal["value"]
        n = self._info().output_shape[0]
        if not 0 <= lo <= hi < n:
            raise IndexError(f"gallery_range must be (first, last) with 0 <= first <= last <= {n - 1} "
                             f"({n} maps in {self.layer}); got {(lo, hi)}")
        return (lo, hi)

    def _range_text(self) -> str:
        """Which maps the gallery covers: "maps 0-15 of 64" (or "all 64 maps")."""
        lo, hi = self.gallery_range
        return maps_text(lo, hi, self._info().output_shape[0])

    def _show_gallery_idle(self) -> None:
        """Before a run (or after the layer or range changed): say what Start will do."""
        self.gallery = None
        with self._drawing(self.gallery_figure):
            self.gallery_view.show_message(
                f"Start optimises one picture per map of {self.layer} ({self._range_text()}):\n"
                "the input that drives that map most. The tiles fill as the run goes;\n"
                "click a tile to open its map alone.")

    def _gallery_ready_text(self) -> str:
        return f"ready: the gallery of <b>{self.layer}</b>, {self._range_text()}; press <b>Start</b>"

    def _start_gallery(self) -> None:
        lo, hi = self.gallery_range
        layer, channels = self.layer, list(range(lo, hi + 1))
        settings = self.settings.replace(report="log" if self.report == 0 else self.report,
                                         n_reports=self.n_reports)
        self._submit_run(lambda job: self._run_gallery(job, layer, channels, settings))

    def _run_gallery(self, job: Job, layer: str, channels: list[int], settings: optvis.Settings) -> None:
        fill = _Fill(layer, channels, self.input_shape, settings.steps)
        self.gallery_layer = layer
        kwargs = {k: v for k, v in settings.to_dict().items() if k not in ("steps", "seed")}
        t0, pace = time.perf_counter(), Pace()
        batches, steps = -(-len(channels) // GALLERY_BATCH), settings.steps
        last = {"said": 0.0, "drawn": 0.0, "cost": 0.0, "step": 0}

        def ticked(part: list[int], tick: optvis.Tick) -> None:  # every step: no image copied
            now, last["step"] = time.perf_counter(), tick.step
            if tick.done or now - last["said"] < STATUS_EVERY_S:
                return  # a batch's end is said by _draw_gallery
            last["said"] = now
            batch = fill.position[part[0]] // GALLERY_BATCH
            rate = tick.step / tick.elapsed if tick.elapsed > 0 else 0.0
            eta = pace.eta_text(batch * steps + tick.step, batches * steps, now)
            self._set_status(f"{self._maps_done(fill)}; batch {batch + 1} of {batches} (maps {part[0]}-"
                             f"{part[-1]}) at step {tick.step} of {steps}, {rate:.1f} steps/s, {eta}")

        def pictured(part: list[int], record: optvis.Step) -> None:  # log-spaced: the tiles fill
            idx = fill.rows(part)
            fill.images[idx] = record.images.numpy()
            fill.active[idx] = True
            now = time.perf_counter()
            if record.step == 0 or now - last["drawn"] >= max(DRAW_EVERY_S, last["cost"] / DRAW_SHARE):
                self._draw_gallery(fill, status=False)
                last["drawn"], last["cost"] = time.perf_counter(), time.perf_counter() - now

        self._draw_gallery(fill, status=False)
        for part in optvis.iter_gallery(self.model, layer, self.input_shape, channels, steps=steps,
                                        seed=settings.seed, cancel=lambda: job.cancelled, data=self.data,
                                        batch_size=GALLERY_BATCH, progress=ticked, pictures=pictured,
                                        **kwargs):
            idx = fill.rows(part.channels)
            fill.images[idx] = part.images.numpy()
            fill.value[idx] = part.value.numpy()
            fill.responded[idx] = part.responded.numpy()
            if part.quality is not None:
                fill.quality[idx] = part.quality.numpy()
            fill.done[idx], fill.active[idx] = True, False
            if job.cancelled:  # the batch was stopped: its pictures are where they had got to
                fill.stopped[idx], fill.stopped_at = True, int(last["step"])
            self.gallery = fill.gallery()
            self._draw_gallery(fill, elapsed=time.perf_counter() - t0)

    def _draw_gallery(self, fill: _Fill, *, status: bool = True, elapsed: float = 0.0) -> None:
        """Redraw the tiles that changed; with ``status``, say what the finished batches reached."""
        finished = fill.finished()
        n_done, n_ok = int(finished.sum()), int((finished & fill.responded).sum())
        title = f"{fill.layer}: {self._which(fill)}, {n_done} of {len(fill.channels)} done"
        title += f", {n_done - n_ok} never responded" if n_done > n_ok else ""
        title += f", stopped at step {fill.stopped_at}" if fill.stopped_at is not None else ""
        changed, fill.dirty = np.asarray(sorted(fill.dirty), dtype=int), set()
        with self._drawing(self.gallery_figure):
            self.gallery_view.update(fill.images, fill.done, fill.responded, title=title,
                                     contrast=self.contrast, channels=fill.channels, active=fill.active,
                                     changed=changed)
        if not status:
            return
        ok = finished & fill.responded & np.isfinite(fill.quality)
        beat = (f"; {int((fill.quality[ok] > 1).sum())} of {int(ok.sum())} responding maps beat the best "
                "image of the data set" if ok.any() else "")
        stopped = ("" if fill.stopped_at is None else
                   f"; <b>stopped</b> at step {fill.stopped_at} of {fill.steps}: "
                   f"{int(fill.stopped.sum())} maps show where they had got to")
        self._set_status(f"{self._maps_done(fill)} (in {elapsed:.1f} s){beat}{stopped}; click a tile to open "
                         "its map")

    def _which(self, fill: _Fill) -> str:
        """The maps a run covers: "maps 0-15 of 64" (or "all 64 maps")."""
        return maps_text(fill.channels[0], fill.channels[-1], self._info(fill.layer).output_shape[0])

    def _maps_done(self, fill: _Fill) -> str:
        """"gallery of <layer>, maps 0-15 of 64: k of n maps done, r responded": how every gallery
        status starts."""
        finished = fill.finished()
        return (f"gallery of <b>{fill.layer}</b>, {self._which(fill)}: <b>{int(finished.sum())} of "
                f"{len(fill.channels)} maps</b> done, {int((finished & fill.responded).sum())} responded")

    def _on_gallery_click(self, event: MouseEvent) -> None:
        """A click on a tile opens its map alone, in single-run mode (see `open_map`)."""
        view = self.gallery_view
        if event.inaxes is not view.ax or event.xdata is None or event.ydata is None or not view.channels:
            return
        cell = view.tile_at(event.xdata, event.ydata)
        if cell is not None:
            self.open_map(self.gallery_layer, view.channels[cell])

    def open_map(self, layer: str, index: int) -> None:
        """Show map ``index`` of ``layer`` alone (the widget's own)."""
        raise NotImplementedError(f"{type(self).__name__} has no single-run mode to open a map in")

    def _export_gallery(self, folder: Path) -> list[Path]:
        """The grid (PNG) and the pictures with their values (npz)."""
        if self.gallery is None:
            raise RuntimeError("nothing to export yet: run the gallery first (Start)")
        with self.draw_lock:
            picture = save_png(self.gallery_figure, folder / "gallery.png")
        path = folder / "gallery.npz"
        np.savez(path, channels=np.asarray(self.gallery.channels), images=self.gallery.images.numpy(),
                 activation=self.gallery.value.numpy(), responded=self.gallery.responded.numpy())
        return [picture, path]
