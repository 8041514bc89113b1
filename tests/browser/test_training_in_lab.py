"""The training notebook in JupyterLab, in Chromium: press Start, watch the loss figure grow, see it end."""

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

TRAINER = ".convis-training-comparison"
LOSS_JS = canvas_js(TRAINER)  # the loss figure is the widget's first ipympl canvas
RUNNING = "(trainer.runner.current is not None and not trainer.runner.current.done)"
# before Start the loss axes hold no curve yet, only grey and black ink: wait for that ink
INKED_JS = f"""() => {{
  const c = document.querySelector('{TRAINER} .jupyter-matplotlib canvas');
  if (!c || c.width < 50) return false;
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let dark = 0;
  for (let i = 0; i < px.length; i += 4 * 13) if (px[i + 3] > 0 && px[i] < 100) dark++;
  return dark > 50;
}}"""


def status_text(page) -> str:
    return page.locator(f"{TRAINER} .convis-status").first.inner_text()


def test_start_grows_the_loss_curves_live_and_ends_with_a_table(lab_server, page, artifacts):
    page.set_viewport_size({"width": 1600, "height": 1800})  # the whole widget fits in the screenshots
    open_and_run(page, lab_server, "04_training_comparison.ipynb")
    assert_nothing_cut(page, artifacts, "04_training_comparison.ipynb")
    root = page.locator(TRAINER).first
    # the notebook trains two autoencoders itself before it shows the widget; before Start the
    # widget shows what Start does, and its figures only once a run begins
    root.locator(".convis-intro").first.wait_for(state="visible", timeout=300_000)
    assert kernel_value(page, "type(trainer).__name__", "TrainingComparison",
                        timeout_s=300) == "TrainingComparison"
    run_in_kernel(page, "trainer.epochs = 2")  # short: a curve point per epoch is enough to watch
    page.wait_for_function(f"document.querySelector('{TRAINER} .convis-epochs input').value === '2'")
    root.scroll_into_view_if_needed()
    root.screenshot(path=str(artifacts / "training-before.png"))

    root.locator(".convis-start button, button.convis-start").first.click()
    assert kernel_value(page, RUNNING, "True") == "True"
    root.locator(".jupyter-matplotlib canvas").first.wait_for(state="visible", timeout=60_000)
    page.wait_for_function(INKED_JS, timeout=60_000)  # ipympl's first image arrives late
    before = page.evaluate(LOSS_JS)
    pictures, changes_while_running = [before], 0
    for _ in range(300):  # the loss figure changes at least twice while the runs train
        page.wait_for_timeout(200)
        now = page.evaluate(LOSS_JS)
        if now != pictures[-1]:
            pictures.append(now)
            if run_in_kernel(page, f"print({RUNNING})") != "True":
                break
            changes_while_running += 1
            if changes_while_running >= 2:
                break
    assert changes_while_running >= 2, (
        f"the loss figure changed {changes_while_running} times while the runs trained")
    page.wait_for_function(drawn_js(TRAINER))  # coloured curves, not only axes
    assert page.locator(f"{TRAINER} button.convis-start").first.is_disabled()
    assert page.locator(f"{TRAINER} button.convis-stop").first.is_enabled()
    root.screenshot(path=str(artifacts / "training-running.png"))

    assert kernel_value(page, RUNNING, "False", timeout_s=240) == "False"
    page.wait_for_function(f"document.querySelector('{TRAINER} .convis-status')"
                           ".textContent.startsWith('done')", timeout=60_000)
    page.locator(f"{TRAINER} .convis-table table").first.wait_for(state="visible")
    assert page.locator(f"{TRAINER} button.convis-start").first.is_enabled()
    assert page.locator(f"{TRAINER} button.convis-stop").first.is_disabled()
    assert run_in_kernel(page, "print(trainer.last_error)") == "None"
    assert run_in_kernel(page, "print({n: [r.epoch for r in h] for n, h in trainer.histories.items()})"
                         ) == "{'3x3': [0, 1, 2], '9x9': [0, 1, 2]}"
    assert run_in_kernel(page, "print([r.status for r in trainer.runs])") == "['finished', 'finished']"
    after = settled_canvas(page, TRAINER)
    assert after not in (before, pictures[1]), "the loss figure did not go on to the last epoch"
    assert "saved in" in status_text(page)
    root.screenshot(path=str(artifacts / "training-after.png"))
