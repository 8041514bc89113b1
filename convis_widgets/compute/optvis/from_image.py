"""The optimisation loop started from a user's image: feature inversion (which images does a layer
take for this one?) and DeepDream (what does a layer or one of its maps add to it?). Both are
:func:`.loop.run` iterators, so Stop, live settings and progress work as in feature visualisation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ..access import open_model
from ..cancel import Cancel
from ..inputs import Images, Layer, check_images
from . import objectives
from .loop import OnStep, Settings, Step, run

INVERSION_DEFAULTS: dict[str, Any] = dict(init="normal", steps=256, lr=0.05, optimizer="adam", l2=1e-3,
                                          tv=2e-3, blur_every=0, precursor=0)
"""Inversion from noise with the L2 and total-variation regularisers of Mahendran and Vedaldi."""
DREAM_DEFAULTS: dict[str, Any] = dict(steps=64, lr=0.01, blur_every=0, jitter=2, precursor=0)
"""DeepDream from the image: small steps, a little jitter, no start search (the image is the start)."""


def _one_image(model: nn.Module, image: Images) -> torch.Tensor:
    x = check_images(image, model=model, device="cpu")
    if len(x) != 1:
        raise ValueError(f"give one image, (C, H, W) or (1, C, H, W); got a batch of {len(x)}")
    return x


def _settings(settings: Settings | None, defaults: dict[str, Any], overrides: dict[str, Any]) -> Settings:
    """The given settings (read live), else the technique's defaults, with ``overrides`` on top."""
    base = settings if settings is not None else Settings().replace(**defaults)
    return base.replace(**overrides) if overrides else base


def target_features(model: nn.Module, image: Images, *, layer: Layer) -> tuple[str, torch.Tensor]:
    """The layer's name and its output for one image (without the batch): what inversion matches."""
    x = _one_image(model, image)
    access = open_model(model)
    name = access.resolve(layer)[0]
    with access.reader([name]) as read, torch.no_grad():
        return name, read(x.to(access.device))[name][0].detach().cpu()


def feature_distance(model: nn.Module, images: Images, target: torch.Tensor, *, layer: Layer) -> torch.Tensor:
    """Per image, the squared distance of its ``layer`` output to ``target`` over the target's squared
    norm (0: the layer cannot tell it from the target image)."""
    x = check_images(images, model=model, device="cpu")
    access = open_model(model)
    name = access.resolve(layer)[0]
    objective = objectives.feature_match(name, target)
    with access.reader([name]) as read, torch.no_grad():
        return -objective(read(x.to(access.device))).cpu()


def invert(model: nn.Module, image: Images, *, layer: Layer, settings: Settings | None = None,
           cancel: Cancel = None, on_step: OnStep | None = None, **overrides: Any) -> Iterator[Step]:
    """From noise, grow an image whose ``layer`` features match ``image``'s (its objective value is
    minus the relative feature distance); ``settings`` default to :data:`INVERSION_DEFAULTS`."""
    x = _one_image(model, image)
    name, target = target_features(model, x, layer=layer)
    live = _settings(settings, INVERSION_DEFAULTS, overrides)
    return run(model, objectives.feature_match(name, target), tuple(x.shape[1:]), settings=live,
               cancel=cancel, on_step=on_step)


def deep_dream(model: nn.Module, image: Images, *, layer: Layer, channel: int | None = None,
               settings: Settings | None = None, cancel: Cancel = None, on_step: OnStep | None = None,
               **overrides: Any) -> Iterator[Step]:
    """Starting from ``image``, amplify what ``layer`` (the mean squared activation of the whole
    layer) or one of its maps (``channel``) sees in it; ``settings`` default to :data:`DREAM_DEFAULTS`.
    Given settings that start from an image are read live; others go into a copy that starts from it."""
    x = _one_image(model, image)
    name = open_model(model).resolve(layer)[0]
    objective = objectives.layer(name) if channel is None else objectives.channel(name, channel)
    if settings is not None and not overrides and isinstance(settings.init, torch.Tensor):
        live = settings  # an image start already: read live, as run reads given settings
    else:
        live = _settings(settings, DREAM_DEFAULTS, {**overrides, "init": x[0].clone()})
    return run(model, objective, tuple(x.shape[1:]), settings=live, cancel=cancel, on_step=on_step)

