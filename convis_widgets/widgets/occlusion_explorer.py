"""`OcclusionExplorer`: slide an occluding patch over an image and watch the class scores respond.

Beside the live readout: the full occlusion heatmap (computed in the background) and the
gradient maps that explain the same prediction (saliency, SmoothGrad, Grad-CAM, guided
backprop, deconvnet), from sargupta's "DL05: Convolutional Neural Networks" and the lecture
notes "Visualizing and understanding CNNs".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from traitlets import Bunch, link, observe, validate

from ..compute.attribution import (
    GRADIENT_METHODS,
    METHODS,
    OcclusionResult,
    check_window,
    make_baseline,
    resolve_targets,
)
from ..compute.inputs import ImageData, check_images
from ..compute.probe import default_layer
from ..render.attribution import MapView, OcclusionView
from .base import LayerRule, one_of
from .layer_picker import LayerPicker
from .occlusion_maps import class_names
from .occlusion_patch import PatchReadout

VIEWS = [(METHODS[name].title, name) for name in GRADIENT_METHODS]  # (label, method) of each gradient map
BASELINES = [("0", 0.0), ("0.5", 0.5), ("1", 1.0), ("data mean", "mean"), ("blur", "blur")]


class OcclusionExplorer(PatchReadout, LayerPicker):
    """Occlusion you can slide, its full heatmap, and the gradient maps of the same image and target.

    Move the patch with the x/y sliders or by clicking/dragging on the image. The bar chart
    compares every class score of the original and the occluded image (pre-softmax unless
    ``probabilities``); the title gives the drop of the target's score. ``data`` (images or a
    data set) gives the "data mean" baseline; by default the given images' mean. ``classes``: a
    name per class the model scores, shown beside its number (default: ``data.classes``). Keyword
    arguments are the traits: ``image_index``, ``target``, ``patch_size`` (default a fifth of the
    image), ``stride`` (default a third of the patch), ``patch_x``, ``patch_y``, ``baseline``,
    ``opacity``, ``method`` (the gradient map; ``view`` is its old name), ``layer`` (Grad-CAM's;
    default the last spatial block output, `probe.default_layer`), ``layers`` (its picker lists
    "blocks" or "all" modules), ``samples`` and ``noise`` (SmoothGrad's).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        images: torch.Tensor | np.ndarray,
        *,
        data: ImageData | None = None,
        classes: Sequence[str] | None = None,
        probabilities: bool = False,
        figsize: tuple[float, float] = (7.5, 3.0),
        **choices: Any,
    ) -> None:
        super().__init__(**choices)
        self.model = model
        self.images = check_images(images, model=model)
        self.data = data
        self.probabilities = probabilities
        self.height, self.width = (int(s) for s in self.images.shape[2:])
        self.layer_infos = [i for i in self._find_layers(model, tuple(self.images.shape[1:])) if i.spatial]
        self.spatial_layers = [i.name for i in self.layer_infos]
        self._clean: dict[int, torch.Tensor] = {}
        self.num_classes = int(self._clean_scores(0).shape[0])
        self.class_names = class_names(classes, data, self.num_classes)
        self.readout: dict[str, Any] = {}
        self.heatmap: OcclusionResult | None = None
        self._heatmap_key: tuple | None = None
        self.maps: dict[str, np.ndarray] = {}
        self._map_key: tuple | None = None
        self.last_readout_seconds = 0.0
        self._method_alias = link((self, "method"), (self, "view"))

        self._build_controls()
        self.figure = self._new_figure(figsize)
        self.occlusion_view = OcclusionView(self.figure, self.num_classes, self.class_names)
        self.map_figure = self._new_figure((figsize[0] * 0.6, figsize[1]))
        self.map_view = MapView(self.map_figure)
        on_mouse = self._guarded(self._on_mouse, reraise=False)
        for event in ("button_press_event", "motion_notify_event", "button_release_event"):
            self.figure.canvas.mpl_connect(event, on_mouse)
        self.children = [
            w.HBox([self.image_slider, self.target_dropdown, self.baseline_dropdown]),
            w.HBox([self.size_slider, self.stride_slider, self.opacity_slider]),
            w.HBox([self.x_slider, self.y_slider]),
            w.HBox([self.progress, self.progress_text, self.stop_button]),
            self.figure.canvas,
            self.readout_html,
            self.view_buttons,
            self.method_html,
            w.HBox([self.layer_dropdown, self.layers_toggle, self.samples_slider, self.noise_slider]),
            self.map_figure.canvas,
            w.HBox([self.folder_text, self.export_button]),
            self.status,
            self.errors,
        ]

        size = choices.pop("patch_size", max(1, round(min(self.height, self.width) / 5)))
        self._set_choices({"layers": self._first_view(choices.pop("layers", None))})
        layer = choices.pop("layer", None)
        self._set_choices({"patch_size": size, "stride": max(1, size // 3),
                           "layer": self._layer_name(layer if layer is not None else self._default_layer()),
                           **choices})
        self._fit_patch_sliders()
        self._fit_layer_picker()
        self._link_controls()
        self._observe(self._on_patch_move, names=["patch_x", "patch_y"])
        self._observe(self._on_image, names=["image_index", "target"])
        self._observe(self._on_occlusion_settings, names=["patch_size", "stride", "baseline"])
        self._observe(self._on_map_settings, names=["method", "layer", "samples", "noise"])
        self._fit_method_controls()
        self._on_image()

    def _build_controls(self) -> None:
        """Every control, made and tagged once; `_link_controls` links each to its trait."""
        c, side = self._control, min(self.height, self.width)
        slider = dict(continuous_update=False)
        self.image_slider = self._image_slider()
        self.target_dropdown = c("target", w.Dropdown(
            options=[("predicted", "predicted")] + [(self._class_text(k, "{k} ({name})", "{k}"), k)
                                                    for k in range(self.num_classes)],
            description="target", layout=w.Layout(width="14em")))
        self.size_slider = c("patch_size", w.IntSlider(6, min=1, max=side, description="patch", **slider))
        self.stride_slider = c("stride", w.IntSlider(2, min=1, max=side, description="stride", **slider))
        self.x_slider = c("patch_x", w.IntSlider(0, min=0, max=self.width - 1, description="x"))
        self.y_slider = c("patch_y", w.IntSlider(0, min=0, max=self.height - 1, description="y"))
        self.baseline_dropdown = c("baseline", w.Dropdown(options=BASELINES, description="baseline",
                                                          layout=w.Layout(width="14em")))
        self.opacity_slider = c("opacity", w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05,
                                                         description="opacity"))
        self.view_buttons = c("method", w.ToggleButtons(options=VIEWS, style={"button_width": "auto"}),
                              "view")
        self.layer_dropdown = c("layer", w.Dropdown(description="layer", layout=w.Layout(width="22em")))
        self.layers_toggle = self._layers_toggle()
        self.samples_slider = c("samples", w.IntSlider(20, min=1, max=100, description="samples", **slider))
        self.noise_slider = c("noise", w.FloatSlider(0.15, min=0.0, max=0.5, step=0.01, description="noise",
                                                     **slider))
        self.progress = self._tag(w.FloatProgress(0.0, min=0.0, max=1.0, description="heatmap"), "progress")
        self.progress_text = self._tag(w.HTML(), "progress-text")
        self.stop_button = self._button("Stop", "stop", self.stop, button_style="warning", icon="stop",
                                        disabled=True, tooltip="stop the heatmap; the part reached stays")
        self.readout_html = self._tag(w.HTML(), "readout")
        self.method_html = self._tag(w.HTML(), "method-note")
        self.folder_text = self._tag(w.Text("convis_exports", description="folder",
                                            layout=w.Layout(width="18em")), "export-folder")
        self.export_button = self._button("export PNG + npz", "export",
                                          lambda: self._submit(self._export_job), icon="download")

    # ----- validation: clear errors, also shown in the widget's error area -----

    def _layer_rule(self) -> LayerRule:
        return LayerRule(self.spatial_layers, "Grad-CAM needs a spatial layer")

    @validate("target")
    def _valid_target(self, proposal: Bunch) -> Any:
        value = proposal["value"]
        if isinstance(value, (np.integer, torch.Tensor)):
            value = int(value)
        resolve_targets(value, self._clean_scores(0)[None])
        return value

    @validate("patch_size", "stride")
    def _valid_window(self, proposal: Bunch) -> Any:
        name, value = proposal["trait"].name, proposal["value"]
        window, stride = (value, 1) if name == "patch_size" else (self.patch_size, value)
        try:
            check_window((self.height, self.width), (window, window), (stride, stride))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        return value

    @validate("patch_x", "patch_y")
    def _valid_position(self, proposal: Bunch) -> Any:
        name, value = proposal["trait"].name, proposal["value"]
        limit = (self.width if name == "patch_x" else self.height) - self.patch_size
        if not 0 <= value <= limit:
            raise ValueError(f"{name} must be in 0..{limit} so that the {self.patch_size}-px "
                             f"patch stays on the image; got {value}")
        return value

    @validate("baseline")
    def _valid_baseline(self, proposal: Bunch) -> Any:
        make_baseline(self.images[:1], proposal["value"], data=self.data)
        return proposal["value"]

    @validate("method", "view")
    def _valid_method(self, proposal: Bunch) -> Any:
        return one_of(proposal, GRADIENT_METHODS)

    # ----- what the settings mean -----

    def _default_layer(self) -> str:
        """The last spatial block output (a ResNet's last stage, not its last 1x1 shortcut conv), else
        the last spatial layer listed."""
        layer = default_layer(self.model, tuple(self.images.shape[1:]))
        return layer if layer in self.spatial_layers else self._listed()[-1].name

    # ----- reactions: the readout at once, the maps as a job (`AttributionMaps`) -----

    def _on_image(self, _change: Bunch | None = None) -> None:
        self._cancel_current()  # the old maps stop now, not after the readout's forward
        with self.draw_lock:
            self.occlusion_view.set_image(self.images[self.image_index].cpu().numpy())
        self._readout()
        self._start_jobs()

    def _on_occlusion_settings(self, change: Bunch | None = None) -> None:
        self._cancel_current()  # the old heatmap stops now, not after the readout's forward
        if change is not None and change["name"] == "patch_size":
            self.stride = min(self.stride, self.patch_size)  # observed: comes back here
            self._fit_patch_sliders()
        with self.draw_lock:
            self.occlusion_view.clear_heatmap()
        self._readout()
        self._start_jobs()

    def _on_map_settings(self, _change: Bunch | None = None) -> None:
        self._start_jobs()

    @observe("method")
    def _fit_method_controls(self, _change: Bunch | None = None) -> None:
        """Show only the controls the chosen method reads (compute's `METHODS` table says which)."""
        method = METHODS[self.method]
        for controls, acts in (((self.layer_dropdown, self.layers_toggle), method.takes_layer),
                               ((self.samples_slider, self.noise_slider), method.takes_samples)):
            for control in controls:
                control.layout.display = None if acts else "none"
        self.method_html.value = f"<b>{method.title}</b>: {method.description}; colour: {method.units}"

    @observe("opacity")
    def _on_opacity(self, change: Bunch) -> None:
        with self._drawing(self.figure):
            self.occlusion_view.set_opacity(change["new"])
