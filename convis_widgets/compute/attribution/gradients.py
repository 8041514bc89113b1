"""Gradient attributions: saliency, SmoothGrad, Grad-CAM, guided backprop and deconvnet.

Each works on a private view of the model (see :mod:`..access`): gradients are taken with
respect to the input only, so the model's weights, ``requires_grad`` flags, ``.grad`` tensors
and training mode are never touched; results follow the model's device.
Guided backprop and deconvnet change how ReLU passes gradients back without touching the
user's modules: a torch function mode swaps every ReLU call (``nn.ReLU``, in-place or not,
``F.relu``, ``torch.relu``, ``Tensor.relu``) for a ReLU with the rectified backward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .._compat import keyword_only
from ..access import ModelAccess, open_model
from ..cancel import Cancel, check, stopper
from ..errors import NotSpatialError
from ..inputs import Images, Layer, check_images
from ..probe import default_layer
from .targets import Target, class_scores, pick, resolve_targets


def _target_grad(access: ModelAccess, x: torch.Tensor, target: Target, probabilities: bool) -> torch.Tensor:
    """The gradient d score[target] / d input for a batch; targets resolved on this batch's own scores."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        scores = class_scores(access.forward(x), probabilities=probabilities)
        targets = resolve_targets(target, scores)
        (grad,) = torch.autograd.grad(pick(scores, targets).sum(), x)
    return grad


def saliency(
    model: nn.Module,
    images: Images,
    target: Target = None,
    *,
    abs: bool = True,
    probabilities: bool = False,
) -> torch.Tensor:
    """Gradient of the target score with respect to the input (its absolute value by default).

    Equals ``captum.attr.Saliency`` (``abs=True``). Shaped like ``images``.
    """
    access = open_model(model)
    x = check_images(images, model=model)
    grad = _target_grad(access, x, target, probabilities)
    return grad.abs() if abs else grad


@keyword_only(3, "samples", "noise", "seed")
def smoothgrad(
    model: nn.Module,
    images: Images,
    target: Target = None,
    *,
    samples: int = 50,
    noise: float = 0.15,
    seed: int = 0,
    abs: bool = True,
    batch_size: int = 64,
    probabilities: bool = False,
    cancel: Cancel = None,
) -> torch.Tensor:
    """Saliency averaged over ``samples`` noisy copies of each image (Smilkov et al. 2017).

    The noise is Gaussian with standard deviation ``noise`` times each image's value range
    (max - min). The target is fixed on the clean image, so every copy explains the same
    class. Seeded, batched over copies; each copy's gradient is made absolute before the mean
    when ``abs`` (as Captum's NoiseTunnel over Saliency does). ``cancel`` is read between batches.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an int >= 1; got {samples!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be a fraction of the input range >= 0; got {noise!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")
    stop = stopper(cancel)
    access = open_model(model)
    x = check_images(images, model=model)
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    out = torch.zeros_like(x)
    with torch.no_grad():
        targets = resolve_targets(target, class_scores(access.forward(x), probabilities=probabilities))
    for i in range(len(x)):
        span = float(x[i].max() - x[i].min())
        sigma = noise * span
        total = torch.zeros_like(x[i])
        done = 0
        while done < samples:
            check(stop, "smoothgrad")
            m = min(batch_size, samples - done)
            eps = torch.randn((m, *x.shape[1:]), generator=gen, device=x.device, dtype=x.dtype)
            grad = _target_grad(access, x[i] + sigma * eps, targets[i : i + 1].expand(m), probabilities)
            total += (grad.abs() if abs else grad).sum(dim=0)
            done += m
        out[i] = total / samples
    return out


@keyword_only(3, "layer")
def grad_cam(
    model: nn.Module,
    images: Images,
    target: Target = None,
    *,
    layer: Layer | None = None,
    upsample: bool = True,
    probabilities: bool = False,
) -> torch.Tensor:
    """Grad-CAM: ReLU of the layer's channels summed with weights = their mean gradient.

    ``layer`` None: :func:`..probe.default_layer`, the last spatial block output (``layer3`` of a
    ResNet, not its 1x1 shortcut conv defined last).

    ``upsample=True``: bilinearly resized to the input and repeated over its channels, shaped
    like ``images``; ``False``: (N, 1, h, w) at the layer's resolution (captum's LayerGradCam
    with ``relu_attributions=True``).
    """
    access = open_model(model)
    # the input requires grad, so the layer's output does too: frozen weights, a frozen model
    # or a layer in front of the first parameter all still have a gradient
    x = check_images(images, model=model).requires_grad_(True)
    name, _ = access.resolve(layer if layer is not None else default_layer(model, tuple(x.shape[1:])))
    with access.record([name], detach=False) as kept, torch.enable_grad():
        scores = class_scores(access.forward(x), probabilities=probabilities)
        targets = resolve_targets(target, scores)
        if name not in kept:
            raise NotSpatialError(f"layer {name!r} did not produce a tensor output in the forward pass")
        act = kept[name]
        if act.ndim != 4:
            raise NotSpatialError(
                f"Grad-CAM needs a spatial layer with (N, C, H, W) output; layer {name!r} gives "
                f"shape {tuple(act.shape)}"
            )
        (grad,) = torch.autograd.grad(pick(scores, targets).sum(), act)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act.detach()).sum(dim=1, keepdim=True))
    if not upsample:
        return cam
    up = F.interpolate(cam, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)
    return up.expand(-1, x.shape[1], -1, -1).contiguous()


class _RectifiedReLU(torch.autograd.Function):
    """ReLU forward; backward passes only positive gradients (and, when guided, only where x > 0)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, guided: bool) -> torch.Tensor:
        out = x.clamp(min=0)
        ctx.guided = guided
        ctx.save_for_backward(x > 0)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (positive,) = ctx.saved_tensors
        g = grad.clamp(min=0)
        return (g * positive if ctx.guided else g), None


