"""Shared by the browser tests: open a notebook in JupyterLab or Notebook 7, run it, read the kernel,
watch a canvas."""

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


def open_and_run(page, server, notebook: str, app: str = "lab") -> None:
    """Open `notebook` in a fresh JupyterLab workspace (`app="lab"`) or in Notebook 7 (`app="notebook"`)
    and run all its cells (returns once queued)."""
    base, token = server
    paths = {"lab": f"lab/tree/{notebook}?token={token}&reset",
             "notebook": f"notebooks/{notebook}?token={token}"}
    if app not in paths:
        raise ValueError(f"app must be one of {sorted(paths)}, not {app!r}")
    page.goto(f"{base}/{paths[app]}")
    page.wait_for_function("window.jupyterapp !== undefined")
    page.evaluate(RUN_ALL_JS)


def run_in_kernel(page, code: str) -> str:
    """Run `code` in the notebook's kernel and return what it printed."""
    return page.evaluate(READ_KERNEL_JS, code)


def kernel_value(page, expression: str, expected: str, timeout_s: float = 20) -> str:
    """Poll `print(expression)` in the kernel until it prints `expected` (or time runs out)."""
    value = ""
    for _ in range(int(timeout_s / 0.25)):
        value = run_in_kernel(page, f"print({expression})")
        if value == expected:
            break
        page.wait_for_timeout(250)
    return value


def canvas_js(selector: str) -> str:
    """JS returning the data URL of the first ipympl canvas inside `selector`."""
    return f"() => document.querySelector('{selector} .jupyter-matplotlib canvas').toDataURL()"


def drawn_js(selector: str) -> str:
    """JS that is true once the first ipympl canvas inside `selector` shows a coloured picture."""
    return f"""() => {{
  const c = document.querySelector('{selector} .jupyter-matplotlib canvas');
  if (!c || c.width < 50) return false;
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let colored = 0;
  for (let i = 0; i < px.length; i += 4 * 97) if (px[i] !== px[i + 1] || px[i + 1] !== px[i + 2]) colored++;
  return colored > 20;
}}"""


def settled_canvas(page, selector: str) -> str:
    """The canvas picture inside `selector` once two looks 400 ms apart see the same picture."""
    js = canvas_js(selector)
    last = page.evaluate(js)
    for _ in range(50):
        page.wait_for_timeout(400)
        now = page.evaluate(js)
        if now == last:
            return now
        last = now
    raise AssertionError(f"the picture in {selector} never settled")
