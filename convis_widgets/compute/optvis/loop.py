"""The OIP loop (R. Mönchmeyer, "A simple CNN for the MNIST dataset"): gradient ascent on the input
image, reporting at log-spaced steps.

``run`` yields :class:`Step` records; it reads its :class:`Settings` object every step, so a widget
can change the learning rate or a regulariser while it runs. The model is optimised never: only
the image; hooks come off and the model comes back as it went in, also on error or when the
iterator is dropped half-way.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .._compat import renamed_kwargs, warn
from ..access import ModelAccess, open_model
from ..cancel import Cancel, stopper
from ..inputs import ImageData
from . import init as init_images
from . import recipe
from .objectives import OUTPUT, Objective
from .settings import FIELDS, LIVE, ROWS, TABLE

UNRESPONSIVE_PATIENCE = 10
"""Steps with every objective value exactly zero after which a run ends as "unresponsive"."""


class Settings:
    """Every choice of a run, with defaults for the 28-32 px CNNs our users train: one attribute per
    row of :data:`.settings.TABLE` (its help lines: ``optvis.settings.docs()``).

    Settings marked live are read every step, so changing them on a running loop's object applies
    from the next step; the others (steps, init, seed, param, precursor, ...) only at the start.
    """

    __slots__ = ("_data",)

    def __init__(self, **kw: Any) -> None:
        unknown = sorted(set(kw) - set(FIELDS))
        if unknown:
            raise TypeError(f"unknown setting(s) {unknown}; valid settings: {', '.join(FIELDS)}")
        object.__setattr__(self, "_data", {row.name: row.default for row in TABLE})
        for name, value in kw.items():
            setattr(self, name, value)
        self.validate()

    def __getattr__(self, name: str) -> Any:
        if name != "_data" and name in self._data:
            return self._data[name]
        raise AttributeError(f"Settings has no setting {name!r}; valid settings: {', '.join(FIELDS)}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in ROWS:
            raise AttributeError(f"Settings has no setting {name!r}; valid settings: {', '.join(FIELDS)}")
        if ROWS[name].kind in ("range", "ints", "numbers"):
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                raise ValueError(f"{name} must be a sequence of numbers, got {value!r}")
            value = tuple(value)
        self._data[name] = value

    def validate(self) -> None:
        """Raise a ValueError that names every setting with an impossible value, what it got and
        what is allowed (the rules of :data:`.settings.TABLE`, and the checks across settings)."""
        problems = [p for row in TABLE if (p := row.problem(self._data[row.name])) is not None]
        if len(self.init_grids) != len(self.init_amplitudes):
            problems.append(f"init_amplitudes must be one amplitude per grid ({len(self.init_grids)} grids), "
                            f"got {self.init_amplitudes!r}")
        init = self.init
        if isinstance(init, (torch.Tensor, np.ndarray)):
            image = torch.as_tensor(init)
            if not image.is_floating_point():
                problems.append(f"init image must hold floats in value_range {self.value_range}, got dtype "
                                f"{image.dtype}: convert it first, e.g. x.float() / 255")
            elif not bool(torch.isfinite(image).all()):
                problems.append("init image contains NaN or Inf values")
        elif not isinstance(init, str):
            problems.append(f"init must be one of {init_images.KINDS} or an image tensor/array, got "
                            f"{type(init).__name__}")
        if problems:
            raise ValueError("; ".join(problems))

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (unknown names raise a TypeError listing valid ones)."""
        return Settings(**{**self._values(), **changes})

    def _values(self) -> dict[str, Any]:
        return dict(self._data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields (tuples become lists, an image init a nested list)."""
        out: dict[str, Any] = {}
        for k, v in self._values().items():
            if isinstance(v, torch.Tensor):
                v = v.detach().cpu().tolist()
            elif isinstance(v, np.ndarray):
                v = v.tolist()
            elif isinstance(v, tuple):
                v = list(v)
            out[k] = v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settings:
        """Settings back from :meth:`to_dict` (a list init becomes an image tensor)."""
        d = dict(data)
        if isinstance(d.get("init"), list):
            d["init"] = torch.tensor(d["init"], dtype=torch.float32)
        return cls(**d)

    @classmethod
    def imagenet(cls, **changes: Any) -> Settings:
        """Preset for 224-px ImageNet-style models (Lucent's recipe): Lucent's start (a random
        spectrum, randn * 0.01: ``init="spectrum"``) in the spectral parameterisation (1/f scaling,
        divided by 4, decorrelated colour, sigmoid), Adam 0.05, pad 12, jitter 8, zoom 0.9-1.1,
        rotation +-10 degrees. Its start, contrast and step sizes match
        ``lucent.optvis.param.image(w, fft=True, decorrelate=True)``."""
        base = dict(steps=512, lr=0.05, optimizer="adam", param="fft", init="spectrum", clip=False,
                    blur_every=0, jitter=8, scale=0.1, rotate=10.0, pad=12, precursor=0)
        return cls(**{**base, **changes})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        changed = {k: v for k, v in self._values().items()
                   if not isinstance(v, torch.Tensor) and v != ROWS[k].default}
        shown = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"Settings({shown})"


@dataclass
class Step:
    """One report of the loop. ``step`` counts the updates done; images are CPU float32 (B, C, H, W);
    ``value``: the objective's value for each image (``loss`` adds the penalties and flips the sign)."""

    step: int
    images: torch.Tensor
    loss: torch.Tensor
    value: torch.Tensor
    done: bool = False
    reason: str | None = None
    rel_change: float | None = None
    elapsed: float = 0.0
    responded: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))
    changed: dict[str, Any] = field(default_factory=dict)
    """Live settings whose new value the loop took up since the previous record: name -> value."""
    changed_at: dict[str, int] = field(default_factory=dict)
    """The step at which each of ``changed`` was first read."""

    @property
    def activation(self) -> torch.Tensor:
        """Old name of :attr:`value` (it holds the objective's value, not an activation)."""
        warn("Step.activation", "Step.value (the objective's value)")
        return self.value


