"""Long jobs say how far they are and how long they still need, once that can be estimated, and the
occlusion heatmap stops on Stop with the part it reached still shown."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch
from torch import nn

from convis_widgets import FeatureVisualizer, OcclusionExplorer, TrainingComparison
from convis_widgets.compute import optvis
from convis_widgets.compute.attribution import occlusion_map
from convis_widgets.data import digits
from convis_widgets.jobs import set_default_executor
from convis_widgets.models import pretrained_digits_cnn
from convis_widgets.widgets import optvis_gallery
from convis_widgets.widgets.progress import (
    ESTIMATING,
    Pace,
    eta_seconds,
    eta_text,
    format_duration,
    total_eta_text,
)

ETA = re.compile(r"\bETA\s*\d")  # as tests/widgets/test_large_model.py reads an ETA


@pytest.fixture
def threads() -> Iterator[None]:
    old = set_default_executor("thread")
    yield
    set_default_executor(old)


@pytest.fixture
def slow_cnn() -> Iterator[nn.Module]:
    """The shipped digits CNN, 20 ms slower per forward (a pre-hook on conv1), so a run lasts long
    enough for its pace to be measured."""
    model = pretrained_digits_cnn()
    handle = model.conv1.register_forward_pre_hook(lambda module, args: time.sleep(0.02))
    yield model
    handle.remove()


@pytest.fixture(scope="module")
def few_digits():
    """64 test digits: the data set the best activation is measured on (the whole one takes long)."""
    return digits("test").head(64)


def statuses(widget, part: str = "status") -> list[str]:
    """Every value ``widget.<part>`` takes from now on (appended from whichever thread sets it)."""
    seen: list[str] = []
    getattr(widget, part).observe(lambda change: seen.append(change["new"]), names="value")
    return seen


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.01)


# ----- the formatter -----

@pytest.mark.parametrize(("done", "total", "elapsed", "text"), [
    (0, 100, 0.0, ESTIMATING),          # the start: nothing measured yet, never "0 s left"
    (1, 100, 3.0, ESTIMATING),          # one step is no pace
    (10, 100, 0.2, ESTIMATING),         # too little time measured
    (10, 100, 1.0, "ETA 9 s"),
    (10, 100, 1.35, "ETA 13 s"),        # 12.15 s rounded up
    (2, 100, 2.55, "ETA 2 min 05 s"),   # 124.95 s
    (10, 1000, 40.0, "ETA 1 h 06 min"),  # 3960 s
    (999, 1000, 1.0, "ETA 1 s"),        # a thousandth of a second left still reads 1 s, not 0
    (100, 100, 5.0, ""),                # done: nothing left to say
])
def test_eta_text(done, total, elapsed, text):
    assert eta_text(done, total, elapsed) == text


def test_eta_seconds_and_durations():
    assert eta_seconds(4, 10, 2.0) == pytest.approx(3.0)
    assert eta_seconds(1, 10, 2.0) is None and eta_seconds(10, 10, 2.0) is None
    assert [format_duration(s) for s in (0, 0.2, 59.5, 60, 61, 3599.2, 7260)] == [
        "0 s", "1 s", "1 min 00 s", "1 min 00 s", "1 min 01 s", "1 h 00 min", "2 h 01 min"]
    with pytest.raises(ValueError, match=r"finite number of seconds >= 0; got -1"):
        format_duration(-1)


def test_total_eta_sums_the_parts_and_waits_for_every_one():
    assert total_eta_text([(10, 100, 1.0), (5, 10, 1.0)]) == "ETA 10 s"  # 9 s + 1 s
    assert total_eta_text([(10, 100, 1.0), (0, 10, 0.0)]) == ESTIMATING
    assert total_eta_text([(10, 10, 1.0), (5, 10, 1.0)]) == "ETA 1 s"    # a finished part adds nothing
    assert total_eta_text([(10, 10, 1.0)]) == ""


def test_pace_times_from_the_first_report():
    """A 10 s setup before the first step does not count: 4 steps in 2 s leave 6 steps, 3 s."""
    pace = Pace()
    assert pace.eta_text(0, 10, now=10.0) == ESTIMATING  # the first report: the clock starts here
    assert pace.eta_text(1, 10, now=10.2) == ESTIMATING
    assert pace.eta_text(4, 10, now=12.0) == "ETA 3 s"
    assert pace.eta_text(10, 10, now=15.0) == ""


# ----- what compute reports -----

def test_iter_gallery_reports_every_step_of_every_batch_and_stops_at_a_cancel(dead_net):
    seen: list[tuple[list[int], int, bool]] = []
    parts = list(optvis.iter_gallery(dead_net, "conv", (1, 8, 8), [0, 1, 3], steps=5, batch_size=2,
                                     progress=lambda ch, record: seen.append((ch, record.step, record.done))))
    assert [p.channels for p in parts] == [[0, 1], [3]]
    assert seen == [([0, 1], k, k == 5) for k in range(6)] + [([3], k, k == 5) for k in range(6)]
    seen.clear()
    parts = list(optvis.iter_gallery(dead_net, "conv", (1, 8, 8), [0, 1, 3], steps=50, batch_size=2,
                                     cancel=lambda: len(seen) >= 3,
                                     progress=lambda ch, record: seen.append((ch, record.step, record.done))))
    assert len(parts) == 1 and seen == [([0, 1], 0, False), ([0, 1], 1, False), ([0, 1], 2, False),
                                        ([0, 1], 3, True)]  # polled every step: one step after the cancel


def test_occlusion_map_hands_over_the_drops_so_far(dead_net, small_images):
    reached: list[torch.Tensor] = []
    result = occlusion_map(dead_net, small_images[:1], 0, window=2, stride=2, batch_size=5,
                           incremental=False, partial=reached.append)  # 16 positions: 4 batches
    assert [int(torch.isfinite(r).sum()) for r in reached] == [5, 10, 15, 16]
    assert all(r.shape == (1, 4, 4) for r in reached)
    assert torch.equal(reached[-1], result.drops) and reached[0] is not reached[1]
    assert torch.isnan(reached[0].flatten()[5:]).all()  # not computed yet: NaN, never a made-up 0


# ----- FeatureVisualizer -----

def test_single_run_shows_an_eta_mid_run_and_none_at_step_0(slow_cnn, few_digits):
    fv = FeatureVisualizer(slow_cnn, layer="conv2", index=3, steps=40, data=few_digits)
    try:
        seen = statuses(fv)
        fv.start_button.click()
        assert fv.last_error is None and fv.step == 40
        running = [s for s in seen if "running" in s]
        first = running[0]
        assert first.startswith("<b>step 0</b> of 40") and ESTIMATING in first and not ETA.search(first)
        with_eta = [s for s in running if ETA.search(s)]
        assert with_eta, f"no ETA in any running status: {running}"
        step = int(re.match(r"<b>step (\d+)</b>", with_eta[0]).group(1))
        # shown only once the pace is measured: >= 2 steps and 0.5 s (each step costs >= 20 ms here)
        assert 2 <= step < 40
        assert not ETA.search(seen[-1]) and "ended (steps)" in seen[-1]
    finally:
        fv.close()


def test_gallery_status_counts_maps_and_says_the_step_of_each_batch(slow_cnn, few_digits, monkeypatch):
    monkeypatch.setattr(optvis_gallery, "GALLERY_BATCH", 2)  # 4 maps: two batches of 2
    fv = FeatureVisualizer(slow_cnn, layer="conv2", mode="gallery", gallery_range=(0, 3), steps=30,
                           data=few_digits)
    try:
        seen = statuses(fv)
        fv.start_button.click()
        assert fv.last_error is None and fv.gallery.channels == [0, 1, 2, 3]
        step_said = re.compile(r"<b>(\d) of 4 maps</b> done.*; batch (\d) of 2 \(maps (\d)-(\d)\) at "
                               r"step (\d+) of 30, [\d.]+ steps/s, (.*)$")
        said = [m.groups() for m in map(step_said.search, seen) if m]
        assert {(k, b, lo, hi) for k, b, lo, hi, _, _ in said} == {("0", "1", "0", "1"), ("2", "2", "2", "3")}
        assert said[0][4] == "0" and said[0][5] == ESTIMATING  # no ETA before the pace is known
        etas = [eta for *_, eta in said if ETA.match(eta)]
        assert etas, f"no ETA in the step statuses: {seen}"
        assert any("<b>2 of 4 maps</b> done" in s and " s" in s and "batch" not in s for s in seen)
        assert "<b>4 of 4 maps</b> done" in seen[-1] and not ETA.search(seen[-1])
    finally:
        fv.close()


# ----- OcclusionExplorer -----

class SlowNet(nn.Module):
    """conv + ReLU + a linear head on 16x16 images, 0.1 s slower per forward: a heatmap of many slow
    batches. (The wait depends on the input, so torch.fx cannot trace it away: plain batching.)"""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4 * 16 * 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(torch.isfinite(x).all()):
            time.sleep(0.1)
        return self.fc(self.flatten(self.relu(self.conv(x))))


def slow_net() -> nn.Module:
    return SlowNet().eval()


def test_occlusion_stop_ends_the_heatmap_within_a_batch_and_keeps_the_part_reached(threads):
    torch.manual_seed(0)
    images = torch.rand(2, 1, 16, 16)
    ex = OcclusionExplorer(slow_net(), images, patch_size=2, stride=1)  # 225 positions, 16 a batch
    try:
        reports = statuses(ex, "progress")
        texts = statuses(ex, "progress_text")
        wait_until(lambda: any(ETA.search(t) for t in texts), "an ETA beside the heatmap's bar")
        assert not ex.stop_button.disabled
        ex.stop_button.click()
        at_click = len(reports)
        assert ex.wait(10) and ex.last_error is None
        assert len(reports) - at_click <= 1, f"{len(reports) - at_click} progress reports after Stop"
        assert ex.heatmap is None and ex.stop_button.disabled
        # the text beside the bar: "k/225 positions", estimating at first, an ETA once measured
        assert texts[0] == f"0/225 positions, {ESTIMATING}"
        assert all(re.fullmatch(rf"\d+/225 positions, ({ESTIMATING}|ETA \d+ s)", t) for t in texts), texts
        first_eta = next(i for i, t in enumerate(texts) if ETA.search(t))
        assert first_eta >= 3  # two batches timed after the first one
        shown = ex.occlusion_view.heat.get_array()
        done = int(np.isfinite(shown.filled(np.nan)).sum())
        reached = int(re.match(r"(\d+)/", texts[-1]).group(1))
        assert 0 < done == reached < 225 and int(np.ma.count_masked(shown)) == 225 - done
        assert f"stopped after {done} of 225 patch positions" in ex.status.value
        ex.image_index = 1  # a new choice computes the heatmap again, to the end
        assert ex.wait(30) and ex.heatmap is not None and ex.progress.value == 1.0
        assert texts[-1].startswith("225 positions in ")
    finally:
        ex.close()


def test_a_replaced_heatmap_draws_no_partial_map(threads):
    """Only Stop keeps a partial map: a new choice cancels the old job without drawing its part."""
    ex = OcclusionExplorer(slow_net(), torch.rand(2, 1, 16, 16), patch_size=2, stride=1)
    try:
        reports = statuses(ex, "progress")
        wait_until(lambda: len(reports) >= 2, "two progress reports")
        ex.image_index = 1
        assert ex.wait(30) and ex.last_error is None
        assert "stopped" not in ex.status.value and ex.heatmap is not None
        assert np.isfinite(np.ma.filled(ex.occlusion_view.heat.get_array(), np.nan)).all()
    finally:
        ex.close()


# ----- TrainingComparison -----

def test_training_never_says_zero_seconds_left_at_the_start(tmp_path):
    data = digits("train").head(96), digits("test").head(32)
    cmp = TrainingComparison(data=data, epochs=1, out_dir=tmp_path)
    try:
        seen = statuses(cmp)
        labels = [statuses(box.children[1]) for box in cmp.progress.children]
        cmp.start_button.click()
        assert cmp.last_error is None
        training = [s for s in seen if s.startswith("training")]
        assert training and training[0] == f"training 2 runs interleaved: {ESTIMATING}"
        assert all(re.fullmatch(rf"training 2 runs interleaved(: {ESTIMATING}|: ETA [\d a-z]+ for all of "
                                r"them)?", s) for s in training), training
        for said in labels:
            assert said[0].startswith("epoch 0/1") and ESTIMATING in said[0]
            assert not any(re.search(r"\b0 s\b|about", s) for s in said), said
    finally:
        cmp.close()


def test_the_widgets_eta_and_the_training_records_share_one_formula():
    from convis_widgets.compute.pace import seconds_left
    from convis_widgets.compute.training.records import Record

    assert seconds_left(4, 10, 2.0) == eta_seconds(4, 10, 2.0) == pytest.approx(3.0)
    assert seconds_left(0, 10, 0.0) is None and seconds_left(10, 10, 5.0) == 0.0
    fields = {f: 0 for f in Record.__dataclass_fields__}
    record = Record(**{**fields, "step": 4, "total_steps": 10, "elapsed": 2.0})
    assert record.eta == pytest.approx(3.0)
