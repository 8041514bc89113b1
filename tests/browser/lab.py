"""Shared by the browser tests: open a notebook in JupyterLab or Notebook 7, run it, read the kernel,
watch a canvas, find what a reader would see cut."""

from __future__ import annotations

from pathlib import Path

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


def wait_for_status(page, selector: str, text: str, timeout_ms: int = 60_000) -> None:
    """Wait until a status line of a widget matching `selector` names `text`."""
    page.wait_for_function("([sel, t]) => [...document.querySelectorAll(sel + ' .convis-status')]"
                           ".some(s => s.textContent.includes(t))", arg=[selector, text], timeout=timeout_ms)


def quiet_canvas(page, selector: str, widget: str, timeout_s: int = 120) -> str:
    """The picture of the widget matching `selector` (the kernel's variable `widget`) once its job
    is done and its canvas has settled."""
    assert run_in_kernel(page, f"print({widget}.wait({timeout_s}))") == "True"
    return settled_canvas(page, selector)


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


WIDGET_ROOTS = ".convis-widget"
"""Every convis widget in the page (the base widget tags each one)."""

# every ipympl canvas of the page's convis widgets, as one string (their pictures and sizes)
PICTURES_JS = """(roots) => [...document.querySelectorAll(roots + ' .jupyter-matplotlib canvas')]
  .map(c => c.width + 'x' + c.height + c.toDataURL()).join('|')"""


def settled_pictures(page, tries: int = 25) -> None:
    """Wait until two looks 400 ms apart see the same pictures in every widget (a figure zoomed to a
    new width is redrawn by the kernel a moment after its canvas is resized), for at most `tries` looks."""
    last = page.evaluate(PICTURES_JS, WIDGET_ROOTS)
    for _ in range(tries):
        page.wait_for_timeout(400)
        now = page.evaluate(PICTURES_JS, WIDGET_ROOTS)
        if now == last:
            return
        last = now

# What a reader would see cut: for each shown convis widget, every label, readout, button and toggle
# whose text is wider than its box (scrollWidth > clientWidth), every dropdown option wider than its
# select's text room (measured in the select's own font: a select never scrolls), toggle groups whose
# buttons wrap onto a second line though one line would fit, and controls reaching past the output
# area; then (with `figures`) every figure of the notebook's outputs (an ipympl canvas or a picture)
# wider than its output area.
CUT_JS = """
([roots, figures]) => {
  const found = [];
  const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const text = (el) => (el.innerText || el.textContent || el.value || '').trim().slice(0, 80);
  const ctx = document.createElement('canvas').getContext('2d');
  const cellOf = (el) => {
    const cell = el.closest('.jp-Cell');
    return cell ? [...document.querySelectorAll('.jp-Notebook .jp-Cell')].indexOf(cell) : -1;
  };
  const areaOf = (el) => el.closest('.jp-OutputArea-output') || el.parentElement;
  const kindOf = (root) => [...root.classList].find(c => c.startsWith('convis-') && c !== 'convis-widget');
  let k = 0;
  for (const root of document.querySelectorAll(roots)) {
    if (!shown(root)) continue;
    const kind = kindOf(root);
    const name = `${kind} #${k++} (cell ${cellOf(root)})`;
    const area = areaOf(root).getBoundingClientRect();
    const say = (element, what, el) => found.push({widget: name, element, text: text(el), what});
    for (const el of root.querySelectorAll(
        '.widget-label, .widget-readout, .widget-toggle-button, .widget-button, .widget-label-basic')) {
      if (shown(el) && el.scrollWidth > el.clientWidth + 1) {
        say(el.className.split(' ').find(c => c.startsWith('widget-')), `text ${el.scrollWidth} px in a ` +
            `${el.clientWidth} px box`, el);
      }
    }
    for (const sel of root.querySelectorAll('.widget-dropdown select')) {
      if (!shown(sel)) continue;
      const s = getComputedStyle(sel);
      ctx.font = `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
      const room = sel.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
      for (const opt of sel.options) {
        const need = ctx.measureText(opt.text).width;
        if (need > room + 1) {
          found.push({widget: name, element: 'dropdown option', text: opt.text.trim(),
                      what: `option ${Math.ceil(need)} px in a ${Math.floor(room)} px select`});
        }
      }
    }
    for (const group of root.querySelectorAll('.widget-toggle-buttons')) {
      const buttons = [...group.querySelectorAll('.widget-toggle-button')].filter(shown);
      const tops = new Set(buttons.map(b => Math.round(b.getBoundingClientRect().top)));
      const line = buttons.reduce((sum, b) => {
        const m = getComputedStyle(b);
        return sum + b.offsetWidth + parseFloat(m.marginLeft) + parseFloat(m.marginRight);
      }, 0);
      if (tops.size > 1 && line <= area.width) {  // wrapped though one line would fit
        say('toggle buttons', `wrapped onto ${tops.size} lines (one line needs ${Math.ceil(line)} px ` +
            `of the ${Math.round(area.width)} px output area)`, group);
      }
    }
    for (const el of root.querySelectorAll('.widget-inline-hbox, .widget-button, .widget-toggle-buttons')) {
      if (shown(el) && el.getBoundingClientRect().right > area.right + 1) {
        say('control', `ends ${Math.ceil(el.getBoundingClientRect().right - area.right)} px past ` +
            `the ${Math.round(area.width)} px output area`, el);
      }
    }
  }
  for (const fig of document.querySelectorAll(
      '.jp-OutputArea-output .jupyter-matplotlib-canvas-div, .jp-OutputArea-output img')) {
    if (!figures || !shown(fig)) continue;
    const area = areaOf(fig.parentElement);
    const r = fig.getBoundingClientRect(), a = area.getBoundingClientRect();
    if (r.width > a.width + 1 || r.right > a.right + 1) {
      const root = fig.closest(roots);
      const kind = root ? kindOf(root) : 'output';
      found.push({widget: `${kind} (cell ${cellOf(fig)})`, element: fig.tagName.toLowerCase() === 'img' ?
                  'picture' : 'ipympl figure', text: fig.getAttribute('alt') || '',
                  what: `${Math.round(r.width)} px wide, ends ${Math.ceil(r.right - a.right)} px past ` +
                        `the ${Math.round(a.width)} px output area`});
    }
  }
  return found;
}
"""


