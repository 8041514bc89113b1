"""FeatureVisualizer without a browser: Start, live setting changes, Stop within a step, gallery, export."""

from __future__ import annotations

import gc
import json
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from convis_widgets import FeatureVisualizer
from convis_widgets.compute.errors import LayerNotFoundError, NotSpatialError
from convis_widgets.compute.state import model_checksum
from convis_widgets.jobs import set_default_executor
from convis_widgets.models import pretrained_digits_cnn


@pytest.fixture(scope="module")
def cnn():
    return pretrained_digits_cnn()


@pytest.fixture
def threads():
    old = set_default_executor("thread")
    yield
    set_default_executor(old)


def job_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "convis-widgets-job" and t.is_alive()]


def live_figures() -> int:
    gc.collect()
    return sum(issubclass(type(o), Figure) for o in gc.get_objects())


def wait_until(condition, timeout: float = 30.0) -> None:
    t0 = time.time()
    while not condition():
        if time.time() - t0 > timeout:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def test_start_runs_to_the_end_with_snapshots_curve_and_quality(cnn):
    before = model_checksum(cnn)
    fv = FeatureVisualizer(cnn, layer="conv3", index=10, steps=64)
    try:
        assert fv.input_shape == (1, 28, 28)
        fv.start()
        assert fv.wait(60) and fv.last_error is None
        record = fv.result
        assert record.done and record.reason in ("steps", "converged")
        assert fv.step == record.step == 64
        steps, values = fv.history
        assert steps[0] == 0 and steps[-1] == 64 and len(values) == len(steps)
        assert values[-1] > values[0], "gradient ascent raised the map's mean"
        shown = [s for s, _ in fv.snapshots]
        assert shown == sorted(set(fv.strip_steps()) | {64}) or set(fv.strip_steps()) <= set(shown)
        assert 0 in shown and 64 in shown
        assert fv.dataset_best is not None and fv.dataset_best > 0
        assert "the best image of the data set" in fv.status.value
        assert not fv.running and fv.start_button.disabled is False
    finally:
        fv.close()
    assert model_checksum(cnn) == before


def test_objective_controls_follow_the_layer_and_kind(cnn):
    fv = FeatureVisualizer(cnn, layer="conv2")
    try:
        assert fv.index_slider.max == 63
        fv.layer = "conv3"
        assert fv.index_slider.max == 127 and fv.range_slider.max == 127
        fv.objective = "class"
        assert fv.index_slider.max == 9 and fv.layer_dropdown.disabled
        fv.objective = "joint"
        assert fv.second_slider.layout.display is None and fv.weight_slider.layout.display is None
        fv.mode = "gallery"
        assert fv.gallery_box.layout.display is None and fv.single_box.layout.display == "none"
        fv.objective = "neuron"
        names = [v for _, v in fv.layer_dropdown.options]
        assert "fc1" in names  # a neuron may sit in a linear layer
    finally:
        fv.close()


def test_a_class_objective_with_more_classes_than_maps_starts_a_gallery_over_the_maps():
    from torch import nn

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 20))
    fv = FeatureVisualizer(model, (1, 28, 28), objective="class", index=15)
    try:
        assert fv.index_slider.max == 19 and fv.gallery_range == (0, 3)
    finally:
        fv.close()


def test_bad_choices_say_what_was_expected(cnn):
    with pytest.raises(TypeError, match="stepz"):
        FeatureVisualizer(cnn, stepz=3)
    with pytest.raises(ValueError, match=r"input_shape needed .*e\.g\. \(1, 28, 28\)"):
        FeatureVisualizer(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)))
    fv = FeatureVisualizer(cnn, layer="conv1")
    try:
        with pytest.raises(IndexError, match=r"0\.\.31 .*32 maps in conv1.*got 32"):
            fv.index = 32
        with pytest.raises(NotSpatialError, match="fc1"):
            fv.layer = "fc1"
        with pytest.raises(LayerNotFoundError, match="conv3"):
            fv.layer = "conv9"
        with pytest.raises(ValueError, match="objective must be one of"):
            fv.objective = "texture"
        with pytest.raises(IndexError, match="gallery_range"):
            fv.gallery_range = (3, 99)
    finally:
        fv.close()


