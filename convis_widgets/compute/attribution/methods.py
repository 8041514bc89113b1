"""The attribution methods as one table: name, function, a line on what it shows, and what it takes.

Widgets and the CLI pick a method from :data:`METHODS` instead of switching on strings; every
entry is called the same way, ``METHODS[name](model, images, target, **options)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import nn

from ..inputs import Images
from .gradients import deconvnet, grad_cam, guided_backprop, saliency, smoothgrad
from .occlusion import occlusion
from .targets import Target

LAYER_OPTIONS = ("layer",)
NOISE_OPTIONS = ("samples", "noise", "seed")
WINDOW_OPTIONS = ("window", "stride", "baseline")
COMMON_OPTIONS = ("probabilities",)
OPTIONS = COMMON_OPTIONS + LAYER_OPTIONS + NOISE_OPTIONS + WINDOW_OPTIONS + ("cancel",)


@dataclass(frozen=True)
class Method:
    """One attribution method. ``title`` is how a picture names it; ``takes_layer``: it reads a layer
    (``layer=``); ``takes_samples``: it averages noisy copies (``samples=``, ``noise=``, ``seed=``);
    ``takes_window``: it slides a window (``window=``, ``stride=``, ``baseline=``); ``units``: what
    its values measure, for colour bars and read-outs; ``signed``: its values can be negative (a
    picture centres its colours on 0)."""

    name: str
    title: str
    function: Callable[..., torch.Tensor]
    description: str
    takes_layer: bool = False
    takes_samples: bool = False
    takes_window: bool = False
    takes_cancel: bool = False
    units: str = ""
    signed: bool = False

    @property
    def options(self) -> tuple[str, ...]:
        """The keyword options this method takes."""
        return (COMMON_OPTIONS + LAYER_OPTIONS * self.takes_layer + NOISE_OPTIONS * self.takes_samples
                + WINDOW_OPTIONS * self.takes_window + ("cancel",) * self.takes_cancel)

    def __call__(
        self, model: nn.Module, images: Images, target: Target = None, **options: object
    ) -> torch.Tensor:
        """The attribution, shaped like ``images``. Options that only other methods take are left out
        (so one call site can hand every method the same settings); unknown names raise a TypeError."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise TypeError(f"unknown attribution option(s) {unknown}; options: {', '.join(OPTIONS)}")
        mine = {k: v for k, v in options.items() if k in self.options and v is not None}
        return self.function(model, images, target, **mine)


METHODS: Mapping[str, Method] = MappingProxyType({m.name: m for m in (
    Method("saliency", "saliency", saliency,
           "gradient of the target score with respect to each pixel (its absolute value)",
           units="|d score / d pixel|"),
    Method("smoothgrad", "SmoothGrad", smoothgrad,
           "saliency averaged over noisy copies of the image: less speckle", takes_samples=True,
           takes_cancel=True, units="mean |d score / d pixel|"),
    Method("grad_cam", "Grad-CAM", grad_cam,
           "a layer's maps weighted by their mean gradient: where the class evidence sits, coarse",
           takes_layer=True, units="class evidence (weighted maps)"),
    Method("guided_backprop", "guided backprop", guided_backprop,
           "gradient passed back only where it and the ReLU's input are positive: sharp edges",
           units="guided d score / d pixel", signed=True),
    Method("deconvnet", "deconvnet", deconvnet,
           "gradient passed back only where it is positive (Zeiler and Fergus's projection)",
           units="projected d score / d pixel", signed=True),
    Method("occlusion", "occlusion", occlusion,
           "drop of the target score when a window of the image is covered, averaged per pixel",
           takes_window=True, takes_cancel=True, units="drop in class score", signed=True),
)})
"""Every attribution method by name, in the order a menu shows them."""

GRADIENT_METHODS = tuple(name for name, m in METHODS.items() if not m.takes_window)
"""Names of the gradient family (one backward pass or a few): every method but occlusion."""


def attribute(method: str, model: nn.Module, images: Images, target: Target = None,
              **options: object) -> torch.Tensor:
    """The attribution of ``method`` (a name in :data:`METHODS`); see :meth:`Method.__call__`."""
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; methods: {', '.join(METHODS)}")
    return METHODS[method](model, images, target, **options)
