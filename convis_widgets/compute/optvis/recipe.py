"""The parts of a run, built from its settings in Lucent's manner: a parameterisation
``(params, image_fn)``, a chain of random transforms, penalty terms of the loss, an update rule and the
image operations between steps. Each part is looked up in a table by the setting that names it, and
reads the live settings when it is called, so a change made mid-run applies from the next step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from . import param as parameterisations
from . import regularizers as reg
from .transforms import Transform, center_crop, compose, pad, random_affine


class LiveSettings(Protocol):
    """What the parts read from :class:`~.loop.Settings` (typed here to keep this module below the loop)."""

    lr: float
    l2: float
    tv: float
    value_range: tuple[float, float]
    blur_every: int
    blur_sigma: float
    bilateral_every: int
    bilateral_sigma_space: float
    bilateral_sigma_range: float
    clip: bool
    pad: int
    jitter: int
    scale: float
    rotate: float


Update = Callable[[Sequence[torch.Tensor], LiveSettings], None]
"""One optimiser step: takes the gradients of the parameters (in order) and the live settings."""


@dataclass(frozen=True)
class Penalty:
    """A term added to the loss, per image: ``term(image, live)`` weighted by the setting ``name``."""

    name: str
    term: Callable[[torch.Tensor, LiveSettings], torch.Tensor]


PENALTIES: tuple[Penalty, ...] = (
    Penalty("l2", lambda image, live: reg.l2_penalty(image, live.value_range[0])),
    Penalty("tv", lambda image, _live: reg.total_variation(image)),
)
"""The loss's penalty terms, each weighted by the setting of its name (0: off)."""


@dataclass(frozen=True)
class ImageOp:
    """An operation on the pixels every ``every`` steps, ``every`` being the setting of that name."""

    every: str
    apply: Callable[[torch.Tensor, LiveSettings], torch.Tensor]


IMAGE_OPS: tuple[ImageOp, ...] = (
    ImageOp("blur_every", lambda x, live: reg.gaussian_blur(x, live.blur_sigma)),
    ImageOp("bilateral_every",
            lambda x, live: reg.bilateral_filter(x, live.bilateral_sigma_space, live.bilateral_sigma_range)),
)
"""Filters applied to the pixels between steps (pixel parameterisation only); clipping comes last."""


def penalised(loss: torch.Tensor, image: torch.Tensor, live: LiveSettings) -> torch.Tensor:
    """``loss`` plus each penalty switched on, weighted by its setting (per image)."""
    for p in PENALTIES:
        weight = float(getattr(live, p.name))
        if weight:
            loss = loss + weight * p.term(image, live)
    return loss


def image_ops(x: torch.Tensor, live: LiveSettings, done: int) -> None:
    """Apply, in place, the image operations due after ``done`` updates, then clip to the range."""
    for op in IMAGE_OPS:
        every = int(getattr(live, op.every))
        if every and done % every == 0:
            x.copy_(op.apply(x, live))
    if live.clip:
        x.clamp_(*live.value_range)


def transform(live: LiveSettings, generator: torch.Generator, size: tuple[int, int], crop: bool,
              fill: float) -> Transform | None:
    """The random transforms for one step: of the image the model sees: pad, then shift, zoom and rotate,
    then (for objectives that read the output, whose size is fixed) crop back to ``size``."""
    parts: list[Transform] = []
    if live.pad:
        parts.append(pad(int(live.pad), fill))
    if live.jitter or live.scale or live.rotate:
        parts.append(random_affine(int(live.jitter), (1 - live.scale, 1 + live.scale), float(live.rotate),
                                   fill=fill, generator=generator))
    if live.pad and crop:
        parts.append(center_crop(*size))
    return compose(*parts) if parts else None


def _ascent(params: Sequence[torch.Tensor]) -> Update:
    """Mönchmeyer's update: move by lr times the gradient divided by its RMS (per image)."""

    def update(grads: Sequence[torch.Tensor], live: LiveSettings) -> None:
        for p, g in zip(params, grads, strict=True):
            rms = g.pow(2).reshape(g.shape[0], -1).mean(dim=1).sqrt()
            shape = (-1,) + (1,) * (g.ndim - 1)
            p.sub_(g * (live.lr / rms.clamp_min(1e-20)).reshape(shape))

    return update


def _adam(params: Sequence[torch.Tensor]) -> Update:
    """Adam (Lucent's optimiser), its learning rate read from the live settings every step."""
    adam = torch.optim.Adam(params, lr=0.0)

    def update(grads: Sequence[torch.Tensor], live: LiveSettings) -> None:
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        for group in adam.param_groups:
            group["lr"] = live.lr
        adam.step()

    return update


UPDATES: dict[str, Callable[[Sequence[torch.Tensor]], Update]] = {"ascent": _ascent, "adam": _adam}
"""The update rules, by the value of the ``optimizer`` setting."""


@dataclass(frozen=True)
class Parts:
    """What a run optimises (``params``), how they become the image (``image``) and how a step moves
    them (``update``); ``pixel`` says whether the image operations apply between steps."""

    params: list[torch.Tensor]
    image: parameterisations.ImageFn
    update: Update
    pixel: bool


def build(param: str, optimizer: str, start: torch.Tensor, *, decorrelate: bool, decay: float,
          value_range: tuple[float, float]) -> Parts:
    """The parts named by the at-start settings ``param`` and ``optimizer``, from the start image."""
    if optimizer not in UPDATES:
        raise ValueError(f"optimizer must be one of {tuple(UPDATES)}, got {optimizer!r}")
    params, image_fn = parameterisations.parameterise(param, start, decorrelate=decorrelate, decay=decay,
                                                      value_range=value_range)
    return Parts(params, image_fn, UPDATES[optimizer](params), param == "pixel")
