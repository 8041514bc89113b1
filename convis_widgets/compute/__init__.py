"""The science without the widgets: plain functions over a torch model (torch + numpy only).

Every technique reaches the model through :mod:`.access`: it works on a private eval-mode view
with its own hooks, so the model is never changed, never carries a hook of ours, and any number
of techniques, iterators and threads can work on it at once, beside the user's own cells.

One call shape: a technique of a model and images is ``f(model, images, target=None, *,
layer=..., <options>)`` (``target`` for attributions only); a function of a model alone is
``f(model, layer, ...)``. The long ones take ``cancel`` (:data:`.cancel.Cancel`).
"""

from .access import COPY_LIMIT_BYTES, Captured, ModelAccess, first_tensor, input_shape, open_model
from .activations import activations, channel_mean
from .cancel import Cancel, RunCancelled, is_cancelled
from .errors import InputError, LayerNotFoundError, ModelForwardError, NotSpatialError
from .filters import (
    NOISY_BELOW,
    FilterReport,
    conv_layers,
    conv_weight,
    filter_images,
    filter_report,
    smoothness,
)
from .inputs import ImageData, Images, Layer, check_images, expected_input_shape
from .probe import (
    LayerInfo,
    ReceptiveField,
    capture,
    conv_output_size,
    layers,
    receptive_field,
    resolve_layer,
    run_forward,
)
from .state import model_checksum, model_device, model_dtype, preserved_state
from .stats import (
    ChannelStats,
    RunningChannelStats,
    channel_statistics,
    channel_statistics_from_activations,
)
from .topk import TopK, iter_top_k, top_k

__all__ = [
    "COPY_LIMIT_BYTES",
    "Cancel",
    "NOISY_BELOW",
    "Captured",
    "ChannelStats",
    "FilterReport",
    "ImageData",
    "Images",
    "InputError",
    "Layer",
    "LayerInfo",
    "LayerNotFoundError",
    "ModelAccess",
    "ModelForwardError",
    "NotSpatialError",
    "ReceptiveField",
    "RunCancelled",
    "RunningChannelStats",
    "TopK",
    "activations",
    "capture",
    "channel_mean",
    "channel_statistics",
    "channel_statistics_from_activations",
    "check_images",
    "conv_layers",
    "conv_output_size",
    "conv_weight",
    "expected_input_shape",
    "filter_images",
    "filter_report",
    "first_tensor",
    "input_shape",
    "is_cancelled",
    "iter_top_k",
    "layers",
    "model_checksum",
    "model_device",
    "model_dtype",
    "open_model",
    "preserved_state",
    "receptive_field",
    "resolve_layer",
    "run_forward",
    "smoothness",
    "top_k",
]
