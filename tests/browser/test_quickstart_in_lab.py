"""The quickstart in JupyterLab, in Chromium: run it, move the layer control, see the picture change."""

from __future__ import annotations

RUN_ALL_JS = """
async () => {
  const app = window.jupyterapp;
  await app.restored;
  let panel = null;
  for (let i = 0; i < 600 && !(panel && panel.sessionContext); i++) {
    panel = app.shell.currentWidget;
    await new Promise(r => setTimeout(r, 100));
  }
  await panel.context.ready;
  await panel.sessionContext.ready;
  await app.commands.execute('notebook:run-all-cells');
}
"""

READ_KERNEL_JS = """
async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const fut = kernel.requestExecute({code, silent: false, store_history: false});
  let out = '';
  fut.onIOPub = (msg) => { if (msg.header.msg_type === 'stream') out += msg.content.text; };
  await fut.done;
  return out.trim();
}
"""

EXPLORER = ".convis-activation-explorer"
CANVAS_JS = f"() => document.querySelector('{EXPLORER} .jupyter-matplotlib canvas').toDataURL()"
DRAWN_JS = f"""() => {{
  const c = document.querySelector('{EXPLORER} .jupyter-matplotlib canvas');
  if (!c || c.width < 50) return false;
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let colored = 0;
  for (let i = 0; i < px.length; i += 4 * 97) if (px[i] !== px[i + 1] || px[i + 1] !== px[i + 2]) colored++;
  return colored > 20;
}}"""


def settled_canvas(page) -> str:
    """The explorer's canvas once two looks 400 ms apart see the same picture."""
    last = page.evaluate(CANVAS_JS)
    for _ in range(50):
        page.wait_for_timeout(400)
        now = page.evaluate(CANVAS_JS)
        if now == last:
            return now
        last = now
    raise AssertionError("the explorer's picture never settled")


def kernel_value(page, expression: str, expected: str, timeout_s: float = 20) -> str:
    """Poll `print(expression)` in the kernel until it prints `expected` (or time runs out)."""
    value = ""
    for _ in range(int(timeout_s / 0.25)):
        value = page.evaluate(READ_KERNEL_JS, f"print({expression})")
        if value == expected:
            break
        page.wait_for_timeout(250)
    return value


def status_text(page) -> str:
    return page.locator(f"{EXPLORER} .convis-status").first.inner_text()


def test_activation_explorer_layer_change_redraws(lab_server, page, artifacts):
    base, token = lab_server
    page.goto(f"{base}/lab/tree/01_quickstart.ipynb?token={token}&reset")
    page.wait_for_function("window.jupyterapp !== undefined")
    page.evaluate(RUN_ALL_JS)

    page.locator(f"{EXPLORER} .jupyter-matplotlib canvas").first.wait_for(state="visible")
    page.wait_for_function(f"document.querySelector('{EXPLORER} .convis-status')"
                           ".textContent.includes('conv1')")
    page.wait_for_function(DRAWN_JS)  # ipympl's first image arrives late
    page.locator(".convis-filter-gallery .jupyter-matplotlib canvas").first.wait_for(
        state="visible")
    before = page.evaluate(CANVAS_JS)
    page.locator(EXPLORER).first.screenshot(path=str(artifacts / "explorer-before.png"))
    page.locator(".convis-filter-gallery").first.screenshot(path=str(artifacts / "gallery.png"))
    page.locator(EXPLORER).nth(1).screenshot(path=str(artifacts / "decoder-explorer.png"))

    select = page.locator(f"{EXPLORER} .convis-layer select").first
    options = select.locator("option").all_inner_texts()
    target = next(i for i, text in enumerate(options) if text.strip().startswith("conv2"))
    select.select_option(index=target)

    page.wait_for_function(f"document.querySelector('{EXPLORER} .convis-status')"
                           ".textContent.includes('conv2')")
    page.wait_for_function(f"d => ({CANVAS_JS})() !== d", arg=before)
    assert "conv2" in status_text(page)
    assert page.evaluate(READ_KERNEL_JS, "print(explorer.layer)") == "conv2"
    page.locator(EXPLORER).first.screenshot(path=str(artifacts / "explorer-after.png"))


def test_click_on_a_channel_enlarges_it(lab_server, page, artifacts):
    """A real mouse click on the ipympl canvas reaches the kernel and selects that channel."""
    base, token = lab_server
    page.goto(f"{base}/lab/tree/01_quickstart.ipynb?token={token}&reset")
    page.wait_for_function("window.jupyterapp !== undefined")
    page.evaluate(RUN_ALL_JS)
    page.wait_for_function(DRAWN_JS)
    select = page.locator(f"{EXPLORER} .convis-layer select").first
    options = select.locator("option").all_inner_texts()
    select.select_option(index=next(i for i, t in enumerate(options) if t.strip().startswith("relu2")))
    page.wait_for_function(f"document.querySelector('{EXPLORER} .convis-status')"
                           ".textContent.includes('relu2')")
    before = settled_canvas(page)
    # where channel 9 (row 1, column 3 of the 6-column grid of 14x14 maps) is drawn, in CSS pixels
    where = page.evaluate(READ_KERNEL_JS, (
        "fig = explorer.figure; fig.canvas.draw()\n"
        "x, y = explorer.view.ax_grid.transData.transform((3 * 15 + 7, 1 * 15 + 7))\n"
        "print(x, fig.bbox.height - y, fig.bbox.width)"))
    x, y, width = (float(v) for v in where.split())
    canvas = page.locator(f"{EXPLORER} .jupyter-matplotlib canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    scale = box["width"] / width  # CSS pixels per figure pixel
    page.screenshot(path=str(artifacts / "before-click.png"))
    page.mouse.click(box["x"] + x * scale, box["y"] + y * scale)
    assert kernel_value(page, "explorer.channel", "9") == "9"
    page.wait_for_function(f"d => ({CANVAS_JS})() !== d", arg=before)
    page.locator(EXPLORER).first.screenshot(path=str(artifacts / "explorer-channel.png"))
