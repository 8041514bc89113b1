"""Feature visualisation (torch only): grow the image that drives a map, a unit or a class.

``run`` is the OIP loop of R. Mönchmeyer's "A simple CNN for the MNIST dataset" as an iterator of
step records; ``render_layer`` optimises a whole layer's maps as batches. Every setting is a row of
:data:`.settings.TABLE`. Objectives live in :mod:`.objectives`, regularisers in
:mod:`.regularizers`, transforms in :mod:`.transforms`, parameterisations in :mod:`.param`.
"""

from . import init, objectives, param, regularizers, settings, transforms
from .init import initial_image
from .layer import LayerRender, dataset_max_activation, iter_render_layer, render_layer
from .loop import Settings, Step, output_shapes, report_steps, run
from .objectives import Objective
from .settings import FIELDS, TABLE, Setting

__all__ = [
    "FIELDS",
    "TABLE",
    "LayerRender",
    "Objective",
    "Setting",
    "Settings",
    "Step",
    "dataset_max_activation",
    "init",
    "initial_image",
    "iter_render_layer",
    "objectives",
    "output_shapes",
    "param",
    "regularizers",
    "render_layer",
    "settings",
    "report_steps",
    "run",
    "transforms",
]
