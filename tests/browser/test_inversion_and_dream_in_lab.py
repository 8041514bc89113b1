"""Notebook 06's image runs in JupyterLab, in Chromium: the FeatureInversion grows its picture live, takes
up a regulariser moved mid-run (and says from which step) and stops on Stop keeping what it reached; the
DeepDream runs again on a layer picked from its dropdown and shows a different picture."""

from __future__ import annotations

import re

from .lab import (
    assert_nothing_cut,
    canvas_js,
    kernel_value,
    open_and_run,
    quiet_canvas,
    run_in_kernel,
    wait_for_status,
)

NOTEBOOK = "06_units_and_the_data_set.ipynb"
INVERSION = ".convis-feature-inversion"
DREAM = ".convis-deep-dream"


def status_step(page, selector: str) -> int:
    """The step the status line of the widget matching `selector` names (-1 before any)."""
    found = re.search(r"step (\d+)", page.locator(f"{selector} .convis-status").first.inner_text())
    return int(found.group(1)) if found else -1


def test_inversion_takes_up_a_slider_mid_run_and_stops_and_dream_follows_its_layer(lab_server, page,
                                                                                     artifacts):
    open_and_run(page, lab_server, NOTEBOOK)
    assert_nothing_cut(page, artifacts, "06_units_and_the_data_set.ipynb")  # waits for every widget's job
    inversion = page.locator(INVERSION).first
    inversion.scroll_into_view_if_needed()
    wait_for_status(page, INVERSION, "ended")
    finished = quiet_canvas(page, INVERSION, "inversion")
    inversion.screenshot(path=str(artifacts / "inversion-finished.png"))

    # a long run, started from its button: the picture changes while it runs
    run_in_kernel(page, "inversion.steps = 100_000")
    inversion.locator(".convis-start button, button.convis-start").first.click()
    wait_for_status(page, INVERSION, "running")
    pictures = {finished}
    for _ in range(150):
        page.wait_for_timeout(200)
        pictures.add(page.evaluate(canvas_js(INVERSION)))
        if len(pictures) >= 3:
            break
    assert len(pictures) >= 3, "the inversion's picture did not change twice while running"

    # the total-variation slider, moved from the keyboard mid-run: the status names the step it acted at
    before = float(run_in_kernel(page, "print(inversion.tv)"))
    handle = inversion.locator(".convis-tv .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    moved = kernel_value(page, f"inversion.tv > {before}", "True")
    assert moved == "True", "the TV slider did not reach the kernel"
    wait_for_status(page, INVERSION, "taken up:")
    taken = run_in_kernel(page, "print([(n, v == inversion.tv) for _, n, v in inversion.changes])")
    assert taken == "[('tv', True)]", taken
    inversion.screenshot(path=str(artifacts / "inversion-running-tv-taken-up.png"))

    inversion.locator(".convis-stop button, button.convis-stop").first.click()
    assert kernel_value(page, "inversion.running", "False") == "False"
    wait_for_status(page, INVERSION, "ended (cancelled)")
    stopped_at = status_step(page, INVERSION)
    page.wait_for_timeout(1500)
    assert status_step(page, INVERSION) == stopped_at > 0, "the inversion's step counter went on after Stop"
    kept = run_in_kernel(page, "r = inversion.result; print(r.reason, r.step, inversion.distance() > 0)")
    assert kept == f"cancelled {stopped_at} True", kept
    inversion.screenshot(path=str(artifacts / "inversion-stopped.png"))

    # DeepDream: another layer from its dropdown, then Start: a new picture, of that layer
    dream = page.locator(DREAM).first
    dream.scroll_into_view_if_needed()
    first = quiet_canvas(page, DREAM, "dream")
    select = dream.locator(".convis-layer select").first
    label = select.evaluate("s => [...s.options].map(o => o.text).find(t => t.startsWith('relu3'))")
    select.select_option(label=label)
    assert kernel_value(page, "dream.layer", "relu3") == "relu3"
    run_in_kernel(page, "dream.result = None")  # so that the wait below sees the new run's end
    dream.locator(".convis-start button, button.convis-start").first.click()
    ended = kernel_value(page, "dream.result is not None and dream.result.done", "True", timeout_s=120)
    assert ended == "True", "the DeepDream run on relu3 did not end"
    second = quiet_canvas(page, DREAM, "dream")
    assert second != first
    ran = run_in_kernel(page, "print(dream.result.reason in ('steps', 'converged'), dream.layer)")
    assert ran == "True relu3", ran
    dream.screenshot(path=str(artifacts / "dream-relu3.png"))
    assert run_in_kernel(page, "print(inversion.last_error, dream.last_error)") == "None None"
