"""Jupyter widgets over the compute core: the only package that imports ipywidgets and ipympl.

Each widget lives in its own module, imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

MODULES = {
    "ActivationExplorer": "activation_explorer",
    "DeepDream": "from_image",
    "FeatureInversion": "from_image",
    "FeatureSpace": "feature_space",
    "FilterGallery": "filter_gallery",
    "FeatureVisualizer": "feature_visualizer",
    "LatentExplorer": "latent_explorer",
    "OcclusionExplorer": "occlusion_explorer",
    "TrainingComparison": "training_comparison",
    "UnitInspector": "unit_inspector",
}
__all__ = list(MODULES)


def __getattr__(name: str) -> Any:
    if name in MODULES:
        return getattr(import_module(f".{MODULES[name]}", __name__), name)
    raise AttributeError(f"module 'convis_widgets.widgets' has no attribute {name!r}")