def test_a_regulariser_change_while_running_reaches_the_loop(cnn, threads):
    fv = FeatureVisualizer(cnn, layer="conv2", index=3, steps=100_000, lr=0.05, tv=0.0, blur_every=0)
    try:
        fv.start()
        wait_until(lambda: fv.step >= 3)
        fv.tv = 0.25
        fv.lr = 0.0
        assert fv.live.tv == 0.25 and fv.live.lr == 0.0  # the very object the loop reads
        frozen_at = fv.result.step + 2
        wait_until(lambda: fv.result.step >= frozen_at + 5)
        a = fv.result.images.clone()
        wait_until(lambda: fv.result.step >= frozen_at + 10)
        b = fv.result.images.clone()
        assert torch.equal(a, b), "with lr 0 the picture no longer changes"
        fv.stop()
        assert fv.wait(10) and fv.last_error is None
        assert fv.settings.tv == 0.25  # kept for the next Start
    finally:
        fv.close()


def test_stop_acts_within_one_step_and_keeps_the_picture(cnn, threads):
    fv = FeatureVisualizer(cnn, layer="conv3", index=1, steps=100_000)
    try:
        fv.start()
        wait_until(lambda: fv.step >= 5)
        at_stop = fv.result.step
        fv.stop()
        assert fv.wait(10)
        assert fv.result.done and fv.result.reason == "cancelled"
        assert fv.result.step <= at_stop + 2
        assert torch.isfinite(fv.result.images).all()
        assert not fv.running and fv.stop_button.disabled
    finally:
        fv.close()
    assert job_threads() == []


def test_a_hundred_start_stop_cycles_leave_no_thread_and_no_error(threads):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3))
    fv = FeatureVisualizer(model, (1, 12, 12), layer="2", steps=10_000)
    try:
        for _ in range(100):
            fv.start()
            fv.stop()
        assert fv.wait(10)
        wait_until(lambda: job_threads() == [], timeout=10)
        assert fv.last_error is None and fv.errors.outputs == ()
    finally:
        fv.close()
    assert job_threads() == []


def test_gallery_fills_a_grid_and_marks_maps_that_never_respond(cnn):
    fv = FeatureVisualizer(cnn, layer="conv3", mode="gallery", gallery_range=(0, 5), steps=24)
    try:
        fv.start()
        assert fv.wait(60) and fv.last_error is None
        g = fv.gallery
        assert g.channels == [0, 1, 2, 3, 4, 5]
        assert g.images.shape == (6, 1, 28, 28) and g.responded.dtype == torch.bool
        assert "<b>6 of 6 maps</b> done" in fv.status.value and "maps 0-5 of 128" in fv.status.value
        assert [t.get_text() for t in fv.gallery_view.labels] == [str(k) for k in range(6)]
        n, h, w_, ncols = fv.gallery_view.geometry
        assert (n, h, w_) == (6, 28, 28)
    finally:
        fv.close()


def test_export_writes_pictures_gif_and_settings_that_reproduce_the_run(cnn, tmp_path):
    fv = FeatureVisualizer(cnn, layer="conv2", index=7, steps=32, seed=3, tv=0.01)
    try:
        fv.start()
        assert fv.wait(60)
        written = {p.name for p in fv.export(tmp_path)}
        assert written == {"picture.png", "snapshots.png", "evolution.gif", "settings.json"}
        with Image.open(tmp_path / "evolution.gif") as gif:
            assert gif.n_frames >= 2 and min(gif.size) >= 224
        first = fv.result.images.clone()
    finally:
        fv.close()
    spec = json.loads((tmp_path / "settings.json").read_text())
    assert spec["objective"]["index"] == 7 and spec["settings"]["seed"] == 3
    again = FeatureVisualizer(cnn)
    try:
        again.load_settings(tmp_path / "settings.json")
        assert (again.layer, again.index, again.seed, again.tv) == ("conv2", 7, 3, 0.01)
        again.start()
        assert again.wait(60)
        assert torch.allclose(again.result.images, first)
    finally:
        again.close()


def test_export_before_a_run_says_what_to_do(cnn, tmp_path):
    fv = FeatureVisualizer(cnn)
    try:
        fv._export_clicked()
        assert isinstance(fv.last_error, RuntimeError) and "Start" in str(fv.last_error)
    finally:
        fv.close()


