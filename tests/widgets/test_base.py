"""The pattern every widget takes from `ConvisWidget`: keyword arguments that are traits, the control
table, one error guard for validators, observers and buttons, the status line, Start/Stop state and
the shared layer and image checks."""

from __future__ import annotations

import threading
import time

import ipywidgets as w
import pytest
import torch
from traitlets import Int, observe, validate

import convis_widgets as cw
from convis_widgets.compute.errors import LayerNotFoundError, NotSpatialError
from convis_widgets.jobs import Job, set_default_executor
from convis_widgets.models import SeedCNN
from convis_widgets.widgets.base import FIGURE_MARGIN_PX, MIN_FIGURE_SCALE, ConvisWidget
from convis_widgets.widgets.output_width import OutputWidth


class Toy(ConvisWidget):
    """A widget with one checked trait, an observer, a control, a button and a Start/Stop run."""

    size = Int(3)
    seen = Int(0)

    def __init__(self, *, figsize: tuple[float, float] = (2.0, 2.0), **choices):
        super().__init__(**choices)
        self.size_slider = self._control("size", w.IntSlider(0, min=0, max=10))
        self.broken_button = self._button("Break", "break", self._break)
        self.gate = threading.Event()
        self.fail_run = False
        self._start_stop_buttons()
        self.children = [self.size_slider, self.broken_button, self.start_button, self.stop_button,
                         self.status, self.errors]
        self._set_choices(choices)
        self._link_controls()

    @validate("size")
    def _valid_size(self, proposal):
        if proposal["value"] > 8:
            raise ValueError(f"size must be at most 8; got {proposal['value']}")
        return proposal["value"]

    @observe("seen")
    def _on_seen(self, change):
        if change["new"] == 13:
            raise RuntimeError("unlucky number seen")

    def _break(self):
        raise KeyError("the button's action failed")

    def start(self) -> Job:
        return self._submit_run(self._run)

    def _run(self, job: Job) -> None:
        while not self.gate.wait(0.01):
            job.check()
        if self.fail_run:
            raise RuntimeError("the run failed")


@pytest.fixture
def cnn():
    torch.manual_seed(0)
    return SeedCNN().eval()


@pytest.fixture
def images():
    return torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def threads():
    old = set_default_executor("thread")
    yield
    set_default_executor(old)


def shown(widget) -> str:
    return "".join(o.get("text", "") for o in widget.errors.outputs)


