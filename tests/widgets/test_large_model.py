"""Large models stay live: a VGG16-shaped model (138M parameters, 224 px) through every widget headless.

For each widget: the first picture arrives (the figure's image data changes from a fresh view's),
progress is shown while work runs, and a stop takes effect within one step (one forward pass of
the optimisation, one batch of occlusion positions). Jobs run on the worker thread, as in a
notebook. The figures (time to first picture, seconds per step) are printed; run with ``-s``.

TrainingComparison is not here: it trains its built-in networks only (no user model).
"""

from __future__ import annotations

import re
import resource
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch
from large_models import VGG16_PARAMETERS, vgg16_shaped
from matplotlib.figure import Figure

from convis_widgets import ActivationExplorer, FeatureVisualizer, FilterGallery, OcclusionExplorer
from convis_widgets.compute.state import model_checksum
from convis_widgets.jobs import set_default_executor
from convis_widgets.render import ActivationView, FilterView, new_figure
from convis_widgets.render.attribution import MapView, OcclusionView
from convis_widgets.render.optvis import GalleryView, OptvisView


@pytest.fixture(scope="module")
def vgg() -> torch.nn.Module:
    """Built once for the module: 528 MiB of float32 weights."""
    return vgg16_shaped()


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    """Three random 224-px RGB images in [0, 1]."""
    return torch.rand(3, 3, 224, 224, generator=torch.Generator().manual_seed(1))


@pytest.fixture(autouse=True)
def threads() -> Iterator[None]:
    old = set_default_executor("thread")
    yield
    set_default_executor(old)


class ForwardCounter:
    """Counts the model's forward passes, ours included: a forward pre-hook on its first conv (the
    private views keep the model's forward pre-hooks); removed on exit."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._handle = model.features[0].register_forward_pre_hook(self._seen)

    def _seen(self, module: torch.nn.Module, args: object) -> None:
        with self._lock:
            self.count += 1

    def __enter__(self) -> ForwardCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()


def wait_until(condition: Callable[[], bool], timeout: float = 120.0, what: str = "condition") -> float:
    """Poll ``condition`` until true; the seconds it took."""
    t0 = time.perf_counter()
    while not condition():
        if time.perf_counter() - t0 > timeout:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.01)
    return time.perf_counter() - t0


def picture(fig: Figure, lock: threading.RLock) -> list[np.ndarray]:
    """The data of every image drawn in ``fig``, masked entries as NaN."""
    with lock:
        return [np.ma.filled(np.ma.asarray(im.get_array(), dtype=float), np.nan).copy()
                for ax in fig.axes for im in ax.get_images()]


def differs(now: list[np.ndarray], before: list[np.ndarray]) -> bool:
    """True when some image's shape or values changed."""
    if len(now) != len(before):
        return True
    return any(a.shape != b.shape or not np.array_equal(a, b, equal_nan=True)
               for a, b in zip(now, before, strict=True))


def has_picture(images: list[np.ndarray], min_pixels: int) -> bool:
    """True when some image has at least ``min_pixels`` pixels and more than one finite value."""
    for a in images:
        finite = a[np.isfinite(a)]
        if a.shape[0] * a.shape[1] >= min_pixels and finite.size and finite.min() < finite.max():
            return True
    return False


def fresh(view: Callable[[Figure], object], figsize: tuple[float, float]) -> list[np.ndarray]:
    """What a view draws before it is given anything: the initial state of a widget's figure."""
    fig = new_figure(figsize)
    view(fig)
    return picture(fig, threading.RLock())


def report(line: str) -> None:
    print(f"\n[large model] {line}")


