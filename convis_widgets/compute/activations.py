"""Layer activations for given images, and their mean over channels.

The channel mosaic that shows them (``channel_grid``, ``grid_cell``, ``grid_shape``) is drawing and
lives in :mod:`convis_widgets.render.grid`; compute imports no picture code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ._compat import keyword_only, renamed_kwargs
from .access import open_model
from .inputs import Images, Layer, check_images


@renamed_kwargs(layer_names="layer")
@keyword_only(2, "layer")
def activations(
    model: nn.Module,
    images: Images,
    *,
    layer: Layer | Sequence[Layer],
) -> dict[str, torch.Tensor]:
    """Outputs of the layer (or layers) for ``images`` as detached CPU tensors from one guarded pass,
    keyed by layer name."""
    access = open_model(model)
    wanted = [layer] if isinstance(layer, (str, int)) else list(layer)
    names = [access.resolve(n)[0] for n in wanted]
    x = check_images(images, model=model)
    with torch.no_grad():
        outputs = access.outputs(x, names)
    return {n: outputs[n].cpu() for n in names}


def channel_mean(act: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Mean over the channel dimension of (C, H, W) or (N, C, H, W) activations."""
    t = torch.as_tensor(act)
    if t.ndim not in (3, 4):
        raise ValueError(f"channel_mean needs (C, H, W) or (N, C, H, W); got {tuple(t.shape)}")
    return (t if t.is_floating_point() else t.float()).mean(dim=-3)


_MOVED = ("channel_grid", "grid_cell", "grid_shape")


def __getattr__(name: str) -> object:
    if name in _MOVED:
        raise AttributeError(f"convis_widgets.compute.activations.{name} moved to convis_widgets.render.grid "
                             f"(compute draws nothing): from convis_widgets.render.grid import {name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
