"""Feature visualisation (torch only): grow the image that drives a map, a unit or a class.

``run`` is the OIP loop of R. Mönchmeyer's "A simple CNN for the MNIST dataset" as an iterator of
step records; ``gallery`` optimises a whole layer's maps as batches. Every setting is a row of
:data:`.settings.TABLE`. Objectives live in :mod:`.objectives`, regularisers in
:mod:`.regularizers`, transforms in :mod:`.transforms`, parameterisations in :mod:`.param`.
"""

from .._compat import module_getattr, renamed_kwargs
from . import init, objectives, param, regularizers, settings, transforms
from .gallery import Gallery, dataset_max_activation, gallery, iter_gallery
from .init import initial_image
from .loop import Settings, Step, Tick, output_shapes, report_steps, run
from .objectives import Objective
from .settings import FIELDS, TABLE, Setting

__all__ = [
    "FIELDS",
    "TABLE",
    "Gallery",
    "Objective",
    "Setting",
    "Settings",
    "Step",
    "Tick",
    "dataset_max_activation",
    "gallery",
    "init",
    "initial_image",
    "iter_gallery",
    "objectives",
    "output_shapes",
    "param",
    "regularizers",
    "settings",
    "report_steps",
    "run",
    "transforms",
]

__getattr__ = module_getattr(__name__, {
    "render_layer": ("optvis.gallery", lambda: gallery),
    "iter_render_layer": ("optvis.iter_gallery", lambda: iter_gallery),
    "LayerRender": ("optvis.Gallery (its activation= is now value=)",
                    lambda: renamed_kwargs(activation="value")(Gallery)),
})
