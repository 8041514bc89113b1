"""`LatentExplorer`: walk an autoencoder's latent space. Sliders move a code along the main
directions of the training codes; "samples" decodes codes drawn from the normal distribution fitted
to them; "line" decodes the codes between two images'. Codes far from every training code are
framed, after R. Mönchmeyer's "Autoencoders and latent space fragmentation"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from traitlets import Bunch, Float, Int, List, Unicode, validate

from ..compute.errors import InputError
from ..compute.inputs import ImageData
from ..compute.latent import (
    FAR_QUANTILE,
    Fragmentation,
    LatentDistribution,
    autoencoder_parts,
    decode,
    encode,
    fit_latent,
    fragmentation,
    interpolate,
)
from ..jobs import Job
from ..render.latent import LatentView
from .base import ConvisWidget, one_of
from .default_data import builtin_data, labelled_images

MODES = [("directions", "directions"), ("samples", "samples"), ("line", "line")]
MODE_CONTROLS = {"directions": ("sliders", "reset"), "samples": ("new_samples",), "line": ("line",)}
DIRECTIONS = 6
SLIDER_RANGE = 3.0
SAMPLES = 16


@dataclass(frozen=True)
class Encoded:
    """The data set's codes, their fitted distribution, and the codes in the first two directions."""

    codes: torch.Tensor
    distribution: LatentDistribution
    in_2d: np.ndarray


