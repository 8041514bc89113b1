"""`OutputWidth`: the width the browser gives a widget, reported to the kernel, so that its figures
can be made to fit it (ipympl sizes a figure from the kernel only: matplotlib/ipympl#431)."""

from __future__ import annotations

import anywidget
from traitlets import Int

WIDTH_JS = """
function render({ model, el }) {
  el.style.width = '100%';
  el.style.height = '0px';
  let last = -1;
  const report = () => {
    const width = Math.floor(el.getBoundingClientRect().width);
    if (width > 0 && width !== last) {
      last = width;
      model.set('width', width);
      model.save_changes();
    }
  };
  const observer = new ResizeObserver(report);
  observer.observe(el);
  report();
  return () => observer.disconnect();
}
export default { render };
"""


class OutputWidth(anywidget.AnyWidget):
    """An invisible strip as wide as its box; ``width`` is that width in CSS pixels (0 until shown),
    updated when the browser window, the sidebar or the cell's width changes."""

    _esm = WIDTH_JS
    width = Int(0).tag(sync=True)
