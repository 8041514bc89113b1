"""The loop's light per-step callback (no image copies) and the live changes it reports with their step."""

import importlib

import pytest
import torch
from torch import nn

from convis_widgets.compute.optvis import Settings, Tick, iter_gallery, objectives, report_steps, run

SHAPE = (1, 8, 8)
gallery_module = importlib.import_module("convis_widgets.compute.optvis.gallery")  # the name is the function


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1))


def test_on_step_gets_a_tick_every_step_with_the_records_values_and_no_images(model):
    ticks: list[Tick] = []
    records = list(run(model, objectives.channel("2", 1), SHAPE, steps=12, precursor=0, on_step=ticks.append))
    assert [t.step for t in ticks] == list(range(13))
    assert [t.done for t in ticks] == [False] * 12 + [True] and ticks[-1].reason == "steps"
    assert [r.step for r in records] == report_steps(12)  # records only at the reported steps
    by_step = {t.step: t for t in ticks}
    for record in records:
        torch.testing.assert_close(by_step[record.step].value, record.value)
        assert by_step[record.step].elapsed == record.elapsed
    assert not hasattr(ticks[0], "images")


def test_a_live_change_is_reported_with_the_step_that_first_read_it(model):
    live = Settings(steps=30, precursor=0, report=1)
    ticks: list[Tick] = []

    def on_step(tick: Tick) -> None:
        ticks.append(tick)
        if tick.step == 9:  # changed between steps 9 and 10, as a widget's slider would
            live.l2 = 0.3
            live.blur_every = 6

    records = list(run(model, objectives.channel("2", 1), SHAPE, settings=live, on_step=on_step))
    changed = [(t.step, dict(t.changed)) for t in ticks if t.changed]
    assert changed == [(10, {"l2": 0.3, "blur_every": 6})]
    with_change = [r for r in records if r.changed]
    assert [(r.step, r.changed, r.changed_at) for r in with_change] == [
        (10, {"l2": 0.3, "blur_every": 6}, {"l2": 10, "blur_every": 10})]


def test_changes_between_records_reach_the_next_record(model):
    live = Settings(steps=20, precursor=0, report=8)  # records at 0, 8, 16, 20

    def on_step(tick: Tick) -> None:
        if tick.step == 2:
            live.tv = 0.1

    records = list(run(model, objectives.channel("2", 0), SHAPE, settings=live, on_step=on_step))
    assert [(r.step, r.changed, r.changed_at) for r in records if r.changed] == [(8, {"tv": 0.1}, {"tv": 3})]


def test_gallery_progress_copies_no_images_per_step(model, monkeypatch):
    """Progress asks for ticks only: a batch makes two records (its start and end), not one per step."""
    made: list[int] = []
    real_run = gallery_module.run

    def counted(*args, **kwargs):
        for record in real_run(*args, **kwargs):
            made.append(record.step)
            yield record

    monkeypatch.setattr(gallery_module, "run", counted)
    seen: list[tuple[list[int], int]] = []
    parts = list(iter_gallery(model, "2", SHAPE, [0, 1, 2], steps=40, batch_size=2,
                              progress=lambda ch, tick: seen.append((ch, tick.step))))
    assert [p.channels for p in parts] == [[0, 1], [2]]
    assert seen == [([0, 1], k) for k in range(41)] + [([2], k) for k in range(41)]
    assert made == [0, 40, 0, 40]

    made.clear()
    pictured: list[tuple[list[int], int, tuple[int, ...]]] = []
    list(iter_gallery(model, "2", SHAPE, [0, 1, 2], steps=40, batch_size=2,
                      pictures=lambda ch, r: pictured.append((ch, r.step, tuple(r.images.shape)))))
    log = report_steps(40)
    assert made == log + log  # pictures at the log-spaced steps only
    assert pictured == ([([0, 1], k, (2, *SHAPE)) for k in log[:-1]]
                        + [([2], k, (1, *SHAPE)) for k in log[:-1]])
