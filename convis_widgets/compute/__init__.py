"""The science without the widgets: plain functions over a torch model (torch + numpy only).

Every technique leaves the model as it found it (see :func:`preserved_state`) and removes
its hooks, also when the model raises.
"""

from .activations import activations, channel_grid, channel_mean, grid_cell, grid_shape
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
from .inputs import check_images, expected_input_shape
from .probe import (
    Captured,
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

__all__ = [
    "NOISY_BELOW",
    "Captured",
    "ChannelStats",
    "FilterReport",
    "InputError",
    "LayerInfo",
    "LayerNotFoundError",
    "ModelForwardError",
    "NotSpatialError",
    "ReceptiveField",
    "RunningChannelStats",
    "activations",
    "capture",
    "channel_grid",
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
    "grid_cell",
    "grid_shape",
    "layers",
    "model_checksum",
    "model_device",
    "model_dtype",
    "preserved_state",
    "receptive_field",
    "resolve_layer",
    "run_forward",
    "smoothness",
]