def test_reset_shows_the_initial_image(cnn):
    fv = FeatureVisualizer(cnn, layer="conv2", steps=8)
    try:
        fv.start()
        assert fv.wait(30)
        fv.reset()
        assert fv.result is None and fv.step == 0 and fv.snapshots == []
        shown = np.asarray(fv.view.im.get_array())
        assert shown.shape == (28, 28) and shown.std() > 0  # multi-scale fluctuations, not a blank
    finally:
        fv.close()


class GateOnBatch(torch.nn.Module):
    """Holds every forward of a batch of exactly `size` images (the ActivationExplorer's) until opened."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self.entered, self.open = threading.Event(), threading.Event()

    def forward(self, x):
        if x.shape[0] == self.size:
            self.entered.set()
            self.open.wait(30)
        return x


def shared_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), GateOnBatch(7),
        torch.nn.Conv2d(4, 6, 3), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Flatten(),
        torch.nn.Linear(6 * 8 * 8, 3)).train()
    model[0].requires_grad_(False)  # a frozen layer
    model(torch.rand(2, 1, 12, 12)).sum().backward()  # .grad tensors set, as mid-training
    return model


def hooks_left(model) -> list[str]:
    return [f"{name}.{table}" for name, m in model.named_modules()
            for table in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
            if getattr(m, table)]


def test_start_twice_and_a_run_ending_beside_an_activation_job_leave_the_model_as_given(threads, monkeypatch):
    from convis_widgets import ActivationExplorer
    from convis_widgets.compute import optvis

    real_run, active, most = optvis.run, [0], [0]

    def counted_run(*args, **kwargs):  # how many optimisation loops run at once
        active[0] += 1
        most[0] = max(most[0], active[0])
        try:
            yield from real_run(*args, **kwargs)
        finally:
            active[0] -= 1

    monkeypatch.setattr(optvis, "run", counted_run)
    model = shared_model()
    gate = model[3]
    before = model_checksum(model)
    flags = [p.requires_grad for p in model.parameters()]
    fv = FeatureVisualizer(model, (1, 12, 12), layer="4", index=2, steps=100_000)
    ae = None
    try:
        fv.start_button.click()
        wait_until(lambda: fv.step >= 3)
        first = fv.runner.current
        ae = ActivationExplorer(model, torch.rand(7, 1, 12, 12), layer="4")
        assert gate.entered.wait(20), "the ActivationExplorer job never reached its forward"
        fv.steps = 20
        fv.start()  # the second press, while the first run runs
        assert fv.wait(60) and first.done and first.cancelled
        assert most[0] == 1, "the second run started while the first was still running"
        assert fv.result.done and fv.result.reason == "steps" and fv.result.step == 20
        assert not ae.runner.current.done, "the run was meant to end while the activation job runs"
        assert model_checksum(model) == before
        gate.open.set()
        assert ae.wait(30)
        assert fv.last_error is None and ae.last_error is None and ae.current is not None
    finally:
        gate.open.set()
        fv.close()
        if ae is not None:
            ae.close()
    assert model_checksum(model) == before
    assert [p.requires_grad for p in model.parameters()] == flags
    assert model.training and all(m.training for m in model.modules())
    assert hooks_left(model) == []


@pytest.mark.parametrize("kwargs,match", [
    ({"steps": 0}, r"steps=0 refused: steps must be an int >= 1, got 0"),
    ({"lr": -1.0}, r"lr=-1.0 refused: lr must be .*>= 0, got -1"),
    ({"lr": float("nan")}, r"lr=nan refused: lr must be a finite number .*got nan"),
    ({"tv": float("inf")}, r"tv=inf refused: tv must be a finite number .*got inf"),
])
def test_impossible_settings_are_refused_at_construction(cnn, kwargs, match):
    figures = live_figures()
    with pytest.raises(ValueError, match=match):
        FeatureVisualizer(cnn, **kwargs)
    assert live_figures() == figures  # refused before any figure was made


def test_impossible_settings_set_later_are_refused_and_nothing_changes(cnn):
    fv = FeatureVisualizer(cnn, lr=0.05, steps=40)
    try:
        sigma = fv.blur_sigma
        for name, value in (("steps", 0), ("lr", -1.0), ("lr", float("nan")), ("blur_sigma", 0.0)):
            with pytest.raises(ValueError, match=f"{name}="):
                setattr(fv, name, value)
        assert (fv.steps, fv.lr, fv.blur_sigma) == (40, 0.05, sigma)
        assert (fv.settings.steps, fv.settings.lr, fv.settings.blur_sigma) == (40, 0.05, sigma)
    finally:
        fv.close()


def test_start_and_reset_errors_are_shown_in_the_widget():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3))
    fv = FeatureVisualizer(model, (1, 12, 12), layer="2", steps=4, init="mean")  # no data set fits 12x12
    try:
        fv.reset_button.click()
        assert isinstance(fv.last_error, ValueError) and 'init="mean" needs data=' in str(fv.last_error)
        assert 'FeatureVisualizer: ValueError: init="mean" needs data=' in fv.errors.outputs[-1]["text"]
        fv.init = "zeros"
        fv.reset_button.click()
        assert fv.last_error is None and fv.errors.outputs == ()
        fv.settings.lr = -1.0  # the settings object edited by hand, past the widget's checks
        fv.start_button.click()
        assert isinstance(fv.last_error, ValueError) and "lr must be" in str(fv.last_error)
        assert "lr must be" in fv.errors.outputs[-1]["text"] and not fv.running
    finally:
        fv.close()


def _other_value(row):
    """A valid value other than the row's default, made from the row alone."""
    from convis_widgets.compute.optvis.settings import is_int

    d = row.default
    if row.kind == "bool":
        return not d
    if row.kind in ("choice", "init"):
        return next(c for c in row.choices if c != d and c != "mean")
    if row.kind == "report":
        return 3
    if row.kind == "range":
        return (0.0, 2.0)
    if row.kind == "ints":
        return tuple(d[:2])
    if row.kind == "numbers":
        return tuple(v / 2 for v in d[:2])
    if row.name == "steps":
        return 3
    if is_int(d):
        return d + 1
    if row.control is not None and row.control[0] == "log":  # inside the slider's range
        return float(10 ** ((row.control[1] + row.control[2]) / 2))
    if row.control is not None and row.control[0] == "slider":
        lo, hi, step = row.control[1:4]
        value = round(lo + step * round((hi - lo) / (3 * step)), 6)  # a third of the way, on a step
        return value if value != d else hi
    high = row.high if row.high is not None else d + 1.0
    return (d + high) / 2 if d < high else d / 2