MAKERS = {
    "ActivationExplorer": lambda m, x, **kw: cw.ActivationExplorer(m, x, **kw),
    "FilterGallery": lambda m, x, **kw: cw.FilterGallery(m, **kw),
    "FeatureVisualizer": lambda m, x, **kw: cw.FeatureVisualizer(m, **kw),
    "OcclusionExplorer": lambda m, x, **kw: cw.OcclusionExplorer(m, x, patch_size=7, stride=7, **kw),
    "TrainingComparison": lambda m, x, **kw: cw.TrainingComparison(**kw),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_an_unknown_keyword_is_refused_naming_it_and_the_valid_ones(name, cnn, images):
    cls = getattr(cw, name)
    with pytest.raises(TypeError, match=rf"{name} got unexpected keyword argument\(s\) \['colour'\]") as info:
        MAKERS[name](cnn, images, colour="red")
    valid = str(info.value).split("valid keywords: ")[1]
    for keyword in (*cls.trait_keywords(), "figsize"):
        assert repr(keyword) in valid, keyword
    assert "running" not in cls.trait_keywords()  # read-only traits are no choice


def test_every_trait_keyword_is_taken_and_the_constructor_sets_it(cnn, images):
    ex = cw.OcclusionExplorer(cnn, images, patch_size=5, stride=2, samples=7, method="grad_cam", opacity=0.3)
    try:
        assert (ex.patch_size, ex.stride, ex.samples, ex.method, ex.opacity) == (5, 2, 7, "grad_cam", 0.3)
        assert {"method", "view", "patch_size", "layer", "image_index"} <= set(ex.trait_keywords())
        assert set(ex.controls) <= set(ex.trait_keywords())
    finally:
        ex.close()


KINDS = {"ActivationExplorer": "convis-activation-explorer", "FilterGallery": "convis-filter-gallery",
         "FeatureVisualizer": "convis-feature-visualizer", "OcclusionExplorer": "convis-occlusion-explorer",
         "TrainingComparison": "convis-training-comparison"}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_every_widget_is_tagged_as_one_and_by_its_kind(name, cnn, images):
    """Browser tests and styles find widgets by these CSS classes (lab.WIDGET_ROOTS)."""
    widget = MAKERS[name](cnn, images)
    try:
        assert {"convis-widget", KINDS[name]} <= set(widget._dom_classes)
    finally:
        widget.close()


def test_the_control_table_tags_and_links_each_control_both_ways():
    toy = Toy(size=4)
    try:
        assert toy.controls == {"size": toy.size_slider}
        assert "convis-size" in toy.size_slider._dom_classes
        assert toy.size_slider.value == 4  # the control took the trait's value
        toy.size_slider.value = 6  # as the browser sets it
        assert toy.size == 6
        toy.size = 2
        assert toy.size_slider.value == 2
        toy._link_controls()  # a second call links nothing twice
        assert len(toy._links) == 1
    finally:
        toy.close()
    assert toy._links == []


def test_a_real_widget_links_its_controls_both_ways(cnn):
    g = cw.FilterGallery(cnn, layer="conv2")
    try:
        assert g.controls["layer"] is g.layer_dropdown and g.controls["input_channel"] is g.channel_slider
        g.channel_slider.value = 5
        assert g.input_channel == 5
        g.input_channel = 2
        assert g.channel_slider.value == 2
        g.layer_dropdown.value = "conv1"
        assert g.layer == "conv1"
    finally:
        g.close()


def test_a_validator_error_is_raised_and_shown_in_the_widget():
    toy = Toy()
    try:
        with pytest.raises(ValueError, match="size must be at most 8; got 9"):
            toy.size = 9
        assert toy.size == 3 and isinstance(toy.last_error, ValueError)
        assert "Toy: ValueError: size must be at most 8; got 9" in shown(toy)
    finally:
        toy.close()


@pytest.mark.parametrize("name,trait,value,match", [
    ("ActivationExplorer", "normalize", "loud", "normalize must be one of"),
    ("ActivationExplorer", "image_index", 7, r"image_index must be in 0\.\.2 \(there are 3 images\)"),
    ("FilterGallery", "input_channel", 3, r"input_channel=3"),
    ("FilterGallery", "layer", "fc1", "only conv layers"),
])
def test_validators_that_had_no_error_display_now_show_their_errors(name, trait, value, match, cnn, images):
    widget = MAKERS[name](cnn, images)
    try:
        with pytest.raises((ValueError, IndexError), match=match):
            setattr(widget, trait, value)
        assert widget.last_error is not None
        last = widget.errors.outputs[-1]["text"]
        assert last.startswith(f"{name}: {type(widget.last_error).__name__}: ")
    finally:
        widget.close()


def test_an_observer_error_is_raised_and_shown_in_the_widget():
    toy = Toy()
    try:
        with pytest.raises(RuntimeError, match="unlucky"):
            toy.seen = 13
        assert "RuntimeError: unlucky number seen" in shown(toy)
    finally:
        toy.close()


def test_a_readout_that_fails_in_its_observer_is_shown(cnn, images):
    ex = cw.OcclusionExplorer(cnn, images, patch_size=7, stride=7)

    def broken(_module, _inputs):
        raise RuntimeError("sensor unplugged")

    handle = cnn.conv1.register_forward_pre_hook(broken)
    try:
        with pytest.raises(RuntimeError, match="sensor unplugged"):
            ex.patch_x = 3
        assert shown(ex).startswith("OcclusionExplorer: ") and "sensor unplugged" in shown(ex)
    finally:
        handle.remove()
        ex.close()


def test_a_button_error_is_shown_not_raised_and_the_next_click_clears_it():
    toy = Toy()
    try:
        toy.broken_button.click()
        assert isinstance(toy.last_error, KeyError) and "the button's action failed" in shown(toy)
        assert len(toy.errors.outputs) == 1
        toy._button("Fine", "fine", lambda: None).click()
        assert toy.last_error is None and toy.errors.outputs == ()
    finally:
        toy.close()


def test_an_error_is_shown_once_when_a_button_sets_a_refused_value():
    toy = Toy()
    try:
        toy._on_button(lambda: setattr(toy, "size", 10))()
        assert isinstance(toy.last_error, ValueError) and len(toy.errors.outputs) == 1
    finally:
        toy.close()


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_every_widget_has_one_status_line_in_it(name, cnn, images):
    widget = MAKERS[name](cnn, images)
    try:
        assert "convis-status" in widget.status._dom_classes and widget.status in widget.children
        assert widget.status.value  # each says what it shows, or what to do first
        widget._set_status("<b>ok</b>")
        assert widget.status.value == "<b>ok</b>"
    finally:
        widget.close()


def test_start_and_stop_show_a_run_while_it_goes_on_and_after_it_is_stopped(threads):
    toy = Toy()
    try:
        assert not toy.running and not toy.start_button.disabled and toy.stop_button.disabled
        job = toy.start()
        _wait_for(lambda: toy.running)
        assert toy.start_button.disabled and not toy.stop_button.disabled
        toy.stop_button.click()
        assert job.wait(5) and job.cancelled
        assert not toy.running and not toy.start_button.disabled and toy.stop_button.disabled
        assert toy.last_error is None
    finally:
        toy.close()


def test_start_and_stop_after_a_run_ends_or_fails(threads):
    toy = Toy()
    try:
        toy.start_button.click()
        _wait_for(lambda: toy.running)
        toy.gate.set()  # the run ends by itself
        assert toy.wait(5) and not toy.running and toy.stop_button.disabled
        toy.gate.clear()
        toy.fail_run = True
        job = toy.start()
        _wait_for(lambda: toy.running)
        toy.gate.set()
        assert job.wait(5) and not toy.running and not toy.start_button.disabled
        assert "RuntimeError: the run failed" in shown(toy)
    finally:
        toy.close()


def test_a_layer_that_does_not_exist_lists_the_ones_that_do(cnn, images):
    g = cw.FilterGallery(cnn)
    ex = cw.OcclusionExplorer(cnn, images, patch_size=7, stride=7)
    try:
        with pytest.raises(LayerNotFoundError, match=r"'conv1', 'conv2', 'conv3'"):
            g.layer = "conv4"
        with pytest.raises(NotSpatialError, match=r"got 'fc1'. Layers it can use: \['conv1'"):
            ex.layer = "fc1"
        assert "Layers it can use" in shown(ex)
    finally:
        g.close()
        ex.close()


def test_the_gradient_method_has_a_clear_name_and_view_still_works(cnn, images):
    ex = cw.OcclusionExplorer(cnn, images, patch_size=7, stride=7, view="smoothgrad", samples=3)
    try:
        assert ex.method == "smoothgrad" and "smoothgrad" in ex.maps
        ex.method = "grad_cam"
        assert ex.view == "grad_cam" and ex.view_buttons.value == "grad_cam" and "grad_cam" in ex.maps
        ex.view = "deconvnet"
        assert ex.method == "deconvnet" and "deconvnet" in ex.maps
    finally:
        ex.close()


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_figures_zoom_out_to_the_width_the_browser_gives_and_back(name, cnn, images):
    """ipympl sizes a figure from the kernel only: each widget hears its width from its OutputWidth
    strip (its last child) and zooms wider figures out by their dpi, never below MIN_FIGURE_SCALE."""
    widget = MAKERS[name](cnn, images)
    try:
        assert isinstance(widget.children[-1], OutputWidth) and widget.children[-1] is widget.output_width
        figures = [canvas.figure for canvas in widget._canvases]
        own = [(fig.bbox.width, fig.bbox.height) for fig in figures]
        widget.output_width.width = 470
        for fig, (w0, h0) in zip(figures, own, strict=True):
            fits = max(w0 * MIN_FIGURE_SCALE, min(w0, 470 - FIGURE_MARGIN_PX))
            assert abs(fig.bbox.width - fits) <= 1.0, (fig.bbox.width, fits)
            assert abs(fig.bbox.height / fig.bbox.width - h0 / w0) < 0.01  # proportions kept
        widget.output_width.width = 3000
        assert [(fig.bbox.width, fig.bbox.height) for fig in figures] == own
    finally:
        widget.close()


def test_a_shown_widget_sends_its_figures_fixed_size_again(cnn, images, monkeypatch):
    """ipympl's frontend turns ``resizable`` on when its comm goes live; once the browser reports the
    widget's width, each canvas sends its ``resizable`` False again, so no resize grip shows."""
    widget = MAKERS["ActivationExplorer"](cnn, images)
    try:
        sent = []
        for canvas in widget._canvases:
            assert canvas.resizable is False
            monkeypatch.setattr(canvas, "send_state", lambda key=None, c=canvas: sent.append((c, key)))
        widget.output_width.width = 600
        assert [c for c, key in sent if key == "resizable"] == widget._canvases
    finally:
        widget.close()
