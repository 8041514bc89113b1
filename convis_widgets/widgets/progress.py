"""The one way every widget says how long a job still needs: "ETA 12 s", "ETA 2 min 05 s", given
only once the pace so far can be trusted (a few units done and half a second spent)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..compute.pace import seconds_left

MIN_DONE = 2  # units (steps, batches, positions) done before an ETA is given
MIN_ELAPSED_S = 0.5  # seconds spent before an ETA is given
ESTIMATING = "estimating the time left"


def eta_seconds(done: float, total: float, elapsed: float) -> float | None:
    """Seconds still needed at the pace so far, or None while it cannot be estimated yet (fewer
    than MIN_DONE units or MIN_ELAPSED_S seconds) or when nothing is left."""
    if done >= total or done < MIN_DONE or elapsed < MIN_ELAPSED_S:
        return None
    return seconds_left(done, total, elapsed)


def format_duration(seconds: float) -> str:
    """``seconds`` rounded up to a whole second: "12 s", "2 min 05 s", "1 h 03 min"."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number of seconds >= 0; got {seconds!r}")
    s = math.ceil(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def eta_text(done: float, total: float, elapsed: float) -> str:
    """"ETA 12 s" at the pace so far; `ESTIMATING` before the pace can be trusted; "" when done.
    Never "0 s" while work is left (the time is rounded up)."""
    if done >= total:
        return ""
    left = eta_seconds(done, total, elapsed)
    return ESTIMATING if left is None else f"ETA {format_duration(left)}"


def total_eta_text(parts: Iterable[tuple[float, float, float]]) -> str:
    """The ETA of jobs run one after another or interleaved: the sum of each part's own time left,
    each part given as (done, total, its own elapsed seconds); `ESTIMATING` while any unfinished
    part cannot be estimated yet; "" when all are done."""
    left = 0.0
    for done, total, elapsed in parts:
        if done >= total:
            continue
        own = eta_seconds(done, total, elapsed)
        if own is None:
            return ESTIMATING
        left += own
    return f"ETA {format_duration(left)}" if left > 0 else ""


class Pace:
    """A job's ETA timed from its first report on: what ran before it (a setup, a precursor search)
    is no unit of the work and would make the first estimates too long."""

    def __init__(self) -> None:
        self._first: tuple[float, float] | None = None  # (units done, clock) at the first report

    def eta_text(self, done: float, total: float, now: float) -> str:
        """`eta_text` of the units done since the first report, in the seconds since it (``now``:
        any clock in seconds, the same one at every call)."""
        if self._first is None:
            self._first = (done, now)
        first, then = self._first
        return eta_text(done - first, total - first, now - then)