def cut_controls(page, figures: bool = True) -> list[dict[str, str]]:
    """Every control text, dropdown option, toggle row or (with ``figures``) figure of the page's
    notebook that a reader would see cut, wrapped or reaching past its output area (see `CUT_JS`)."""
    return page.evaluate(CUT_JS, [WIDGET_ROOTS, figures])


FIT_WIDTHS = (1400, 900)  # browser widths, in CSS px, at which nothing may be cut
# Figures are held to the output area at both widths: about 970 px beside the file browser at 1,400 px,
# 468 px at 900 px, where each widget zooms its figures out to its width (widgets.output_width).
FIGURE_WIDTHS = FIT_WIDTHS

# run after the notebook's own cells (the kernel takes it once they are done): every widget's job ends;
# prints whether they did, how many widgets there are, and the error a cell raised (None)
SETTLED = """
import sys as _sys
from convis_widgets.widgets.base import ConvisWidget as _CW
_shown = {id(v): v for v in list(globals().values()) if isinstance(v, _CW)}
_raised = type(getattr(_sys, "last_value", None)).__name__
print(all(_w.wait(120) for _w in _shown.values()), len(_shown), _raised)
"""

# true once `n` widget roots are in the page, each ipympl canvas in them has its first picture, and no
# cell is still waiting to run
READY_JS = """([roots, n]) => {
  const shown = [...document.querySelectorAll(roots)];
  if (shown.length < n) return false;
  const canvases = shown.flatMap(r => [...r.querySelectorAll('.jupyter-matplotlib canvas')]);
  const pending = [...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'));
  return !pending && canvases.every(c => c.width > 20);
}"""


# what READY_JS waits for, as it stands: the widget roots' classes, each canvas's width, pending cells
NOT_READY_JS = """(roots) => ({
  roots: [...document.querySelectorAll(roots)].map(r => r.className),
  canvases: [...document.querySelectorAll(roots)].flatMap(
    r => [...r.querySelectorAll('.jupyter-matplotlib canvas')].map(c => c.width)),
  pending: [...document.querySelectorAll('.jp-InputPrompt')].filter(p => p.textContent.includes('*')).length,
})"""

# shows (or hides again) every folded accordion panel at once, for the look only: the kernel's
# `selected_index` stays as it is
OPEN_PANELS_JS = """(open) => {
  const old = document.getElementById('convis-open-panels');
  if (old) old.remove();
  if (!open) return;
  const style = document.createElement('style');
  style.id = 'convis-open-panels';
  style.textContent = '.jupyter-widget-Collapse-contents.lm-mod-hidden { display: block !important; }';
  document.head.appendChild(style);
}"""


def assert_nothing_cut(page, artifacts: Path, notebook: str) -> None:
    """Once the notebook's cells and its widgets' jobs are done, look at every widget, its accordion
    panels unfolded, at each of `FIT_WIDTHS` (a screenshot of the page and of each widget,
    ``fit-<nb>-<width>px*.png``); fail naming each widget, element and text that is cut
    (`cut_controls`). The viewport and the panels are restored."""
    said = run_in_kernel(page, SETTLED)
    assert said.count(" ") == 2, f"{notebook}: the kernel did not take the check after the cells: {said!r}"
    settled, n, error = said.split()
    assert error == "NoneType", f"{notebook}: a cell raised {error}"
    assert settled == "True", f"{notebook}: a widget was still busy 120 s after the last cell"
    try:
        page.wait_for_function(READY_JS, arg=[WIDGET_ROOTS, int(n)], timeout=120_000)
    except Exception as exc:  # playwright's TimeoutError: say what was not ready
        seen = page.evaluate(NOT_READY_JS, WIDGET_ROOTS)
        raise AssertionError(f"{notebook}: {n} widgets in the kernel, not ready in the page: {seen}") from exc
    viewport, stem, found = page.viewport_size, notebook.split("_")[0], {}
    page.evaluate(OPEN_PANELS_JS, True)
    try:
        for width in FIT_WIDTHS:
            page.set_viewport_size({"width": width, "height": 1400})
            page.wait_for_timeout(600)  # the notebook reflows
            settled_pictures(page)  # so that the screenshots show the figures redrawn at this width
            found[width] = cut_controls(page, figures=width in FIGURE_WIDTHS)
            page.screenshot(path=str(artifacts / f"fit-{stem}-{width}px.png"))
            for k, root in enumerate(page.locator(WIDGET_ROOTS).all()):
                root.screenshot(path=str(artifacts / f"fit-{stem}-{width}px-widget{k}.png"))
    finally:
        page.evaluate(OPEN_PANELS_JS, False)
        page.set_viewport_size(viewport)
    cuts = "\n".join(f"at {width} px:\n" + "\n".join(
        f"  {c['widget']}: {c['element']} {c['text']!r}: {c['what']}" for c in cut)
        for width, cut in found.items() if cut)
    assert not cuts, f"{notebook}: cut, wrapped or too wide\n{cuts}"