class LatentExplorer(ConvisWidget):
    """Decode points of ``autoencoder``'s latent space, fitted to the codes of ``dataset`` (default:
    the built-in training set that fits its input: 4,000 real MNIST digits for 1x28x28).

    ``autoencoder``: an ``nn.Module`` with ``encode``/``decode`` methods or ``encoder``/``decoder``
    submodules (as ``pretrained_digits_autoencoder()``). Keyword arguments are the traits ``mode``
    ("directions", "samples" or "line"), ``position`` (standard deviations along the first directions),
    ``seed`` (of the samples), ``image_a``, ``image_b`` and ``line_steps``.
    """

    mode = Unicode("directions")
    position = List(Float(), help="standard deviations along directions 1, 2, ... of the training codes")
    seed = Int(0)
    image_a = Int(0)
    image_b = Int(1)
    line_steps = Int(8)

    def __init__(self, autoencoder: torch.nn.Module, dataset: ImageData | None = None, *,
                 figsize: tuple[float, float] = (8.6, 3.6), **choices: Any) -> None:
        super().__init__(**choices)
        autoencoder_parts(autoencoder)
        self.model = autoencoder
        if dataset is None:
            dataset = builtin_data(autoencoder, "train", "LatentExplorer")
        self.dataset = dataset
        self.data_view = labelled_images(autoencoder, self.dataset)
        self.images, self.labels = self.data_view.images, self.data_view.labels
        if len(self.images) < 2:
            raise InputError(f"LatentExplorer fits the codes of a data set: it needs at least 2 images; got "
                             f"{len(self.images)}")
        self.encoded: Encoded | None = None
        self.directions = DIRECTIONS

        self.mode_buttons = self._control("mode", w.ToggleButtons(
            options=MODES, style={"button_width": "auto"},
            tooltips=["move one code along the main directions of the training codes",
                      "decode codes drawn from the normal distribution fitted to the training codes",
                      "decode the codes on the line between two images' codes"]))
        self.sliders = [w.FloatSlider(0.0, min=-SLIDER_RANGE, max=SLIDER_RANGE, step=0.1,
                                      description=f"direction {k + 1}", continuous_update=False,
                                      readout_format="+.1f") for k in range(DIRECTIONS)]
        for slider in self.sliders:
            slider.observe(self._guarded(self._slider_moved), names="value")
        self.slider_box = self._tag(w.HBox(self.sliders, layout=w.Layout(flex_flow="row wrap")), "sliders")
        self.reset_button = self._button("Back to the mean", "reset", self.reset)
        self.samples_button = self._button("New samples", "new-samples", self.new_samples, icon="refresh")
        n = len(self.images)
        self.line_box = self._tag(w.HBox([
            self._control("image_a", w.IntSlider(0, min=0, max=n - 1, description="image A",
                                                 continuous_update=False)),
            self._control("image_b", w.IntSlider(1, min=0, max=n - 1, description="image B",
                                                 continuous_update=False)),
            self._control("line_steps", w.IntSlider(8, min=3, max=12, description="steps",
                                                    continuous_update=False)),
        ], layout=w.Layout(flex_flow="row wrap")), "line")
        self.figure = self._new_figure(figsize)
        self.view = LatentView(self.figure)
        self.mode_rows = {"sliders": self.slider_box, "reset": self.reset_button,
                          "new_samples": self.samples_button, "line": self.line_box}
        self.children = [w.HBox([self.mode_buttons, self.reset_button, self.samples_button],
                                layout=w.Layout(flex_flow="row wrap")),
                         self.slider_box, self.line_box, self.figure.canvas, self.status, self.errors]
        if "image_b" not in choices and self.labels is not None:  # by default a line between two classes
            other = np.flatnonzero(self.labels != self.labels[choices.get("image_a", 0)])
            choices["image_b"] = int(other[0]) if len(other) else 1
        self._set_choices(choices)
        self._link_controls()
        self._show_mode_controls()
        self._observe(self._show_mode_controls, names="mode")
        self._observe(self._move_sliders, names="position")
        self._observe(self._refresh, names=["mode", "position", "seed", "image_a", "image_b", "line_steps"])
        self._set_status("encoding the data set...")
        self._refresh()

    # ----- checks -----

    @validate("mode")
    def _valid_mode(self, proposal: Bunch) -> str:
        return str(one_of(proposal, MODES))

    @validate("position")
    def _valid_position(self, proposal: Bunch) -> list[float]:
        value = [float(v) for v in proposal["value"]]
        if len(value) > DIRECTIONS:
            raise ValueError(f"position holds at most {DIRECTIONS} numbers (one per direction slider); "
                             f"got {len(value)}")
        if any(not abs(v) <= SLIDER_RANGE for v in value):
            raise ValueError(f"each step must be within -{SLIDER_RANGE} to {SLIDER_RANGE} standard "
                             f"deviations; got {value}")
        return value

    @validate("image_a", "image_b")
    def _valid_image(self, proposal: Bunch) -> int:
        value, n = int(proposal["value"]), len(self.images)
        if not 0 <= value < n:
            raise IndexError(f"{proposal['trait'].name} must be an image index in 0..{n - 1}; got {value}")
        return value

    @validate("line_steps")
    def _valid_steps(self, proposal: Bunch) -> int:
        value = int(proposal["value"])
        if not 3 <= value <= 12:
            raise ValueError(f"line_steps must be from 3 to 12; got {value}")
        return value

    # ----- controls -----

    def _show_mode_controls(self, _change: Bunch | None = None) -> None:
        shown = MODE_CONTROLS[self.mode]
        for name, control in self.mode_rows.items():
            control.layout.display = None if name in shown else "none"

    def _slider_moved(self, _change: Bunch) -> None:
        steps = [s.value for s in self.sliders]
        while steps and steps[-1] == 0:
            steps.pop()
        if steps != list(self.position):
            self.position = steps

    def _move_sliders(self, _change: Bunch) -> None:
        padded = list(self.position) + [0.0] * (DIRECTIONS - len(self.position))
        for slider, value in zip(self.sliders, padded, strict=True):
            if slider.value != value:
                slider.value = value

    def reset(self) -> None:
        """Back to the mean of the training codes (every slider at 0)."""
        self.position = []

    def new_samples(self) -> None:
        """Draw another set of codes (the next seed)."""
        self.seed += 1

    # ----- the work -----

    def _refresh(self, _change: Bunch | None = None) -> None:
        state = (self.mode, list(self.position), self.seed, self.image_a, self.image_b, self.line_steps)
        self._submit(lambda job: self._work(job, *state))

    def _encode(self, job: Job) -> Encoded:
        if self.encoded is None:
            codes = encode(self.model, self.images, cancel=lambda: job.cancelled)
            dist = fit_latent(codes)
            flat = codes.flatten(1) - dist.mean
            in_2d = (flat @ dist.directions[:2].T / dist.variances[:2].sqrt().clamp_min(1e-12)).numpy()
            self.encoded = Encoded(codes, dist, in_2d)
            self.directions = min(DIRECTIONS, len(dist.mean))
            for k, slider in enumerate(self.sliders):
                share = float(dist.explained[k]) if k < len(dist.mean) else 0.0
                slider.description = f"direction {k + 1} ({share:.0%})"
                slider.disabled = k >= len(dist.mean)
        return self.encoded

    def _work(self, job: Job, mode: str, position: list[float], seed: int, a: int, b: int, steps: int
              ) -> None:
        enc = self._encode(job)
        job.check()
        if mode == "directions":
            self._show_point(enc, position[: self.directions])
        elif mode == "samples":
            self._show_samples(enc, seed)
        else:
            self._show_line(enc, a, b, steps)

    def _frag(self, enc: Encoded, codes: torch.Tensor) -> Fragmentation:
        return fragmentation(codes, enc.codes, quantile=FAR_QUANTILE)

    def _images(self, codes: torch.Tensor) -> np.ndarray:
        return decode(self.model, codes).clamp(0, 1).numpy()

    def _show_point(self, enc: Encoded, position: list[float]) -> None:
        dist = enc.distribution
        code = dist.point(position)
        frag = self._frag(enc, code)
        near = int(frag.nearest[0])
        point_2d = np.array([position[k] if k < len(position) else 0.0 for k in range(2)])
        with self._drawing(self.figure):
            self.view.show_point(self._images(code)[0], self.images[near].numpy(), self.data_view.name(near),
                                 float(frag.distances[0]), bool(frag.far[0]), enc.in_2d, self.labels,
                                 point_2d, position or [0.0], frag.threshold, frag.quantile)
        shown = min(self.directions, DIRECTIONS)
        share = float(dist.explained[:shown].sum())
        where = "far from every training code" if bool(frag.far[0]) else "among the training codes"
        self._set_status(f"{len(enc.codes):,} images encoded to {len(dist.mean)} numbers each; the "
                         f"sliders' {shown} directions hold {share:.0%} of their variance. This code lies "
                         f"<b>{where}</b> (nearest: {self.data_view.name(near)}, distance "
                         f"{float(frag.distances[0]):.1f}; far means beyond {frag.threshold:.1f})")

    def _show_samples(self, enc: Encoded, seed: int) -> None:
        codes = enc.distribution.sample(SAMPLES, seed=seed)
        frag = self._frag(enc, codes)
        with self._drawing(self.figure):
            self.view.show_samples(self._images(codes), frag.distances.numpy(), frag.far.numpy(),
                                   frag.threshold, frag.quantile, seed)
        self._set_status(f"{int(frag.far.sum())} of {SAMPLES} sampled codes lie far from every encoded "
                         f"training image: the codes fill only part of the normal distribution fitted to "
                         f"them. New samples draws another {SAMPLES}.")

    def _show_line(self, enc: Encoded, a: int, b: int, steps: int) -> None:
        codes = interpolate(enc.codes[a], enc.codes[b], steps)
        frag = self._frag(enc, codes)
        nearest = self.images[frag.nearest].numpy()
        names = self.data_view.name(a), self.data_view.name(b)
        with self._drawing(self.figure):
            self.view.show_line((self.images[a].numpy(), self.images[b].numpy()),
                                names, self._images(codes), nearest,
                                frag.distances.numpy(), frag.far.numpy(),
                                frag.threshold, frag.quantile)
        self._set_status(f"{steps} codes from {names[0]} to {names[1]}: {int(frag.far.sum())} "
                         "lie far from every encoded training image")
