"""TrainingComparison driven from Python: Start, live records and curves, Stop within a batch, close, Load."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from convis_widgets import TrainingComparison
from convis_widgets.compute.training import load_runs
from convis_widgets.data import ImageDataset, digits, patches
from convis_widgets.jobs import set_default_executor
from convis_widgets.widgets.labels import shorten_middle
from convis_widgets.widgets.training_comparison import parse_kernels
from convis_widgets.widgets.training_saved import LABEL_CHARS, saved_label


def every(data: ImageDataset, step: int, name: str) -> ImageDataset:
    """Every ``step``-th image: all classes (the built-in sets are sorted by class)."""
    return ImageDataset(data.images[::step], data.labels[::step], data.classes, name)


@pytest.fixture(scope="module")
def small_digits():
    return every(digits("train"), 20, "few-digits"), every(digits("test"), 20, "few-digits-test")


def job_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "convis-widgets-job" and t.is_alive()]


@pytest.fixture
def threaded():
    old = set_default_executor("thread")
    yield
    set_default_executor(old)


def val_points(widget, name: str) -> int:
    return len(widget.loss_view.lines[name][1].get_xdata())


def test_before_start_a_message_says_what_start_does_and_no_empty_figure_shows(small_digits, tmp_path):
    cmp = TrainingComparison(data=small_digits, epochs=5, out_dir=tmp_path)
    assert [c.layout.display for c in (cmp.loss_figure.canvas, cmp.layer_figure.canvas)] == ["none"] * 2
    intro = cmp.intro.value
    assert "<b>Start</b> trains 2 SeedCNN classifiers side by side" in intro
    assert "(3x3 and 9x9)" in intro and "200 training images, 50 held out; 5 epochs" in intro
    assert "no saved comparison on this data to time it by" in intro
    cmp.kernels = "3, 5, 7"
    assert "trains 3 SeedCNN classifiers" in cmp.intro.value and "(3x3 and 5x5 and 7x7)" in cmp.intro.value
    assert "a verdict on the held-out loss and accuracy over the last 3 epochs" in cmp.intro.value
    cmp.epochs = 2  # the verdict needs 4 epochs to measure the noise: the message says there will be none
    assert ("no verdict from one seed: 2 epochs are too few to measure the noise (train 4 or more, or "
            "start again with another seed: saved runs of these settings with other seeds are pooled"
            ) in cmp.intro.value
    cmp.kind, cmp.epochs = "autoencoder", 4  # no accuracy to judge an autoencoder by
    assert "a verdict on the held-out loss over the last 3 epochs" in cmp.intro.value
    cmp.close()


def test_start_draws_every_record_and_ends_with_a_table(small_digits, tmp_path, monkeypatch):
    from convis_widgets.widgets import progress

    monkeypatch.setattr(progress, "MIN_ELAPSED_S", 0.0)  # this small run can end within half a second
    cmp = TrainingComparison(data=small_digits, epochs=4, out_dir=tmp_path)
    assert cmp.dataset == "yours" and cmp.data_dropdown.value == "yours"
    labels = []
    real_show = cmp.progress.show

    def show(*args):
        status = real_show(*args)
        labels.append(cmp.progress.children[0].children[1].value)
        return status

    cmp.progress.show = show
    cmp.start_button.click()
    assert cmp.last_error is None
    assert {name: [r.epoch for r in h] for name, h in cmp.histories.items()} == {
        "3x3": [0, 1, 2, 3, 4], "9x9": [0, 1, 2, 3, 4]}
    assert val_points(cmp, "3x3") == val_points(cmp, "9x9") == 5
    assert labels[0].endswith("estimating the time left") and not any(" 0 s" in x for x in labels)
    assert any("ETA" in x for x in labels)
    assert cmp.intro.layout.display == "none" and cmp.loss_figure.canvas.layout.display is None
    acc = cmp.loss_view.accuracy_lines["3x3"].get_ydata()
    assert len(acc) == 5 and 0 <= min(acc) <= max(acc) <= 100
    shown = cmp.layer_view.columns["9x9"]["filters"][1].get_array()
    assert shown.shape == (4 * 10 - 1, 4 * 10 - 1)  # 16 filters 9x9 in a 4x4 mosaic, 1-px gaps
    assert [b.children[0].value for b in cmp.progress.children] == [1.0, 1.0]
    assert cmp.verdict.startswith("held-out accuracy ")
    assert re.search(r"\((3x3 vs 9x9|9x9 vs 3x3), epoch by epoch over the last 3 epochs\): ", cmp.verdict)
    assert cmp.verdict in cmp.table.value.replace("&#x27;", "'")
    assert "<table" in cmp.table.value and "dead channels" in cmp.table.value
    assert [s.name for s in cmp.summaries] == ["3x3", "9x9"]
    assert "saved in" in cmp.status.value and len(cmp.saved_dropdown.options) == 1
    label, folder = cmp.saved_dropdown.options[0]
    assert Path(folder).name.startswith("3x3-vs-9x9-4ep-lr0.003-b64-seed0-20")
    date = Path(folder).name[-15:]  # YYYYMMDD-HHMMSS
    assert label == f"3x3/9x9-4ep-lr0.003-b64-seed0 {date[4:6]}-{date[6:8]} {date[9:11]}:{date[11:13]}"
    assert len(label) <= LABEL_CHARS  # the settings whole (the seed too), the date short
    assert Path(folder).parent == tmp_path / "classifier-few-digits-1x28x28-200"
    assert [r.status for r in load_runs(tmp_path)] == ["finished", "finished"]
    assert not cmp.start_button.disabled and cmp.stop_button.disabled
    assert cmp.intro.layout.display == "none"  # the finished run's views, and no message, until a change
    cmp.kernels_text.value = "3, 5"
    assert cmp.intro.layout.display is None and cmp.intro.value.startswith(
        "The views below are the last run's. Next, <b>Start</b> trains 2 SeedCNN classifiers")
    assert "(3x3 and 5x5)" in cmp.intro.value
    assert "at the pace of the latest saved comparison" in cmp.intro.value
    cmp.close()


def test_the_verdict_pools_saved_runs_of_the_same_settings_with_other_seeds(small_digits, tmp_path):
    """One epoch per seed is too few to measure the noise; two seeds of the same settings measure the
    run-to-run spread. Other settings (here the learning rate) are not pooled, and Load gives back the
    verdict the live run showed (pooled with the seeds saved before it)."""
    cmp = TrainingComparison(data=small_digits, epochs=1, out_dir=tmp_path)
    cmp.start()
    assert cmp.verdict.endswith("too few epochs to measure the noise, no verdict (train 4 epochs or more, "
                                "or several seeds)")
    cmp.lr, cmp.seed = 0.001, 1  # other settings: not pooled with seed 0
    cmp.start()
    assert "too few epochs" in cmp.verdict and "the verdict pools" not in cmp.status.value
    cmp.lr = 0.003
    cmp.start()
    assert "over 2 seeds (1, 0)" in cmp.verdict or "over 2 seeds (0, 1)" in cmp.verdict, cmp.verdict
    assert "too few" not in cmp.verdict and "±" in cmp.verdict
    assert "the verdict pools the saved runs of seed 0 with these settings" in cmp.status.value
    seed_1 = cmp.verdict
    cmp.seed = 2
    cmp.start()
    assert "over 3 seeds" in cmp.verdict and "seeds 0, 1 with these settings" in cmp.status.value
    assert [s.seed for s in cmp.summaries] == [2, 2]  # the table shows this comparison's runs only
    folders = [f for _, f in cmp.saved_dropdown.options]
    assert len(folders) == 4
    cmp.load(folders[1])  # the seed-1 comparison at lr 0.003: pooled with seed 0 only, as it was live
    assert cmp.verdict == seed_1
    cmp.close()


def test_autoencoder_shows_probe_reconstructions(tmp_path):
    train, val = patches("train").head(64), patches("test").head(16)
    cmp = TrainingComparison(kind="autoencoder", data=(train, val), kernels="3, 5", epochs=1,
                             out_dir=tmp_path)
    cmp.start()
    assert cmp.last_error is None
    probe = cmp.layer_view.columns["5x5"]["probe"][1].get_array()
    assert probe.shape == (32, 32, 3)
    assert cmp.layer_view.probe_input is not None
    assert all(s.val_accuracy is None for s in cmp.summaries)
    cmp.close()


def test_records_arrive_live_stop_acts_within_a_batch_and_close_leaves_no_thread(
        small_digits, tmp_path, threaded):
    cmp = TrainingComparison(data=small_digits, epochs=200, out_dir=tmp_path)
    job = cmp.start()
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(set(seen)) < 3:
        seen.append(val_points(cmp, "3x3") if cmp.histories.get("3x3") else 0)
        time.sleep(0.05)
    assert len(set(seen)) >= 3 and seen == sorted(seen)  # the held-out curve grew point by point
    assert cmp.start_button.disabled and not cmp.stop_button.disabled
    assert job_threads() and not job.done  # the kernel's thread is free while it trains
    t0 = time.perf_counter()
    cmp.stop_button.click()
    assert job.wait(5)
    stop_s = time.perf_counter() - t0
    assert stop_s < 1.0, f"Stop took {stop_s:.2f} s"
    runs = load_runs(tmp_path)
    assert [r.status for r in runs] == ["cancelled", "cancelled"]
    assert "stopped" in cmp.status.value and "cancelled" in cmp.progress.children[0].children[1].value
    assert cmp.verdict.startswith("stopped after ") and cmp.verdict.endswith(" of 200 epochs: no verdict")
    assert "held-out loss" in cmp.table.value  # the figures reached stay in the table
    assert cmp.last_error is None

    cmp.start()  # a second comparison, then close while it trains
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(cmp.histories.values()):
        time.sleep(0.02)
    cmp.close()
    assert not job_threads()
    assert sorted(r.status for r in load_runs(tmp_path)) == ["cancelled"] * 4


def test_saved_runs_load_back_into_a_new_widget(small_digits, tmp_path):
    first = TrainingComparison(data=small_digits, epochs=1, kernels=[3, 5, 7], out_dir=tmp_path)
    first.start()
    other_data = TrainingComparison(out_dir=tmp_path)  # the built-in digits: another data set
    assert other_data.saved_dropdown.options == () and other_data.load_button.disabled
    other_data.close()
    second = TrainingComparison(data=small_digits, out_dir=tmp_path)
    assert len(second.saved_dropdown.options) == 1 and not second.load_button.disabled
    assert "at the pace of the latest saved comparison on this data" in second.intro.value
    second.load_button.click()
    assert second.last_error is None
    assert list(second.histories) == ["3x3", "5x5", "7x7"]
    for name, history in first.histories.items():
        assert [r.to_dict() for r in second.histories[name]] == [r.to_dict() for r in history]
    assert second.verdict == first.verdict and "loaded" in second.status.value
    assert second.table.value == first.table.value
    assert (second.kernels, second.epochs, second.kernels_text.value) == ("3, 5, 7", 1, "3, 5, 7")  # as run
    np.testing.assert_array_equal(second.loss_view.lines["7x7"][1].get_ydata(),
                                  first.loss_view.lines["7x7"][1].get_ydata())
    np.testing.assert_array_equal(second.loss_view.accuracy_lines["5x5"].get_ydata(),
                                  first.loss_view.accuracy_lines["5x5"].get_ydata())
    shown, live = second.layer_view.probe_input, first.layer_view.probe_input
    assert shown is not None and live is not None
    np.testing.assert_array_equal(shown.get_images()[0].get_array(), live.get_images()[0].get_array())
    first.close()
    second.close()


def test_kind_picks_its_built_in_data_and_bad_settings_are_clear(tmp_path):
    cmp = TrainingComparison(out_dir=tmp_path)
    assert (cmp.kind, cmp.dataset) == ("classifier", "digits")
    cmp.kind_buttons.value = "autoencoder"
    assert cmp.dataset == "patches"
    with pytest.raises(ValueError, match="dataset must be one of"):
        cmp.dataset = "yours"
    cmp.kernels = "3, 4"
    cmp.epochs = 1
    cmp.start_button.click()
    assert isinstance(cmp.last_error, ValueError) and "bad: [4]" in str(cmp.last_error)
    assert "ValueError" in cmp.errors.outputs[0]["text"]
    assert not list(tmp_path.iterdir())
    cmp.kernels = "three"
    cmp.start_button.click()
    assert "ints separated by commas" in str(cmp.last_error)
    cmp.out_dir = str(tmp_path / "nothing")
    assert cmp.load_button.disabled  # nothing saved there
    with pytest.raises(FileNotFoundError, match="no saved comparison of an autoencoder on this data"):
        cmp.load()
    with pytest.raises(TypeError):
        TrainingComparison(colour="red")
    with pytest.raises(ValueError, match="kind must be one of"):
        TrainingComparison(kind="gan")
    cmp.close()


def test_long_saved_names_keep_their_settings_and_date_in_the_dropdown(small_digits, tmp_path):
    kernels = [1, 3, 5, 7, 9, 11, 13]
    cmp = TrainingComparison(data=small_digits, epochs=1, kernels=kernels, out_dir=tmp_path)
    cmp.start()
    ((label, folder),) = cmp.saved_dropdown.options
    date = Path(folder).name[-15:]
    assert len(Path(folder).name) > LABEL_CHARS and len(label) == LABEL_CHARS
    assert label == shorten_middle(saved_label(Path(folder).name), LABEL_CHARS)
    assert label.startswith("1x1/3x3/5x5") and label.endswith(f"seed0 {date[4:6]}-{date[6:8]} {date[9:11]}:"
                                                                 f"{date[11:13]}")  # seed and date kept
    cmp.close()


def test_parse_kernels():
    assert parse_kernels("3, 9") == [3, 9] and parse_kernels("3x3 9x9") == [3, 9]
    with pytest.raises(ValueError, match="at least one"):
        parse_kernels(" ")
