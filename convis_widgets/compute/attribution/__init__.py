"""Attributions: which pixels a classifier's score depends on.

Occlusion (sliding a baseline window, fast and exact), and the gradient family: saliency,
SmoothGrad, Grad-CAM, guided backprop and deconvnet. Torch + numpy only; no Captum needed.
Every method is called as ``f(model, images, target=None, *, <options>)``; :data:`METHODS` lists
them with what each takes, for menus and loops over methods.
"""

from .gradients import deconvnet, grad_cam, guided_backprop, saliency, smoothgrad
from .methods import GRADIENT_METHODS, METHODS, Method, attribute
from .occlusion import (
    OcclusionResult,
    attribution_from_drops,
    check_window,
    gaussian_blur,
    make_baseline,
    occlusion,
    occlusion_map,
    patch,
    window_starts,
)
from .targets import class_scores, pick, resolve_targets

__all__ = [
    "GRADIENT_METHODS",
    "METHODS",
    "Method",
    "OcclusionResult",
    "attribute",
    "attribution_from_drops",
    "check_window",
    "class_scores",
    "deconvnet",
    "gaussian_blur",
    "grad_cam",
    "guided_backprop",
    "make_baseline",
    "occlusion",
    "occlusion_map",
    "patch",
    "pick",
    "resolve_targets",
    "saliency",
    "smoothgrad",
    "window_starts",
]
