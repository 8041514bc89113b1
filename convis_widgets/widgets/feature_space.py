"""`FeatureSpace`: a data set's features at any layer in 2-D (PCA or t-SNE) coloured by label; a
click on a point shows that image beside its nearest neighbours in feature space and in pixel
space (the lecture notes "Visualizing and understanding CNNs": the first are alike in class, the
second in pixels)."""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from matplotlib.backend_bases import MouseEvent
from traitlets import Bunch, Int, Unicode, validate

from ..analysis.feature_space import Neighbours, Projection, features, pca, pixels, tsne
from ..compute.inputs import ImageData
from ..compute.probe import LayerInfo
from ..jobs import Job
from ..render.feature_space import NEIGHBOURS, FeatureSpaceView
from .base import one_of
from .default_data import builtin_data, labelled_images
from .layer_picker import LayerPicker
from .progress import Pace

METHODS = [("PCA", "pca"), ("t-SNE", "tsne")]


class FeatureSpace(LayerPicker):
    """Pick a layer and a projection; see every image of ``dataset`` as a point coloured by its
    label; click a point (or set ``query``) to see its neighbours in feature and pixel space.

    ``dataset``: an ``ImageDataset`` (labels colour the points) or an (N, C, H, W) tensor; default
    the built-in test set that fits the model (1,000 real MNIST digits for a 28x28 model).
    Keyword arguments are the traits ``layer``, ``layers``, ``method`` ("pca" or "tsne") and
    ``query`` (an image index, -1 for none).
    """

    layer_need = "feature space needs a layer with a (C, H, W) or flat output"

    layer = Unicode()
    method = Unicode("pca")
    query = Int(-1)

    def __init__(self, model: torch.nn.Module, dataset: ImageData | None = None, *,
                 figsize: tuple[float, float] = (9.0, 4.4), **choices: Any) -> None:
        super().__init__(**choices)
        self.model = model
        self.dataset = dataset if dataset is not None else builtin_data(model, "test", "FeatureSpace")
        self.data_view = labelled_images(model, self.dataset)
        self.images, self.labels = self.data_view.images, self.data_view.labels
        infos = self._find_layers(model, tuple(int(s) for s in self.images.shape[1:]))
        self.layer_infos: list[LayerInfo] = [i for i in infos if len(i.output_shape) in (1, 3)]
        self.vectors: dict[str, np.ndarray] = {}
        self.projections: dict[tuple[str, str], Projection] = {}
        self._neighbours: dict[str, Neighbours] = {}
        self._pixel_neighbours: Neighbours | None = None

        self.layer_dropdown = self._control("layer", w.Dropdown(description="layer"))
        self.layers_toggle = self._layers_toggle()
        self.method_buttons = self._control("method", w.ToggleButtons(
            options=METHODS, style={"button_width": "auto"},
            tooltips=["principal components: a linear projection, instant",
                      "t-SNE: keeps near points near, takes seconds"]))
        self.figure = self._new_figure(figsize)
        self.view = FeatureSpaceView(self.figure)
        self.figure.canvas.mpl_connect("button_press_event", self._guarded(self._on_click, reraise=False))
        self.children = [w.HBox([self.layer_dropdown, self.layers_toggle, self.method_buttons],
                                layout=w.Layout(flex_flow="row wrap")),
                         self.figure.canvas, self.status, self.errors]

        self._set_choices({"layers": self._first_view(choices.pop("layers", None))})
        layer = choices.pop("layer", None)
        listed = [i.name for i in self._listed()]
        last_hidden = listed[-2] if len(listed) > 1 else listed[-1]  # the features before the scores
        self._set_choices({"layer": self._layer_name(layer if layer is not None else last_hidden)})
        self._set_choices(choices)
        self._fit_layer_picker()
        self._link_controls()
        self._observe(self._refresh, names=["layer", "method", "query"])
        self._refresh()

    @validate("method")
    def _valid_method(self, proposal: Bunch) -> str:
        return str(one_of(proposal, METHODS))

    @validate("query")
    def _valid_query(self, proposal: Bunch) -> int:
        value, n = int(proposal["value"]), len(self.images)
        if not -1 <= value < n:
            raise ValueError(f"query must be an image index from 0 to {n - 1} (or -1 for none); got {value}")
        return value

    def _on_click(self, event: MouseEvent) -> None:
        """A click near a point makes its image the query."""
        if event.inaxes is not self.view.ax_scatter:
            return
        index = self.view.point_at(event.x, event.y)
        if index is not None:
            self.query = index

    def neighbours(self, index: int, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest images to image ``index`` in feature space (at the current layer) and in
        pixel space, nearest first (the image itself left out)."""
        if self.layer not in self._neighbours:
            self._neighbours[self.layer] = Neighbours(self._vectors(self.layer))
        if self._pixel_neighbours is None:
            self._pixel_neighbours = Neighbours(pixels(self.images))
        return self._neighbours[self.layer].query(index, k)[0], self._pixel_neighbours.query(index, k)[0]

    def _vectors(self, layer: str, job: Job | None = None) -> np.ndarray:
        if layer not in self.vectors:
            cancel = (lambda: job.cancelled) if job is not None else None
            self.vectors[layer] = features(self.model, layer, self.images, cancel=cancel)
        return self.vectors[layer]

    def _refresh(self, _change: Bunch | None = None) -> None:
        layer, method, query = self.layer, self.method, self.query
        self._submit(lambda job: self._work(job, layer, method, query))

    def _work(self, job: Job, layer: str, method: str, query: int) -> None:
        vectors = self._vectors(layer, job)
        job.check()
        key = (layer, method)
        if (layer, "pca") not in self.projections:
            self.projections[(layer, "pca")] = pca(vectors)
        if key not in self.projections:
            self._show(layer, "pca", self.projections[(layer, "pca")], query,
                       note="; t-SNE starts from it (the neighbour search takes a few seconds)")
            job.check()
            pace = Pace()

            def step(iteration: int, of: int, points: np.ndarray) -> None:
                eta = pace.eta_text(iteration, of, time.monotonic())
                self._show(layer, method, Projection(points, method), query,
                           note=f" (iteration {iteration} of {of}, {eta})")

            self.projections[key] = tsne(vectors, progress=step, cancel=lambda: job.cancelled)
            job.check()
        self._show(layer, method, self.projections[key], query)

    def _show(self, layer: str, method: str, projection: Projection, query: int, note: str = "") -> None:
        name = dict((v, k) for k, v in METHODS)[method]
        dims = self.vectors[layer].shape[1]
        share = ""
        if projection.explained_variance_ratio is not None:
            share = f", {100 * float(projection.explained_variance_ratio[:2].sum()):.0f}% of the variance"
        title = f"{layer} ({dims:,} numbers per image): {name}{share}"
        none = np.zeros(0, dtype=int)
        feature, pixel = self.neighbours(query) if query >= 0 else (none, none)
        with self._drawing(self.figure):
            self.view.show_points(projection.points, self.labels, self.data_view.classes, title)
            if query >= 0:
                name_of = self.data_view.name
                names = [name_of(i) for i in range(len(self.images))]
                self.view.show_query(self.images[query].numpy(), f"picked: {name_of(query)}", query,
                                     feature, pixel, self.images.numpy(), names)
        said = f"{len(self.images):,} images at <b>{layer}</b> by {name}{note}"
        if query >= 0 and self.labels is not None:
            same = [int((self.labels[idx] == self.labels[query]).sum()) for idx in (feature, pixel)]
            said += (f"; image {query}: {same[0]} of {len(feature)} feature-space neighbours share its "
                     f"label, {same[1]} of {len(pixel)} pixel-space ones")
        elif query < 0:
            said += "; click a point to see its nearest neighbours"
        self._set_status(said)