def test_every_row_of_the_settings_table_is_a_choice_of_the_widget_and_round_trips(cnn, tmp_path):
    """The table is the one place a setting is written: the widget takes each row as a keyword,
    shows it (a trait; a control where the row names one) and its export brings it back."""
    from convis_widgets.compute import optvis

    choices = {row.name: _other_value(row) for row in optvis.TABLE}
    for row in optvis.TABLE:
        assert choices[row.name] != row.default and row.problem(choices[row.name]) is None, row.name
    fv = FeatureVisualizer(cnn, **choices)
    try:
        for row in optvis.TABLE:
            assert getattr(fv, row.name) == choices[row.name], row.name
            if row.name not in ("report", "n_reports"):
                assert getattr(fv.settings, row.name) == choices[row.name], row.name
            if row.control is not None:
                control = fv.setting_controls[row.name]
                assert control.value == choices[row.name], row.name
                if row.choices:  # a dropdown offers every choice the row allows
                    assert sorted(v for _, v in control.options) == sorted(row.choices), row.name
        fv.start()
        assert fv.wait(60)
        fv.export(tmp_path)
    finally:
        fv.close()
    again = FeatureVisualizer(cnn)
    try:
        again.load_settings(tmp_path / "settings.json")
        for row in optvis.TABLE:
            assert getattr(again, row.name) == choices[row.name], row.name
    finally:
        again.close()


# ----- the gallery: numbered tiles that fill as the run goes, a click that opens a map -----

def test_before_start_the_gallery_says_what_start_does_and_its_range_follows_the_layer(cnn):
    fv = FeatureVisualizer(cnn, layer="conv2", mode="gallery")
    try:
        view = fv.gallery_view
        assert view.message.get_visible() and not view.im.get_visible()  # no black square
        assert "Start optimises one picture per map of conv2 (all 64 maps)" in view.message.get_text()
        assert "all 64 maps" in fv.status.value and "Start" in fv.status.value
        fv.layer = "conv3"
        assert fv.gallery_range == (0, 127)  # all maps stay all maps
        fv.gallery_range = (0, 15)
        fv.layer = "conv2"
        assert fv.gallery_range == (0, 15)  # a part is kept, and said
        assert "maps 0-15 of 64" in fv.status.value and "maps 0-15 of 64" in view.message.get_text()
    finally:
        fv.close()


