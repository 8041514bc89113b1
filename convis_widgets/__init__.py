"""convis-widgets: look inside convolutional neural networks from a Jupyter notebook.

`convis_widgets.compute` works in plain scripts (torch + numpy only); the widgets
are imported lazily so that importing the package never pulls in ipywidgets.
Importing the package registers the built-in models and data of `compute.training`
(functions that import `models` and `data` only when called: compute never imports them).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = [
    "ActivationExplorer",
    "DeepDream",
    "FeatureInversion",
    "FeatureSpace",
    "FeatureVisualizer",
    "FilterGallery",
    "LatentExplorer",
    "OcclusionExplorer",
    "TrainingComparison",
    "UnitInspector",
    "__version__",
]


def _register_builtins() -> None:
    """SeedCNN on the digits for "classifier", ConvAutoencoder on the colour patches for "autoencoder"."""
    from .compute.training import register_builtin

    def classifier(first_kernel: int, input_shape: tuple[int, ...], num_classes: int, *,
                   output_mean: tuple[float, ...] | None = None) -> Any:  # noqa: ARG001 (the registry's signature; a classifier outputs scores)
        from .models import SeedCNN

        return SeedCNN(input_shape[0], first_kernel, num_classes, input_shape[1])

    def autoencoder(first_kernel: int, input_shape: tuple[int, ...], num_classes: int, *,  # noqa: ARG001 (an autoencoder has no classes)
                    output_mean: tuple[float, ...] | None = None) -> Any:
        from .models import ConvAutoencoder

        return ConvAutoencoder(input_shape[0], first_kernel, input_shape[1], output_mean=output_mean)

    def digits() -> tuple[Any, Any]:
        from .data import digits

        return digits("train"), digits("test")

    def patches() -> tuple[Any, Any]:
        from .data import patches

        return patches("train"), patches("test")

    register_builtin("classifier", model_fn=classifier, data_fn=digits, model_name="SeedCNN")
    register_builtin("autoencoder", model_fn=autoencoder, data_fn=patches, model_name="ConvAutoencoder")


_register_builtins()


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'convis_widgets' has no attribute {name!r}")
