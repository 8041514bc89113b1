"""`FilterGallery`: the weights of any conv layer as pictures, with a smoothness verdict."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import numpy as np
import torch
from traitlets import Bunch, Int, Unicode, validate

from ..compute.filters import FilterReport, conv_layers, conv_weight, filter_images, filter_report
from ..jobs import Job
from ..render import FilterView
from .base import ConvisWidget, LayerRule

DEEPER_NOTE = (". The smoothness check is made for first-layer filters, which look at pixels; deeper "
               "filters combine earlier maps and are seldom smooth even when trained well")


class FilterGallery(ConvisWidget):
    """Pick a conv layer and see its filters (RGB for 3 input channels, else one input channel).

    Smooth first-layer filters suggest a converged network, noisy ones an unconverged or weakly
    regularised one (the lecture notes "Visualizing and understanding CNNs"); noisy filters
    are struck out in red. Keyword arguments are the traits: ``layer`` (a name or
    an index into the conv layers; default the first) and ``input_channel``.
    """

    layer = Unicode()
    input_channel = Int(0)

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        figsize: tuple[float, float] = (8.0, 4.0),
        **choices: Any,
    ) -> None:
        super().__init__(**choices)
        self.model = model
        self.layer_names = conv_layers(model)
        if not self.layer_names:
            raise ValueError(
                f"{type(model).__name__} has no convolution layer (a module with a 4-D weight); "
                "FilterGallery shows conv filters")
        self.report: FilterReport | None = None
        self.shown: np.ndarray | None = None

        self.layer_dropdown = self._control("layer", w.Dropdown(options=self.layer_names,
                                                                description="layer"))
        self.channel_slider = self._control("input_channel", w.IntSlider(
            0, min=0, max=0, description="input ch.", continuous_update=False), "input-channel")
        self.figure = self._new_figure(figsize)
        self.view = FilterView(self.figure)
        self.children = [w.HBox([self.layer_dropdown, self.channel_slider]), self.figure.canvas,
                         self.status, self.errors]

        layer = choices.pop("layer", None)
        self.layer = self._layer_name(layer if layer is not None else self.layer_names[0])
        self._fit_slider()
        self._set_choices(choices)
        self._link_controls()
        self._observe(self._refresh, names=["layer", "input_channel"])
        self._refresh()

    def _layer_rule(self) -> LayerRule:
        return LayerRule(self.layer_names,
                         "only conv layers (a module with a 4-D weight) have filters to show", ValueError)

    def _is_rgb(self, layer: str) -> bool:
        """Filters over 3 input channels are drawn as colour pictures."""
        return conv_weight(self.model, layer).shape[1] == 3

    def _pictures_per_filter(self, layer: str) -> int:
        """Input channels drawn one at a time: 1 when the filters are drawn as RGB."""
        return 1 if self._is_rgb(layer) else conv_weight(self.model, layer).shape[1]

    def _fit_slider(self) -> None:
        n = self._pictures_per_filter(self.layer)
        with self.channel_slider.hold_sync():
            self.channel_slider.max = n - 1
            self.channel_slider.disabled = n == 1
            self.channel_slider.layout.display = "none" if n == 1 else None  # one picture per filter

    @validate("input_channel")
    def _valid_channel(self, proposal: Bunch) -> Any:
        channel, n = proposal["value"], self._pictures_per_filter(self.layer)
        if not 0 <= channel < n:
            raise IndexError(f"layer {self.layer!r} has {n} input channel(s) to show (0..{n - 1}); "
                             f"got input_channel={channel}")
        return channel

    def _refresh(self, change: Bunch | None = None) -> None:
        if change is not None and change["name"] == "layer":
            self._fit_slider()
            if self.input_channel != 0:
                self.input_channel = 0  # observed: refreshes with the new layer
                return
        layer, channel = self.layer, self.input_channel
        self._submit(lambda job: self._draw(job, layer, channel))

    def _draw(self, job: Job, layer: str, channel: int) -> None:
        rgb = self._is_rgb(layer)
        images = filter_images(self.model, layer, mode="rgb" if rgb else "channels")
        report = filter_report(self.model, layer)
        weights = conv_weight(self.model, layer).numpy()
        job.check()
        shown = images if rgb else images[:, channel]
        noisy = np.flatnonzero(report.noisy)
        with self._drawing(self.figure):
            self.view.update(shown, report.smoothness, report.noisy, layer=layer,
                             threshold=report.threshold,
                             input_channel=None if self._pictures_per_filter(layer) == 1 else channel,
                             weights=weights.transpose(0, 2, 3, 1) if rgb else weights[:, channel])
            self.report, self.shown = report, shown
            flagged = f"; noisy: {', '.join(map(str, noisy))}" if len(noisy) else ""
            deeper = "" if layer == self.layer_names[0] else DEEPER_NOTE
            self._set_status(f"<b>{layer}</b>: {report.verdict}{flagged}{deeper}")
