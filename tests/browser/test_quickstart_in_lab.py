"""The quickstart in JupyterLab, in Chromium: run it, move the layer control, see the picture change."""

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

EXPLORER = ".convis-activation-explorer"
CANVAS_JS = canvas_js(EXPLORER)
DRAWN_JS = drawn_js(EXPLORER)


def status_text(page) -> str:
    return page.locator(f"{EXPLORER} .convis-status").first.inner_text()


def test_activation_explorer_layer_change_redraws(lab_server, page, artifacts):
    open_and_run(page, lab_server, "01_quickstart.ipynb")
    assert_nothing_cut(page, artifacts, "01_quickstart.ipynb")

    page.locator(f"{EXPLORER} .jupyter-matplotlib canvas").first.wait_for(state="visible")
    page.wait_for_function(f"document.querySelector('{EXPLORER} .convis-status')"
                           ".textContent.includes('relu1')")
    page.wait_for_function(DRAWN_JS)  # ipympl's first image arrives late
    page.locator(".convis-filter-gallery .jupyter-matplotlib canvas").first.wait_for(
        state="visible")
    before = page.evaluate(CANVAS_JS)
    page.locator(EXPLORER).first.screenshot(path=str(artifacts / "explorer-before.png"))
    page.locator(".convis-filter-gallery").first.screenshot(path=str(artifacts / "gallery.png"))
    page.locator(EXPLORER).nth(1).screenshot(path=str(artifacts / "decoder-explorer.png"))

    select = page.locator(f"{EXPLORER} .convis-layer select").first
    options = select.locator("option").all_inner_texts()
    target = next(i for i, text in enumerate(options) if text.strip().startswith("relu2"))
    select.select_option(index=target)

    page.wait_for_function(f"document.querySelector('{EXPLORER} .convis-status')"
                           ".textContent.includes('relu2')")
    page.wait_for_function(f"d => ({CANVAS_JS})() !== d", arg=before)
    assert "relu2" in status_text(page)
    assert run_in_kernel(page, "print(explorer.layer)") == "relu2"
    page.locator(EXPLORER).first.screenshot(path=str(artifacts / "explorer-after.png"))


def test_click_on_a_channel_enlarges_it(lab_server, page, artifacts):
    """A real mouse click on the ipympl canvas reaches the kernel and selects that channel."""
    open_and_run(page, lab_server, "01_quickstart.ipynb")
    page.wait_for_function(DRAWN_JS)
    select = page.locator(f"{EXPLORER} .convis-layer select").first
    options = select.locator("option").all_inner_texts()
    select.select_option(index=next(i for i, t in enumerate(options) if t.strip().startswith("relu2")))
    page.wait_for_function(f"document.querySelector('{EXPLORER} .convis-status')"
                           ".textContent.includes('relu2')")
    before = settled_canvas(page, EXPLORER)
    # where channel 9 is drawn in the grid (its geometry read from the view), in CSS pixels
    where = run_in_kernel(page, (
        "fig = explorer.figure; fig.canvas.draw()\n"
        "_, h, w_, ncols = explorer.view.geometry\n"
        "row, col = divmod(9, ncols)\n"
        "centre = (col * (w_ + 1) + w_ // 2, row * (h + 1) + h // 2)\n"
        "x, y = explorer.view.ax_grid.transData.transform(centre)\n"
        "print(x, fig.bbox.height - y, fig.bbox.width)"))
    x, y, width = (float(v) for v in where.split())
    canvas = page.locator(f"{EXPLORER} .jupyter-matplotlib canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    scale = box["width"] / width  # CSS pixels per figure pixel
    # the pointer over the map first: ipympl's footer reads out the channel and its activation there
    page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
    footer = page.locator(f"{EXPLORER} .jupyter-matplotlib-footer").first
    page.wait_for_function(f"document.querySelector('{EXPLORER} .jupyter-matplotlib-footer')"
                           ".textContent.includes('channel 9')")
    assert "activation" in footer.inner_text()
    page.screenshot(path=str(artifacts / "before-click.png"))
    page.mouse.click(box["x"] + x * scale, box["y"] + y * scale)
    assert kernel_value(page, "explorer.channel", "9") == "9"
    page.wait_for_function(f"d => ({CANVAS_JS})() !== d", arg=before)
    page.locator(EXPLORER).first.screenshot(path=str(artifacts / "explorer-channel.png"))

    # the click opened map 9 of relu2 in a FeatureVisualizer below the explorer, ready for Start
    visualizer = page.locator(f"{EXPLORER} .convis-feature-visualizer").first
    visualizer.wait_for(state="visible")
    page.wait_for_function(f"document.querySelector('{EXPLORER} .convis-feature-visualizer .convis-status')"
                           ".textContent.includes('map 9 of relu2 opened')")
    opened = "v = explorer.linked[0]; print(type(v).__name__, v.mode, v.objective, v.layer, v.index)"
    assert run_in_kernel(page, opened) == "FeatureVisualizer single channel relu2 9"
    visualizer.screenshot(path=str(artifacts / "explorer-opened-in-visualizer.png"))
