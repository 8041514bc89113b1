"""`FeatureVisualizer`: watch gradient ascent grow the pattern that drives a map, a unit or a class, live."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from traitlets import Bool, Float, Int, Tuple, Unicode, observe, validate

from ..compute import optvis
from ..compute.access import input_shape as input_shape_of
from ..compute.errors import NotSpatialError
from ..compute.optvis import objectives
from ..compute.probe import LayerInfo, layers, resolve_layer
from ..data import builtin_for
from ..render import save_png
from ..render.optvis import GalleryView, OptvisView, save_gif, save_picture, save_strip
from .base import ConvisWidget
from .setting_controls import AT_START, LIVE, MIRRORED, SettingTraits, setting_control, slider_args

OBJECTIVES = [
    ("channel: mean of one map", "channel"),
    ("neuron: one unit", "neuron"),
    ("class logit (pre-softmax)", "class"),
    ("two maps, weighted (joint)", "joint"),
    ("whole layer (DeepDream)", "layer"),
]
# Settings the loop reads every step: a change while running applies from the next step.
DRAW_EVERY_S = 0.1  # the live picture is redrawn at most this often (plus every snapshot)


class FeatureVisualizer(ConvisWidget, SettingTraits):
    """Pick a layer and a map (or a unit, a class, a pair of maps), tune the regularisers, press Start.

    The picture, the objective's curve and snapshots at log-spaced steps (seed 003's OIP
    loop) update while the kernel stays free: Stop and the regulariser sliders act within
    one step. Gallery mode optimises a range of maps of a layer as batches and fills a grid.
    """

    layer = Unicode()
    objective = Unicode("channel")
    index = Int(0)
    second = Int(1)
    weight = Float(0.5)
    mode = Unicode("single")
    gallery_range = Tuple(Int(), Int(), default_value=(0, 0))
    contrast = Bool(True)
    report = Int(0)  # 0: log-spaced snapshots; k: a snapshot every k steps
    n_reports = Int(6)
    running = Bool(False, read_only=True)
    step = Int(0, read_only=True)

    def __init__(
        self,
        model: torch.nn.Module,
        input_shape: Sequence[int] | None = None,
        *,
        layer: str | int | None = None,
        objective: str = "channel",
        index: int = 0,
        data: Any = None,
        settings: optvis.Settings | None = None,
        figsize: tuple[float, float] = (8.0, 5.2),
        **choices: Any,
    ) -> None:
        unknown = sorted(set(choices) - set(self._choice_names()))
        if unknown:
            raise TypeError(f"FeatureVisualizer got unexpected keyword arguments {unknown}; "
                            f"valid choices: {sorted(self._choice_names())}")
        given = settings.replace() if settings is not None else optvis.Settings()
        # every setting checked together, before any figure exists
        given = _checked_settings(given, {n: v for n, v in choices.items() if n in MIRRORED})
        super().__init__()
        self.model = model
        c, h, w_ = input_shape_of(model, input_shape, spatial=True)
        self.input_shape = (c, h, w_)
        infos = layers(model, self.input_shape)
        self.layer_infos: list[LayerInfo] = [i for i in infos if len(i.output_shape) in (1, 3)]
        if not any(i.spatial for i in self.layer_infos):
            raise NotSpatialError("the model has no layer with a spatial (N, C, H, W) output to visualise")
        self.n_classes = int(np.prod(infos[-1].output_shape)) if infos else 0
        self.data = data if data is not None else builtin_for(self.input_shape)
        self.settings = given
        self.live: optvis.Settings | None = None  # the settings object a running loop reads
        self.result: optvis.Step | None = None
        self.history: tuple[list[int], list[float]] = ([], [])
        self.snapshots: list[tuple[int, np.ndarray]] = []
        self.frames: list[np.ndarray] = []
        self.gallery: optvis.LayerRender | None = None
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
        self.objective = objective
        self.layer = self._layer_name(layer if layer is not None else self._default_layer())
        self.index = index
        self.second = min(1, self._target_count() - 1)
        self.gallery_range = (0, self._info().output_shape[0] - 1)  # the gallery covers maps, not classes
        for name, value in choices.items():
            setattr(self, name, value)
        self._fit_controls()
        self._link_controls()
        self._show_mode()
        self._set_status("ready: choose a target and press <b>Start</b>")

    # ----- construction -------------------------------------------------------------------------

    @staticmethod
    def _choice_names() -> list[str]:
        return ["second", "weight", "mode", "gallery_range", "contrast", "report", "n_reports",
                *LIVE, *AT_START]

    def _build_controls(self) -> None:
        self.layer_dropdown = w.Dropdown(description="layer", layout=w.Layout(width="24em"))
        self.layer_dropdown.add_class("convis-layer")
        self.objective_dropdown = w.Dropdown(options=OBJECTIVES, description="objective",
                                             layout=w.Layout(width="22em"))
        self.objective_dropdown.add_class("convis-objective")
        self.mode_buttons = w.ToggleButtons(options=[("one target", "single"), ("layer gallery", "gallery")],
                                            style={"button_width": "auto"})
        self.mode_buttons.add_class("convis-mode")
        self.top_row = w.HBox([self.layer_dropdown, self.objective_dropdown, self.mode_buttons])

        self.index_slider = w.IntSlider(0, min=0, max=0, description="map", continuous_update=False)
        self.index_slider.add_class("convis-index")
        self.second_slider = w.IntSlider(0, min=0, max=0, description="second map",
                                         continuous_update=False)
        self.weight_slider = w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="weight",
                                           continuous_update=False)
        self.range_slider = w.IntRangeSlider(value=(0, 0), min=0, max=0, description="maps",
                                             continuous_update=False)
        self.contrast_box = w.Checkbox(description="contrast", indent=False, layout=w.Layout(width="7em"))
        self.target_row = w.HBox([self.index_slider, self.second_slider, self.weight_slider,
                                  self.range_slider, self.contrast_box])

        self.setting_controls: dict[str, w.Widget] = {
            row.name: setting_control(row) for row in optvis.TABLE if row.name in MIRRORED and row.control
        }
        self.report_text = w.BoundedIntText(min=0, max=100_000, description="snapshot every",
                                            tooltip="0: snapshots at log-spaced steps (seed 003); "
                                                    "k: a snapshot every k steps", **slider_args())
        self.n_reports_text = w.BoundedIntText(min=1, max=8, description="snapshots (log)",
                                               tooltip="how many log-spaced snapshots", **slider_args())
        for name, control in self.setting_controls.items():
            control.add_class(f"convis-{name.replace('_', '-')}")
        shown = {**self.setting_controls, "report": self.report_text, "n_reports": self.n_reports_text}
        optimisation, regularisers = (
            w.VBox([shown[row.name] for row in optvis.TABLE if row.group == group and row.name in shown])
            for group in ("optimisation", "regularisers")
        )
        self.accordion = w.Accordion(children=[optimisation, regularisers])
        self.accordion.set_title(0, "optimisation")
        self.accordion.set_title(1, "regularisers and transforms (change them while it runs)")

        self.start_button = w.Button(description="Start", button_style="success", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="warning", icon="stop", disabled=True)
        self.reset_button = w.Button(description="Reset", icon="undo")
        self.export_folder = w.Text("convis_optvis", description="export to", layout=w.Layout(width="20em"))
        self.export_button = w.Button(description="Export", icon="download")
        for cls, button in (("start", self.start_button), ("stop", self.stop_button),
                            ("reset", self.reset_button), ("export", self.export_button)):
            button.add_class(f"convis-{cls}")
        self.start_button.on_click(self._on_button(self.start))
        self.stop_button.on_click(self._on_button(self.stop))
        self.reset_button.on_click(self._on_button(self.reset))
        self.export_button.on_click(lambda _: self._export_clicked())
        self.button_row = w.HBox([self.start_button, self.stop_button, self.reset_button,
                                  self.export_folder, self.export_button])
        self.status = w.HTML()
        self.status.add_class("convis-status")

    def _link_controls(self) -> None:
        pairs = [("layer", self.layer_dropdown), ("objective", self.objective_dropdown),
                 ("mode", self.mode_buttons), ("index", self.index_slider), ("second", self.second_slider),
                 ("weight", self.weight_slider), ("gallery_range", self.range_slider),
                 ("contrast", self.contrast_box), ("report", self.report_text),
                 ("n_reports", self.n_reports_text), *self.setting_controls.items()]
        for name, control in pairs:
            w.link((self, name), (control, "value"))
        self.start_button.disabled = False

    # ----- validation ---------------------------------------------------------------------------

    def _candidates(self, objective: str | None = None) -> list[LayerInfo]:
        """Layers the objective can target: maps need a spatial layer, a neuron any layer."""
        kind = objective or self.objective
        if kind == "neuron":
            return self.layer_infos
        return [i for i in self.layer_infos if i.spatial]

    def _default_layer(self) -> str:
        spatial = [i.name for i in self.layer_infos if i.spatial]
        return spatial[len(spatial) // 2] if self.objective in ("channel", "joint", "layer") else spatial[0]

    def _layer_name(self, layer: str | int) -> str:
        names = [i.name for i in self._candidates()]
        if isinstance(layer, int):
            return resolve_layer(self.model, layer, names=names)[0]
        name, _ = resolve_layer(self.model, layer)
        if name not in names:
            need = "any layer" if self.objective == "neuron" else "a layer with a spatial (N, C, H, W) output"
            raise NotSpatialError(f"the {self.objective!r} objective needs {need}; {name!r} is not one. "
                                  f"Layers it can use: {names}")
        return name

    def _info(self) -> LayerInfo:
        return next(i for i in self.layer_infos if i.name == self.layer)

    def _target_count(self) -> int:
        """How many maps (or units, or classes) the index can name."""
        if self.objective == "class":
            return self.n_classes
        return self._info().output_shape[0]  # channels of a map, or units of a flat layer

    @validate("objective")
    def _valid_objective(self, proposal):
        valid = [v for _, v in OBJECTIVES]
        if proposal["value"] not in valid:
            raise ValueError(f"objective must be one of {valid}; got {proposal['value']!r}")
        return proposal["value"]

    @validate("layer")
    def _valid_layer(self, proposal):
        return self._layer_name(proposal["value"])

    def _check_index(self, what: str, value: int) -> int:
        n = self._target_count()
        if not 0 <= value < n:
            target = "classes" if self.objective == "class" else f"maps in {self.layer}"
            raise IndexError(f"{what} must be in 0..{n - 1} (there are {n} {target}); got {value}")
        return value

    @validate("index")
    def _valid_index(self, proposal):
        return self._check_index("index", proposal["value"])

    @validate("second")
    def _valid_second(self, proposal):
        return self._check_index("second", proposal["value"])

    @validate("gallery_range")
    def _valid_range(self, proposal):
        lo, hi = proposal["value"]
        n = self._info().output_shape[0]
        if not 0 <= lo <= hi < n:
            raise IndexError(f"gallery_range must be (first, last) with 0 <= first <= last <= {n - 1} "
                             f"({n} maps in {self.layer}); got {(lo, hi)}")
        return (lo, hi)

    @validate("weight")
    def _valid_weight(self, proposal):
        if not 0.0 <= proposal["value"] <= 1.0:
            raise ValueError(f"weight must be in [0, 1]; got {proposal['value']}")
        return proposal["value"]

    @validate(*LIVE, *AT_START)
    def _valid_setting(self, proposal):
        name, value = proposal["trait"].name, proposal["value"]
        _checked_settings(self.settings, {name: value})
        return value

    @validate("mode")
    def _valid_mode(self, proposal):
        if proposal["value"] not in ("single", "gallery"):
            raise ValueError(f"mode must be 'single' or 'gallery'; got {proposal['value']!r}")
        return proposal["value"]

    # ----- reactions (cheap: they never run the model) ------------------------------------------

    @observe(*LIVE, *AT_START)
    def _on_setting(self, change) -> None:
        setattr(self.settings, change["name"], change["new"])
        if change["name"] in LIVE and self.live is not None:
            setattr(self.live, change["name"], change["new"])  # read by the loop at its next step

    @observe("objective")
    def _on_objective(self, change) -> None:
        if self.layer and self.layer not in [i.name for i in self._candidates()]:
            self.layer = self._default_layer()
        self._fit_controls()

    @observe("layer")
    def _on_layer(self, change) -> None:
        self._fit_controls()

    @observe("mode")
    def _on_mode(self, change) -> None:
        self._show_mode()
        if not self.running:  # the other mode's status would describe a picture no longer shown
            what = "a range of maps" if change["new"] == "gallery" else "a target"
            self._set_status(f"ready: choose {what} and press <b>Start</b>")

    def _fit_controls(self) -> None:
        """Fit the layer list, slider ranges and visible controls to the objective and layer."""
        if not hasattr(self, "layer_dropdown") or not self.layer:
            return
        options = [(f"{i.name}  ({i.type}, {'x'.join(map(str, i.output_shape))})", i.name)
                   for i in self._candidates()]
        n = self._target_count()
        maps = self._info().output_shape[0]
        with self.hold_trait_notifications():
            if self.layer_dropdown.options != tuple(options):
                self.layer_dropdown.options = options
                self.layer_dropdown.value = self.layer
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

        def show(widget: w.Widget, visible: bool) -> None:
            widget.layout.display = None if visible else "none"

        show(self.single_box, not gallery)
        show(self.gallery_box, gallery)
        show(self.index_slider, not gallery and self.objective != "layer")
        show(self.second_slider, joint)
        show(self.weight_slider, joint)
        show(self.range_slider, gallery)
        self.objective_dropdown.disabled = gallery

    # ----- the objective and the settings of a run ----------------------------------------------

    def make_objective(self) -> optvis.objectives.Objective:
        """The objective the current choices describe."""
        kind, layer = self.objective, self.layer
        if kind == "channel":
            return objectives.channel(layer, self.index)
        if kind == "neuron":
            return objectives.neuron(layer, self.index)
        if kind == "class":
            return objectives.class_logit(self.index)
        if kind == "joint":
            return objectives.joint(layer, self.index, self.second, self.weight)
        return objectives.layer(layer)

    def strip_steps(self) -> list[int]:
        """Steps whose pictures go in the snapshot strip (log-spaced as in seed 003, or every k)."""
        report: Any = "log" if self.report == 0 else self.report
        return optvis.report_steps(self.steps, report=report, n_reports=self.n_reports)

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
        with self.hold_trait_notifications():
            self.mode = spec.get("mode", "single")
            self.objective = target["kind"]
            self.layer = target["layer"]
            for name, value in optvis.Settings.from_dict(spec["settings"]).to_dict().items():
                if name in (*LIVE, *AT_START):
                    setattr(self, name, value)
            self.settings = optvis.Settings.from_dict(spec["settings"])
        self._fit_controls()
        self.index, self.second, self.weight = target["index"], target["second"], target["weight"]
        self.gallery_range = tuple(spec.get("gallery_range", self.gallery_range))
        self.report, self.n_reports = spec.get("report", 0), spec.get("n_reports", 6)
        self.contrast = spec.get("contrast", True)

    # ----- Start, Stop, Reset -------------------------------------------------------------------

    def start(self) -> None:
        """Start optimising with the current choices (stops a run in progress first)."""
        if self.mode == "gallery":
            lo, hi = self.gallery_range
            layer, channels = self.layer, list(range(lo, hi + 1))
            settings = self.settings.replace()
            self._submit(lambda job: self._run_gallery(job, layer, channels, settings))
        else:
            objective = self.make_objective()
            self.live = self.settings.replace(report=1)
            live, strip = self.live, set(self.strip_steps())
            reference = (self.objective, self.layer, self.index)
            self._submit(lambda job: self._run_single(job, objective, live, strip, reference))

    def stop(self) -> None:
        """Stop the run at its next step; the picture it reached stays."""
        job = self.runner.current
        if job is not None:
            job.cancel()

    def reset(self) -> None:
        """Stop, clear the picture, curve and strip, and show the initial image of the current settings."""
        self.runner.cancel()
        self.result, self.gallery, self.live = None, None, None
        self.history, self.snapshots, self.frames = ([], []), [], []
        self.set_trait("step", 0)
        start = optvis.initial_image(self.init, self.input_shape, seed=self.seed, data=self.data)
        with self.draw_lock:
            self.view.clear()
            self.view.update(start[0].cpu().numpy(), [], [], title="initial image", contrast=self.contrast)
            self.figure.canvas.draw_idle()
        self._set_status("reset: the initial image of the current settings")

    def _set_running(self, running: bool) -> None:
        self.set_trait("running", running)
        self.start_button.disabled = running
        self.stop_button.disabled = not running

    # ----- the jobs -----------------------------------------------------------------------------

    def _run_single(self, job, objective, live: optvis.Settings, strip: set[int], reference) -> None:
        self._set_running(True)
        try:
            steps: list[int] = []
            values: list[float] = []
            self.snapshots, self.frames, self.history = [], [], (steps, values)
            last_draw = 0.0
            for record in optvis.run(self.model, objective, self.input_shape, settings=live,
                                     cancel=lambda: job.cancelled):
                image = record.images[0].numpy()
                steps.append(record.step)
                values.append(float(record.value[0]))
                self.result = record
                snap = record.step in strip or record.done
                if snap and not (self.snapshots and self.snapshots[-1][0] == record.step):
                    self.snapshots.append((record.step, image))
                now = time.perf_counter()
                if snap or now - last_draw >= DRAW_EVERY_S:
                    last_draw = now
                    self.frames.append(image)
                    self._draw_single(record, image)
            self._finish_single(reference)
        finally:
            self._set_running(False)

    def _draw_single(self, record: optvis.Step, image: np.ndarray) -> None:
        steps, values = self.history
        title = f"{self.make_objective().description}, step {record.step}"
        with self.draw_lock:
            self.view.update(image, steps, values, title=title, contrast=self.contrast)
            self.view.set_strip(self.snapshots, dict(zip(steps, values, strict=True)), contrast=self.contrast)
            self.figure.canvas.draw_idle()
        self.set_trait("step", record.step)
        rate = record.step / record.elapsed if record.elapsed > 0 else 0.0
        state = "running" if not record.done else f"ended ({record.reason})"
        self._set_status(f"<b>step {record.step}</b> of {self.steps}, {rate:.0f} steps/s, "
                         f"objective {float(record.value[0]):.4g}: {state}")

    def _finish_single(self, reference) -> None:
        """The quality figure: the activation reached against the best over the data set."""
        record = self.result
        if record is None:
            return
        kind, layer, index = reference
        best = self._dataset_best(kind, layer, index)
        self.dataset_best = best
        reached = float(record.value[0])
        with self.draw_lock:
            self.view.set_reference(best)
            self.figure.canvas.draw_idle()
        quality = "" if best is None else (
            f"; reached {reached:.4g} = <b>{reached / best:.2f}x</b> the best image of the data set "
            f"({best:.4g})" if best > 0 else f"; the data set never drives this map (best {best:.4g})")
        responded = ("" if bool(record.responded[0])
                     else "; <b>the map never responded</b> (loss stayed at zero)")
        self._set_status(f"<b>step {record.step}</b> of {self.steps}: ended ({record.reason}){responded}"
                         f"{quality}")

    def _dataset_best(self, kind: str, layer: str, index: int) -> float | None:
        """The highest activation of that map over the data set (channel objective only), cached."""
        if kind != "channel":
            return None
        key = (layer, index)
        if key not in self._best_cache:
            if self.data is None:
                return None
            best = optvis.dataset_max_activation(self.model, layer, self.data, channels=[index])
            self._best_cache[key] = float(best[0])
        return self._best_cache[key]

    def _run_gallery(self, job, layer: str, channels: list[int], settings: optvis.Settings) -> None:
        self._set_running(True)
        try:
            n = len(channels)
            images = np.zeros((n, *self.input_shape), dtype=np.float32)
            activation = np.full(n, np.nan, dtype=np.float32)
            quality = np.full(n, np.nan, dtype=np.float32)
            done, responded = np.zeros(n, bool), np.zeros(n, bool)
            position = {c: k for k, c in enumerate(channels)}
            kwargs = {k: v for k, v in settings.to_dict().items() if k not in ("steps", "seed")}
            t0 = time.perf_counter()
            self._draw_gallery(layer, channels, images, done, responded, 0.0)
            for part in optvis.iter_render_layer(self.model, layer, self.input_shape, channels=channels,
                                                 steps=settings.steps, seed=settings.seed,
                                                 cancel=lambda: job.cancelled, data=self.data, **kwargs):
                idx = [position[c] for c in part.channels]
                images[idx] = part.images.numpy()
                activation[idx] = part.activation.numpy()
                responded[idx] = part.responded.numpy()
                if part.quality is not None:
                    quality[idx] = part.quality.numpy()
                done[idx] = True
                self.gallery = optvis.LayerRender(
                    channels=[c for c, d in zip(channels, done, strict=True) if d],
                    images=torch.from_numpy(images[done]), activation=torch.from_numpy(activation[done]),
                    responded=torch.from_numpy(responded[done]), dataset_max=None,
                    quality=torch.from_numpy(quality[done]))
                self._draw_gallery(layer, channels, images, done, responded, time.perf_counter() - t0,
                                   quality)
        finally:
            self._set_running(False)

    def _draw_gallery(self, layer, channels, images, done, responded, elapsed, quality=None) -> None:
        n_done, n_ok = int(done.sum()), int((done & responded).sum())
        title = (f"{layer}: maps {channels[0]}..{channels[-1]}, {n_done} of {len(channels)} done, "
                 f"{n_ok} responded (struck out: never responded)")
        with self.draw_lock:
            self.gallery_view.update(images, done, responded, title=title, contrast=self.contrast)
            self.gallery_figure.canvas.draw_idle()
        beat = ""
        if quality is not None and np.isfinite(quality[done]).any():
            ok = done & responded & np.isfinite(quality)
            beat = (f"; {int((quality[ok] > 1).sum())} of {int(ok.sum())} responding maps beat the best "
                    "image of the data set")
        self._set_status(f"gallery of <b>{layer}</b>: {n_done}/{len(channels)} maps in {elapsed:.1f} s, "
                         f"{n_ok} responded{beat}")

    def _set_status(self, html: str) -> None:
        self.status.value = html

    # ----- export -------------------------------------------------------------------------------

    def export(self, folder: str | Path) -> list[Path]:
        """Write the picture and snapshot strip (PNG), the evolution (GIF) and the settings (JSON)."""
        folder = Path(folder)
        written: list[Path] = []
        if self.mode == "gallery":
            if self.gallery is None:
                raise RuntimeError("nothing to export yet: run the gallery first (Start)")
            with self.draw_lock:
                written.append(save_png(self.gallery_figure, folder / "gallery.png"))
            np.savez(folder / "gallery.npz", channels=np.asarray(self.gallery.channels),
                     images=self.gallery.images.numpy(), activation=self.gallery.activation.numpy(),
                     responded=self.gallery.responded.numpy())
            written.append(folder / "gallery.npz")
        else:
            if self.result is None:
                raise RuntimeError("nothing to export yet: press Start first")
            image = self.result.images[0].numpy()
            written.append(save_picture(image, folder / "picture.png", contrast=self.contrast))
            written.append(save_strip(self.snapshots, folder / "snapshots.png", contrast=self.contrast))
            written.append(save_gif(self.frames, folder / "evolution.gif", contrast=self.contrast))
        path = folder / "settings.json"
        path.write_text(json.dumps(self.run_settings(), indent=2))
        written.append(path)
        return written

    def _export_clicked(self) -> None:
        self._clear_error()
        try:
            written = self.export(self.export_folder.value)
        except Exception as exc:  # shown in the widget, never swallowed
            self._show_error(exc)
            return
        self._set_status("exported " + ", ".join(p.name for p in written) + f" to {written[0].parent}")


def _checked_settings(settings: optvis.Settings, changes: dict[str, Any]) -> optvis.Settings:
    """``settings`` with ``changes``, checked together by `optvis.Settings` itself (the one set of
    rules); the ValueError names the settings, the values given and what is allowed."""
    try:
        return settings.replace(**changes)
    except ValueError as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in changes.items())
        raise ValueError(f"FeatureVisualizer setting {shown} refused: {exc}") from None
