"""The occlusion notebook in JupyterLab, in Chromium: move the patch (slider, drag), see the scores change."""

from __future__ import annotations

from .lab import (
    assert_nothing_cut,
    canvas_js,
    drawn_js,
    kernel_value,
    open_and_run,
    run_in_kernel,
    settled_canvas,
)

EXPLORER = ".convis-occlusion-explorer"
CANVAS_JS = canvas_js(EXPLORER)


def readout(page) -> str:
    return page.locator(f"{EXPLORER} .convis-readout").first.inner_text()


def test_moving_the_patch_changes_the_score_readout(lab_server, page, artifacts):
    open_and_run(page, lab_server, "03_occlusion_and_saliency.ipynb")
    assert_nothing_cut(page, artifacts, "03_occlusion_and_saliency.ipynb")
    page.locator(f"{EXPLORER} .jupyter-matplotlib canvas").first.wait_for(state="visible", timeout=120_000)
    page.wait_for_function(drawn_js(EXPLORER), timeout=60_000)
    # the notebook's last cell puts the patch at (9, 11); wait for it and for the heatmap
    page.wait_for_function(f"document.querySelector('{EXPLORER} .convis-readout')"
                           ".textContent.includes('x=11')", timeout=60_000)
    page.wait_for_function(f"document.querySelector('{EXPLORER} .convis-status')"
                           ".textContent.includes('heatmap')", timeout=60_000)
    first_text = readout(page)
    before = settled_canvas(page, EXPLORER)
    page.locator(EXPLORER).first.screenshot(path=str(artifacts / "occlusion-before.png"))

    # 1. the x slider, moved from the keyboard as a user would
    handle = page.locator(f"{EXPLORER} .convis-patch-x .noUi-handle").first
    handle.focus()
    for _ in range(4):
        handle.press("ArrowRight")
    page.wait_for_function(f"document.querySelector('{EXPLORER} .convis-readout')"
                           ".textContent.includes('x=15')")
    assert kernel_value(page, "explorer.patch_x", "15") == "15"
    slid_text = readout(page)
    assert slid_text != first_text and "drop" in slid_text
    page.wait_for_function(f"d => ({CANVAS_JS})() !== d", arg=before)
    after_slider = settled_canvas(page, EXPLORER)
    page.locator(EXPLORER).first.screenshot(path=str(artifacts / "occlusion-after-slider.png"))

    # 2. a mouse drag on the image: the patch follows the pointer to pixel (row 20, col 6)
    where = run_in_kernel(page, (
        "fig = explorer.figure; fig.canvas.draw()\n"
        "ax = explorer.occlusion_view.ax_image\n"
        "x0, y0 = ax.transData.transform((16, 12))\n"
        "x1, y1 = ax.transData.transform((6, 20))\n"
        "print(x0, fig.bbox.height - y0, x1, fig.bbox.height - y1, fig.bbox.width)"))
    x0, y0, x1, y1, width = (float(v) for v in where.split())
    canvas = page.locator(f"{EXPLORER} .jupyter-matplotlib canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    scale = box["width"] / width  # CSS pixels per figure pixel
    page.mouse.move(box["x"] + x0 * scale, box["y"] + y0 * scale)
    page.mouse.down()
    page.mouse.move(box["x"] + x1 * scale, box["y"] + y1 * scale, steps=5)
    page.mouse.up()
    # the patch (6 px) is centred on the pixel under the pointer: top-left = that pixel - 2
    assert kernel_value(page, "(explorer.patch_y, explorer.patch_x)", "(18, 4)") == "(18, 4)"
    page.wait_for_function(f"document.querySelector('{EXPLORER} .convis-readout')"
                           ".textContent.includes('x=4')")
    assert readout(page) not in (first_text, slid_text)
    page.wait_for_function(f"d => ({CANVAS_JS})() !== d", arg=after_slider)
    settled_canvas(page, EXPLORER)
    page.locator(EXPLORER).first.screenshot(path=str(artifacts / "occlusion-after-drag.png"))
    assert run_in_kernel(page, "print(explorer.last_error)") == "None"
