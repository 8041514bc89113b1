"""Regularisers that keep optimised images natural: penalties added to the loss, and image operations
applied between steps (the decay of Hu's "Feature visualization", clipping, Gaussian blur and the
edge-preserving bilateral filter)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def l2_penalty(x: torch.Tensor, center: float = 0.0) -> torch.Tensor:
    """Per-image mean squared distance from ``center`` (L2 decay towards a blank image)."""
    return (x - center).pow(2).reshape(x.shape[0], -1).mean(dim=1)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Per-image mean absolute difference between neighbouring pixels (anisotropic TV)."""
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().reshape(x.shape[0], -1).mean(dim=1)
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().reshape(x.shape[0], -1).mean(dim=1)
    return dx + dy


def gaussian_kernel(sigma: float, *, dtype: torch.dtype = torch.float32,
                    device: torch.device | None = None) -> torch.Tensor:
    """Normalised 1-D Gaussian of radius ceil(3 sigma)."""
    if sigma <= 0:
        raise ValueError(f"blur sigma must be > 0, got {sigma}")
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _reflect_pad(x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    h, w = x.shape[-2:]
    mode = "reflect" if max(pads[:2]) < w and max(pads[2:]) < h else "replicate"
    return F.pad(x, pads, mode=mode)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of each channel (reflected borders); lowers high frequencies."""
    k = gaussian_kernel(sigma, dtype=x.dtype, device=x.device)
    r = (k.numel() - 1) // 2
    c = x.shape[1]
    y = _reflect_pad(x, (r, r, r, r))
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def bilateral_filter(x: torch.Tensor, sigma_space: float = 1.0, sigma_range: float = 0.1) -> torch.Tensor:
    """Edge-preserving blur: each pixel becomes a mean of its neighbours weighted by distance in
    space and in value (summed over channels), so smooth areas are blurred and edges kept."""
    if sigma_space <= 0 or sigma_range <= 0:
        raise ValueError(f"bilateral sigmas must be > 0, got space={sigma_space}, range={sigma_range}")
    b, c, h, w = x.shape
    r = max(1, math.ceil(2 * sigma_space))
    k = 2 * r + 1
    patches = F.unfold(_reflect_pad(x, (r, r, r, r)), k).view(b, c, k * k, h * w)
    centre = x.reshape(b, c, 1, h * w)
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    space = torch.exp(-(t.view(-1, 1) ** 2 + t.view(1, -1) ** 2) / (2 * sigma_space**2)).reshape(1, k * k, 1)
    value = torch.exp(-(patches - centre).pow(2).sum(dim=1) / (2 * sigma_range**2))
    weight = space * value  # (b, k*k, h*w)
    out = (patches * weight.unsqueeze(1)).sum(dim=2) / weight.sum(dim=1, keepdim=True)
    return out.view(b, c, h, w)


def clip(x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """Clamp into the model's valid input range."""
    return x.clamp(float(value_range[0]), float(value_range[1]))
