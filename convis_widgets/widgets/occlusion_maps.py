"""The choices of an `OcclusionExplorer` and the maps they define, computed off the kernel's thread:
the gradient map of the chosen method and the full occlusion heatmap, brought up to date by one
job, and their export."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from matplotlib.figure import Figure
from traitlets import Any as AnyTrait
from traitlets import Float, Int, Unicode

from ..compute.attribution import (
    GRADIENT_METHODS,
    METHODS,
    OcclusionResult,
    class_scores,
    make_baseline,
    occlusion_map,
    resolve_targets,
    window_starts,
)
from ..compute.cancel import RunCancelled
from ..compute.inputs import ImageData
from ..compute.probe import run_forward
from ..jobs import Cancelled, Job
from ..render import new_figure, save_png
from ..render.attribution import MapView, OcclusionView, heatmap_extent
from .base import ConvisWidget
from .progress import ESTIMATING, Pace

BATCH_SECONDS = 0.3  # a heatmap batch takes about this long, so Stop takes effect that quickly


def class_names(classes: Sequence[str] | None, data: object, count: int) -> list[str]:
    """The names of the ``count`` classes a model scores: ``classes``, else ``data.classes`` when it
    names as many (a data set of other classes names none); [] for no names, or names that are the
    class numbers (the digits')."""
    if classes is None:
        found = [str(c) for c in getattr(data, "classes", None) or []]
    elif isinstance(classes, str) or len(classes) != count:
        given = repr(classes) if isinstance(classes, str) else f"{len(classes)} names"
        raise ValueError(f"classes must give one name per class the model scores ({count}); got {given}")
    else:
        found = [str(c) for c in classes]
    numbers = [str(k) for k in range(count)]
    return found if len(found) == count and found != numbers else []  # "class 3 (3)" would say nothing


class AttributionMaps(ConvisWidget):
    """The choices of an `OcclusionExplorer` and the maps they define: the class explained, the patch
    window, the baseline, and the gradient map and heatmap one job brings up to date. The explorer
    supplies what is declared here without a value."""

    image_index = Int(0)
    target = AnyTrait("predicted")
    patch_size = Int(6)
    stride = Int(2)
    patch_x = Int(0)
    patch_y = Int(0)
    baseline = AnyTrait(0.0)
    opacity = Float(0.5)
    method = Unicode("saliency", help="the gradient map shown: a name in compute.attribution.METHODS")
    view = Unicode("saliency", help="old name of `method`, kept in step with it")
    layer = Unicode()
    samples = Int(20)
    noise = Float(0.15)

    model: torch.nn.Module
    images: torch.Tensor
    data: ImageData | None
    probabilities: bool
    height: int
    width: int
    _clean: dict[int, torch.Tensor]
    heatmap: OcclusionResult | None
    _heatmap_key: tuple | None
    maps: dict[str, np.ndarray]
    _map_key: tuple | None
    figure: Figure
    occlusion_view: OcclusionView
    map_figure: Figure
    map_view: MapView
    progress: w.FloatProgress
    progress_text: w.HTML
    stop_button: w.Button
    _stopped: Job | None = None  # the job the Stop button stopped: its partial heatmap is drawn
    map_note = ""  # why the gradient map shows nothing, when it does not
    heat_status = ""  # what the status says of the heatmap
    folder_text: w.Text

    class_names: list[str]

    def _class_text(self, k: int, named: str = "class {k} ({name})", plain: str = "class {k}") -> str:
        """Class ``k`` as the views name it: ``named`` with its name, ``plain`` without names."""
        return named.format(k=k, name=self.class_names[k]) if self.class_names else plain.format(k=k)

    def _clean_scores(self, index: int) -> torch.Tensor:
        if index not in self._clean:
            with torch.no_grad():  # on a private eval-mode view: the model is never touched
                out = run_forward(self.model, self.images[index:index + 1])
            self._clean[index] = class_scores(out, probabilities=self.probabilities)[0].detach()
        return self._clean[index]

    @property
    def target_class(self) -> int:
        """The class explained for the current image (its top class when target is "predicted")."""
        scores = self._clean_scores(self.image_index)
        return int(resolve_targets(self.target, scores[None])[0])

    @property
    def window(self) -> tuple[int, int]:
        """The occluding patch as (height, width)."""
        return (self.patch_size, self.patch_size)

    def _baseline_image(self) -> torch.Tensor:
        image = self.images[self.image_index:self.image_index + 1]
        if self.baseline == "mean":
            return make_baseline(image, "mean", data=self.data if self.data is not None else self.images)[0]
        return make_baseline(image, self.baseline)[0]

    def _highlight_cell(self) -> None:
        result = self.heatmap
        if result is None or self._heatmap_key != self._occlusion_key():
            self.occlusion_view.set_cell(None, (1, 1))
            return
        i, j = result.cell(self.patch_y, self.patch_x)
        centre = (result.rows[i] + self.patch_size / 2 - 0.5, result.cols[j] + self.patch_size / 2 - 0.5)
        self.occlusion_view.set_cell(centre, result.stride)

    def _occlusion_key(self) -> tuple:
        return (self.image_index, self.target_class, self.patch_size, self.stride, str(self.baseline))

    def _map_settings(self) -> tuple:
        layer = self.layer if METHODS[self.method].takes_layer else None
        noise = (self.samples, self.noise) if METHODS[self.method].takes_samples else None
        return (self.image_index, self.target_class, self.method, layer, noise)

    def _start_jobs(self) -> None:
        """Submit one job that brings the gradient map, then the heatmap, up to date."""
        map_key, occ_key = self._map_settings(), self._occlusion_key()
        settings = dict(index=self.image_index, target=self.target_class, method=self.method,
                        layer=self.layer, samples=self.samples, noise=self.noise, size=self.patch_size,
                        stride=self.stride, baseline=self._baseline_image())
        self.progress.value = 1.0 if self._heatmap_key == occ_key else 0.0
        self._submit(lambda job: self._background(job, map_key, occ_key, settings))

    def _background(self, job: Job, map_key: tuple, occ_key: tuple, s: dict) -> None:
        if self._map_key != map_key:
            self._draw_map(job, map_key, s)
        if self._heatmap_key == occ_key:
            return
        rows = window_starts(self.height, s["size"], s["stride"])
        cols = window_starts(self.width, s["size"], s["stride"])
        reached: list[torch.Tensor] = []  # the drops so far, NaN where not computed yet
        pace = Pace()
        self.progress_text.value = f"0/{len(rows) * len(cols)} positions, {ESTIMATING}"

        def progress(done: int, total: int) -> None:
            eta = pace.eta_text(done, total, time.perf_counter())  # in positions: batches vary in size
            self.progress.value = done / total
            self.progress_text.value = f"{done}/{total} positions" + (f", {eta}" if eta else "")
            job.check()

        self.stop_button.disabled = False
        t0 = time.perf_counter()
        try:
            result = occlusion_map(self.model, self.images[s["index"]:s["index"] + 1], s["target"],
                                   window=s["size"], stride=s["stride"], baseline=s["baseline"],
                                   probabilities=self.probabilities, progress=progress,
                                   partial=lambda drops: reached.__setitem__(slice(None), [drops]),
                                   seconds_per_batch=BATCH_SECONDS, cancel=lambda: job.cancelled)
            job.check()
        except (Cancelled, RunCancelled):  # in a batch, or in the setup before the first one
            if job is self._stopped and reached:
                self._show_reached(reached[0][0].cpu().numpy(), rows, cols, s)
            elif job is self._stopped:
                self._say("heatmap stopped before its first batch of patch positions")
            raise
        finally:
            self.stop_button.disabled = True
        self.progress_text.value = f"{len(rows) * len(cols)} positions in {time.perf_counter() - t0:.1f} s"
        with self._drawing(self.figure):
            self.heatmap, self._heatmap_key = result, occ_key
            self.occlusion_view.set_heatmap(result.drops[0].cpu().numpy(),
                                            heatmap_extent(result.rows, result.cols, result.window,
                                                           result.stride), self._drop_units(s["target"]))
            self._highlight_cell()
        self._say(f"heatmap: {len(result.rows)}×{len(result.cols)} patch positions, "
                  f"{result.path} path; largest drop {float(result.drops.max()):.4g}")

    def _drop_units(self, target: int) -> str:
        kind = "probability" if self.probabilities else "score"
        return f"drop in {self._class_text(target, '{name}')} {kind}"

    def _draw_map(self, job: Job, map_key: tuple, s: dict) -> None:
        """Compute and draw the gradient map; a Grad-CAM that is zero everywhere says why."""
        method = METHODS[s["method"]]
        heat = self.compute_map(s["method"], s["index"], s["target"], layer=s["layer"],
                                samples=s["samples"], noise=s["noise"])
        job.check()
        self.map_note = ""
        if method.takes_layer and not (heat > 0).any():
            self.map_note = (f"{method.title} is zero everywhere: no positive evidence for "
                             f"{self._class_text(s['target'])} at {s['layer']}")
        with self._drawing(self.map_figure):
            title = f"{method.title}, {self._class_text(s['target'])}"
            image = self.images[s["index"]].cpu().numpy()
            self.maps[s["method"]] = self.map_view.update(
                image, heat, title, units=method.units, signed=method.signed,
                note=self.map_note)
            self._map_key = map_key
        self._say(self.heat_status)

    def _say(self, heatmap: str) -> None:
        """The status line: what the heatmap reached, then any note on the gradient map."""
        self.heat_status = heatmap
        self._set_status(" · ".join(part for part in (heatmap, self.map_note) if part))

    def _cancel_current(self) -> None:
        """Ask the running job to stop at its next batch, without waiting for it (a new choice)."""
        current = self.runner.current
        if current is not None:
            current.cancel()

    def stop(self) -> None:
        """Stop the running heatmap within one batch of positions; the part it reached stays shown."""
        runner = getattr(self, "runner", None)  # None when close() runs on a half-built widget
        self._stopped = runner.current if runner is not None else None
        super().stop()

    def _show_reached(self, drops: np.ndarray, rows: list[int], cols: list[int], s: dict) -> None:
        """Draw the part of a stopped heatmap that was computed (the rest stays blank) and say so."""
        done = int(np.isfinite(drops).sum())
        with self._drawing(self.figure):
            self.occlusion_view.set_heatmap(np.ma.masked_invalid(drops),
                                            heatmap_extent(rows, cols, (s["size"],) * 2, (s["stride"],) * 2),
                                            self._drop_units(s["target"]))
            self.occlusion_view.set_cell(None, (1, 1))
        self._say(f"heatmap stopped after {done} of {drops.size} patch positions: the part "
                  "reached is shown, the rest stays blank (change a setting to compute it again)")

    def compute_map(self, method: str, index: int, target: int, *, layer: str | None = None,
                    samples: int = 20, noise: float = 0.15) -> np.ndarray:
        """One gradient map (C, H, W) of image ``index`` for class ``target``: the one place a method's
        name picks its function (compute's attribution table, `METHODS`)."""
        if method not in GRADIENT_METHODS:
            raise ValueError(f"method must be one of {list(GRADIENT_METHODS)}; got {method!r}")
        out = METHODS[method](self.model, self.images[index:index + 1], target,
                              probabilities=self.probabilities, layer=layer or self.layer,
                              samples=samples, noise=noise)
        return out[0].detach().cpu().numpy()

    # ----- export -----

    def export(self, folder: str | Path) -> list[Path]:
        """Write every map of the current image and target as PNG, and all of them in one npz.

        Computes what is missing (the heatmap included) in the calling thread.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        index, target = self.image_index, self.target_class
        image = self.images[index].cpu().numpy()
        result = self.heatmap
        if result is None or self._heatmap_key != self._occlusion_key():
            result = occlusion_map(self.model, self.images[index:index + 1], target, window=self.window,
                                   stride=self.stride, baseline=self._baseline_image(),
                                   probabilities=self.probabilities)
        maps: dict[str, Any] = {"occlusion": result.attribution[0].cpu().numpy()}
        for method in GRADIENT_METHODS:
            maps[method] = self.compute_map(method, index, target, samples=self.samples, noise=self.noise)
        stem = f"image{index}_class{target}"
        paths = []
        for name, attribution in maps.items():
            fig = new_figure((5.0, 2.6))
            kind = METHODS[name]
            units = self._drop_units(target) if kind.takes_window else kind.units
            MapView(fig).update(image, attribution, f"{kind.title}, {self._class_text(target)}", units=units,
                                signed=kind.signed)
            paths.append(save_png(fig, folder / f"{stem}_{name}.png"))
        settings = {"image_index": index, "target": target, "patch_size": self.patch_size,
                    "stride": self.stride, "baseline": str(self.baseline), "layer": self.layer,
                    "samples": self.samples, "noise": self.noise, "probabilities": self.probabilities,
                    "occlusion_path": result.path}
        npz = folder / f"{stem}.npz"
        np.savez_compressed(npz, image=image, occlusion_drops=result.drops[0].cpu().numpy(),
                            occlusion_rows=np.asarray(result.rows), occlusion_cols=np.asarray(result.cols),
                            settings=json.dumps(settings), **maps)
        paths.append(npz)
        return paths

    def _export_job(self, _job: Job) -> None:
        paths = self.export(self.folder_text.value)
        self._set_status(f"exported {len(paths)} files to {Path(self.folder_text.value).resolve()}")
