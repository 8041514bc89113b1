"""The patch of an `OcclusionExplorer`: its sliders' bounds, the mouse that moves it, and the live
read-out of every class score with the patch in place (one forward of one image, on a private view,
cheap enough for an observer)."""

from __future__ import annotations

import html
import time

import ipywidgets as w
import numpy as np
import torch
from matplotlib.backend_bases import MouseEvent
from traitlets import Bunch

from ..compute.attribution import class_scores, patch
from ..compute.probe import run_forward
from .occlusion_maps import AttributionMaps


class PatchReadout(AttributionMaps):
    """The patch and its read-out; the explorer supplies what is declared here without a value."""

    x_slider: w.IntSlider
    y_slider: w.IntSlider
    stride_slider: w.IntSlider
    readout_html: w.HTML
    readout: dict
    last_readout_seconds: float

    def _fit_patch_sliders(self) -> None:
        with self.hold_trait_notifications():
            self.patch_x = min(self.patch_x, self.width - self.patch_size)
            self.patch_y = min(self.patch_y, self.height - self.patch_size)
        with self.x_slider.hold_sync(), self.y_slider.hold_sync(), self.stride_slider.hold_sync():
            self.x_slider.max = self.width - self.patch_size
            self.y_slider.max = self.height - self.patch_size
            self.stride_slider.max = self.patch_size

    def _readout(self) -> None:
        """Score every class with the patch in place and redraw the bars and the patch."""
        start = time.perf_counter()
        index, target = self.image_index, self.target_class
        image = self.images[index]
        top = torch.tensor([self.patch_y], device=image.device)
        left = torch.tensor([self.patch_x], device=image.device)
        occluded = patch(image, self._baseline_image(), top, left, self.window)
        with torch.no_grad():  # a private view per readout: safe beside the heatmap job's own view
            scores = class_scores(run_forward(self.model, occluded), probabilities=self.probabilities)[0]
        original = self._clean_scores(index).cpu().numpy()
        now = scores.detach().cpu().numpy()
        drop = float(original[target] - now[target])
        self.readout = {"original": original, "occluded": now, "target": target, "drop": drop,
                        "patch": (self.patch_y, self.patch_x, self.patch_size)}
        kind = "probability" if self.probabilities else "score"
        title = (f"{self._class_text(target, '{name}')} {kind}: {original[target]:.3g} → {now[target]:.3g} "
                 f"(drop {drop:.3g})")
        with self._drawing(self.figure):
            self.occlusion_view.set_patch(self.patch_y, self.patch_x, self.window)
            self.occlusion_view.set_scores(original, now, target, title)
            self._highlight_cell()
        self.readout_html.value = (
            f"patch at (y={self.patch_y}, x={self.patch_x}), {self.patch_size}×{self.patch_size} px: "
            f"target <b>{html.escape(self._class_text(target, '{k} ({name})', '{k}'))}</b> {kind} "
            f"{original[target]:.4g} → <b>{now[target]:.4g}</b>, "
            f"drop <b>{drop:.4g}</b>")
        self.last_readout_seconds = time.perf_counter() - start

    def _on_patch_move(self, _change: Bunch | None = None) -> None:
        self._readout()

    def _on_mouse(self, event: MouseEvent) -> None:
        """A click, a drag with a button held, and the release centre the patch on the pixel under the
        pointer (the release too, as the browser may drop the last motion events of a fast drag)."""
        if event.inaxes is not self.occlusion_view.ax_image or event.xdata is None or event.ydata is None:
            return
        if event.name == "motion_notify_event" and not event.button:
            return
        half = (self.patch_size - 1) // 2  # the pixel under the pointer, and its offset in the patch
        x = int(np.floor(event.xdata + 0.5)) - half
        y = int(np.floor(event.ydata + 0.5)) - half
        with self.hold_trait_notifications():
            self.patch_x = min(max(x, 0), self.width - self.patch_size)
            self.patch_y = min(max(y, 0), self.height - self.patch_size)
