"""The error guard every convis widget shares: what a validator, an observer, a button, a mouse
handler or a job raises is shown in the widget's `errors` area, once, with its traceback (ipywidgets
only writes a click handler's error to the kernel log, where a notebook user never sees it)."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Any, cast

import ipywidgets as w
from traitlets import EventHandler


class ErrorGuard:
    """Mixin of `ConvisWidget`: ``@validate`` and ``@observe`` handlers are guarded when a class is
    made; buttons, mouse handlers and jobs go through `_guarded` or `_on_button`."""

    errors: w.Output
    last_error: BaseException | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        guard_handlers(cls)

    def _show_error(self, exc: BaseException) -> None:
        """Show an error inside the widget, named after it, with its traceback (each error once)."""
        if exc is self.last_error or not hasattr(self, "errors"):
            return
        self.last_error = exc
        name = type(self).__name__
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-3))
        self.errors.append_stderr(f"{name}: {type(exc).__name__}: {exc}\n\n{tb}")

    def _clear_error(self) -> None:
        self.last_error = None
        self.errors.outputs = ()

    def _guarded(self, action: Callable[..., Any], *, reraise: bool = True) -> Callable[..., Any]:
        """``action`` under the error guard: what it raises is shown in the widget, then raised again
        (not with ``reraise=False``: clicks and mouse events, whose errors would reach only the log)."""

        @functools.wraps(action)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return action(*args, **kwargs)
            except Exception as exc:  # shown in the widget, never swallowed
                self._show_error(exc)
                if reraise:
                    raise
                return None

        return guarded

    def _on_button(self, action: Callable[[], object]) -> Callable[..., None]:
        """A click handler (also callable with no argument) that clears the shown error and runs
        ``action`` under the guard."""
        guarded = self._guarded(action, reraise=False)

        def clicked(_button: w.Button | None = None) -> None:
            self._clear_error()
            guarded()

        return clicked


def shown(func: Callable[..., Any]) -> Callable[..., Any]:
    """A validator or observer that shows what it raises in its widget, then raises it."""

    @functools.wraps(func)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(self, *args, **kwargs)
        except Exception as exc:  # shown in the widget, never swallowed
            show = getattr(self, "_show_error", None)
            if show is not None:
                show(exc)
            raise

    guarded.convis_guarded = True  # type: ignore[attr-defined]
    return guarded


def guard_handlers(cls: type) -> None:
    """Put every ``@validate`` and ``@observe`` handler of ``cls`` (and of its mixins) under `shown`."""
    for klass in cls.__mro__:
        for handler in vars(klass).values():
            if isinstance(handler, EventHandler) and not getattr(handler.func, "convis_guarded", False):
                handler.func = cast(Any, shown(handler.func))
