"""What every convis widget shares, written once: keyword arguments that are its traits, controls
tagged and linked from one table, a status line and an error area fed by one error guard, redraws
under one lock, Start/Stop, the layer and image checks, the job runner, figures freed on close."""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, TypeVar, cast

import ipywidgets as w
from matplotlib.figure import Figure
from traitlets import Bool, observe, validate

from ..compute.errors import NotSpatialError
from ..compute.probe import resolve_layer
from ..jobs import Job, JobRunner
from .error_guard import ErrorGuard
from .figures import LockedCanvas, close_canvas, close_styling, close_tree, interactive_figure
from .labels import fit_control, fit_tree
from .output_width import OutputWidth

W = TypeVar("W", bound=w.Widget)
Work = Callable[[Job], None]


FIGURE_MARGIN_PX = 8  # CSS px left free beside a figure zoomed out to the widget's width
MIN_FIGURE_SCALE = 0.4  # a figure is never zoomed out further (its text would be unreadable)


class LayerRule(NamedTuple):
    """The layers a widget can show, what it needs of a layer (said when one is refused) and the
    error a refused layer raises."""

    names: Sequence[str]
    need: str
    error: type[ValueError] = NotSpatialError


def one_of(proposal: Mapping[str, Any], options: Iterable[Any]) -> Any:
    """A choice trait's proposed value, or a ValueError naming the trait, its choices and what was
    given; ``options`` are values or (label, value) pairs, as ipywidgets takes them."""
    valid = [o[1] if isinstance(o, tuple) else o for o in options]
    if proposal["value"] not in valid:
        raise ValueError(f"{proposal['trait'].name} must be one of {valid}; got {proposal['value']!r}")
    return proposal["value"]