def test_gallery_tiles_fill_as_the_run_goes_with_k_of_n_maps(dead_net, monkeypatch):
    fv = FeatureVisualizer(dead_net, (1, 8, 8), layer="relu", mode="gallery", gallery_range=(1, 3), steps=40)
    statuses: list[str] = []
    fv.status.observe(lambda change: statuses.append(change["new"]), names="value")
    drawn: list[tuple[int, int]] = []  # (tiles framed as in progress, tiles done) at each draw
    real_update = fv.gallery_view.update

    def update(images, done, responded, **kwargs):
        drawn.append((int((kwargs["active"] & ~done).sum()), int(done.sum())))
        real_update(images, done, responded, **kwargs)

    monkeypatch.setattr(fv.gallery_view, "update", update)
    monkeypatch.setattr("convis_widgets.widgets.optvis_gallery.STATUS_EVERY_S", 0.0)
    try:
        fv.start()
        assert fv.wait(60) and fv.last_error is None
        assert (3, 0) in drawn, "the tiles showed their pictures before the batch ended"
        assert drawn[-1] == (0, 3)
        running = [s for s in statuses if "at step" in s]
        assert running and all("<b>0 of 3 maps</b> done" in s and "maps 1-3 of 4" in s for s in running)
        assert any("ETA" in s or "estimating the time left" in s for s in running)
        assert "<b>3 of 3 maps</b> done, 2 responded" in fv.status.value
        view = fv.gallery_view
        assert [t.get_text() for t in view.labels] == ["1", "2", "3"]
        assert len(view.unresponsive_lines.get_segments()) == 5  # map 2 (bias -100) struck out
        assert [t.get_text() for t in view.legend.get_texts()] == [  # nothing framed: the run is over
            "struck out: the map never responded (its mean stayed at 0)"]
    finally:
        fv.close()


def test_a_click_on_a_tile_opens_its_map_in_single_run_mode(dead_net):
    fv = FeatureVisualizer(dead_net, (1, 8, 8), layer="relu", mode="gallery", gallery_range=(1, 3), steps=6)
    try:
        fv.start()
        assert fv.wait(60)
        n, h, w_, ncols = fv.gallery_view.geometry
        assert (n, h, w_, ncols) == (3, 8, 8, 2)

        def click(x: float, y: float) -> None:
            fv._on_gallery_click(SimpleNamespace(name="button_press_event", inaxes=fv.gallery_view.ax,
                                                 xdata=x, ydata=y, button=1))

        click(8.0, 3.0)  # the gap between the first two tiles
        assert fv.mode == "gallery"
        click(3.0, 12.0)  # the first tile of the second row: map 3
        assert (fv.mode, fv.objective, fv.layer, fv.index) == ("single", "channel", "relu", 3)
        assert not fv.running and fv.single_box.layout.display is None
        assert "map <b>3</b> of <b>relu</b> opened" in fv.status.value and "Start" in fv.status.value
        assert fv.view.ax_img.get_title() == "map 3 of relu: press Start"
        fv.start()
        assert fv.wait(60) and fv.result.done
        assert fv.view.ax_img.get_title().startswith("map 3 of relu, step")
    finally:
        fv.close()


def test_open_map_refuses_what_it_cannot_open_and_changes_nothing(cnn):
    fv = FeatureVisualizer(cnn, layer="conv2", mode="gallery")
    try:
        with pytest.raises(ValueError, match=r"open_map needs a layer with a spatial .*got 'fc1'.*conv3"):
            fv.open_map("fc1", 0)
        with pytest.raises(IndexError, match=r"0\.\.127 \(128 maps in conv3\); got 128"):
            fv.open_map("conv3", 128)
        assert (fv.mode, fv.layer) == ("gallery", "conv2")
        fv.objective = "neuron"
        fv.open_map("conv3", 5)  # from any objective: the map's mean
        assert (fv.mode, fv.objective, fv.layer, fv.index) == ("single", "channel", "conv3", 5)
    finally:
        fv.close()


