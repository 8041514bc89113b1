"""convis-widgets: look inside convolutional neural networks from a Jupyter notebook.

`convis_widgets.compute` works in plain scripts (torch + numpy only); the widgets
are imported lazily so that importing the package never pulls in ipywidgets.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = [
    "ActivationExplorer",
    "FeatureVisualizer",
    "FilterGallery",
    "OcclusionExplorer",
    "TrainingComparison",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'convis_widgets' has no attribute {name!r}")
