"""`ActivationExplorer`: the channel grid of any spatial layer for any of the given images."""

from __future__ import annotations

from typing import Any, Protocol

import ipywidgets as w
import numpy as np
import torch
from matplotlib.backend_bases import MouseEvent
from traitlets import Bunch, Int, Unicode, observe, validate

from ..compute.activations import activations
from ..compute.errors import NotSpatialError
from ..compute.inputs import check_images
from ..compute.probe import LayerInfo
from ..compute.stats import ChannelStats, channel_statistics
from ..jobs import Job
from ..render import ActivationView
from ..render.grid import grid_cell
from .base import one_of
from .feature_visualizer import FeatureVisualizer
from .layer_picker import LayerPicker

NORMALIZE_OPTIONS = [("per channel", "per_channel"), ("global", "global")]


class MapOpener(Protocol):
    """A view that can show one map of a layer on request (`FeatureVisualizer.open_map`)."""

    def open_map(self, layer: str, index: int) -> None:
        """Show map ``index`` of ``layer``."""


class ActivationExplorer(LayerPicker):
    """Pick a layer and an image; see every channel, the channel mean and dead channels; click to enlarge.

    Dead channels are those that stay zero on every one of the given images. A click on a channel
    also opens its map in the linked views (`link`; ``visualizer=`` links one at the start): with
    none linked, the first click makes a `FeatureVisualizer` of the same model below the explorer.
    Keyword arguments are the traits: ``layer`` (a name or an index; default the first spatial
    layer listed), ``layers`` (the picker lists "blocks", each block's output, or "all" modules;
    default "blocks" when the model has a spatial block), ``image_index``, ``channel`` and
    ``normalize``.
    """

    layer_need = "the channel grid needs a layer with a spatial (N, C, H, W) output"

    layer = Unicode()
    image_index = Int(0)
    channel = Int(None, allow_none=True)
    normalize = Unicode("per_channel")

    def __init__(
        self,
        model: torch.nn.Module,
        images: torch.Tensor | np.ndarray,
        *,
        figsize: tuple[float, float] = (8.0, 5.0),
        visualizer: MapOpener | None = None,
        **choices: Any,
    ) -> None:
        super().__init__(**choices)
        self.linked: list[MapOpener] = []
        self.model = model
        self.images = check_images(images, model=model)
        infos = self._find_layers(model, tuple(self.images.shape[1:]))
        self.layer_infos: list[LayerInfo] = [info for info in infos if info.spatial]
        if not self.layer_infos:
            raise NotSpatialError("the model has no layer with a spatial (N, C, H, W) output")
        self._stats: dict[str, ChannelStats] = {}
        self.current: np.ndarray | None = None
        self.dead_channels: np.ndarray = np.zeros(0, dtype=int)

        self.layer_dropdown = self._control("layer", w.Dropdown(description="layer",
                                                                layout=w.Layout(width="28em")))
        self.layers_toggle = self._layers_toggle()
        self.image_slider = self._image_slider()
        self.normalize_buttons = self._control("normalize", w.ToggleButtons(
            options=NORMALIZE_OPTIONS, style={"button_width": "auto"},
            tooltips=["each map stretched to its own range", "one range for all maps of the layer"]))
        self.figure = self._new_figure(figsize)
        self.view = ActivationView(self.figure)
        self.figure.canvas.mpl_connect("button_press_event", self._guarded(self._on_click, reraise=False))
        self.children = [
            w.HBox([self.layer_dropdown, self.layers_toggle, self.image_slider, self.normalize_buttons]),
            self.figure.canvas,
            self.status,
            self.errors,
        ]

        self._set_choices({"layers": self._first_view(choices.pop("layers", None))})
        layer = choices.pop("layer", None)
        first = self._listed()[0].name
        self._set_choices({"layer": self._layer_name(layer if layer is not None else first), **choices})
        self._fit_layer_picker()
        self._link_controls()
        self._observe(self._refresh, names=["layer", "image_index", "normalize"])
        if visualizer is not None:
            self.link(visualizer)
        self._refresh()

    def link(self, view: MapOpener) -> None:
        """Open each clicked channel in ``view`` too: a `FeatureVisualizer`, a unit inspector, any view
        with ``open_map(layer, index)``."""
        if not callable(getattr(view, "open_map", None)):
            raise TypeError(f"link needs a view with an open_map(layer, index) method, such as a "
                            f"FeatureVisualizer; got {type(view).__name__}")
        if view not in self.linked:
            self.linked.append(view)

    @validate("normalize")
    def _valid_normalize(self, proposal: Bunch) -> Any:
        return one_of(proposal, NORMALIZE_OPTIONS)

    @observe("channel")
    def _on_channel(self, change: Bunch) -> None:
        with self._drawing(self.figure):
            self.view.select(change["new"])

    def _on_click(self, event: MouseEvent) -> None:
        """A click on the channel grid selects (and enlarges) that channel."""
        if event.inaxes is not self.view.ax_grid or event.xdata is None or event.ydata is None:
            return
        _, h, w_, ncols = self.view.geometry
        cell = grid_cell(int(round(event.ydata)), int(round(event.xdata)), h, w_, ncols)
        if cell is not None and cell < self.view.geometry[0]:
            self.channel = cell
            self.open_in_linked(self.layer, cell)

    def open_in_linked(self, layer: str, index: int) -> None:
        """Open map ``index`` of ``layer`` in every linked view; with none, first make a
        `FeatureVisualizer` of the same model and show it below the explorer."""
        if not self.linked:
            made = FeatureVisualizer(self.model, tuple(self.images.shape[1:]), data=self.images)
            self.link(made)
            self.children = [*self.children, made]
        for view in self.linked:
            view.open_map(layer, index)
        names = ", ".join(type(v).__name__ for v in self.linked)
        self._set_status(f"channel <b>{index}</b> of <b>{layer}</b> opened in the {names} below")

    def _refresh(self, change: Bunch | None = None) -> None:
        """Recompute the view for the current choices on the widget's worker."""
        layer, index, normalize = self.layer, self.image_index, self.normalize
        if change is not None and change["name"] == "layer":
            self.channel = None
        self._submit(lambda job: self._draw(job, layer, index, normalize))

    def _draw(self, job: Job, layer: str, index: int, normalize: str) -> None:
        stats = self._stats.get(layer)
        if stats is None:
            stats = channel_statistics(self.model, self.images, layer=layer)
            self._stats[layer] = stats
        job.check()
        act = activations(self.model, self.images[index:index + 1], layer=[layer])[layer][0].numpy()
        job.check()
        channel = self.channel if self.channel is not None and self.channel < len(act) else None
        with self._drawing(self.figure):
            self.view.update(self.images[index].cpu().numpy(), act, layer=layer, dead=stats.dead,
                             channel=channel, normalize=normalize)
            self.current = act
            self.dead_channels = np.flatnonzero(stats.dead)
            self._set_status(f"<b>{layer}</b>, image {index}: {stats.summary()} "
                             f"(over the {stats.count} given images)")
