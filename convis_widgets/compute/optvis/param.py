"""Parameterisations: what the optimiser changes, and how it becomes an image (Lucent's
``(params, image_fn)`` pair). Pixel values directly, or a 1/f-scaled spectrum with decorrelated
colour for RGB models (Lucent's default)."""

from __future__ import annotations

from collections.abc import Callable

import torch

ImageFn = Callable[[], torch.Tensor]

COLOR_SVD_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
"""Square root of ImageNet's colour correlation (Lucid/Lucent), columns = decorrelated channels."""
COLOR_MATRIX = COLOR_SVD_SQRT / COLOR_SVD_SQRT.norm(dim=0).max()
EDGE = 1e-4  # keeps logit finite when an initial image touches the range ends
SPECTRUM_DIVISOR = 4.0
"""Lucid's "magic" constant: the inverse FFT's output is divided by it before the colour matrix and
the sigmoid (Lucent, lucent/optvis/param/spatial.py, fft_image); it cuts the image's contrast and
every step's effect on it by 4, which keeps Adam at lr 0.05 from saturating the image."""
SPECTRUM_SD = 0.01
"""Standard deviation of Lucent's random start spectrum (``randn * sd``, spatial.py fft_image)."""

KINDS = ("pixel", "fft")


def pixel(init: torch.Tensor) -> tuple[list[torch.Tensor], ImageFn]:
    """The image itself is the parameter (Mönchmeyer's OIP loop): a leaf copy of ``init``."""
    x = init.detach().clone().requires_grad_(True)
    return [x], lambda: x


def spectrum_scale(h: int, w: int, decay: float = 1.0, *, device: torch.device | None = None,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """1/f^decay weight of each rfft2 frequency (Lucent: 1 / max(f, 1/max(h, w)) ** decay)."""
    fy = torch.fft.fftfreq(h, device=device, dtype=dtype)[:, None]
    fx = torch.fft.rfftfreq(w, device=device, dtype=dtype)[None, :]
    f = torch.sqrt(fx * fx + fy * fy)
    return 1.0 / torch.clamp(f, min=1.0 / max(h, w)) ** decay


def _mix(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 colour matrix to the channel axis of (B, 3, H, W)."""
    return torch.einsum("ij,bjhw->bihw", matrix.to(x), x)


def _spectrum_to_image(spec: torch.Tensor, scale: torch.Tensor, size: tuple[int, int], colour: bool,
                       value_range: tuple[float, float], divisor: float) -> torch.Tensor:
    """The image ``lo + (hi - lo) * sigmoid(colour(irfft2(scale * spectrum) / divisor))``; ``spec`` is
    the (B, C, H, W // 2 + 1, 2) real/imaginary pair."""
    lo, hi = value_range
    x = torch.fft.irfft2(torch.view_as_complex(spec) * scale, s=size, norm="ortho") / divisor
    if colour:
        x = _mix(x, COLOR_MATRIX)
    return lo + (hi - lo) * torch.sigmoid(x)


def spectrum_image(
    spectrum: torch.Tensor,
    size: tuple[int, int],
    *,
    decorrelate: bool = True,
    decay: float = 1.0,
    value_range: tuple[float, float] = (0.0, 1.0),
    divisor: float = SPECTRUM_DIVISOR,
) -> torch.Tensor:
    """The image :func:`fft` makes of a (B, C, H, W // 2 + 1, 2) spectrum (real, imaginary last),
    for an image of ``size`` (H, W); colour decorrelation for 3 channels only."""
    h, w = size
    if spectrum.ndim != 5 or spectrum.shape[-1] != 2 or tuple(spectrum.shape[2:4]) != (h, w // 2 + 1):
        raise ValueError(f"spectrum must have shape (B, C, {h}, {w // 2 + 1}, 2) for a {h}x{w} image, "
                         f"got {tuple(spectrum.shape)}")
    scale = spectrum_scale(h, w, decay, device=spectrum.device, dtype=spectrum.dtype)
    colour = decorrelate and spectrum.shape[1] == 3
    return _spectrum_to_image(spectrum.contiguous(), scale, (h, w), colour, value_range, divisor)


def fft(
    init: torch.Tensor,
    *,
    decorrelate: bool = True,
    decay: float = 1.0,
    value_range: tuple[float, float] = (0.0, 1.0),
    divisor: float = SPECTRUM_DIVISOR,
) -> tuple[list[torch.Tensor], ImageFn]:
    """Spectral parameterisation (Lucent's ``param.image(fft=True, decorrelate=True)``):
    image = lo + (hi - lo) * sigmoid(colour(irfft2(scale * spectrum) / divisor)), with the 1/f^decay
    ``scale`` of :func:`spectrum_scale` and Lucid's divisor 4.

    The spectrum starts at the one that reproduces ``init`` (up to the range ends), so every initial
    image works; ``init="spectrum"`` (:func:`.init.spectral_noise`) gives Lucent's own random start.
    Colour decorrelation is used for 3-channel models only.
    """
    b, c, h, w = init.shape
    lo, hi = value_range
    scale = spectrum_scale(h, w, decay, device=init.device, dtype=init.dtype)
    colour = decorrelate and c == 3
    with torch.no_grad():
        unit = ((init - lo) / (hi - lo)).clamp(EDGE, 1 - EDGE)
        pre = torch.log(unit) - torch.log1p(-unit)
        if colour:
            pre = _mix(pre, torch.linalg.inv(COLOR_MATRIX))
        spec = torch.fft.rfft2(pre * divisor, norm="ortho") / scale
    param = torch.view_as_real(spec).contiguous().requires_grad_(True)

    def image() -> torch.Tensor:
        return _spectrum_to_image(param, scale, (h, w), colour, value_range, divisor)

    return [param], image


def parameterise(
    kind: str,
    init: torch.Tensor,
    *,
    decorrelate: bool = True,
    decay: float = 1.0,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> tuple[list[torch.Tensor], ImageFn]:
    """``pixel`` or ``fft`` parameterisation of a batch of start images."""
    if kind == "pixel":
        return pixel(init)
    if kind == "fft":
        return fft(init, decorrelate=decorrelate, decay=decay, value_range=value_range)
    raise ValueError(f"unknown parameterisation {kind!r}; valid: {', '.join(KINDS)}")
