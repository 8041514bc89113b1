"""`FeatureVisualizer`: watch gradient ascent grow the pattern that drives a map, a unit or a class, live.

The widget states its layout, its settings and how it reacts to them here; its controls live in
`optvis_controls`, what it optimises in `optvis_target`, the single run in `optvis_single`, the
gallery in `optvis_gallery`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from traitlets import Bool, Bunch, Unicode, observe, validate

from ..compute import optvis
from ..compute.access import input_shape as input_shape_of
from ..compute.errors import NotSpatialError
from ..compute.inputs import ImageData
from ..compute.probe import LayerInfo
from ..data import builtin_for
from ..render.optvis import GalleryView, OptvisView
from .optvis_controls import SHOWN_BY, OptvisControls
from .optvis_export import RunExport
from .setting_controls import MIRRORED, SettingTraits, checked_settings


class FeatureVisualizer(RunExport, OptvisControls, SettingTraits):
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
        data: ImageData | None = None,
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
        self.gallery_figure.canvas.mpl_connect("button_press_event",
                                               self._guarded(self._on_gallery_click, reraise=False))
        self.gallery_box = w.VBox([self.gallery_figure.canvas]).add_class("convis-gallery-view")
        self.single_box = w.VBox([self.figure.canvas]).add_class("convis-single-view")
        self.children = [self.top_row, self.target_row, self.accordion, self.button_row,
                         self.single_box, self.gallery_box, self.status, self.errors]

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
        self._show_gallery_idle()
        self._say_ready()

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
        if change["name"] in SHOWN_BY:
            self._show_mode()

    @observe("report")
    def _on_report(self, _change: Bunch) -> None:
        self._show_mode()

    @observe("objective")
    def _on_objective(self, _change: Bunch) -> None:
        if self.layer and self.layer not in [i.name for i in self._candidates()]:
            self.layer = self._default_layer()
        self._fit_controls()

    @observe("layer")
    def _on_layer(self, change: Bunch) -> None:
        old = next((i for i in self.layer_infos if i.name == change["old"]), None)
        whole = old is not None and self.gallery_range == (0, old.output_shape[0] - 1)
        self._fit_controls()
        if whole:  # a gallery of all maps stays one of all maps; a part is kept (and said)
            self.gallery_range = (0, self._info().output_shape[0] - 1)
        self._gallery_changed()

    @observe("gallery_range")
    def _on_range(self, _change: Bunch) -> None:
        self._gallery_changed()

    def _gallery_changed(self) -> None:
        """The gallery shown no longer fits the layer or range: say what Start will do instead."""
        if hasattr(self, "gallery_view") and not self.running:
            self._show_gallery_idle()
            self._say_ready()

    @observe("mode")
    def _on_mode(self, _change: Bunch) -> None:
        self._show_mode()
        if not self.running:  # the other mode's status would describe a picture no longer shown
            if self.gallery is None:  # no gallery of this layer and range yet
                self._show_gallery_idle()
            self._say_ready()

    def _say_ready(self) -> None:
        if self.mode == "gallery":
            self._set_status(self._gallery_ready_text())
        else:
            self._set_status("ready: choose a target and press <b>Start</b>")

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

    # ----- Start, Reset -------------------------------------------------------------------------

    def start(self) -> None:
        """Start optimising with the current choices (stops a run in progress first)."""
        if self.mode == "gallery":
            self._start_gallery()
        else:
            self._start_single()

    def reset(self) -> None:
        """Stop, clear the picture, curve and strip, and show the initial image of the current settings
        (the gallery: what Start will do)."""
        self.runner.cancel()
        self._show_gallery_idle()
        self._reset_single()
        start = optvis.initial_image(self.init, self.input_shape, seed=self.seed, data=self.data)
        with self._drawing(self.figure):
            self.view.clear()
            self.view.update(start[0].cpu().numpy(), [], [], title="initial image", contrast=self.contrast)
        self._set_status("reset: the initial image of the current settings")

    def open_map(self, layer: str, index: int) -> None:
        """Show map ``index`` of ``layer`` alone: single-run mode, the channel objective, ready for
        Start (not started: a click never starts minutes of work on a model the notebook shares).
        A running optimisation is stopped first; what it reached stays."""
        maps = {i.name: i.output_shape[0] for i in self._candidates("channel")}
        if layer not in maps:
            raise ValueError(f"open_map needs a layer with a spatial (N, C, H, W) output; got {layer!r}. "
                             f"Layers it can open: {list(maps)}")
        whole = isinstance(index, (int, np.integer)) and not isinstance(index, bool)
        if not whole or not 0 <= index < maps[layer]:
            raise IndexError(f"open_map: the map must be an int in 0..{maps[layer] - 1} ({maps[layer]} maps "
                             f"in {layer}); got {index!r}")
        self.runner.cancel()
        with self.hold_sync():
            self.mode, self.objective, self.layer, self.index = "single", "channel", layer, int(index)
        self._reset_single()
        with self._drawing(self.figure):
            self.view.clear(f"map {index} of {layer}: press Start")
        self._set_status(f"map <b>{index}</b> of <b>{layer}</b> opened: press <b>Start</b> to optimise "
                         "it alone")
