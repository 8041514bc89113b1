"""Every setting of the optimisation loop, once: name, kind, range, default, live-or-at-start, help.

:class:`~.loop.Settings` (its fields, validation and JSON form), the `FeatureVisualizer`'s traits
and controls, and the docs are all derived from :data:`TABLE`: adding a setting is one row.
``control`` is a plain-data hint for the widget that shows it (no widget code here).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import init as init_images
from . import param as parameterisations
from .recipe import UPDATES

OPTIMIZERS = tuple(UPDATES)
"""The update rules, named by the ``optimizer`` setting (:data:`.recipe.UPDATES`)."""

Control = tuple[Any, ...]
"""How a widget shows a setting: ("slider", min, max, step[, format]) a float slider,
("int_slider", min, max), ("int", min, max) a bounded int box, ("text",) an int box,
("log", min exponent, max exponent, step, format) a log slider, ("check",) a checkbox, or
("dropdown", ((label, value), ...))."""


@dataclass(frozen=True)
class Setting:
    """One setting: how it is checked (``kind`` and bounds), whether a running loop reads it every
    step (``live``) or only at the start, its help line, and how a widget shows it."""

    name: str
    kind: str  # "int", "number", "bool", "choice", "init", "report", "range", "ints", "numbers"
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself not allowed
    high_open: bool = False
    choices: tuple[Any, ...] = ()
    live: bool = False
    label: str = ""
    control: Control | None = None
    group: str = "optimisation"  # "optimisation" or "regularisers"

    def allowed(self) -> str:
        """What the setting accepts, in words (for error messages and docs)."""
        if self.kind in ("choice", "init"):
            extra = " or an image" if self.kind == "init" else ""
            return f"one of {self.choices}{extra}"
        if self.kind == "bool":
            return "True or False"
        if self.kind == "report":
            return '"log" or an int k >= 1 (every k steps)'
        if self.kind == "range":
            return "(low, high) finite numbers with low < high"
        if self.kind in ("ints", "numbers"):
            return "a sequence of " + ("ints >= 1" if self.kind == "ints" else "finite numbers")
        what = "an int" if self.kind == "int" else "a finite number"
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {_fmt(self.low)}")
        if self.high is not None:
            bounds.append(f"{'<' if self.high_open else '<='} {_fmt(self.high)}")
        return what + (" " + " and ".join(bounds) if bounds else "")

    def problem(self, value: Any) -> str | None:
        """None if ``value`` is allowed, else a sentence naming the setting, the value and what is allowed."""
        if _ok(self, value):
            return None
        return f"{self.name} must be {self.allowed()}, got {value!r}"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def is_int(v: object) -> bool:
    """An int (numpy's too), not a bool."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_number(v: object) -> bool:
    """A finite real number (numpy's too), not a bool."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(float(v))


def _in_bounds(row: Setting, v: float) -> bool:
    if row.low is not None and (v <= row.low if row.low_open else v < row.low):
        return False
    return row.high is None or (v < row.high if row.high_open else v <= row.high)


def _ok(row: Setting, v: Any) -> bool:  # noqa: PLR0911 (one answer per kind of setting)
    kind = row.kind
    if kind == "int":
        return is_int(v) and _in_bounds(row, v)
    if kind == "number":
        return is_number(v) and _in_bounds(row, v)
    if kind == "bool":
        return isinstance(v, (bool, np.bool_))
    if kind == "choice":
        return isinstance(v, str) and v in row.choices
    if kind == "init":
        return not isinstance(v, str) or v in row.choices  # images are checked by Settings
    if kind == "report":
        return v == "log" or (not isinstance(v, str) and is_int(v) and v >= 1)
    if kind == "range":
        return _sequence(v) and len(v) == 2 and all(map(is_number, v)) and v[0] < v[1]
    if kind == "ints":
        return _sequence(v) and all(is_int(g) and g >= 1 for g in v)
    if kind == "numbers":
        return _sequence(v) and all(map(is_number, v))
    raise ValueError(f"unknown setting kind {kind!r}")


def _sequence(v: Any) -> bool:
    return isinstance(v, Sequence) and not isinstance(v, (str, bytes))


_OPT, _REG = "optimisation", "regularisers"
TABLE: tuple[Setting, ...] = (
    Setting("steps", "int", 256, "gradient updates; records run from step 0 (the start) to step `steps`",
            low=1, label="steps", control=("int", 1, 100_000)),
    Setting("lr", "number", 0.02, "step size: `ascent` moves the image by lr times the RMS-normalised "
            "gradient (the article's epsilon); `adam`: Adam's lr", low=0, live=True,
            label="learning rate (ε)", control=("log", -4, 0.5, 0.05, ".2g")),
    Setting("optimizer", "choice", "ascent", "`ascent` (normalised gradient ascent) or `adam`",
            choices=OPTIMIZERS, label="optimiser",
            control=("dropdown", (("normalised ascent", "ascent"), ("Adam", "adam")))),
    Setting("report", "report", "log", '"log": records at doubling steps (`n_reports` of them); k: every k '
            "steps", label="snapshot every"),
    Setting("n_reports", "int", 6, "how many log-spaced records", low=1, label="snapshots (log)"),
    Setting("convergence", "number", 2e-4, "relative change of the loss since half the steps below which "
            "the run counts as converged", low=0, live=True, label="convergence",
            control=("log", -7, -1, 0.1, ".1e")),
    Setting("stop_on_convergence", "bool", False, "end the run once it has converged", live=True,
            label="stop when converged", control=("check",)),
    Setting("init", "init", "multiscale", "the start: multi-scale fluctuations (OIP), truncated normal "
            "noise, zeros, the data-set mean, a random 1/f spectrum (Lucent's start), or an image",
            choices=init_images.KINDS, label="initial image",
            control=("dropdown", (("multi-scale fluctuations (OIP)", "multiscale"),
                                  ("truncated normal", "normal"), ("zeros", "zeros"),
                                  ("data-set mean", "mean"), ("random spectrum (Lucent)", "spectrum")))),
    Setting("seed", "int", 0, "seed of the start image and of the random transforms", low=0, label="seed",
            control=("text",)),
    Setting("param", "choice", "pixel", "what is optimised: the pixels, or a 1/f-scaled spectrum",
            choices=parameterisations.KINDS, label="parameterisation",
            control=("dropdown", (("pixels", "pixel"), ("spectral (FFT, 1/f)", "fft")))),
    Setting("decorrelate", "bool", True, "spectral parameterisation: decorrelated colour (3-channel models)",
            label="decorrelate colour", control=("check",)),
    Setting("fft_decay", "number", 1.0, "spectral parameterisation: the spectrum's 1/f^decay scaling",
            low=0, label="spectrum decay", control=("slider", 0.0, 2.0, 0.1)),
    Setting("batch", "int", 1, "images optimised at once (for objectives that do not set it)", low=1,
            label="batch"),
    Setting("value_range", "range", (0.0, 1.0), "the model's valid input range (clip keeps it)"),
    Setting("l2", "number", 0.0, "weight of the L2 penalty (decay towards the range's low end)", low=0,
            live=True, label="L2 decay", control=("slider", 0.0, 1.0, 0.005, ".3f"), group=_REG),
    Setting("tv", "number", 0.0, "weight of the total-variation penalty", low=0, live=True,
            label="total variation", control=("slider", 0.0, 1.0, 0.005, ".3f"), group=_REG),
    Setting("blur_every", "int", 4, "Gaussian blur of the image every k steps (0: never)", low=0, live=True,
            label="blur every k steps", control=("int_slider", 0, 32), group=_REG),
    Setting("blur_sigma", "number", 0.5, "the blur's sigma in pixels", low=0, low_open=True, live=True,
            label="blur σ (px)", control=("slider", 0.1, 3.0, 0.1), group=_REG),
    Setting("bilateral_every", "int", 0, "bilateral filter every k steps (0: never)", low=0, live=True,
            label="bilateral every k", control=("int_slider", 0, 32), group=_REG),
    Setting("bilateral_sigma_space", "number", 1.0, "the bilateral filter's spatial sigma (px)", low=0,
            low_open=True, live=True, label="bilateral σ space", control=("slider", 0.1, 5.0, 0.1),
            group=_REG),
    Setting("bilateral_sigma_range", "number", 0.1, "the bilateral filter's value sigma", low=0,
            low_open=True, live=True, label="bilateral σ value", control=("slider", 0.01, 1.0, 0.01),
            group=_REG),
    Setting("clip", "bool", True, "clip the image to value_range after each step", live=True,
            label="clip to the valid range", control=("check",), group=_REG),
    Setting("jitter", "int", 0, "random shift of the image seen by the model (px)", low=0, live=True,
            label="jitter (px)", control=("int_slider", 0, 16), group=_REG),
    Setting("scale", "number", 0.0, "random zoom, +- this share", low=0, high=1, high_open=True, live=True,
            label="scale ±", control=("slider", 0.0, 0.5, 0.01), group=_REG),
    Setting("rotate", "number", 0.0, "random rotation, +- this many degrees", low=0, live=True,
            label="rotate ± (°)", control=("slider", 0.0, 45.0, 1.0), group=_REG),
    Setting("pad", "int", 0, "padding around the image before the random transforms (px)", low=0, live=True,
            label="pad (px)", control=("int_slider", 0, 16), group=_REG),
    Setting("precursor", "int", 16, "candidate starts scored before the run, the best kept (0: none)",
            low=0, label="precursor starts", control=("int_slider", 0, 64)),
    Setting("init_grids", "ints", init_images.OIP_GRIDS, "multi-scale start: the grid sizes of its "
            "fluctuations"),
    Setting("init_amplitudes", "numbers", init_images.OIP_AMPLITUDES, "multi-scale start: each grid's "
            "amplitude, a share of the value range"),
    Setting("init_smooth", "number", 0.0, "multi-scale start: Gaussian smoothing sigma (px)", low=0),
)
ROWS = {row.name: row for row in TABLE}
FIELDS = tuple(ROWS)
LIVE = tuple(row.name for row in TABLE if row.live)
"""Settings a running loop reads every step: changing them acts from the next step."""
AT_START = tuple(row.name for row in TABLE if not row.live)


def docs() -> str:
    """The table as Markdown, for the README (a test keeps the README's copy equal to this)."""
    rows = ["| setting | allowed | default | changes act | what it does |", "|---|---|---|---|---|"]
    rows += [f"| `{r.name}` | {_quoted(r.allowed())} | `{_quoted(repr(r.default))}` | "
             f"{'next step' if r.live else 'at Start'} | {r.help} |" for r in TABLE]
    return "\n".join(rows)


def _quoted(text: str) -> str:
    return text.replace("'", '"')
