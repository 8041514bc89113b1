"""`FeatureInversion` and `DeepDream`: the optimisation loop run from a user's image, live, with
Stop, regulariser sliders that act at the next step, and the step each change was taken up at."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, ClassVar, cast

import ipywidgets as w
import numpy as np
import torch
from traitlets import Bunch, Float, Int, Unicode, observe, validate

from ..compute import optvis
from ..compute.cancel import Cancel
from ..compute.inputs import Images, check_images
from ..compute.optvis import from_image
from ..compute.optvis.loop import OnStep
from ..compute.probe import LayerInfo
from ..jobs import Job
from ..render.from_image import FromImageView
from .base import LayerRule
from .layer_picker import LayerPicker
from .progress import Pace
from .setting_controls import setting_control

DRAW_EVERY_S = 0.25
SETTINGS = ("steps", "lr", "l2", "tv", "blur_every", "jitter")  # the rows the widget shows
LIVE = tuple(n for n in SETTINGS if optvis.settings.ROWS[n].live)


MAX_MAPS = 1 << 16  # the map control's bound until a layer is chosen


class ImageRun(LayerPicker):
    """What `FeatureInversion` and `DeepDream` share: one image, a layer, the settings of
    :data:`SETTINGS` (defaults: the technique's), Start and Stop, and the picture as it grows."""

    layer = Unicode()
    steps = Int()
    lr = Float()
    l2 = Float()
    tv = Float()
    blur_every = Int()
    jitter = Int()

    DEFAULTS: ClassVar[dict[str, Any]]
    CURVE: ClassVar[str]

    def __init__(self, model: torch.nn.Module, image: Images, *, figsize: tuple[float, float] = (9.0, 3.3),
                 **choices: Any) -> None:
        super().__init__(**choices)
        self.model = model
        self.image = check_images(image, model=model, device="cpu")
        if len(self.image) != 1:
            raise ValueError(f"give one image, (C, H, W) or (1, C, H, W); got a batch of {len(self.image)}")
        self.input_shape = tuple(int(s) for s in self.image.shape[1:])
        self.layer_infos = [i for i in self._find_layers(model, self.input_shape) if self._usable(i)]
        if not self.layer_infos:
            raise ValueError(f"{type(self).__name__} found no layer it can use in this model")
        defaults = optvis.Settings().replace(**self.DEFAULTS)
        for name in SETTINGS:
            self.set_trait(name, getattr(defaults, name))
        self.result: optvis.Step | None = None  # what the last run reached (kept on Stop)
        self.live: optvis.Settings | None = None
        self.history: tuple[list[int], list[float]] = ([], [])  # (steps, what the curve plots)
        self.changes: list[tuple[int, str, Any]] = []  # (step, setting, value) taken up mid-run

        self.layer_dropdown = self._control("layer", w.Dropdown(description="layer"))
        self.layers_toggle = self._layers_toggle()
        for name in SETTINGS:
            self._control(name, setting_control(optvis.settings.ROWS[name]))
        self._start_stop_buttons()
        self.figure = self._new_figure(figsize)
        self.view = FromImageView(self.figure, curve_label=self.CURVE)
        self.view.show_given(self.image[0].numpy(), "your image")
        wrap = w.Layout(flex_flow="row wrap")
        first_row = [self.layer_dropdown, self.layers_toggle, *self._own_controls()]
        self.children = [w.HBox(first_row, layout=wrap),
                         w.HBox([self.controls[n] for n in SETTINGS], layout=wrap),
                         w.HBox([self.start_button, self.stop_button]), self.figure.canvas,
                         self.status, self.errors]

        self._set_choices({"layers": self._first_view(choices.pop("layers", None))})
        layer = choices.pop("layer", None)
        listed = [i.name for i in self._listed()]
        middle = listed[len(listed) // 2]
        self._set_choices({"layer": self._layer_name(layer if layer is not None else middle)})
        self._set_choices(choices)
        self._fit_layer_picker()
        self._link_controls()
        self._set_status(self._ready_text())

    def _own_controls(self) -> list[w.Widget]:
        """The technique's own controls, shown beside the layer picker (none by default)."""
        return []

    def _usable(self, info: LayerInfo) -> bool:
        return info.spatial

    def _layer_rule(self) -> LayerRule:
        return LayerRule([i.name for i in self.layer_infos], f"{type(self).__name__} needs {self._need()}")

    def _need(self) -> str:
        return "a layer with a spatial (N, C, H, W) output"

    def _ready_text(self) -> str:
        raise NotImplementedError

    def _iterate(self, live: optvis.Settings, cancel: Cancel, on_step: OnStep) -> Iterator[optvis.Step]:
        raise NotImplementedError

    def _value_text(self, value: float) -> str:
        return f"objective {value:.4g}"

    def _curve_value(self, value: float) -> float:
        """What the curve plots of the loop's value (the objective it raises, by default)."""
        return value

    def _settings(self) -> optvis.Settings:
        return optvis.Settings().replace(**{**self.DEFAULTS, **{n: getattr(self, n) for n in SETTINGS}},
                                         report=1)

    def start(self) -> None:
        """Start a run with the current choices (a running one is stopped first)."""
        self.live = self._settings()
        live, layer = self.live, self.layer
        self._submit_run(lambda job: self._run(job, live, layer))

    @observe("layer")
    def _say_layer(self, change: Bunch) -> None:
        """A new layer chosen between runs: the picture shown is still the last run's, so say what
        Start does now (a running optimisation keeps the layer it started on)."""
        if not self.running and getattr(self, "result", None) is not None:
            self._set_status(f"layer <b>{change['new']}</b> chosen (the picture is the last run's); "
                             + self._ready_text())

    @observe(*LIVE)
    def _on_live_setting(self, change: Bunch) -> None:
        if self.running and self.live is not None:
            setattr(self.live, change["name"], change["new"])  # read by the loop at its next step

    def _run(self, job: Job, live: optvis.Settings, layer: str) -> None:
        steps: list[int] = []
        values: list[float] = []
        self.history, self.changes, pace, last = (steps, values), [], Pace(), 0.0

        def on_step(tick: optvis.Tick) -> None:
            for name, value in tick.changed.items():
                if tick.step > 0:  # step 0 reads every setting: no change
                    self.changes.append((tick.step, name, value))

        for record in self._iterate(live, lambda: job.cancelled, on_step):
            steps.append(record.step)
            values.append(self._curve_value(float(record.value[0])))
            self.result = record
            now = time.perf_counter()
            if record.done or now - last >= DRAW_EVERY_S:
                last = now
                self._draw(record, layer, pace.eta_text(record.step, live.steps, record.elapsed))

    def _draw(self, record: optvis.Step, layer: str, eta: str) -> None:
        steps, values = self.history
        with self._drawing(self.figure):
            self.view.show_now(record.images[0].numpy(), f"{layer}, step {record.step}")
            self.view.show_curve(steps, values, [s for s, _, _ in self.changes])
        state = f"ended ({record.reason})" if record.done else f"running, {eta}"
        said = "; ".join(f"{optvis.settings.ROWS[n].label or n} {v:g} from step {s}"
                         for s, n, v in self.changes[-3:])
        self._set_status(f"<b>step {record.step}</b> of {self.live.steps if self.live else '?'}, "
                         f"{self._value_text(float(record.value[0]))}: {state}"
                         + (f"; taken up: {said}" if said else ""))


class FeatureInversion(ImageRun):
    """From noise, grow an image whose features at ``layer`` match your image's (feature inversion,
    Mahendran and Vedaldi, as in the lecture notes "Visualizing and understanding CNNs"): what the
    layer keeps of the image, and what it throws away. L2 and total variation keep it natural."""

    DEFAULTS = from_image.INVERSION_DEFAULTS
    CURVE = "feature distance (0: the layer sees your image)"

    def _usable(self, info: LayerInfo) -> bool:
        return len(info.output_shape) in (1, 3)

    def _need(self) -> str:
        return "a layer with a (C, H, W) or flat output"

    def _ready_text(self) -> str:
        return ("ready: <b>Start</b> grows, from noise, an image whose features at the chosen layer match "
                "your image's; the deeper the layer, the more of the image it may discard")

    def _iterate(self, live: optvis.Settings, cancel: Cancel, on_step: OnStep) -> Iterator[optvis.Step]:
        return from_image.invert(self.model, self.image, layer=self.layer, settings=live, cancel=cancel,
                                 on_step=on_step)

    def _value_text(self, value: float) -> str:
        return f"feature distance {-value:.2g} (0: the layer cannot tell it from your image)"

    def _curve_value(self, value: float) -> float:
        return -value  # the loop raises minus the distance; a reader follows the distance falling

    def distance(self) -> float | None:
        """The relative feature distance the last run reached (None before a run)."""
        if self.result is None:
            return None
        return -float(self.result.value[0])


class DeepDream(ImageRun):
    """Starting from your image, amplify what ``layer`` (its mean squared activation) or one of its
    maps (``channel``, -1 for the whole layer) sees in it: DeepDream, as in the lecture notes
    "Visualizing and understanding CNNs"."""

    channel = Int(-1, help="the map to amplify; -1: the whole layer")

    DEFAULTS = from_image.DREAM_DEFAULTS
    CURVE = "objective (higher = stronger)"

    def _own_controls(self) -> list[w.Widget]:
        box = w.BoundedIntText(min=-1, max=MAX_MAPS, description="map (-1: all)",
                               tooltip="-1: the whole layer", layout=w.Layout(width="13em"),
                               style={"description_width": "auto"})
        return [self._control("channel", box)]

    def _maps(self, layer: str) -> int:
        return int(next(i for i in self.layer_infos if i.name == layer).output_shape[0])

    @validate("channel")
    def _valid_channel(self, proposal: Bunch) -> int:
        value = int(proposal["value"])
        if self.layer and not -1 <= value < self._maps(self.layer):
            raise ValueError(f"channel must be -1 (the whole layer) or one of {self.layer}'s maps, "
                             f"0..{self._maps(self.layer) - 1}; got {value}")
        return value

    @observe("layer")
    def _follow_layer_maps(self, change: Bunch) -> None:
        maps = self._maps(change["new"])
        if self.channel >= maps:
            self.channel = -1  # the old map number names no map of the new layer (before the box clamps it)
        cast(w.BoundedIntText, self.controls["channel"]).max = maps - 1

    def _ready_text(self) -> str:
        return ("ready: <b>Start</b> changes your image, step by step, so the chosen layer (or map) "
                "responds more strongly: what it sees in the image is drawn into it")

    def _iterate(self, live: optvis.Settings, cancel: Cancel, on_step: OnStep) -> Iterator[optvis.Step]:
        channel = None if self.channel < 0 else self.channel
        return from_image.deep_dream(self.model, self.image, layer=self.layer, channel=channel,
                                     settings=live, cancel=cancel, on_step=on_step)

    def _settings(self) -> optvis.Settings:
        return super()._settings().replace(init=self.image[0].clone())  # an image start: read live

    def change(self) -> np.ndarray | None:
        """How far the last run moved each pixel from the image (None before a run)."""
        if self.result is None:
            return None
        return (self.result.images[0] - self.image[0]).abs().numpy()
