"""The quickstart in Notebook 7 and in Voila, in Chromium: move the layer control, see the picture change
(the JupyterLab test is test_quickstart_in_lab.py)."""

from __future__ import annotations

from .lab import open_and_run, run_in_kernel
from .quickstart import EXPLORER, change_layer, changed_share, status_text

MIN_CHANGED = 0.25
"""relu1's 32 maps and relu2's 64 are different grids: 44% of the canvas's pixels changed when measured
(both front ends); a picture only partly redrawn stays far below this."""


def test_notebook7_layer_change_redraws(notebook_server, page, artifacts):
    open_and_run(page, notebook_server, "01_quickstart.ipynb", app="notebook")
    assert page.evaluate("window.jupyterapp.name") == "Jupyter Notebook"

    before, after = change_layer(page, artifacts, "notebook7-explorer")

    assert changed_share(before, after) > MIN_CHANGED
    assert "relu2" in status_text(page)
    assert run_in_kernel(page, "print(explorer.layer)") == "relu2"
    # the width strip (an anywidget) rendered and told the kernel the explorer's width
    assert int(run_in_kernel(page, "print(explorer.output_width.width)")) > 400


def test_voila_layer_change_redraws(voila_server, page, artifacts):
    base, token = voila_server
    # Voila streams the page while the kernel runs the cells: the page's load event waits for the last one
    page.goto(f"{base}/?token={token}", wait_until="commit")
    page.locator(EXPLORER).first.wait_for(state="visible", timeout=240_000)

    before, after = change_layer(page, artifacts, "voila-explorer")

    assert changed_share(before, after) > MIN_CHANGED
    assert "relu2" in status_text(page)
    # the notebook ran to its last cell (the decoder's explorer) and printed no error or warning
    page.locator(EXPLORER).nth(1).wait_for(state="visible")
    assert page.locator(".jp-OutputArea-output", has_text="accuracy of the shipped CNN").count() == 1
    stderr = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"  # and tracebacks
    assert page.locator(stderr).all_inner_texts() == []
    # every widget's front end loaded (the width strip is an anywidget, a second widget package)
    assert page.get_by_text("Error displaying widget").count() == 0
    assert page.get_by_text("Failed to load").count() == 0