class ConvisWidget(ErrorGuard, w.VBox):
    """A VBox that owns the pattern every convis widget repeats, so each widget states only its own.

    * its constructor's keyword arguments are its traits: unknown ones are refused (`check_keywords`);
    * each control is made, tagged ``convis-<name>`` and linked to its trait from one table (`_control`),
      as wide as its text, in rows that wrap rather than cut it (`labels.fit_tree`, on every new child);
    * every error of a validator, an observer, a button, a mouse handler or a job is shown in
      `errors` (`error_guard.ErrorGuard`);
    * one `status` line, one redraw helper under `draw_lock` (`_drawing`), Start/Stop state in one
      place (`_start_stop_buttons`, `_submit_run`), and the checks of ``layer`` and ``image_index``.
    """

    running = Bool(False, read_only=True, help="True while a run started with Start goes on")

    def __init__(self, **traits: Any) -> None:
        """Refuse keyword arguments that name no trait (before anything is made), then make the parts
        every widget has; the subclass sets the traits with `_set_choices` once it can check them."""
        self.check_keywords(traits)
        super().__init__()
        # CSS classes for styles and browser tests: every widget, and its kind (convis-feature-space)
        self.add_class("convis-widget")
        self.add_class("convis-" + re.sub(r"(?<!^)(?=[A-Z])", "-", type(self).__name__).lower())
        self.errors = self._tag(w.Output(layout=w.Layout(max_height="12em", overflow="auto")), "errors")
        self.status = self._tag(w.HTML(), "status")
        self.last_error: BaseException | None = None
        self.runner = JobRunner(on_error=self._show_error)
        self.draw_lock = threading.RLock()
        self.controls: dict[str, w.Widget] = {}
        self._links: list[w.link] = []
        self._canvases: list[LockedCanvas] = []
        self._figure_dpi: dict[int, float] = {}  # each figure's own CSS px per inch
        self.output_width = OutputWidth()
        self.output_width.observe(self._guarded(self._fit_figures, reraise=False), names="width")

    # ----- keyword arguments are the traits -----

    @classmethod
    def trait_keywords(cls) -> list[str]:
        """The constructor's keyword arguments that set a trait: the widget's own writable traits."""
        box = set(w.VBox.class_trait_names())
        return sorted(n for n, t in cls.class_traits().items() if n not in box and not t.read_only)

    @classmethod
    def check_keywords(cls, given: Mapping[str, Any]) -> None:
        """A TypeError naming every keyword of ``given`` that is no trait, with the valid keywords."""
        traits = set(cls.trait_keywords())
        unknown = sorted(set(given) - traits)
        if unknown:
            own = {p.name for p in inspect.signature(cls.__init__).parameters.values()
                   if p.kind is p.KEYWORD_ONLY}
            raise TypeError(f"{cls.__name__} got unexpected keyword argument(s) {unknown}; "
                            f"valid keywords: {sorted(traits | own)}")

    def _set_choices(self, values: Mapping[str, Any]) -> None:
        """Set traits one by one, in order: each validator sees the values set before it. (Not under
        ``hold_trait_notifications``: there a refused value still fires the held observers.)"""
        for name, value in values.items():
            setattr(self, name, value)

    # ----- controls: made, tagged and linked once -----

    @staticmethod
    def _tag(widget: W, css: str) -> W:
        """``widget`` with the CSS class ``convis-<css>`` the browser tests and stylesheets find it by."""
        widget.add_class(f"convis-{css}")
        return widget

    def _control(self, trait: str, control: W, css: str | None = None) -> W:
        """``control`` as the one control of ``trait``: tagged (``convis-<trait>`` by default), as wide
        as its text (`labels.fit_control`) and, once `_link_controls` runs, linked to the trait both ways."""
        self.controls[trait] = self._tag(control, css or trait.replace("_", "-"))
        fit_control(control)
        return control

    @observe("children")
    def _fit_children(self, _change: dict[str, Any]) -> None:
        """Whatever the widget shows fits the output area: controls as wide as their text, rows
        wrapping, and (through the `OutputWidth` strip kept last) figures no wider than the widget."""
        fit_tree(self)
        shown: list[w.Widget] = list(self.children)  # type: ignore[has-type]
        if getattr(self, "_canvases", None) and self.output_width not in shown:
            self.children = [*shown, self.output_width]

    def _fit_figures(self, change: dict[str, Any]) -> None:
        """Zoom each figure wider than the widget's width in the browser (``change["new"]``, CSS px)
        out to fit it, text and all, by its dpi (a smaller size in inches would crowd its panels);
        give back its own size where it fits again."""
        for canvas in self._canvases:  # the view is shown: no resize grip (see `resend_fixed_size`)
            canvas.resend_fixed_size()
        room = int(change["new"]) - FIGURE_MARGIN_PX
        if room <= 0:
            return
        for canvas in self._canvases:
            fig = canvas.figure
            own_dpi = self._figure_dpi[id(fig)]  # CSS px per inch at the figure's own size
            scale = max(MIN_FIGURE_SCALE, min(1.0, room / (fig.get_size_inches()[0] * own_dpi)))
            dpi = round(own_dpi * scale, 1)
            if dpi != fig._original_dpi:  # type: ignore[attr-defined]
                with self._drawing(fig):
                    # matplotlib's CSS px per inch, which a change of the screen's pixel ratio keeps
                    fig._original_dpi = dpi  # type: ignore[attr-defined]
                    fig.dpi = dpi * canvas.device_pixel_ratio  # resizes the canvas in the browser

    def _link_controls(self) -> None:
        """Link each control not yet linked to its trait (the control takes the trait's value)."""
        linked = {link.source[1] for link in self._links}
        for trait, control in self.controls.items():
            if trait not in linked:
                self._links.append(w.link((self, trait), (control, "value")))

    def _button(self, description: str, css: str, action: Callable[[], object], **style: Any) -> w.Button:
        """A tagged Button whose click runs ``action`` under the error guard."""
        button = self._tag(w.Button(description=description, **style), css)
        fit_control(button)
        button.on_click(self._on_button(action))
        return button

    def _image_slider(self) -> w.IntSlider:
        """The control of ``image_index`` over ``self.images`` (disabled for a single image)."""
        n = len(self.images)
        return self._control("image_index", w.IntSlider(0, min=0, max=max(n - 1, 0), description="image",
                                                        disabled=n == 1, continuous_update=False), "image")

    # ----- the status line, redraws, errors -----

    def _set_status(self, html: str) -> None:
        """Say in the widget's one status line what it shows or does now (HTML)."""
        self.status.value = html

    @contextmanager
    def _drawing(self, *figures: Figure) -> Iterator[None]:
        """Change a view's artists under the draw lock (the browser never renders a half-changed
        figure), then ask each of ``figures`` for a redraw."""
        with self.draw_lock:
            yield
            for figure in figures:
                figure.canvas.draw_idle()

    def _observe(self, handler: Callable[..., object], names: str | list[str]) -> None:
        """Observe ``names`` with ``handler`` under the guard (for observers added after the first values)."""
        self.observe(self._guarded(handler), names=names)

    # ----- jobs and Start/Stop -----

    def _submit(self, work: Work) -> Job:
        """Clear the shown error and run `work(job)` as this widget's only job."""
        self._clear_error()
        return self.runner.submit(work)

    def _start_stop_buttons(self) -> None:
        """The Start and Stop buttons (``start_button``, ``stop_button``): the widget's `start` and `stop`."""
        start = self.start  # type: ignore[attr-defined]
        self.start_button = self._button("Start", "start", start, button_style="success", icon="play")
        self.stop_button = self._button("Stop", "stop", self.stop, button_style="warning", icon="stop",
                                        disabled=True)

    def _submit_run(self, work: Work) -> Job:
        """Submit ``work`` as a run: `running`, Start and Stop show it while it goes on."""

        def run(job: Job) -> None:
            self._set_running(True)
            try:
                work(job)
            finally:
                self._set_running(False)

        return self._submit(run)

    def _set_running(self, running: bool) -> None:
        self.set_trait("running", running)
        if hasattr(self, "start_button"):
            self.start_button.disabled = running
            self.stop_button.disabled = not running

    def stop(self) -> None:
        """Stop the current job at its next step; what it reached stays."""
        runner = getattr(self, "runner", None)  # None when close() runs on a half-built widget
        job = runner.current if runner is not None else None
        if job is not None:
            job.cancel()

    def wait(self, timeout: float | None = 30.0) -> bool:
        """Block until the widget's current job is done: for scripts and tests."""
        return self.runner.wait(timeout)

    # ----- the layer and image checks widgets share -----

    def _layer_rule(self) -> LayerRule:
        """The layers this widget can show (widgets with a ``layer`` trait say which)."""
        raise NotImplementedError(f"{type(self).__name__} has no layer to choose")

    def _layer_name(self, layer: str | int) -> str:
        """A layer name, or an index into the usable layers, as the name of a usable layer; a name the
        model lacks raises LayerNotFoundError, an unusable one the rule's error: both list the usable."""
        rule = self._layer_rule()
        names = list(rule.names)
        name, _ = resolve_layer(self.model, layer, names=names)
        if name not in names:
            raise rule.error(f"{rule.need}; got {name!r}. Layers it can use: {names}")
        return name

    @validate("layer")
    def _valid_layer(self, proposal: dict[str, Any]) -> str:
        return self._layer_name(proposal["value"])

    @validate("image_index")
    def _valid_image_index(self, proposal: dict[str, Any]) -> int:
        index, n = proposal["value"], len(self.images)
        if not 0 <= index < n:
            raise IndexError(f"image_index must be in 0..{n - 1} (there are {n} images); got {index}")
        return index

    # ----- figures and closing -----

    def _new_figure(self, figsize: tuple[float, float]) -> Figure:
        """An interactive ipympl figure owned by this widget (never registered with pyplot), zoomed
        out to the widget's width in the browser where it is wider (`_fit_figures`)."""
        fig = interactive_figure(figsize, self.draw_lock)
        self._canvases.append(cast(LockedCanvas, fig.canvas))
        self._figure_dpi[id(fig)] = float(fig._original_dpi)  # type: ignore[attr-defined]
        return fig

    def close(self) -> None:
        """Stop the running job, unlink the controls, close the figures and the widget's children.

        Also called by `Widget.__del__` on a widget whose constructor raised half-way,
        so it only frees what exists. ipympl's `FigureManager` makes a `Toolbar` widget
        that holds the canvas (and so the figure); `Canvas.close()` leaves it in ipywidgets'
        registry of live widgets for good, so it is closed here too (with the Layout and
        Style widgets ipywidgets also keeps registered).
        """
        runner = getattr(self, "runner", None)
        if runner is not None:
            runner.cancel()
        for link in getattr(self, "_links", ()):
            link.unlink()
        self._links = []
        for canvas in getattr(self, "_canvases", ()):
            close_canvas(canvas)
        self._canvases = []
        for child in self.children:
            close_tree(child)
        for part in ("errors", "status"):
            if hasattr(self, part):
                close_tree(getattr(self, part))
        close_styling(self)
        super().close()
