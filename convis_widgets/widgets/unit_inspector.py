"""`UnitInspector`: every view of one channel side by side, linked: its optimised pattern, its
top-k patches with their receptive fields, its filter, its statistics, and its map and Grad-CAM on
the current image. Changing the channel updates all of them; the slow ones fill in as they finish."""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from matplotlib.backend_bases import MouseEvent
from traitlets import Bunch, Int, Unicode, observe, validate

from ..compute import optvis
from ..compute.activations import activations
from ..compute.attribution.gradients import grad_cam
from ..compute.errors import NotSpatialError
from ..compute.filters import conv_weight
from ..compute.inputs import ImageData
from ..compute.probe import LayerInfo, run_forward
from ..compute.stats import ChannelStats, channel_statistics
from ..compute.topk import TopK, iter_top_k
from ..jobs import Job
from ..render.unit import UnitView
from .default_data import builtin_data, labelled_images
from .layer_picker import LayerPicker
from .progress import Pace

DRAW_EVERY_S = 0.3  # the slow parts redraw at most this often while they run
TOPK_BATCH = 256
ENDED = {"steps": "all steps done", "converged": "converged", "unresponsive": "never responded",
         "nonfinite": "stopped (not finite)"}  # how a pattern's run ended, said in its title


def producing_conv(infos: list[LayerInfo], layer: str) -> str | None:
    """The conv whose filters make ``layer``'s channels: the layer itself, else the last conv that
    ran before it with as many output channels (a block output after its conv, norm and ReLU)."""
    order = [i.name for i in infos]
    if layer not in order:
        return None
    here = infos[order.index(layer)]
    for info in reversed(infos[: order.index(layer) + 1]):
        if isinstance(info.module, torch.nn.Conv2d) and info.module.out_channels == here.output_shape[0]:
            return info.name
    return None


