"""The OIP notebook in JupyterLab, in Chromium: press Start, watch the picture change, press Stop."""

from __future__ import annotations

import re

from .lab import (
    assert_nothing_cut,
    canvas_js,
    drawn_js,
    kernel_value,
    open_and_run,
    run_in_kernel,
)

VISUALIZER = ".convis-feature-visualizer"


def step_counter(page) -> int:
    text = page.locator(f"{VISUALIZER} .convis-status").first.inner_text()
    found = re.search(r"step (\d+)", text)
    return int(found.group(1)) if found else -1


def test_start_shows_the_picture_growing_and_stop_freezes_the_counter(lab_server, page, artifacts):
    open_and_run(page, lab_server, "02_feature_visualization.ipynb")
    assert_nothing_cut(page, artifacts, "02_feature_visualization.ipynb")
    root = page.locator(VISUALIZER).first
    root.locator(".jupyter-matplotlib canvas").first.wait_for(state="visible")
    assert kernel_value(page, "type(fv).__name__", "FeatureVisualizer", timeout_s=240) == "FeatureVisualizer"
    run_in_kernel(page, "fv.steps = 100_000")  # long enough to be stopped by hand
    root.scroll_into_view_if_needed()
    first = page.evaluate(canvas_js(VISUALIZER))

    root.locator(".convis-start button, button.convis-start").first.click()
    pictures = {first}
    for _ in range(150):  # the live picture changes at least twice while it runs
        page.wait_for_timeout(200)
        pictures.add(page.evaluate(canvas_js(VISUALIZER)))
        if len(pictures) >= 3:
            break
    assert len(pictures) >= 3, "the picture did not change twice while running"
    page.wait_for_function(drawn_js(VISUALIZER))
    assert kernel_value(page, "fv.running", "True") == "True"
    root.screenshot(path=str(artifacts / "feature-visualizer-running.png"))

    # the user's own cells while the run goes on: the model's normal output, no hook of ours on it,
    # statistics over exactly the given images, and a training step whose gradients reach every weight
    users_cell = """
import torch
import torch.nn.functional as F
from convis_widgets.compute import channel_statistics
from convis_widgets.compute.access import HOOK_TABLES
x, y = digits("test").images[:16], digits("test").labels[:16]
with torch.no_grad():
    outs = [model(x) for _ in range(20)]
same = all(torch.equal(o, outs[0]) for o in outs)
hooks = sum(len(getattr(m, t)) for m in model.modules() for t in HOOK_TABLES)
count = channel_statistics(model, "relu2", x).count
model.train()
F.cross_entropy(model(x), y).backward()
grads = all(p.grad is not None for p in model.parameters())
model.zero_grad(set_to_none=True)
model.eval()
print(same, hooks, count, grads, fv.running)
"""
    assert run_in_kernel(page, users_cell) == "True 0 16 True True"

    root.locator(".convis-stop button, button.convis-stop").first.click()
    assert kernel_value(page, "fv.running", "False") == "False"
    page.wait_for_function(f"document.querySelector('{VISUALIZER} .convis-status')"
                           ".textContent.includes('cancelled')")
    stopped_at = step_counter(page)
    page.wait_for_timeout(1500)
    assert step_counter(page) == stopped_at > 0, "the step counter went on after Stop"
    assert run_in_kernel(page, "print(fv.result.reason, fv.result.step)") == f"cancelled {stopped_at}"
    root.screenshot(path=str(artifacts / "feature-visualizer-stopped.png"))


def test_click_on_a_gallery_tile_opens_that_map_alone(lab_server, page, artifacts):
    """A real click on a tile of the finished gallery: single-run mode on that map, ready for Start."""
    open_and_run(page, lab_server, "02_feature_visualization.ipynb")
    root = page.locator(VISUALIZER).first
    assert kernel_value(page, "type(fv).__name__", "FeatureVisualizer", timeout_s=240) == "FeatureVisualizer"
    run_in_kernel(page, "fv.steps = 16; fv.gallery_range = (8, 15)")
    root.locator(".convis-mode button", has_text="layer gallery").click()
    assert kernel_value(page, "fv.mode", "gallery") == "gallery"
    root.locator(".convis-start button, button.convis-start").first.click()
    done = run_in_kernel(page, "print(fv.wait(120), fv.gallery.channels)")
    assert done == "True [8, 9, 10, 11, 12, 13, 14, 15]"
    # where the tile of map 13 (the sixth of maps 8-15) is drawn, read from the view, in figure pixels
    where = run_in_kernel(page, (
        "fig = fv.gallery_figure; fig.canvas.draw(); view = fv.gallery_view\n"
        "_, h, w_, ncols = view.geometry\n"
        "row, col = divmod(view.channels.index(13), ncols)\n"
        "x, y = view.ax.transData.transform((col * (w_ + 1) + w_ // 2, row * (h + 1) + h // 2))\n"
        "print(x, fig.bbox.height - y, fig.bbox.width)"))
    x, y, width = (float(v) for v in where.split())
    # the screenshot first: taking it scrolls the page, which would leave the canvas box stale
    root.screenshot(path=str(artifacts / "gallery-before-tile-click.png"))
    canvas = root.locator(".convis-gallery-view .jupyter-matplotlib canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    scale = box["width"] / width
    page.mouse.click(box["x"] + x * scale, box["y"] + y * scale)
    assert kernel_value(page, "fv.mode", "single") == "single"
    page.wait_for_function(f"document.querySelector('{VISUALIZER} .convis-status')"
                           ".textContent.includes('map 13 of')")
    opened = run_in_kernel(page, "print(fv.objective, fv.layer == fv.gallery_layer, fv.index)")
    assert opened == "channel True 13"
    root.screenshot(path=str(artifacts / "gallery-tile-opened.png"))
