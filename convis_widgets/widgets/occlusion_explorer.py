"""`OcclusionExplorer`: slide an occluding patch over an image and watch the class scores respond.

Beside the live readout: the full occlusion heatmap (computed in the background) and the
gradient maps that explain the same prediction (saliency, SmoothGrad, Grad-CAM, guided
backprop, deconvnet). Seeds 004 and 002.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from traitlets import Any as AnyTrait
from traitlets import Float, Int, Unicode, observe, validate

from ..compute.attribution import (
    OcclusionResult,
    check_window,
    class_scores,
    deconvnet,
    grad_cam,
    guided_backprop,
    make_baseline,
    occlusion_map,
    patch,
    resolve_targets,
    saliency,
    smoothgrad,
)
from ..compute.inputs import check_images
from ..compute.probe import layers, run_forward
from ..render import new_figure, save_png
from ..render.attribution import MapView, OcclusionView, heatmap_extent
from .base import ConvisWidget

VIEWS = [("saliency", "saliency"), ("SmoothGrad", "smoothgrad"), ("Grad-CAM", "grad_cam"),
         ("guided backprop", "guided_backprop"), ("deconvnet", "deconvnet")]
BASELINES = [("0", 0.0), ("0.5", 0.5), ("1", 1.0), ("data mean", "mean"), ("blur", "blur")]
PROGRESS_STEPS = 20  # the heatmap runs in about this many batches, so its progress bar moves


class OcclusionExplorer(ConvisWidget):
    """Occlusion you can slide, its full heatmap, and the gradient maps of the same image and target.

    Move the patch with the x/y sliders or by clicking/dragging on the image. The bar chart
    compares every class score of the original and the occluded image (pre-softmax unless
    ``probabilities``); the title gives the drop of the target's score. ``data`` (images or a
    data set) gives the "data mean" baseline; by default the given images' mean.
    """

    image_index = Int(0)
    target = AnyTrait("predicted")
    patch_size = Int(6)
    stride = Int(2)
    patch_x = Int(0)
    patch_y = Int(0)
    baseline = AnyTrait(0.0)
    opacity = Float(0.5)
    view = Unicode("saliency")
    layer = Unicode()
    samples = Int(20)
    noise = Float(0.15)

    def __init__(
        self,
        model: torch.nn.Module,
        images: torch.Tensor | np.ndarray,
        *,
        image_index: int = 0,
        target: int | str = "predicted",
        patch_size: int | None = None,
        stride: int | None = None,
        baseline: float | str = 0.0,
        data: Any = None,
        view: str = "saliency",
        layer: str | None = None,
        samples: int = 20,
        noise: float = 0.15,
        opacity: float = 0.5,
        probabilities: bool = False,
        figsize: tuple[float, float] = (7.5, 3.0),
    ) -> None:
        super().__init__()
        self.model = model
        self.images = check_images(images, model=model)
        self.data = data
        self.probabilities = probabilities
        self.height, self.width = (int(s) for s in self.images.shape[2:])
        self.spatial_layers = [i.name for i in layers(model, tuple(self.images.shape[1:])) if i.spatial]
        self._clean: dict[int, torch.Tensor] = {}
        self.num_classes = int(self._clean_scores(0).shape[0])
        self.readout: dict[str, Any] = {}
        self.heatmap: OcclusionResult | None = None
        self._heatmap_key: tuple | None = None
        self.maps: dict[str, np.ndarray] = {}
        self._map_key: tuple | None = None
        self.last_readout_seconds = 0.0

        side = min(self.height, self.width)
        size = patch_size if patch_size is not None else max(1, round(side / 5))
        n = len(self.images)
        self.image_slider = w.IntSlider(0, min=0, max=max(n - 1, 0), description="image",
                                        disabled=n == 1, continuous_update=False)
        self.target_dropdown = w.Dropdown(
            options=[("predicted", "predicted")] + [(str(k), k) for k in range(self.num_classes)],
            description="target", layout=w.Layout(width="14em"))
        self.size_slider = w.IntSlider(6, min=1, max=side, description="patch", continuous_update=False)
        self.stride_slider = w.IntSlider(2, min=1, max=side, description="stride", continuous_update=False)
        self.x_slider = w.IntSlider(0, min=0, max=self.width - 1, description="x")
        self.y_slider = w.IntSlider(0, min=0, max=self.height - 1, description="y")
        self.baseline_dropdown = w.Dropdown(options=BASELINES, description="baseline",
                                            layout=w.Layout(width="14em"))
        self.opacity_slider = w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="opacity")
        self.view_buttons = w.ToggleButtons(options=VIEWS, style={"button_width": "auto"})
        self.layer_dropdown = w.Dropdown(options=self.spatial_layers, description="layer",
                                         layout=w.Layout(width="16em"))
        self.samples_slider = w.IntSlider(20, min=1, max=100, description="samples",
                                          continuous_update=False)
        self.noise_slider = w.FloatSlider(0.15, min=0.0, max=0.5, step=0.01, description="noise",
                                          continuous_update=False)
        self.progress = w.FloatProgress(0.0, min=0.0, max=1.0, description="heatmap")
        self.readout_html = w.HTML()
        self.status = w.HTML()
        self.folder_text = w.Text("convis_exports", description="folder", layout=w.Layout(width="18em"))
        self.export_button = w.Button(description="export PNG + npz", icon="download")
        self.export_button.on_click(lambda _: self._submit(lambda job: self._export_job(job)))
        for control, css in (
            (self.image_slider, "image"), (self.target_dropdown, "target"), (self.size_slider, "patch-size"),
            (self.stride_slider, "stride"), (self.x_slider, "patch-x"), (self.y_slider, "patch-y"),
            (self.baseline_dropdown, "baseline"), (self.opacity_slider, "opacity"),
            (self.view_buttons, "view"), (self.layer_dropdown, "layer"), (self.samples_slider, "samples"),
            (self.noise_slider, "noise"), (self.progress, "progress"), (self.readout_html, "readout"),
            (self.status, "status"), (self.folder_text, "export-folder"), (self.export_button, "export"),
        ):
            control.add_class(f"convis-{css}")

        self.figure = self._new_figure(figsize)
        self.occlusion_view = OcclusionView(self.figure, self.num_classes)
        self.map_figure = self._new_figure((figsize[0] * 0.6, figsize[1]))
        self.map_view = MapView(self.map_figure)
        self.figure.canvas.mpl_connect("button_press_event", self._on_mouse)
        self.figure.canvas.mpl_connect("motion_notify_event", self._on_mouse)
        self.figure.canvas.mpl_connect("button_release_event", self._on_mouse)

        self.children = [
            w.HBox([self.image_slider, self.target_dropdown, self.baseline_dropdown]),
            w.HBox([self.size_slider, self.stride_slider, self.opacity_slider]),
            w.HBox([self.x_slider, self.y_slider, self.progress]),
            self.figure.canvas,
            self.readout_html,
            self.view_buttons,
            w.HBox([self.layer_dropdown, self.samples_slider, self.noise_slider]),
            self.map_figure.canvas,
            w.HBox([self.folder_text, self.export_button]),
            self.status,
            self.errors,
        ]
        self.add_class("convis-occlusion-explorer")

        with self.hold_trait_notifications():
            self.image_index = image_index
            self.target = target
            self.patch_size = size
            self.stride = stride if stride is not None else max(1, size // 3)
            self.baseline = baseline
            self.view = view
            self.layer = layer if layer is not None else self._default_layer()
            self.samples = samples
            self.noise = noise
            self.opacity = opacity
        self._fit_patch_sliders()
        for name, control in (
            ("image_index", self.image_slider), ("target", self.target_dropdown),
            ("patch_size", self.size_slider), ("stride", self.stride_slider), ("patch_x", self.x_slider),
            ("patch_y", self.y_slider), ("baseline", self.baseline_dropdown),
            ("opacity", self.opacity_slider), ("view", self.view_buttons), ("layer", self.layer_dropdown),
            ("samples", self.samples_slider), ("noise", self.noise_slider),
        ):
            w.link((self, name), (control, "value"))
        self.observe(self._on_patch_move, names=["patch_x", "patch_y"])
        self.observe(self._on_image, names=["image_index", "target"])
        self.observe(self._on_occlusion_settings, names=["patch_size", "stride", "baseline"])
        self.observe(self._on_map_settings, names=["view", "layer", "samples", "noise"])
        self._on_image()

    # ----- validation: clear errors, also shown in the widget's error area -----

    def _fail(self, exc: Exception) -> Exception:
        self._show_error(exc)
        return exc

    @validate("image_index")
    def _valid_image(self, proposal):
        index, n = proposal["value"], len(self.images)
        if not 0 <= index < n:
            raise self._fail(IndexError(f"image_index must be in 0..{n - 1} (there are {n} images); "
                                        f"got {index}"))
        return index

    @validate("target")
    def _valid_target(self, proposal):
        value = proposal["value"]
        if isinstance(value, (np.integer, torch.Tensor)):
            value = int(value)
        try:
            resolve_targets(value, self._clean_scores(0)[None])
        except ValueError as exc:
            raise self._fail(exc) from None
        return value

    @validate("patch_size")
    def _valid_patch_size(self, proposal):
        size = proposal["value"]
        try:
            check_window((self.height, self.width), (size, size), (1, 1))
        except ValueError as exc:
            raise self._fail(ValueError(f"patch_size: {exc}")) from None
        return size

    @validate("stride")
    def _valid_stride(self, proposal):
        stride = proposal["value"]
        try:
            check_window((self.height, self.width), (self.patch_size,) * 2, (stride, stride))
        except ValueError as exc:
            raise self._fail(ValueError(f"stride: {exc}")) from None
        return stride

    @validate("patch_x", "patch_y")
    def _valid_position(self, proposal):
        name, value = proposal["trait"].name, proposal["value"]
        limit = (self.width if name == "patch_x" else self.height) - self.patch_size
        if not 0 <= value <= limit:
            raise self._fail(ValueError(f"{name} must be in 0..{limit} so that the {self.patch_size}-px "
                                        f"patch stays on the image; got {value}"))
        return value

    @validate("baseline")
    def _valid_baseline(self, proposal):
        try:
            make_baseline(self.images[:1], proposal["value"], data=self.data)
        except ValueError as exc:
            raise self._fail(exc) from None
        return proposal["value"]

    @validate("view")
    def _valid_view(self, proposal):
        valid = [v for _, v in VIEWS]
        if proposal["value"] not in valid:
            raise self._fail(ValueError(f"view must be one of {valid}; got {proposal['value']!r}"))
        return proposal["value"]

    @validate("layer")
    def _valid_layer(self, proposal):
        if proposal["value"] not in self.spatial_layers:
            raise self._fail(ValueError(f"Grad-CAM needs a spatial layer; got {proposal['value']!r}, "
                                        f"spatial layers: {self.spatial_layers}"))
        return proposal["value"]

    # ----- what the settings mean -----

    def _default_layer(self) -> str:
        """The last conv-like spatial layer (Grad-CAM's usual choice), else the last spatial one."""
        modules = dict(self.model.named_modules())
        convs = [n for n in self.spatial_layers if "conv" in type(modules[n]).__name__.lower()]
        return (convs or self.spatial_layers)[-1]

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
        return (self.patch_size, self.patch_size)

    def _baseline_image(self) -> torch.Tensor:
        ref = self.data if self.data is not None else self.images
        if self.baseline == "mean":
            return make_baseline(self.images[self.image_index:self.image_index + 1], "mean", data=ref)[0]
        return make_baseline(self.images[self.image_index:self.image_index + 1], self.baseline)[0]

    # ----- live readout: one forward of one image on a private view, done in the observer -----

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
        title = f"class {target} {kind}: {original[target]:.3g} → {now[target]:.3g} (drop {drop:.3g})"
        with self.draw_lock:
            self.occlusion_view.set_patch(self.patch_y, self.patch_x, self.window)
            self.occlusion_view.set_scores(original, now, target, title)
            self._highlight_cell()
            self.figure.canvas.draw_idle()
        self.readout_html.value = (
            f"patch at (y={self.patch_y}, x={self.patch_x}), {self.patch_size}×{self.patch_size} px: "
            f"target <b>{target}</b> {kind} {original[target]:.4g} → <b>{now[target]:.4g}</b>, "
            f"drop <b>{drop:.4g}</b>")
        self.last_readout_seconds = time.perf_counter() - start

    def _highlight_cell(self) -> None:
        result = self.heatmap
        if result is None or self._heatmap_key != self._occlusion_key():
            self.occlusion_view.set_cell(None, (1, 1))
            return
        i, j = result.cell(self.patch_y, self.patch_x)
        centre = (result.rows[i] + self.patch_size / 2 - 0.5, result.cols[j] + self.patch_size / 2 - 0.5)
        self.occlusion_view.set_cell(centre, result.stride)

    def _on_patch_move(self, change=None) -> None:
        self._readout()

    def _on_mouse(self, event) -> None:
        """A click, a drag with a button held, and the release centre the patch on the pixel under the
        pointer (the release too, as the browser may drop the last motion events of a fast drag)."""
        if event.inaxes is not self.occlusion_view.ax_image or event.xdata is None:
            return
        if event.name == "motion_notify_event" and not event.button:
            return
        half = (self.patch_size - 1) // 2  # the pixel under the pointer, and its offset in the patch
        x = int(np.floor(event.xdata + 0.5)) - half
        y = int(np.floor(event.ydata + 0.5)) - half
        with self.hold_trait_notifications():
            self.patch_x = min(max(x, 0), self.width - self.patch_size)
            self.patch_y = min(max(y, 0), self.height - self.patch_size)

    # ----- background work: the full heatmap and the gradient map -----

    def _occlusion_key(self) -> tuple:
        return (self.image_index, self.target_class, self.patch_size, self.stride, str(self.baseline))

    def _map_settings(self) -> tuple:
        layer = self.layer if self.view == "grad_cam" else None
        noise = (self.samples, self.noise) if self.view == "smoothgrad" else None
        return (self.image_index, self.target_class, self.view, layer, noise)

    def _on_image(self, change=None) -> None:
        with self.draw_lock:
            self.occlusion_view.set_image(self.images[self.image_index].cpu().numpy())
        self._readout()
        self._start_jobs()

    def _on_occlusion_settings(self, change=None) -> None:
        if change is not None and change["name"] == "patch_size":
            if self.stride > self.patch_size:
                self.stride = self.patch_size  # observed: comes back here
            self._fit_patch_sliders()
        with self.draw_lock:
            self.occlusion_view.clear_heatmap()
        self._readout()
        self._start_jobs()

    def _on_map_settings(self, change=None) -> None:
        self._start_jobs()

    @observe("opacity")
    def _on_opacity(self, change) -> None:
        with self.draw_lock:
            self.occlusion_view.set_opacity(change["new"])
            self.figure.canvas.draw_idle()

    def _start_jobs(self) -> None:
        """Submit one job that brings the gradient map, then the heatmap, up to date."""
        map_key, occ_key = self._map_settings(), self._occlusion_key()
        settings = dict(index=self.image_index, target=self.target_class, view=self.view, layer=self.layer,
                        samples=self.samples, noise=self.noise, size=self.patch_size, stride=self.stride,
                        baseline=self._baseline_image())
        self.progress.value = 1.0 if self._heatmap_key == occ_key else 0.0
        self._submit(lambda job: self._background(job, map_key, occ_key, settings))

    def _background(self, job, map_key: tuple, occ_key: tuple, s: dict) -> None:
        if self._map_key != map_key:
            heat = self.compute_map(s["view"], s["index"], s["target"], layer=s["layer"],
                                    samples=s["samples"], noise=s["noise"])
            job.check()
            with self.draw_lock:
                title = f"{dict((v, k) for k, v in VIEWS)[s['view']]}, class {s['target']}"
                image = self.images[s["index"]].cpu().numpy()
                self.maps[s["view"]] = self.map_view.update(image, heat, title)
                self.map_figure.canvas.draw_idle()
                self._map_key = map_key
        if self._heatmap_key == occ_key:
            return
        positions = (math.ceil((self.height - s["size"]) / s["stride"]) + 1) * (
            math.ceil((self.width - s["size"]) / s["stride"]) + 1)

        def progress(done: int, total: int) -> None:
            job.check()
            self.progress.value = done / total

        result = occlusion_map(self.model, self.images[s["index"]:s["index"] + 1], s["target"],
                               (s["size"], s["size"]), (s["stride"], s["stride"]), s["baseline"],
                               probabilities=self.probabilities, progress=progress,
                               batch_size=max(16, math.ceil(positions / PROGRESS_STEPS)))
        job.check()
        with self.draw_lock:
            self.heatmap, self._heatmap_key = result, occ_key
            self.occlusion_view.set_heatmap(result.drops[0].cpu().numpy(),
                                            heatmap_extent(result.rows, result.cols, result.window,
                                                           result.stride))
            self._highlight_cell()
            self.figure.canvas.draw_idle()
        self.status.value = (f"heatmap: {len(result.rows)}×{len(result.cols)} patch positions, "
                             f"{result.path} path; largest drop {float(result.drops.max()):.4g}")

    def compute_map(self, view: str, index: int, target: int, *, layer: str | None = None,
                    samples: int = 20, noise: float = 0.15) -> np.ndarray:
        """One gradient map (C, H, W) of image ``index`` for class ``target``."""
        x = self.images[index:index + 1]
        p = self.probabilities
        if view == "saliency":
            out = saliency(self.model, x, target, probabilities=p)
        elif view == "smoothgrad":
            out = smoothgrad(self.model, x, target, samples=samples, noise=noise, probabilities=p)
        elif view == "grad_cam":
            out = grad_cam(self.model, x, target, layer or self.layer, probabilities=p)
        elif view == "guided_backprop":
            out = guided_backprop(self.model, x, target, probabilities=p)
        elif view == "deconvnet":
            out = deconvnet(self.model, x, target, probabilities=p)
        else:
            raise ValueError(f"view must be one of {[v for _, v in VIEWS]}; got {view!r}")
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
            result = occlusion_map(self.model, self.images[index:index + 1], target, self.window,
                                   (self.stride, self.stride), self._baseline_image(),
                                   probabilities=self.probabilities)
        maps = {"occlusion": result.attribution[0].cpu().numpy()}
        for _, view in VIEWS:
            maps[view] = self.compute_map(view, index, target, samples=self.samples, noise=self.noise)
        stem = f"image{index}_class{target}"
        paths = []
        for name, attribution in maps.items():
            fig = new_figure((5.0, 2.6))
            MapView(fig).update(image, attribution, f"{name}, class {target}")
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

    def _export_job(self, job) -> None:
        paths = self.export(self.folder_text.value)
        self.status.value = f"exported {len(paths)} files to {Path(self.folder_text.value).resolve()}"