@dataclass(frozen=True)
class Tick:
    """What the loop knows cheaply after every step, for progress displays: no images. ``value``:
    the objective's value per image (CPU, the copy the loop makes anyway); ``changed``: live
    settings first read at this step, name -> value."""

    step: int
    elapsed: float
    value: torch.Tensor
    done: bool = False
    reason: str | None = None
    changed: Mapping[str, Any] = field(default_factory=dict)


OnStep = Callable[[Tick], None]
"""A per-step callback of :func:`run`: called with a :class:`Tick` after every step."""


def report_steps(steps: int, report: str | int = "log", n_reports: int = 6) -> list[int]:
    """Steps that get a record: 0, then Mönchmeyer's doubling steps (first = steps // 2**n_reports)
    or every ``report`` steps, and always the last step (``steps``: the image after every update)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    last = steps
    out = {0, last}
    if report == "log":
        first = max(1, int(steps / 2**n_reports))
        out.update(first * 2**k for k in range(n_reports) if first * 2**k < last)
    elif isinstance(report, (int, np.integer)) and not isinstance(report, bool) and report >= 1:
        out.update(range(0, last, int(report)))
    else:
        raise ValueError(f'report must be "log" or an int k >= 1 (every k steps), got {report!r}')
    return sorted(out)


@renamed_kwargs(names="layer")
def output_shapes(
    model: nn.Module, layer: Sequence[str], input_shape: Sequence[int]
) -> dict[str, tuple[int, ...]]:
    """Per-example output shapes of the named layers (and ``OUTPUT``) from one dry forward pass.

    Unknown layer names raise a LayerNotFoundError that lists the valid ones.
    """
    return _shapes(open_model(model), layer, tuple(input_shape))


def _shapes(access: ModelAccess, names: Sequence[str], shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    layers = [n for n in names if n != OUTPUT]
    with torch.no_grad():
        acts = access.outputs(access.zeros(shape), layers, output=OUTPUT in names)
    return {k: tuple(v.shape[1:]) for k, v in acts.items()}


Reader = Callable[[torch.Tensor], dict[str, torch.Tensor]]


def _reader(access: ModelAccess, objective: Objective) -> AbstractContextManager[Reader]:
    """What the objective reads for images: its layers' outputs (graph kept), and the model output
    when it needs it (otherwise each pass stops after the last of its layers)."""
    layers = [n for n in sorted(objective.layers) if n != OUTPUT]
    return access.reader(layers, detach=False, output=objective.needs_output)


def run(
    model: nn.Module,
    objective: Objective,
    input_shape: Sequence[int] | None = None,
    *,
    settings: Settings | None = None,
    cancel: Cancel = None,
    data: ImageData | None = None,
    on_step: OnStep | None = None,
    **overrides: Any,
) -> Iterator[Step]:
    """Optimise images to maximise ``objective``; yields :class:`Step` records (see report_steps),
    always ending with one whose ``done`` is True and that holds the last good images.

    ``settings`` given without overrides is read live every step; overrides go into a copy.
    ``cancel`` (an Event or a function, see :mod:`..cancel`) is read every step. ``on_step``, if
    given, gets a :class:`Tick` after every step (no image copy: records are for pictures, ticks
    for progress). ``data`` feeds ``init="mean"`` (and gives the input shape when ``input_shape``
    is None). Bad layers, indices or settings raise here, before the first step.
    """
    if not isinstance(objective, Objective):
        raise TypeError(f"objective must be an optvis Objective (e.g. objectives.channel(...)), got "
                        f"{type(objective).__name__}")
    if settings is not None and not isinstance(settings, Settings):
        raise TypeError(f"settings must be an optvis.Settings, got {type(settings).__name__}")
    if overrides or settings is None:
        live = (settings or Settings()).replace(**overrides)
    else:
        live = settings
    access = open_model(model)
    c, h, w = access.input_shape(input_shape, spatial=True, images=data)
    shape = (c, h, w)
    objective.check(_shapes(access, sorted(objective.layers), shape))
    batch = objective.batch if objective.batch is not None else live.batch
    start = _start_images(live, shape, batch, data)
    return _loop(access, objective, shape, live, start, stopper(cancel), on_step)


def _start_images(live: Settings, shape: tuple[int, int, int], batch: int, data: ImageData | None
                  ) -> torch.Tensor:
    kw: dict[str, Any] = {}
    if isinstance(live.init, str) and live.init == "multiscale":
        kw = dict(grids=live.init_grids, amplitudes=live.init_amplitudes, smooth=live.init_smooth)
    elif isinstance(live.init, str) and live.init == "spectrum":  # Lucent's start for this spectrum
        kw = dict(decay=live.fft_decay, decorrelate=live.decorrelate)
    return init_images.initial_image(live.init, shape, live.seed, batch=batch, data=data,
                                      value_range=live.value_range, **kw)


def _precursor(read: Reader, objective: Objective, start: torch.Tensor, live: Settings,
               shape: tuple[int, int, int]) -> torch.Tensor:
    """Start each image from the best of ``live.precursor`` candidates (and its own start)."""
    cands = init_images.candidate_starts(shape, live.precursor, seed=live.seed + 7919,
                                         grids=live.init_grids, value_range=live.value_range)
    cands = cands.to(start)
    best, best_value = start.clone(), None
    with torch.no_grad():
        for k in range(-1, len(cands)):
            x = start if k < 0 else cands[k:k + 1].expand_as(start)
            value = objective(read(x))
            if best_value is None:
                best_value = value
                continue
            better = value > best_value
            best[better] = x[better]
            best_value = torch.where(better, value, best_value)
    return best


def _loop(access: ModelAccess, objective: Objective, shape: tuple[int, int, int], live: Settings,
          start: torch.Tensor, stop: Callable[[], bool], on_step: OnStep | None) -> Iterator[Step]:
    """The run itself. Images are optimised in float32 on the model's device (a half-precision
    model gets a cast copy); gradients are taken for the images only, with autograd.grad."""
    t0 = time.perf_counter()
    with _reader(access, objective) as read:
        yield from _steps(access, read, objective, shape, live, start, stop, t0, on_step or _no_tick)


def _no_tick(_tick: Tick) -> None:
    """The per-step callback of a run that was given none."""


class _TakenUp:
    """Which live settings changed since the step before: read at the top of every step, so a
    change made while the loop runs is reported with the step that first used it."""

    def __init__(self, live: Settings) -> None:
        self.live = live
        self.seen = {name: getattr(live, name) for name in LIVE}
        self.pending: dict[str, Any] = {}  # changes not yet in a yielded record
        self.pending_at: dict[str, int] = {}

    def read(self, step: int) -> dict[str, Any]:
        now = {name: getattr(self.live, name) for name in LIVE}
        changed = {name: v for name, v in now.items() if v != self.seen[name]}
        self.seen = now
        self.pending.update(changed)
        self.pending_at.update(dict.fromkeys(changed, step))
        return changed

    def take(self) -> tuple[dict[str, Any], dict[str, int]]:
        out = self.pending, self.pending_at
        self.pending, self.pending_at = {}, {}
        return out


def _steps(access: ModelAccess, read: Reader, objective: Objective, shape: tuple[int, int, int],  # noqa: PLR0913
           live: Settings, start: torch.Tensor, stop: Callable[[], bool], t0: float, on_step: OnStep
           ) -> Iterator[Step]:
    steps, reports = live.steps, set(report_steps(live.steps, live.report, live.n_reports))
    x0 = start.to(device=access.device, dtype=torch.float32)
    if live.precursor:
        x0 = _precursor(read, objective, x0, live, shape)
    parts = recipe.build(live.param, live.optimizer, x0, decorrelate=live.decorrelate, decay=live.fft_decay,
                         value_range=live.value_range)
    generator = torch.Generator().manual_seed(live.seed + 1)
    history: list[float] = []
    ever_positive = torch.zeros(x0.shape[0], dtype=torch.bool)
    zero_run = 0
    last: Step | None = None
    taken = _TakenUp(live)
    for i in range(steps + 1):
        changed = taken.read(i)
        lo, hi = live.value_range
        image = parts.image()
        transform = recipe.transform(live, generator, shape[1:], objective.needs_output, lo)
        seen = transform(image) if transform is not None else image
        value = objective(read(seen))
        loss = recipe.penalised(-value, image, live)
        # one copy to the host per step: losses, values, and the image's sum (NaN/Inf anywhere in it)
        n = len(loss)
        host = torch.cat([loss.detach().float(), value.detach().float(),
                          image.detach().sum().float().reshape(1)]).cpu()
        loss_cpu, value_cpu = host[:n], host[n:2 * n]
        elapsed = time.perf_counter() - t0
        if not bool(torch.isfinite(host).all()):
            on_step(Tick(i, elapsed, value_cpu, True, "nonfinite", changed))
            yield _final(last, image, loss_cpu, ever_positive, i, "nonfinite", elapsed)
            return
        ever_positive |= value_cpu > 0
        total = float(loss_cpu.sum())
        history.append(total)
        rel = _rel_change(history)
        zero_run = zero_run + 1 if bool((value_cpu == 0).all()) else 0
        reason = None
        if i == steps:
            reason = "steps"
        elif stop():
            reason = "cancelled"
        elif live.stop_on_convergence and rel is not None and rel < live.convergence:
            reason = "converged"
        elif zero_run >= UNRESPONSIVE_PATIENCE:
            reason = "unresponsive"
        responded = ever_positive & (value_cpu > 0)
        on_step(Tick(i, elapsed, value_cpu, reason is not None, reason, changed))
        if reason is not None or i in reports:
            yield Step(i, image.detach().float().cpu().clone(), loss_cpu, value_cpu, reason is not None,
                       reason, rel, elapsed, responded, *taken.take())
        if reason is not None:
            return
        last = Step(i, image.detach().clone(), loss_cpu, value_cpu, False, None, rel, elapsed, responded)
        grads = torch.autograd.grad(loss.sum(), parts.params)
        with torch.no_grad():
            parts.update(grads, live)
            if parts.pixel:
                recipe.image_ops(parts.params[0], live, i + 1)


def _rel_change(history: list[float]) -> float | None:
    """Relative change of the loss since half the steps done (scale-free, independent of reporting)."""
    i = len(history) - 1
    if i < 8:
        return None
    now, then = history[i], history[i // 2]
    if now == then:
        return 0.0
    return abs(now - then) / max(abs(then), 1e-12)


def _final(last: Step | None, image: torch.Tensor, loss: torch.Tensor,
           ever_positive: torch.Tensor, i: int, reason: str, elapsed: float) -> Step:
    """The closing record of a run stopped by a non-finite loss: the last good step (its images still
    on the model's device), or the start."""
    if last is not None:
        return dataclasses.replace(last, images=last.images.float().cpu(), done=True, reason=reason,
                                   elapsed=elapsed)
    nan = torch.full_like(loss, math.nan)
    return Step(i, image.detach().float().cpu().clone(), nan, nan, True, reason, None, elapsed,
                ever_positive & False)
