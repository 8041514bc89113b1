"""The latent-space notebook in JupyterLab, in Chromium: move a direction slider from the keyboard and
see the decoded digit change, then switch to samples and see sixteen decoded codes."""

from __future__ import annotations

from .lab import (
    assert_nothing_cut,
    canvas_js,
    drawn_js,
    kernel_value,
    open_and_run,
    quiet_canvas,
    run_in_kernel,
    wait_for_status,
)
from .quickstart import changed_share

NOTEBOOK = "08_latent_space.ipynb"
EXPLORER = ".convis-latent-explorer"
CANVAS_JS = canvas_js(EXPLORER)


def test_a_direction_slider_and_the_samples_mode_redraw_the_decoded_digits(lab_server, page, artifacts):
    open_and_run(page, lab_server, NOTEBOOK)
    assert_nothing_cut(page, artifacts, "08_latent_space.ipynb")

    page.wait_for_function(drawn_js(EXPLORER), timeout=60_000)
    wait_for_status(page, EXPLORER, "This code lies")
    first = quiet_canvas(page, EXPLORER, "explorer", 60)
    page.locator(EXPLORER).first.screenshot(path=str(artifacts / "latent-explorer-mean.png"))

    # 1. direction 1, ten steps of 0.1 standard deviations from the keyboard
    handle = page.locator(f"{EXPLORER} .convis-sliders .noUi-handle").first
    handle.focus()
    for _ in range(10):
        handle.press("ArrowRight")
    assert kernel_value(page, "round(explorer.position[0], 1) if explorer.position else 0", "1.0") == "1.0"
    page.wait_for_function(f"d => ({CANVAS_JS})() !== d", arg=first)
    moved = quiet_canvas(page, EXPLORER, "explorer", 60)
    assert changed_share(first, moved) > 0.02  # the decoded digit and the star in the scatter
    assert run_in_kernel(page, "print(explorer.view.ax_decoded.get_title())").startswith("decoded at (+1.0")
    page.locator(EXPLORER).first.screenshot(path=str(artifacts / "latent-explorer-direction-1.png"))

    # 2. the samples mode: sixteen codes drawn from the fitted distribution
    page.locator(f"{EXPLORER} .convis-mode button", has_text="samples").click()
    assert kernel_value(page, "explorer.mode", "samples") == "samples"
    wait_for_status(page, EXPLORER, "sampled codes lie far")
    sampled = quiet_canvas(page, EXPLORER, "explorer", 60)
    assert changed_share(moved, sampled) > 0.1
    page.locator(EXPLORER).first.screenshot(path=str(artifacts / "latent-explorer-samples.png"))
