"""The feature-space widget in JupyterLab, in Chromium: a real click on a point of the ipympl scatter
makes that digit the query, and its nearest neighbours appear beside it."""

from __future__ import annotations

from .lab import canvas_js, drawn_js, kernel_value, open_and_run, run_in_kernel, settled_canvas

NOTEBOOK = "07_unit_and_feature_space.ipynb"
SPACE = ".convis-feature-space"
CANVAS_JS = canvas_js(SPACE)

# the point to click: the one drawn farthest from any other (so the click cannot land nearer to a
# neighbour), inside the axes; printed with its figure-pixel position, y from the top
WHERE = """
import numpy as np
fig = space.figure; fig.canvas.draw()
ax = space.view.ax_scatter
shown = ax.transData.transform(space.view.points)
gap = np.hypot(*(shown[:, None, :] - shown[None, :, :]).transpose(2, 0, 1))
np.fill_diagonal(gap, np.inf)
box = ax.bbox
inside = ((shown[:, 0] > box.x0 + 12) & (shown[:, 0] < box.x1 - 12)
          & (shown[:, 1] > box.y0 + 12) & (shown[:, 1] < box.y1 - 12))
i = int(np.argmax(np.where(inside, gap.min(axis=1), -1)))
print(i, shown[i, 0], fig.bbox.height - shown[i, 1], fig.bbox.width, gap[i].min())
"""


def status(page) -> str:
    return page.locator(f"{SPACE} .convis-status").first.inner_text()


def test_click_on_a_point_shows_its_neighbours(lab_server, page, artifacts):
    open_and_run(page, lab_server, NOTEBOOK)
    assert run_in_kernel(page, "print(space.wait(120), space.query)") == "True -1"
    page.locator(f"{SPACE} .jupyter-matplotlib canvas").first.wait_for(state="visible")
    page.wait_for_function(drawn_js(SPACE), timeout=60_000)
    assert "click a point" in status(page)
    before = settled_canvas(page, SPACE)
    page.locator(SPACE).first.screenshot(path=str(artifacts / "feature-space-before.png"))

    index, x, y, width, gap = run_in_kernel(page, WHERE).split()
    assert float(gap) > 3, f"no point of the scatter stands clear of the others (nearest {gap} px)"
    canvas = page.locator(f"{SPACE} .jupyter-matplotlib canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    scale = box["width"] / float(width)  # CSS pixels per figure pixel
    page.mouse.click(box["x"] + float(x) * scale, box["y"] + float(y) * scale)

    assert kernel_value(page, "space.query", index) == index
    page.wait_for_function("([sel, t]) => document.querySelector(sel + ' .convis-status')"
                           ".textContent.includes(t)", arg=[SPACE, f"image {index}:"], timeout=60_000)
    said = status(page)
    assert "feature-space neighbours share its label" in said and "pixel-space" in said, said
    page.wait_for_function(f"d => ({CANVAS_JS})() !== d", arg=before)
    assert run_in_kernel(page, "print(space.wait(60))") == "True"
    after = settled_canvas(page, SPACE)
    assert after != before
    titles = run_in_kernel(page, "print(' | '.join(a.get_title() for a in space.figure.axes))")
    assert "picked: " in titles and f"(#{index})" in titles, titles
    assert titles.count("(#") == 11, titles  # the picked digit and its 5 + 5 neighbours
    page.locator(SPACE).first.screenshot(path=str(artifacts / "feature-space-after-click.png"))
    assert run_in_kernel(page, "print(space.last_error)") == "None"
