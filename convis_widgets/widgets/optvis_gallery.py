"""The gallery part of a `FeatureVisualizer`: a range of maps of one layer optimised as batches,
filling a grid as each batch ends, and its export."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from traitlets import Int, Tuple, validate

from ..compute import optvis
from ..jobs import Job
from ..render import save_png
from ..render.optvis import GalleryView
from .optvis_target import TargetChoice
from .progress import Pace

GALLERY_BATCH = 64  # maps optimised together (one forward/backward per step for the batch)
STATUS_EVERY_S = 0.1  # the status says the step within a batch at most this often


class GalleryRun(TargetChoice):
    """Runs, draws and exports a gallery; the widget supplies what is declared here without a value."""

    gallery_range = Tuple(Int(), Int(), default_value=(0, 0))

    input_shape: tuple[int, ...]
    data: Any
    settings: optvis.Settings
    contrast: bool
    gallery: optvis.Gallery | None
    gallery_figure: Figure
    gallery_view: GalleryView

    @validate("gallery_range")
    def _valid_range(self, proposal: dict[str, Any]) -> tuple[int, int]:
        lo, hi = proposal["value"]
        n = self._info().output_shape[0]
        if not 0 <= lo <= hi < n:
            raise IndexError(f"gallery_range must be (first, last) with 0 <= first <= last <= {n - 1} "
                             f"({n} maps in {self.layer}); got {(lo, hi)}")
        return (lo, hi)

    def _start_gallery(self) -> None:
        lo, hi = self.gallery_range
        layer, channels = self.layer, list(range(lo, hi + 1))
        settings = self.settings.replace()
        self._submit_run(lambda job: self._run_gallery(job, layer, channels, settings))

    def _run_gallery(self, job: Job, layer: str, channels: list[int], settings: optvis.Settings) -> None:
        n = len(channels)
        images = np.zeros((n, *self.input_shape), dtype=np.float32)
        value = np.full(n, np.nan, dtype=np.float32)
        quality = np.full(n, np.nan, dtype=np.float32)
        done, responded = np.zeros(n, bool), np.zeros(n, bool)
        position = {c: k for k, c in enumerate(channels)}
        kwargs = {k: v for k, v in settings.to_dict().items() if k not in ("steps", "seed")}
        t0 = time.perf_counter()
        batches = -(-n // GALLERY_BATCH)
        last_said, pace = [0.0], Pace()

        def step_done(part: list[int], record: optvis.Step) -> None:
            now = time.perf_counter()
            if record.done or now - last_said[0] < STATUS_EVERY_S:
                return  # a batch's end is said by _draw_gallery
            last_said[0] = now
            batch = position[part[0]] // GALLERY_BATCH
            rate = record.step / record.elapsed if record.elapsed > 0 else 0.0
            eta = pace.eta_text(batch * settings.steps + record.step, batches * settings.steps, now)
            self._set_status(f"{self._maps_done(layer, channels, done, responded)}; batch {batch + 1} of "
                             f"{batches} (maps {part[0]}..{part[-1]}): step {record.step} of "
                             f"{settings.steps}, {rate:.1f} steps/s, {eta}")

        self._draw_gallery(layer, channels, images, done, responded, 0.0)
        for part in optvis.iter_gallery(self.model, layer, self.input_shape, channels, steps=settings.steps,
                                        seed=settings.seed, cancel=lambda: job.cancelled, data=self.data,
                                        batch_size=GALLERY_BATCH, progress=step_done, **kwargs):
            idx = [position[c] for c in part.channels]
            images[idx] = part.images.numpy()
            value[idx] = part.value.numpy()
            responded[idx] = part.responded.numpy()
            if part.quality is not None:
                quality[idx] = part.quality.numpy()
            done[idx] = True
            self.gallery = optvis.Gallery(
                channels=[c for c, d in zip(channels, done, strict=True) if d],
                images=torch.from_numpy(images[done]), value=torch.from_numpy(value[done]),
                responded=torch.from_numpy(responded[done]), dataset_max=None,
                quality=torch.from_numpy(quality[done]))
            self._draw_gallery(layer, channels, images, done, responded, time.perf_counter() - t0, quality)

    def _draw_gallery(self, layer: str, channels: list[int], images: np.ndarray, done: np.ndarray,
                      responded: np.ndarray, elapsed: float, quality: np.ndarray | None = None) -> None:
        n_done, n_ok = int(done.sum()), int((done & responded).sum())
        title = (f"{layer}: maps {channels[0]}..{channels[-1]}, {n_done} of {len(channels)} done, "
                 f"{n_ok} responded (struck out: never responded)")
        with self._drawing(self.gallery_figure):
            self.gallery_view.update(images, done, responded, title=title, contrast=self.contrast)
        beat = ""
        if quality is not None and np.isfinite(quality[done]).any():
            ok = done & responded & np.isfinite(quality)
            beat = (f"; {int((quality[ok] > 1).sum())} of {int(ok.sum())} responding maps beat the best "
                    "image of the data set")
        self._set_status(f"{self._maps_done(layer, channels, done, responded)} in {elapsed:.1f} s{beat}")

    @staticmethod
    def _maps_done(layer: str, channels: list[int], done: np.ndarray, responded: np.ndarray) -> str:
        """"gallery of <layer>: k/n maps done, r responded": the count every gallery status starts with."""
        return (f"gallery of <b>{layer}</b>: <b>{int(done.sum())}/{len(channels)} maps</b> done, "
                f"{int((done & responded).sum())} responded")

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
