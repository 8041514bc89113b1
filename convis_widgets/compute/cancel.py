"""The one way to stop a long computation: a :data:`Cancel` polled between batches or steps.

``cancel`` is a ``threading.Event`` (stop once it is set), a function taking no arguments that
returns True to stop (e.g. ``lambda: job.cancelled``), or None. Iterators end with their last
record marked cancelled; functions that return a single result raise :class:`RunCancelled`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeAlias

Cancel: TypeAlias = threading.Event | Callable[[], bool] | None


class RunCancelled(Exception):
    """A computation stopped because its ``cancel`` asked it to; it has no result."""


def stopper(cancel: Cancel) -> Callable[[], bool]:
    """``cancel`` as a function that says whether to stop; a TypeError for anything else."""
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    if callable(cancel):
        return lambda: bool(cancel())
    raise TypeError(
        "cancel must be a threading.Event, a function taking no arguments that returns True to stop, "
        f"or None; got {type(cancel).__name__}"
    )


def is_cancelled(cancel: Cancel) -> bool:
    """Whether ``cancel`` asks to stop now."""
    return stopper(cancel)()


def check(stop: Callable[[], bool], what: str) -> None:
    """Raise :class:`RunCancelled` naming ``what`` if ``stop()`` says so (``stop`` from :func:`stopper`)."""
    if stop():
        raise RunCancelled(f"{what} was cancelled")