def test_the_model_is_vgg16_shaped_and_built_without_the_global_generator(vgg):
    state = torch.get_rng_state()
    again = vgg16_shaped()
    assert torch.equal(torch.get_rng_state(), state)
    assert sum(p.numel() for p in vgg.parameters()) == VGG16_PARAMETERS
    assert model_checksum(again) == model_checksum(vgg)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in vgg.modules()) == 13
    with torch.no_grad():
        assert vgg(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_filter_gallery_shows_the_first_and_a_deep_layer(vgg):
    t0 = time.perf_counter()
    g = FilterGallery(vgg)
    try:
        assert g.wait(120) and g.last_error is None
        first = time.perf_counter() - t0
        now = picture(g.figure, g.draw_lock)
        assert differs(now, fresh(FilterView, (8.0, 4.0))) and has_picture(now, 64 * 9)
        assert g.shown.shape == (64, 3, 3, 3)
        t1 = time.perf_counter()
        g.layer = "features.28"
        assert g.wait(120) and g.last_error is None
        deep = time.perf_counter() - t1
        assert g.shown.shape == (512, 3, 3) and differs(picture(g.figure, g.draw_lock), now)
        assert "features.28" in g.status.value
    finally:
        g.close()
    report(f"FilterGallery: first picture {first:.2f} s; features.28 (512 filters) {deep:.2f} s")


def test_activation_explorer_shows_an_early_and_a_deep_layer(vgg, photos):
    before = model_checksum(vgg)
    t0 = time.perf_counter()
    ae = ActivationExplorer(vgg, photos)
    try:
        assert ae.wait(120) and ae.last_error is None
        first = time.perf_counter() - t0
        now = picture(ae.figure, ae.draw_lock)
        assert differs(now, fresh(ActivationView, (8.0, 5.0))) and has_picture(now, 224 * 224)
        assert ae.layer == "features.1" and ae.current.shape == (64, 224, 224)  # the first conv's ReLU
        t1 = time.perf_counter()
        ae.layer = "features.29"
        assert ae.wait(120) and ae.last_error is None
        deep = time.perf_counter() - t1
        assert ae.current.shape == (512, 14, 14) and differs(picture(ae.figure, ae.draw_lock), now)
        t2 = time.perf_counter()
        ae.image_index = 2
        assert ae.wait(120) and ae.last_error is None
        other = time.perf_counter() - t2
    finally:
        ae.close()
    assert model_checksum(vgg) == before
    report(f"ActivationExplorer: first picture {first:.2f} s; features.29 {deep:.2f} s; "
           f"another image {other:.2f} s")


def test_feature_visualizer_single_run_draws_each_step_and_stops_within_one(vgg):
    before = model_checksum(vgg)
    fv = FeatureVisualizer(vgg, layer="features.3", index=5, steps=100_000)
    initial = picture(fv.figure, fv.draw_lock)
    assert not differs(initial, fresh(lambda f: OptvisView(f).clear(), (8.0, 5.2)))
    try:
        with ForwardCounter(vgg) as forwards:
            fv.start_button.click()
            first = wait_until(lambda: fv.step >= 1 and differs(picture(fv.figure, fv.draw_lock), initial),
                               what="the first picture")
            assert has_picture(picture(fv.figure, fv.draw_lock), 224 * 224)
            first_step, t_first = fv.result.step, time.perf_counter()
            wait_until(lambda: fv.result is not None and fv.result.step >= 4, what="step 4")
            at_step, at_forwards, t_click = fv.result.step, forwards.count, time.perf_counter()
            per_step = (t_click - t_first) / (at_step - first_step)
            status = fv.status.value
            assert fv.running and not fv.stop_button.disabled
            fv.stop_button.click()
            assert fv.wait(60) and fv.last_error is None
            stop_s = time.perf_counter() - t_click
            assert fv.result.reason == "cancelled" and fv.result.step <= at_step + 1
            assert forwards.count - at_forwards <= 1, "more than one forward pass after Stop"
        assert f"of {fv.steps}" in status and "steps/s" in status
        assert not fv.running and fv.stop_button.disabled and not fv.start_button.disabled
    finally:
        fv.close()
    assert model_checksum(vgg) == before
    report(f"FeatureVisualizer features.3 at 224 px: first picture {first:.2f} s after Start, "
           f"{per_step:.3f} s/step, Stop took {stop_s:.2f} s; status: {status}")


def test_feature_visualizer_gallery_fills_and_stops_within_one_step(vgg):
    fv = FeatureVisualizer(vgg, layer="features.1", mode="gallery", gallery_range=(0, 3), steps=8)
    initial = fresh(GalleryView, (8.0, 8.0 * 0.62))
    try:
        t0 = time.perf_counter()
        fv.start_button.click()
        assert fv.wait(120) and fv.last_error is None
        first = time.perf_counter() - t0
        done = picture(fv.gallery_figure, fv.draw_lock)
        assert differs(done, initial) and has_picture(done, 2 * 224 * 224)
        assert fv.gallery.channels == [0, 1, 2, 3] and "<b>4 of 4 maps</b> done" in fv.status.value

        fv.steps = 100_000
        with ForwardCounter(vgg) as forwards:
            fv.start_button.click()
            wait_until(lambda: forwards.count >= 20, what="20 forward passes")  # past the precursor
            at_forwards, t_click = forwards.count, time.perf_counter()
            fv.stop_button.click()
            assert fv.wait(60) and fv.last_error is None
            stop_s = time.perf_counter() - t_click
            assert forwards.count - at_forwards <= 1, "more than one forward pass after Stop"
        assert fv.gallery.channels == [0, 1, 2, 3]  # the stopped batch keeps the pictures it reached
        assert torch.isfinite(fv.gallery.images).all()
    finally:
        fv.close()
    report(f"FeatureVisualizer gallery, 4 maps of features.1, 8 steps: first picture {first:.2f} s "
           f"(the grid fills once per batch of 64 maps); Stop took {stop_s:.2f} s")


def test_occlusion_explorer_readout_maps_heatmap_and_a_stop_within_one_batch(vgg, photos):
    before = model_checksum(vgg)
    t0 = time.perf_counter()
    oe = OcclusionExplorer(vgg, photos, patch_size=56, stride=56)
    try:
        built = time.perf_counter() - t0
        assert oe.wait(180) and oe.last_error is None
        first = time.perf_counter() - t0
        heat = picture(oe.figure, oe.draw_lock)
        assert differs(heat, fresh(lambda f: OcclusionView(f, 1000), (7.5, 3.0)))
        assert differs(picture(oe.map_figure, oe.draw_lock), fresh(MapView, (7.5 * 0.6, 3.0)))
        assert oe.heatmap is not None and oe.heatmap.rows == oe.heatmap.cols == (0, 56, 112, 168)
        assert oe.heatmap.drops.numel() == 16 and oe.progress.value == 1.0
        t1 = time.perf_counter()
        oe.patch_x = 100
        readout = time.perf_counter() - t1
        assert oe.readout["patch"] == (0, 100, 56)

        # a stop: the heatmap job of stride 8 (22 x 22 positions in batches timed to about 0.3 s) is
        # replaced mid-way
        reports: list[tuple[int, float]] = []  # (thread, value) each time the bar moves
        oe.progress.observe(lambda c: reports.append((threading.get_ident(), c["new"])), names="value")
        t2 = time.perf_counter()
        oe.stride = 8
        running = oe.runner.current
        wait_until(lambda: running.thread is not None and running.thread.ident is not None, what="the job")
        ident = running.thread.ident

        def moved() -> list[float]:
            return [v for j, v in reports if j == ident]

        wait_until(lambda: len(moved()) >= 2, what="two heatmap batches")
        per_batch = (time.perf_counter() - t2) / 2
        seen = moved()
        at_click, last_batch = seen[-1], seen[-1] - seen[-2]
        t_click = time.perf_counter()
        oe.stride = 56  # a new choice cancels the running heatmap (the widget has no Stop button)
        assert running.wait(60) and running.cancelled
        stop_s = time.perf_counter() - t_click
        # the batch in flight at the click is at most twice the one before (batches are timed)
        assert max(moved()) <= at_click + 2 * last_batch + 1e-9, "the heatmap went on after the stop"
        assert oe.wait(60) and oe.last_error is None and oe.heatmap.stride == (56, 56)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    finally:
        oe.close()
    assert model_checksum(vgg) == before
    report(f"OcclusionExplorer 224 px: built {built:.2f} s, maps and 4x4 heatmap {first:.2f} s; "
           f"readout {readout:.3f} s; stride 8 heatmap {per_batch:.2f} s per batch (timed), "
           f"stop took {stop_s:.2f} s; peak RSS of the test process so far {peak:.0f} MiB")



ETA = re.compile(r"\bETA\s*\d|\d\s*(s|min)\b.{0,30}\bleft\b")  # "ETA 12 s", "about 12 s left"


@pytest.mark.parametrize("mode", ["single", "gallery"])
def test_the_status_shows_an_eta_while_running(vgg, mode):
    fv = FeatureVisualizer(vgg, layer="features.1", mode=mode, gallery_range=(0, 1), steps=100_000)
    try:
        with ForwardCounter(vgg) as forwards:
            fv.start_button.click()
            wait_until(lambda: forwards.count >= 20, what="20 forward passes")
            # the precursor search takes the first forwards; the ETA comes once 2 steps and 0.5 s are timed
            wait_until(lambda: ETA.search(fv.status.value) is not None, what="an ETA in the status")
            fv.stop_button.click()
            assert fv.wait(60) and fv.last_error is None
    finally:
        fv.close()
