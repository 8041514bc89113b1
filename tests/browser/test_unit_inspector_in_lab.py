"""The unit notebook in JupyterLab, in Chromium: change the UnitInspector's channel from its slider
(keyboard) and from its number box (typing), and see every picture and the kernel follow."""

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

NOTEBOOK = "07_unit_and_feature_space.ipynb"
INSPECTOR = ".convis-unit-inspector"
CANVAS_JS = canvas_js(INSPECTOR)


def test_changing_the_channel_redraws_every_panel(lab_server, page, artifacts):
    open_and_run(page, lab_server, NOTEBOOK)
    assert_nothing_cut(page, artifacts, "07_unit_and_feature_space.ipynb")

    page.locator(f"{INSPECTOR} .jupyter-matplotlib canvas").first.wait_for(state="visible")
    page.wait_for_function(drawn_js(INSPECTOR), timeout=60_000)
    wait_for_status(page, INSPECTOR, "map 12: alive")
    first = quiet_canvas(page, INSPECTOR, "inspector")
    page.locator(INSPECTOR).first.screenshot(path=str(artifacts / "unit-inspector-channel-12.png"))

    # 1. the channel slider, moved one step from the keyboard
    handle = page.locator(f"{INSPECTOR} .convis-channel .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    assert kernel_value(page, "inspector.channel", "13") == "13"
    wait_for_status(page, INSPECTOR, "map 13:")
    page.wait_for_function(f"d => ({CANVAS_JS})() !== d", arg=first)
    second = quiet_canvas(page, INSPECTOR, "inspector")
    assert second != first
    one_line = "' '.join(a.get_title().split())"  # the view wraps long titles
    titles = run_in_kernel(page, f"print(' | '.join({one_line} for a in inspector.figure.axes))")
    assert "filter 13 of conv3" in titles and "map 13 on image 0" in titles, titles
    page.locator(INSPECTOR).first.screenshot(path=str(artifacts / "unit-inspector-channel-13.png"))

    # 2. a channel typed into the slider's number box
    box = page.locator(f"{INSPECTOR} .convis-channel .widget-readout").first
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("40")
    page.keyboard.press("Enter")
    assert kernel_value(page, "inspector.channel", "40") == "40"
    wait_for_status(page, INSPECTOR, "map 40:")
    page.wait_for_function(f"d => ({CANVAS_JS})() !== d", arg=second)
    third = quiet_canvas(page, INSPECTOR, "inspector")
    assert third not in (first, second)
    assert page.locator(f"{INSPECTOR} .convis-channel .widget-readout").first.inner_text().strip() == "40"
    page.locator(INSPECTOR).first.screenshot(path=str(artifacts / "unit-inspector-channel-40.png"))
    assert run_in_kernel(page, "print(inspector.last_error)") == "None"
