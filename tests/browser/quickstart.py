"""The quickstart's layer change, as every front end's test sees it: pick relu2, see the picture change."""

from __future__ import annotations

import base64
import io
import time

import numpy as np
from PIL import Image

from .lab import canvas_js, drawn_js, settled_canvas

EXPLORER = ".convis-activation-explorer"
CANVAS_JS = canvas_js(EXPLORER)


def status_text(page) -> str:
    """The first activation explorer's status line."""
    return page.locator(f"{EXPLORER} .convis-status").first.inner_text()


def wait_for_status(page, text: str) -> None:
    """Wait until the first activation explorer's status line names `text`."""
    page.wait_for_function(f"document.querySelector('{EXPLORER} .convis-status')"
                           f".textContent.includes('{text}')")


def pixels(data_url: str) -> np.ndarray:
    """The RGBA pixels of a canvas picture given as a PNG data URL."""
    png = base64.b64decode(data_url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def changed_share(before: str, after: str) -> float:
    """The share of pixels that differ between two canvas pictures (1.0 when their sizes differ)."""
    a, b = pixels(before), pixels(after)
    if a.shape != b.shape:
        return 1.0
    return float(np.any(a != b, axis=-1).mean())


NEW_PICTURE = 0.05
"""Share of pixels that must differ before a settled canvas counts as the new layer's picture: a
first small change (a redraw of part of the figure) can settle for 400 ms under load before the
full picture arrives."""


def new_picture(page, before: str, timeout_s: float = 60.0) -> str:
    """The first settled picture of the first explorer that differs from `before` by more than
    NEW_PICTURE; fail naming the share reached when none comes within `timeout_s`."""
    page.wait_for_function(f"d => ({CANVAS_JS})() !== d", arg=before)
    start, share = time.monotonic(), 0.0
    while time.monotonic() - start < timeout_s:
        after = settled_canvas(page, EXPLORER)
        share = changed_share(before, after)
        if share > NEW_PICTURE:
            return after
        page.wait_for_timeout(500)
    raise AssertionError(f"after the layer change only {share:.1%} of the picture changed "
                         f"within {timeout_s:.0f} s")


def change_layer(page, artifacts, prefix: str) -> tuple[str, str]:
    """Wait for the first explorer's relu1 picture, pick relu2 in its layer control, wait for the new
    picture; screenshots `{prefix}-before.png` and `{prefix}-after.png`; return both pictures."""
    page.locator(f"{EXPLORER} .jupyter-matplotlib canvas").first.wait_for(state="visible")
    wait_for_status(page, "relu1")
    page.wait_for_function(drawn_js(EXPLORER))  # ipympl's first image arrives late
    before = settled_canvas(page, EXPLORER)
    page.locator(EXPLORER).first.screenshot(path=str(artifacts / f"{prefix}-before.png"))

    select = page.locator(f"{EXPLORER} .convis-layer select").first
    options = select.locator("option").all_inner_texts()
    select.select_option(index=next(i for i, text in enumerate(options) if text.strip().startswith("relu2")))

    wait_for_status(page, "relu2")
    after = new_picture(page, before)
    page.locator(EXPLORER).first.screenshot(path=str(artifacts / f"{prefix}-after.png"))
    return before, after
