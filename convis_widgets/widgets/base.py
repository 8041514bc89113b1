"""What every convis widget shares: a job runner, an error area, figures made once and freed on close."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable

import ipywidgets as w
from ipympl.backend_nbagg import Canvas, FigureManager
from matplotlib.figure import Figure

from ..jobs import Job, JobRunner
from ..render import new_figure


class LockedCanvas(Canvas):
    """An ipympl canvas that renders under its widget's draw lock and always sends whole frames.

    The browser asks for a frame on the kernel's thread while a job may be changing the
    artists on its worker thread: the lock keeps it from rendering a half-updated figure.
    Whole frames instead of ipympl's diffs keep a dropped frame from leaving stale bands.
    """

    def __init__(self, figure: Figure, lock: threading.RLock) -> None:
        super().__init__(figure)
        self._render_lock = lock

    def draw(self) -> None:
        with self._render_lock:
            super().draw()

    def get_diff_image(self) -> bytes | None:
        self._force_full = True
        return super().get_diff_image()


class ConvisWidget(w.VBox):
    """A VBox that runs its work as jobs, shows their errors in itself and cleans up on `close()`."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.errors = w.Output(layout=w.Layout(max_height="12em", overflow="auto"))
        self.errors.add_class("convis-errors")
        self.last_error: BaseException | None = None
        self.runner = JobRunner(on_error=self._show_error)
        self.draw_lock = threading.RLock()
        self._canvases: list[LockedCanvas] = []

    def _new_figure(self, figsize: tuple[float, float]) -> Figure:
        """An interactive ipympl figure owned by this widget (never registered with pyplot)."""
        fig = new_figure(figsize)
        canvas = LockedCanvas(fig, self.draw_lock)
        FigureManager(canvas, num=id(fig))
        canvas.header_visible = False
        canvas.footer_visible = False
        canvas.resizable = False
        canvas.toolbar_visible = "fade-in-fade-out"
        self._canvases.append(canvas)
        return fig

    def _show_error(self, exc: BaseException) -> None:
        """Show an error raised by a job inside the widget, named after it, with its traceback."""
        self.last_error = exc
        name = type(self).__name__
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-3))
        self.errors.append_stderr(f"{name}: {type(exc).__name__}: {exc}\n\n{tb}")

    def _clear_error(self) -> None:
        self.last_error = None
        self.errors.outputs = ()

    def _submit(self, work) -> Job:
        """Clear the shown error and run `work(job)` as this widget's only job."""
        self._clear_error()
        return self.runner.submit(work)

    def wait(self, timeout: float | None = 30.0) -> bool:
        """Block until the widget's current job is done: for scripts and tests."""
        return self.runner.wait(timeout)

    def close(self) -> None:
        """Stop the running job, close the figures and the widget's children, free the figures.

        Also called by `Widget.__del__` on a widget whose constructor raised half-way,
        so it only frees what exists. ipympl's `FigureManager` makes a `Toolbar` widget
        that holds the canvas (and so the figure); `Canvas.close()` leaves it in ipywidgets'
        registry of live widgets for good, so it is closed here too (with the Layout and
        Style widgets ipywidgets also keeps registered).
        """
        runner = getattr(self, "runner", None)
        if runner is not None:
            runner.cancel()
        for canvas in getattr(self, "_canvases", ()):
            _close_canvas(canvas)
        if hasattr(self, "_canvases"):
            self._canvases = []
        for child in self.children:
            _close_tree(child)
        if hasattr(self, "errors"):
            _close_tree(self.errors)
        _close_styling(self)
        super().close()

    def _on_button(self, action: Callable[[], object]) -> Callable[[w.Button], None]:
        """A Button.on_click handler that runs `action()` and shows what it raises in the widget.

        ipywidgets only writes an exception raised in a click handler to the kernel log.
        """

        def clicked(_button: w.Button) -> None:
            self._clear_error()
            try:
                action()
            except Exception as exc:  # shown in the widget, never swallowed
                self._show_error(exc)

        return clicked


def _close_canvas(canvas: Canvas) -> None:
    """Close an ipympl canvas and the Toolbar widget its FigureManager made (which holds it)."""
    manager = getattr(canvas, "manager", None)
    for toolbar in (getattr(canvas, "toolbar", None), getattr(manager, "toolbar", None)):
        if isinstance(toolbar, w.Widget):
            toolbar.close()
            _close_styling(toolbar)
    canvas.close()
    _close_styling(canvas)


def _close_styling(widget: w.Widget) -> None:
    """Close the Layout and Style widgets a widget made for itself (ipywidgets keeps them alive)."""
    for name in ("layout", "style"):
        part = getattr(widget, name, None) if widget.has_trait(name) else None
        if isinstance(part, w.Widget):
            part.close()


def _close_tree(widget: w.Widget) -> None:
    """Close a widget and, for boxes, everything inside it, with its Layout and Style."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()
    _close_styling(widget)
