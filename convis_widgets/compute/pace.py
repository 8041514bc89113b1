"""How long a job still needs at its pace so far: the one formula the training records and every
widget's "ETA" share."""

from __future__ import annotations


def seconds_left(done: float, total: float, elapsed: float) -> float | None:
    """Seconds still needed for ``total`` units when ``done`` took ``elapsed`` seconds: 0 once all
    are done, None before the first unit (no pace yet)."""
    if done >= total:
        return 0.0
    if done <= 0:
        return None
    return elapsed / done * (total - done)