class UnitInspector(LayerPicker):
    """Pick a layer and a channel; see its pattern, top-k patches, filter, statistics and its map and
    Grad-CAM on the current image, all for that one channel.

    ``dataset`` (an ``ImageDataset`` or an (N, C, H, W) tensor) is where the top-k patches and the
    statistics come from; default: the built-in test set that fits the model's input (the real
    MNIST digits for a 28x28 model). Keyword arguments are the traits ``layer``, ``layers``,
    ``channel`` and ``image_index``; ``k`` is how many top examples are kept per channel.
    """

    layer_need = "the unit inspector needs a layer with a spatial (N, C, H, W) output"

    layer = Unicode()
    channel = Int(0)
    image_index = Int(0)

    def __init__(self, model: torch.nn.Module, dataset: ImageData | None = None, *, k: int = 9,
                 settings: optvis.Settings | None = None, figsize: tuple[float, float] = (9.0, 5.4),
                 **choices: Any) -> None:
        super().__init__(**choices)
        self.model = model
        self.dataset = dataset if dataset is not None else builtin_data(model, "test", "UnitInspector")
        self.data_view = labelled_images(model, self.dataset)
        self.images, self.labels = self.data_view.images, self.data_view.labels
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1 (top examples kept per channel); got {k!r}")
        self.k = k
        self.settings = settings if settings is not None else optvis.Settings()
        self.input_shape = tuple(int(s) for s in self.images.shape[1:])
        infos = self._find_layers(model, self.input_shape)
        self.all_infos = infos
        self.layer_infos: list[LayerInfo] = [i for i in infos if i.spatial]
        if not self.layer_infos:
            raise NotSpatialError("the model has no layer with a spatial (N, C, H, W) output")
        self.topk: dict[str, TopK] = {}  # per layer: complete, or as far as a pass got
        self.stats: dict[str, ChannelStats] = {}
        self.patterns: dict[tuple[str, int], np.ndarray] = {}

        self.layer_dropdown = self._control("layer", w.Dropdown(description="layer"))
        self.layers_toggle = self._layers_toggle()
        self.channel_slider = self._control("channel", w.IntSlider(description="channel", min=0,
                                                                   continuous_update=False))
        self.image_slider = self._image_slider()
        self.figure = self._new_figure(figsize)
        self.view = UnitView(self.figure)
        self.figure.canvas.mpl_connect("button_press_event", self._guarded(self._on_click, reraise=False))
        wrap = w.Layout(flex_flow="row wrap")
        self.children = [w.HBox([self.layer_dropdown, self.layers_toggle], layout=wrap),
                         w.HBox([self.channel_slider, self.image_slider], layout=wrap),
                         self.figure.canvas, self.status, self.errors]

        self._set_choices({"layers": self._first_view(choices.pop("layers", None))})
        layer = choices.pop("layer", None)
        listed = [i.name for i in self._listed()]
        middle = listed[len(listed) // 2]  # mid-level patterns, as the FeatureVisualizer starts
        self._set_choices({"layer": self._layer_name(layer if layer is not None else middle)})
        self._fit_channels()
        self._set_choices(choices)
        self._fit_layer_picker()
        self._link_controls()
        self._observe(self._refresh, names=["layer", "channel", "image_index"])
        self._refresh()

    def _channels(self, layer: str | None = None) -> int:
        name = layer or self.layer
        return next(i.output_shape[0] for i in self.layer_infos if i.name == name)

    def _fit_channels(self) -> None:
        """The channel slider spans the layer's channels; a channel past them gives way to the last."""
        top = self._channels() - 1
        if hasattr(self, "channel_slider"):
            self.channel_slider.max = top
        self.channel = min(self.channel, top)

    @validate("channel")
    def _valid_channel(self, proposal: Bunch) -> int:
        value = proposal["value"]
        if self.layer and not 0 <= value < self._channels():
            raise ValueError(f"channel must be from 0 to {self._channels() - 1} (layer {self.layer!r} has "
                             f"{self._channels()} channels); got {value}")
        return int(value)

    @observe("layer")
    def _on_layer_channels(self, _change: Bunch) -> None:
        self._fit_channels()

    def open_map(self, layer: str, index: int) -> None:
        """Show channel ``index`` of ``layer`` (what a click in another view's tile asks for)."""
        with self.hold_trait_notifications():
            self.layer = self._layer_name(layer)
            self._fit_channels()
            self.channel = index

    def _on_click(self, event: MouseEvent) -> None:
        """A click on one of the top images makes it the current image (its map and Grad-CAM)."""
        if event.inaxes is not self.view.ax_images or event.xdata is None or event.ydata is None:
            return
        rank = self.view.image_tile(event.xdata, event.ydata)
        found = self.topk.get(self.layer)
        if rank is not None and found is not None:
            self.image_index = int(found.indices[self.channel, rank])

    # ----- the work -----------------------------------------------------------------------------

    def _refresh(self, _change: Bunch | None = None) -> None:
        layer, channel, index = self.layer, self.channel, self.image_index
        self._submit(lambda job: self._work(job, layer, channel, index))

    def _work(self, job: Job, layer: str, channel: int, index: int) -> None:
        """The quick views first (filter, map, Grad-CAM), then the data-set pass (top-k and
        statistics, resumed where an earlier pass stopped), then the pattern."""
        self._draw_quick(layer, channel, index)
        job.check()
        self._ensure_topk(job, layer, channel)
        job.check()
        self._ensure_pattern(job, layer, channel)

    def _draw_quick(self, layer: str, channel: int, index: int) -> None:
        image = self.images[index:index + 1]
        act = activations(self.model, image, layer=layer)[layer][0, channel].numpy()
        logits = run_forward(self.model, image)
        cam: np.ndarray | None = None
        cam_title = "Grad-CAM: the model's output is not a class score vector"
        if isinstance(logits, torch.Tensor) and logits.ndim == 2:
            predicted = int(logits.argmax(dim=1))
            cam = grad_cam(self.model, image, predicted, layer=layer)[0, 0].numpy()
            zero = " (zero: no positive evidence here)" if not np.any(cam > 0) else ""
            cam_title = f"Grad-CAM of class {predicted} at {layer}{zero}"
        conv = producing_conv(self.all_infos, layer)
        weight = None if conv is None else conv_weight(self.model, conv)[channel].numpy()
        shown = self.images[index].numpy()
        truth = f", label {int(self.labels[index])}" if self.labels is not None else ""
        with self._drawing(self.figure):
            self.view.show_map(shown, act, f"map {channel} on image {index}{truth} (max {act.max():.3g})")
            self.view.show_cam(shown, cam, cam_title)
            self.view.show_filter(weight, "no conv filter makes this layer" if conv is None else
                                  f"filter {channel} of {conv} ({weight.shape[0]} input maps)"
                                  if weight is not None else "")
            self.view.show_pattern(self.patterns.get((layer, channel)),
                                   f"pattern of map {channel}" if (layer, channel) in self.patterns
                                   else "pattern: being optimised after the top-k pass")
            self._draw_topk(layer, channel)

    def _draw_topk(self, layer: str, channel: int) -> None:
        found = self.topk.get(layer)
        if found is None or found.seen == 0:
            self.view.show_topk(np.zeros((0,)), np.zeros((0,)), np.zeros((0, 4)), np.zeros(0),
                                "top patches: reading the data set")
            return
        order = found.indices[channel].numpy()
        values = found.values[channel].numpy()
        which = f"top {len(order)} of {found.seen:,} images" + ("" if found.done else " read so far")
        strongest = f"{values[0]:.3g}" if len(values) else "-"
        self.view.show_topk(found.crops[channel].numpy(), self.images[order].numpy(),
                            found.boxes[channel].numpy(), found.clipped[channel].numpy(),
                            f"map {channel}: {which}, strongest {strongest}")

    def _ensure_topk(self, job: Job, layer: str, channel: int) -> None:
        """Read the data set for the layer's top-k (resuming a stopped pass) and its statistics."""
        earlier = self.topk.get(layer)
        if earlier is None or not earlier.done:
            pace, last = Pace(), 0.0
            for found in iter_top_k(self.model, layer, self.images, self.k, batch_size=TOPK_BATCH,
                                    resume=earlier, cancel=lambda: job.cancelled):
                self.topk[layer] = found  # kept also when the job stops: the next pass resumes it
                now = time.perf_counter()
                if found.cancelled:
                    return
                if now - last >= DRAW_EVERY_S or found.done:
                    last = now
                    eta = pace.eta_text(found.seen, len(self.images), now)
                    with self._drawing(self.figure):
                        self._draw_topk(layer, channel)
                    self._set_status(f"reading the data set for the top {self.k}: {found.seen:,} of "
                                     f"{len(self.images):,} images{', ' + eta if eta else ''}")
        if layer not in self.stats:
            self.stats[layer] = channel_statistics(self.model, self.images, layer=layer)
        with self._drawing(self.figure):
            self._draw_topk(layer, channel)
        self._say_stats(layer, channel)

    def _say_stats(self, layer: str, channel: int) -> None:
        s = self.stats[layer]
        state = ("<b>dead</b> (zero on every image)" if s.dead[channel]
                 else "<b>saturated</b> (almost constant)" if s.saturated[channel] else "alive")
        self._set_status(f"<b>{layer}</b> map {channel}: {state}; mean {s.mean[channel]:.3g}, max "
                         f"{s.max[channel]:.3g}, zero on {100 * s.frac_zero[channel]:.0f}% of positions "
                         f"(over {s.count:,} images)")

    def _ensure_pattern(self, job: Job, layer: str, channel: int) -> None:
        """Optimise the channel's pattern (the OIP loop), drawing it as it grows; cached per map."""
        if (layer, channel) in self.patterns:
            return
        last, record = 0.0, None
        for record in optvis.run(self.model, optvis.objectives.channel(layer, channel), self.input_shape,
                                 settings=self.settings, cancel=lambda: job.cancelled):
            now = time.perf_counter()
            if now - last >= DRAW_EVERY_S or record.done:
                last = now
                with self._drawing(self.figure):
                    self.view.show_pattern(record.images[0].numpy(), f"pattern of map {channel}, "
                                           f"step {record.step}")
        if record is None or job.cancelled or record.reason == "cancelled":
            return
        self.patterns[(layer, channel)] = record.images[0].numpy()
        ended = ENDED.get(str(record.reason), str(record.reason))
        with self._drawing(self.figure):
            self.view.show_pattern(self.patterns[(layer, channel)],
                                   f"pattern of map {channel}: {ended} at step {record.step}")
        self._say_stats(layer, channel)
