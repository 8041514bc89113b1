"""`FeatureVisualizer`: watch gradient ascent grow the pattern that drives a map, a unit or a class, live.

The widget states its controls, its layout and its settings here; what it optimises lives in
`optvis_target`, the single run in `optvis_single`, the gallery in `optvis_gallery`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from traitlets import Bool, Bunch, Unicode, observe, validate

from ..compute import optvis
from ..compute.access import input_shape as input_shape_of
from ..compute.errors import NotSpatialError
from ..compute.probe import LayerInfo
from ..data import builtin_for
from ..render.optvis import GalleryView, OptvisView
from .optvis_gallery import GalleryRun
from .optvis_single import SingleRun
from .optvis_target import OBJECTIVES
from .setting_controls import MIRRORED, SettingTraits, checked_settings, setting_control, slider_args


class FeatureVisualizer(SingleRun, GalleryRun, SettingTraits):
    """Pick a layer and a map (or a unit, a class, a pair of maps), tune the regularisers, press Start.

    The picture, the objective's curve and snapshots at log-spaced steps (the "OIP" loop of
    Mönchmeyer's "A simple CNN for the MNIST dataset" series) update while the kernel stays free:
    Stop and the regulariser sliders act within one step. Gallery mode optimises a range of maps
    of a layer as batches and fills a grid. Keyword arguments are the traits: the target
    (``layer``, ``objective``, ``index``, ``second``, ``weight``), ``layers`` (the picker lists
    "blocks" or "all" modules), ``mode``, ``gallery_range``, ``contrast``, ``report``, ``n_reports``
    and every optimisation setting (``steps``, ``lr``, ...). ``input_shape`` defaults to that of
    ``data``'s images, else the model's own.
    """

    mode = Unicode("single")
    contrast = Bool(True)

    def __init__(
        self,
        model: torch.nn.Module,
        input_shape: Sequence[int] | None = None,
        *,
        data: Any = None,
        settings: optvis.Settings | None = None,
        figsize: tuple[float, float] = (8.0, 5.2),
        **choices: Any,
    ) -> None:
        super().__init__(**choices)
        given = settings.replace() if settings is not None else optvis.Settings()
        # every setting checked together, before any figure exists
        self.settings = checked_settings(given, {n: v for n, v in choices.items() if n in MIRRORED})
        self.model = model
        self.input_shape = tuple(input_shape_of(model, input_shape, spatial=True, images=data))
        infos = self._find_layers(model, self.input_shape)
        self.layer_infos: list[LayerInfo] = [i for i in infos if len(i.output_shape) in (1, 3)]
        if not any(i.spatial for i in self.layer_infos):
            raise NotSpatialError("the model has no layer with a spatial (N, C, H, W) output to visualise")
        self.n_classes = int(np.prod(infos[-1].output_shape)) if infos else 0
        self.data = data if data is not None else builtin_for(self.input_shape)
        self._reset_single()
        self.gallery: optvis.Gallery | None = None
        self.dataset_best: float | None = None
        self._best_cache: dict[tuple[str, int], float] = {}

        self._build_controls()
        self.figure = self._new_figure(figsize)
        self.view = OptvisView(self.figure)
        self.view.clear()
        self.gallery_figure = self._new_figure((figsize[0], figsize[0] * 0.62))
        self.gallery_view = GalleryView(self.gallery_figure)
        self.gallery_box = w.VBox([self.gallery_figure.canvas])
        self.single_box = w.VBox([self.figure.canvas])
        self.children = [self.top_row, self.target_row, self.accordion, self.button_row,
                         self.single_box, self.gallery_box, self.status, self.errors]
        self.add_class("convis-feature-visualizer")

        for name in MIRRORED:
            value = getattr(self.settings, name)
            if name != "init" or isinstance(value, str):  # an image start stays in settings only
                self.set_trait(name, value)
        self.set_trait("layers", self._first_view(choices.pop("layers", None)))  # validated as a trait
        self.objective = str(choices.pop("objective", "channel"))
        layer = choices.pop("layer", None)
        self.layer = self._layer_name(layer if layer is not None else self._default_layer())
        self.index = choices.pop("index", 0)
        self.second = min(1, self._target_count() - 1)
        self.gallery_range = (0, self._info().output_shape[0] - 1)  # the gallery covers maps, not classes
        self._set_choices(choices)
        self._fit_controls()
        self._link_controls()
        self._show_mode()
        self._set_status("ready: choose a target and press <b>Start</b>")

    # ----- construction -------------------------------------------------------------------------

    def _build_controls(self) -> None:
        """Every control, made and tagged once; `_link_controls` links each to its trait."""
        c = self._control
        self.layer_dropdown = c("layer", w.Dropdown(description="layer", layout=w.Layout(width="24em")))
        self.layers_toggle = self._layers_toggle()
        self.objective_dropdown = c("objective", w.Dropdown(options=OBJECTIVES, description="objective",
                                                            layout=w.Layout(width="22em")))
        self.mode_buttons = c("mode", w.ToggleButtons(options=[("one target", "single"),
                                                               ("layer gallery", "gallery")],
                                                      style={"button_width": "auto"}))
        self.top_row = w.HBox([self.layer_dropdown, self.layers_toggle, self.objective_dropdown,
                               self.mode_buttons])

        slider = dict(continuous_update=False)
        self.index_slider = c("index", w.IntSlider(0, min=0, max=0, description="map", **slider))
        self.second_slider = c("second", w.IntSlider(0, min=0, max=0, description="second map", **slider))
        self.weight_slider = c("weight", w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="weight",
                                                       **slider))
        self.range_slider = c("gallery_range", w.IntRangeSlider(value=(0, 0), min=0, max=0,
                                                                description="maps", **slider))
        self.contrast_box = c("contrast", w.Checkbox(description="contrast", indent=False,
                                                     layout=w.Layout(width="7em")))
        self.target_row = w.HBox([self.index_slider, self.second_slider, self.weight_slider,
                                  self.range_slider, self.contrast_box])

        self.setting_controls: dict[str, w.Widget] = {
            row.name: c(row.name, setting_control(row)) for row in optvis.TABLE
            if row.name in MIRRORED and row.control
        }
        self.report_text = c("report", w.BoundedIntText(
            min=0, max=100_000, description="snapshot every", **slider_args(),
            tooltip="0: snapshots at log-spaced steps (as in Mönchmeyer's OIP loop); "
                    "k: a snapshot every k steps"))
        self.n_reports_text = c("n_reports", w.BoundedIntText(min=1, max=8, description="snapshots (log)",
                                                              tooltip="how many log-spaced snapshots",
                                                              **slider_args()))
        optimisation, regularisers = (
            w.VBox([self.controls[row.name] for row in optvis.TABLE
                    if row.group == group and row.name in self.controls])
            for group in ("optimisation", "regularisers")
        )
        self.accordion = w.Accordion(children=[optimisation, regularisers])
        self.accordion.set_title(0, "optimisation")
        self.accordion.set_title(1, "regularisers and transforms (change them while it runs)")

        self._start_stop_buttons()
        self.reset_button = self._button("Reset", "reset", self.reset, icon="undo")
        self.export_folder = w.Text("convis_optvis", description="export to", layout=w.Layout(width="20em"))
        self.export_button = self._button("Export", "export", self._export_to_folder, icon="download")
        self.button_row = w.HBox([self.start_button, self.stop_button, self.reset_button,
                                  self.export_folder, self.export_button])

    # ----- validation and reactions (cheap: they never run the model) ---------------------------

    @validate(*MIRRORED)
    def _valid_setting(self, proposal: Bunch) -> Any:
        name, value = proposal["trait"].name, proposal["value"]
        checked_settings(self.settings, {name: value})
        return value

    @validate("mode")
    def _valid_mode(self, proposal: Bunch) -> Any:
        if proposal["value"] not in ("single", "gallery"):
            raise ValueError(f"mode must be 'single' or 'gallery'; got {proposal['value']!r}")
        return proposal["value"]

    @observe(*MIRRORED)
    def _on_setting(self, change: Bunch) -> None:
        setattr(self.settings, change["name"], change["new"])
        if optvis.settings.ROWS[change["name"]].live and self.live is not None:
            setattr(self.live, change["name"], change["new"])  # read by the loop at its next step

    @observe("objective")
    def _on_objective(self, _change: Bunch) -> None:
        if self.layer and self.layer not in [i.name for i in self._candidates()]:
            self.layer = self._default_layer()
        self._fit_controls()

    @observe("layer")
    def _on_layer(self, _change: Bunch) -> None:
        self._fit_controls()

    @observe("mode")
    def _on_mode(self, change: Bunch) -> None:
        self._show_mode()
        if not self.running:  # the other mode's status would describe a picture no longer shown
            what = "a range of maps" if change["new"] == "gallery" else "a target"
            self._set_status(f"ready: choose {what} and press <b>Start</b>")

    def _fit_controls(self) -> None:
        """Fit the layer list, slider ranges and visible controls to the objective and layer."""
        if not hasattr(self, "layer_dropdown") or not self.layer:
            return
        self._fit_layer_picker()
        n = self._target_count()
        maps = self._info().output_shape[0]
        with self.hold_trait_notifications():
            self.index = min(self.index, n - 1)
            self.second = min(self.second, n - 1)
            lo, hi = self.gallery_range
            self.gallery_range = (min(lo, maps - 1), min(hi, maps - 1)) if hi >= lo else (0, maps - 1)
        self.index_slider.max = n - 1
        self.second_slider.max = n - 1
        self.range_slider.max = maps - 1
        self.index_slider.description = {"class": "class", "neuron": "unit's map"}.get(self.objective, "map")
        self.layer_dropdown.disabled = self.objective == "class"
        self._show_mode()

    def _show_mode(self) -> None:
        if not hasattr(self, "single_box"):
            return
        gallery = self.mode == "gallery"
        joint = self.objective == "joint" and not gallery
        for widget, visible in ((self.single_box, not gallery), (self.gallery_box, gallery),
                                (self.index_slider, not gallery and self.objective != "layer"),
                                (self.second_slider, joint), (self.weight_slider, joint),
                                (self.range_slider, gallery)):
            widget.layout.display = None if visible else "none"
        self.objective_dropdown.disabled = gallery

    # ----- Start, Reset -------------------------------------------------------------------------

    def start(self) -> None:
        """Start optimising with the current choices (stops a run in progress first)."""
        if self.mode == "gallery":
            self._start_gallery()
        else:
            self._start_single()

    def reset(self) -> None:
        """Stop, clear the picture, curve and strip, and show the initial image of the current settings."""
        self.runner.cancel()
        self.gallery = None
        self._reset_single()
        start = optvis.initial_image(self.init, self.input_shape, seed=self.seed, data=self.data)
        with self._drawing(self.figure):
            self.view.clear()
            self.view.update(start[0].cpu().numpy(), [], [], title="initial image", contrast=self.contrast)
        self._set_status("reset: the initial image of the current settings")

    # ----- the settings of a run, export and import ---------------------------------------------

    def run_settings(self) -> dict[str, Any]:
        """Everything needed to reproduce the current run, as JSON-able values."""
        return {
            "model": type(self.model).__name__,
            "input_shape": list(self.input_shape),
            "mode": self.mode,
            "objective": {"kind": self.objective, "layer": self.layer, "index": self.index,
                          "second": self.second, "weight": self.weight,
                          "description": self.make_objective().description},
            "gallery_range": list(self.gallery_range),
            "report": self.report,
            "n_reports": self.n_reports,
            "contrast": self.contrast,
            "settings": self.settings.to_dict(),
        }

    def load_settings(self, source: str | Path | dict) -> None:
        """Set every choice from a settings JSON written by `export` (a path or the parsed dict)."""
        spec = json.loads(Path(source).read_text()) if isinstance(source, (str, Path)) else source
        target = spec["objective"]
        settings = optvis.Settings.from_dict(spec["settings"])
        with self.hold_trait_notifications():
            self.mode = spec.get("mode", "single")
            self.objective = target["kind"]
            self.layer = target["layer"]
            for name, value in settings.to_dict().items():
                if name in MIRRORED:
                    setattr(self, name, value)
            self.settings = settings
        self._fit_controls()
        self.index, self.second, self.weight = target["index"], target["second"], target["weight"]
        self.gallery_range = tuple(spec.get("gallery_range", self.gallery_range))
        self.report, self.n_reports = spec.get("report", 0), spec.get("n_reports", 6)
        self.contrast = spec.get("contrast", True)

    def export(self, folder: str | Path) -> list[Path]:
        """Write the picture and snapshot strip (PNG), the evolution (GIF) and the settings (JSON);
        in gallery mode the grid (PNG) and its pictures (npz)."""
        folder = Path(folder)
        written = self._export_gallery(folder) if self.mode == "gallery" else self._export_single(folder)
        path = folder / "settings.json"
        path.write_text(json.dumps(self.run_settings(), indent=2))
        return [*written, path]

    def _export_to_folder(self) -> None:
        written = self.export(self.export_folder.value)
        self._set_status("exported " + ", ".join(p.name for p in written) + f" to {written[0].parent}")

    def _export_clicked(self) -> None:
        """What the Export button does: export to the folder beside it, an error shown in the widget."""
        self._on_button(self._export_to_folder)()