def shown(widget) -> bool:
    return widget.layout.display != "none"


def test_only_the_controls_that_act_show(cnn):
    fv = FeatureVisualizer(cnn, layer="conv2", blur_every=0)
    try:
        assert shown(fv.index_slider) and shown(fv.objective_dropdown) and not shown(fv.range_slider)
        assert not shown(fv.second_slider) and not shown(fv.weight_slider)
        assert not shown(fv.controls["blur_sigma"])  # no blur, no blur width
        fv.blur_every = 6
        assert shown(fv.controls["blur_sigma"])
        assert not shown(fv.controls["fft_decay"]) and not shown(fv.controls["decorrelate"])  # grey, pixels
        fv.param = "fft"
        assert shown(fv.controls["fft_decay"]) and not shown(fv.controls["decorrelate"])  # one channel
        assert not shown(fv.controls["convergence"])
        fv.stop_on_convergence = True
        assert shown(fv.controls["convergence"])
        assert shown(fv.n_reports_text)
        fv.report = 5  # a snapshot every 5 steps: the number of log-spaced ones does not act
        assert not shown(fv.n_reports_text)
        fv.objective = "class"
        assert not shown(fv.layer_dropdown) and not shown(fv.layers_toggle)
        fv.mode = "gallery"  # a gallery maximises each map's mean: no objective, no map
        assert shown(fv.range_slider) and shown(fv.layer_dropdown)
        assert not shown(fv.objective_dropdown) and not shown(fv.index_slider)
        assert "(change them while it runs)" not in fv.accordion.get_title(1)
    finally:
        fv.close()


def test_a_live_change_while_running_is_confirmed_in_the_status_with_its_step(cnn, threads):
    import re

    fv = FeatureVisualizer(cnn, layer="conv2", index=3, steps=100_000, blur_every=4)
    try:
        fv.start()
        wait_until(lambda: fv.step >= 3)
        asked_at = fv.step
        fv.l2 = 0.3
        fv.blur_every = 6
        wait_until(lambda: "blur every k steps = 6" in fv.status.value)
        said = re.search(r"L2 decay = 0\.3 from step (\d+)", fv.status.value)
        assert said is not None and int(said.group(1)) > asked_at
        assert re.search(r"blur every k steps = 6 from step (\d+)", fv.status.value)
        assert len(fv.view.changes.get_segments()) >= 1  # a dotted line on the curve where it changed
        fv.stop()
        assert fv.wait(10) and fv.last_error is None
        assert "L2 decay = 0.3 from step" in fv.status.value  # still said once it ended
    finally:
        fv.close()


def test_a_wide_gallery_is_shown_shrunk_and_redraws_only_the_tiles_that_changed():
    from convis_widgets.render import new_figure
    from convis_widgets.render.optvis import MOSAIC_PX, GalleryView

    view = GalleryView(new_figure((4.0, 4.0)))
    images = np.random.default_rng(0).random((100, 1, 224, 224)).astype(np.float32)
    everything = np.ones(100, bool)
    view.update(images, everything, everything, title="t", contrast=False, channels=range(100, 200))
    n, h, w_, ncols = view.geometry
    assert (n, h, w_, ncols) == (100, 112, 112, 10)  # 10 x 225 px > MOSAIC_PX: halved
    assert view.mosaic.shape[1] <= MOSAIC_PX
    assert view.tile_at(112 + 1 + 5, 3 * 113 + 5) == 31 and view.channels[31] == 131
    assert view.ax.format_coord(112 + 1 + 5, 3 * 113 + 5) == "map 131"  # the hover read-out
    assert view.ax.format_coord(112.0, 5) == ""  # on the gap between two tiles (column 112)
    before = view.mosaic.copy()
    images[:] = 0.5
    images[31] = 0.0
    view.update(images, everything, everything, title="t", contrast=False, channels=range(100, 200),
                changed=np.array([31]))
    tile = view.mosaic[3 * 113: 3 * 113 + 112, 113: 113 + 112]
    assert (tile == 0).all()
    outside = np.ones(view.mosaic.shape, bool)
    outside[3 * 113: 3 * 113 + 112, 113: 113 + 112] = False
    np.testing.assert_array_equal(view.mosaic[outside], before[outside])  # the others were not redrawn
