"""Labels and control sizes that never cut a word: long names shortened in the middle (their end, which
tells a layer apart from its siblings, always shows), controls as wide as their text, and control rows
that wrap onto a new line instead of squeezing or cutting what is in them."""

from __future__ import annotations

import ipywidgets as w
from ipywidgets.widgets.widget_description import DescriptionStyle, DescriptionWidget

ELLIPSIS = "…"
SIZED_TO_TEXT = (w.Dropdown, w.ToggleButtons, w.Button, w.Checkbox)  # controls whose width is their text's
TEXT = (w.Label, w.HTML, w.HTMLMath)  # text, not controls: it wraps inside its own box


def shorten_middle(text: str, width: int) -> str:
    """``text`` when it has at most ``width`` characters, else its start and its end joined by "…", in
    ``width`` characters: "layer3.0.shortcut.0" -> "layer3…shortcut.0" keeps what tells it apart."""
    if width < 3:  # noqa: PLR2004 (a character each side of the ellipsis)
        raise ValueError(f"width must be at least 3 (a character each side of {ELLIPSIS!r}); got {width}")
    if len(text) <= width:
        return text
    tail = (width - 1) // 2 + (width - 1) % 2  # the end gets the odd character: it names the layer
    head = width - 1 - tail
    return f"{text[:head]}{ELLIPSIS}{text[-tail:]}"


def fit_control(control: w.Widget) -> None:
    """Let ``control`` show its whole text: its description as wide as its words, dropdowns, toggles,
    buttons and checkboxes as wide as their options, never squeezed by their row (it wraps instead)."""
    if isinstance(control, DescriptionWidget) and control.description:
        style = control.style
        if isinstance(style, DescriptionStyle) and not style.description_width:
            style.description_width = "initial"
    layout = getattr(control, "layout", None)
    if not isinstance(control, (w.ValueWidget, w.Button)) or isinstance(control, TEXT) or \
            not isinstance(layout, w.Layout):
        return
    if isinstance(control, SIZED_TO_TEXT):
        layout.width = "auto"
    if isinstance(control, (w.Dropdown, w.ToggleButtons)):
        layout.max_width = "calc(100% - 4px)"  # within the output area, margins too; the select shortens
    if isinstance(control, w.ToggleButtons) and not control.style.button_width:
        control.style.button_width = "auto"
    if isinstance(control, w.ToggleButtons) and layout.display is None:
        # ipywidgets 8 gives ToggleButtons a block box, where its buttons start a line below the
        # label; as a wrapping flex row they sit beside it and go under it only when there is no room
        layout.display, layout.flex_flow, layout.grid_gap = "flex", "row wrap", "0 8px"
        if not control.description and layout.margin is None:  # two groups side by side read as two
            layout.margin = "2px 2px 2px 12px"
    if layout.flex is None:
        layout.flex = "0 0 auto"  # a row wraps it onto the next line rather than shrink it


def fit_tree(widget: w.Widget) -> None:
    """Fit every control inside ``widget`` (`fit_control`), and let every HBox in it (a control row)
    wrap onto a new line when the output area is too narrow, instead of squeezing its controls."""
    for child in getattr(widget, "children", ()):
        if isinstance(child, w.HBox) and child.layout.flex_flow is None:
            child.layout.flex_flow = "row wrap"
        elif not isinstance(child, w.Box):
            fit_control(child)
        fit_tree(child)
