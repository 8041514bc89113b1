"""A closed widget leaves nothing alive: no figure, no canvas or toolbar widget, no job thread.

ipympl's FigureManager makes a Toolbar widget holding the canvas (and so the figure); ipywidgets
keeps every widget it has not closed in its registry, so a widget that closes only its canvas
keeps each figure for the rest of the session.
"""

from __future__ import annotations

import gc
import threading
import weakref

import ipywidgets
import pytest
import torch
from matplotlib.figure import Figure

import convis_widgets as cw
from convis_widgets import widgets as widgets_package
from convis_widgets.jobs import set_default_executor
from convis_widgets.models import DigitsAutoencoder, pretrained_digits_cnn
from convis_widgets.widgets.base import ConvisWidget

CYCLES = 10


@pytest.fixture(scope="module")
def cnn():
    return pretrained_digits_cnn()


@pytest.fixture(scope="module")
def images():
    return torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))


MAKERS = {
    "ActivationExplorer": lambda model, x: cw.ActivationExplorer(model, x),
    "FilterGallery": lambda model, x: cw.FilterGallery(model),
    "FeatureVisualizer": lambda model, x: cw.FeatureVisualizer(model),
    "OcclusionExplorer": lambda model, x: cw.OcclusionExplorer(model, x, patch_size=7, stride=7),
    "TrainingComparison": lambda model, x: cw.TrainingComparison(),
    "UnitInspector": lambda model, x: cw.UnitInspector(model, x),
    "FeatureInversion": lambda model, x: cw.FeatureInversion(model, x[0]),
    "DeepDream": lambda model, x: cw.DeepDream(model, x[0]),
    "FeatureSpace": lambda model, x: cw.FeatureSpace(model, x),
    "LatentExplorer": lambda model, x: cw.LatentExplorer(DigitsAutoencoder(), x),  # noqa: ARG005 (an autoencoder of its own)
}


def registered_widgets() -> int:
    return len(ipywidgets.widgets.widget._instances)


def job_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "convis-widgets-job" and t.is_alive()]


def test_every_widget_class_is_covered():
    assert set(widgets_package.MODULES) == set(MAKERS)
    assert all(issubclass(getattr(widgets_package, name), ConvisWidget) for name in MAKERS)


# thread: closed while its first job may still run (close cancels it); inline: closed after its work
CASES = [(name, "thread") for name in sorted(MAKERS)] + [("ActivationExplorer", "inline"),
                                                          ("FilterGallery", "inline")]


@pytest.mark.parametrize(("name", "executor"), CASES)
def test_closed_widgets_free_their_figures(name, executor, cnn, images):
    old = set_default_executor(executor)
    try:
        MAKERS[name](cnn, images).close()  # first use: imports, caches and lazy state settle
        gc.collect()
        widgets_before = registered_widgets()
        figures: list[weakref.ref[Figure]] = []
        for _ in range(CYCLES):
            widget = MAKERS[name](cnn, images)
            figures += [weakref.ref(c.figure) for c in widget._canvases]
            widget.close()
            del widget
        gc.collect()
    finally:
        set_default_executor(old)
    assert len(figures) >= CYCLES
    alive = sum(ref() is not None for ref in figures)
    assert alive == 0, f"{alive} of {len(figures)} figures of closed {name}s are still alive"
    assert registered_widgets() == widgets_before, "closed widgets left in ipywidgets' registry"
    assert job_threads() == []