_RELUS_OUT = {F.relu, torch.relu, torch.Tensor.relu}
_RELUS_INPLACE = {F.relu_, torch.relu_, torch.Tensor.relu_}


class _RectifiedReLUMode(TorchFunctionMode):
    """Routes every ReLU call in the block through :class:`_RectifiedReLU`."""

    def __init__(self, guided: bool) -> None:
        super().__init__()
        self.guided = guided

    def __torch_function__(
        self, func: Callable[..., object], types: Collection[type], args: tuple[Any, ...] = (),
        kwargs: dict[str, object] | None = None,
    ) -> object:
        kwargs = kwargs or {}
        inplace = func in _RELUS_INPLACE or (
            func is F.relu and bool(kwargs.get("inplace", args[1] if len(args) > 1 else False))
        )
        if func in _RELUS_OUT or func in _RELUS_INPLACE:
            x = args[0]
            out = _RectifiedReLU.apply(x, self.guided)  # type: ignore[no-untyped-call]  # torch's own stub
            if inplace:
                return x.copy_(out)
            return out
        return func(*args, **kwargs)


def _rectified(
    model: nn.Module,
    images: Images,
    target: Target,
    guided: bool,
    probabilities: bool,
) -> torch.Tensor:
    access = open_model(model)
    x = check_images(images, model=model)
    with _RectifiedReLUMode(guided):
        return _target_grad(access, x, target, probabilities)


def guided_backprop(
    model: nn.Module,
    images: Images,
    target: Target = None,
    *,
    probabilities: bool = False,
) -> torch.Tensor:
    """Gradient with every ReLU passing back only positive gradients where its input was positive.

    Equals ``captum.attr.GuidedBackprop``, and also covers in-place and functional ReLUs.
    """
    return _rectified(model, images, target, True, probabilities)


def deconvnet(
    model: nn.Module,
    images: Images,
    target: Target = None,
    *,
    probabilities: bool = False,
) -> torch.Tensor:
    """Zeiler and Fergus's deconvnet projection: the backward pass rectified at every ReLU.

    Equals ``captum.attr.Deconvolution``, and also covers in-place and functional ReLUs.
    """
    return _rectified(model, images, target, False, probabilities)
