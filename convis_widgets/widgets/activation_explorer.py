"""`ActivationExplorer`: the channel grid of any spatial layer for any of the given images."""

from __future__ import annotations

import ipywidgets as w
import numpy as np
import torch
from traitlets import Int, Unicode, observe, validate

from ..compute.activations import activations, grid_cell
from ..compute.errors import NotSpatialError
from ..compute.inputs import check_images
from ..compute.probe import LayerInfo, layers, resolve_layer
from ..compute.stats import ChannelStats, channel_statistics
from ..render import ActivationView
from .base import ConvisWidget

NORMALIZE_OPTIONS = [("per channel", "per_channel"), ("global", "global")]


class ActivationExplorer(ConvisWidget):
    """Pick a layer and an image; see every channel, the channel mean and dead channels; click to enlarge.

    Dead channels are those that stay zero on every one of the given images.
    """

    layer = Unicode()
    image_index = Int(0)
    channel = Int(None, allow_none=True)
    normalize = Unicode("per_channel")

    def __init__(
        self,
        model: torch.nn.Module,
        images: torch.Tensor | np.ndarray,
        *,
        layer: str | int | None = None,
        image_index: int = 0,
        normalize: str = "per_channel",
        figsize: tuple[float, float] = (8.0, 5.0),
    ) -> None:
        super().__init__()
        self.model = model
        self.images = check_images(images, model=model)
        infos = layers(model, tuple(self.images.shape[1:]))
        self.layer_infos: list[LayerInfo] = [info for info in infos if info.spatial]
        if not self.layer_infos:
            raise NotSpatialError("the model has no layer with a spatial (N, C, H, W) output")
        self._stats: dict[str, ChannelStats] = {}
        self.current: np.ndarray | None = None
        self.dead_channels: np.ndarray = np.zeros(0, dtype=int)

        self.layer_dropdown = w.Dropdown(
            options=[(f"{i.name}  ({i.type}, {'x'.join(map(str, i.output_shape))})", i.name)
                     for i in self.layer_infos],
            description="layer",
            layout=w.Layout(width="28em"),
        )
        self.layer_dropdown.add_class("convis-layer")
        n = len(self.images)
        self.image_slider = w.IntSlider(0, min=0, max=max(n - 1, 0), description="image",
                                        disabled=n == 1, continuous_update=False)
        self.image_slider.add_class("convis-image")
        self.normalize_buttons = w.ToggleButtons(options=NORMALIZE_OPTIONS,
                                                 tooltips=["each map stretched to its own range",
                                                           "one range for all maps of the layer"],
                                                 style={"button_width": "auto"})
        self.status = w.HTML()
        self.status.add_class("convis-status")
        self.figure = self._new_figure(figsize)
        self.view = ActivationView(self.figure)
        self.figure.canvas.mpl_connect("button_press_event", self._on_click)

        self.children = [
            w.HBox([self.layer_dropdown, self.image_slider, self.normalize_buttons]),
            self.figure.canvas,
            self.status,
            self.errors,
        ]
        self.add_class("convis-activation-explorer")

        self.layer = self._spatial_name(layer if layer is not None else self.layer_infos[0].name)
        self.image_index = image_index
        self.normalize = normalize
        for control, name in ((self.layer_dropdown, "layer"), (self.image_slider, "image_index"),
                              (self.normalize_buttons, "normalize")):
            w.link((self, name), (control, "value"))
        self.observe(self._refresh, names=["layer", "image_index", "normalize"])
        self._refresh()

    def _spatial_name(self, layer: str | int) -> str:
        """A layer name or index -> the name of a spatial layer, or a clear error."""
        names = [i.name for i in self.layer_infos]
        if isinstance(layer, int):
            return resolve_layer(self.model, layer, names=names)[0]
        name, _ = resolve_layer(self.model, layer)
        if name not in names:
            raise NotSpatialError(
                f"layer {name!r} has no spatial (N, C, H, W) output, so it has no channel grid; "
                f"spatial layers: {names}")
        return name

    @validate("layer")
    def _valid_layer(self, proposal):
        return self._spatial_name(proposal["value"])

    @validate("image_index")
    def _valid_image(self, proposal):
        index, n = proposal["value"], len(self.images)
        if not 0 <= index < n:
            raise IndexError(f"image_index must be in 0..{n - 1} (there are {n} images); got {index}")
        return index

    @validate("normalize")
    def _valid_normalize(self, proposal):
        valid = [v for _, v in NORMALIZE_OPTIONS]
        if proposal["value"] not in valid:
            raise ValueError(f"normalize must be one of {valid}; got {proposal['value']!r}")
        return proposal["value"]

    @observe("channel")
    def _on_channel(self, change) -> None:
        with self.draw_lock:
            self.view.select(change["new"])
            self.figure.canvas.draw_idle()

    def _on_click(self, event) -> None:
        """A click on the channel grid selects (and enlarges) that channel."""
        if event.inaxes is not self.view.ax_grid or event.xdata is None:
            return
        _, h, w_, ncols = self.view.geometry
        cell = grid_cell(int(round(event.ydata)), int(round(event.xdata)), h, w_, ncols)
        if cell is not None and cell < self.view.geometry[0]:
            self.channel = cell

    def _refresh(self, change=None) -> None:
        """Recompute the view for the current choices on the widget's worker."""
        layer, index, normalize = self.layer, self.image_index, self.normalize
        if change is not None and change["name"] == "layer":
            self.channel = None
        self._submit(lambda job: self._draw(job, layer, index, normalize))

    def _draw(self, job, layer: str, index: int, normalize: str) -> None:
        stats = self._stats.get(layer)
        if stats is None:
            stats = channel_statistics(self.model, layer, self.images)
            self._stats[layer] = stats
        job.check()
        act = activations(self.model, self.images[index:index + 1], [layer])[layer][0].numpy()
        job.check()
        channel = self.channel if self.channel is not None and self.channel < len(act) else None
        with self.draw_lock:
            self.view.update(self.images[index].cpu().numpy(), act, layer=layer, dead=stats.dead,
                             channel=channel, normalize=normalize)
            self.figure.canvas.draw_idle()
            self.current = act
            self.dead_channels = np.flatnonzero(stats.dead)
            self.status.value = (f"<b>{layer}</b>, image {index}: {stats.summary()} "
                                 f"(over the {stats.count} given images)")
