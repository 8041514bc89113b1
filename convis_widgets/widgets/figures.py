"""The figures of a convis widget: ipympl canvases that render under the widget's draw lock, and
closing them (and every widget ipywidgets keeps alive for them) so that a closed widget frees them."""

from __future__ import annotations

import threading

import ipywidgets as w
from ipympl.backend_nbagg import Canvas, FigureManager
from matplotlib.figure import Figure

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
        """Render the figure, never while a job is changing its artists."""
        with self._render_lock:
            super().draw()

    def get_diff_image(self) -> bytes | None:
        """The next frame, always whole (a dropped diff would leave stale bands)."""
        self._force_full = True
        return super().get_diff_image()

    def resend_fixed_size(self) -> None:
        """Send ``resizable`` (False) again: ipympl's frontend sets it to True when its comm goes live
        (``update_disabled`` in ipympl 0.10), so a resize grip would show on a figure whose size the
        widget sets; sent once the view is shown, the kernel's value holds."""
        self.send_state("resizable")


def interactive_figure(figsize: tuple[float, float], lock: threading.RLock) -> Figure:
    """An ipympl figure on a `LockedCanvas` (never registered with pyplot), without the header (a
    "Figure 1234" label); the footer stays, since it is where ipympl shows the hover read-out."""
    fig = new_figure(figsize)
    canvas = LockedCanvas(fig, lock)
    FigureManager(canvas, num=id(fig))
    canvas.header_visible = False
    canvas.resizable = False
    canvas.toolbar_visible = "fade-in-fade-out"
    return fig


def close_canvas(canvas: Canvas) -> None:
    """Close an ipympl canvas and the Toolbar widget its FigureManager made (which holds it)."""
    manager = getattr(canvas, "manager", None)
    for toolbar in (getattr(canvas, "toolbar", None), getattr(manager, "toolbar", None)):
        if isinstance(toolbar, w.Widget):
            toolbar.close()
            close_styling(toolbar)
    canvas.close()
    close_styling(canvas)


def close_styling(widget: w.Widget) -> None:
    """Close the Layout and Style widgets a widget made for itself (ipywidgets keeps them alive)."""
    for name in ("layout", "style"):
        part = getattr(widget, name, None) if widget.has_trait(name) else None
        if isinstance(part, w.Widget):
            part.close()


def close_tree(widget: w.Widget) -> None:
    """Close a widget and, for boxes, everything inside it, with its Layout and Style."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    widget.close()
    close_styling(widget)
