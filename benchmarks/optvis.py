"""Feature visualisation against a Lucent-style reference loop, measured in the same run.

* one channel of conv3 of the pretrained digits CNN at 28 px with transforms: `optvis.run` (pixel
  parameterisation, RMS-normalised ascent, jitter 2 / zoom +-5% / rotation +-5 degrees in one
  warp, blur every 4 steps, clipping) against the reference run one channel at a time;
* the whole third layer (conv3, 128 maps, as in the CNN of R. Mönchmeyer's "A simple CNN for the
  MNIST dataset" series) at 256 steps:
  `optvis.gallery` (all maps as one batch, precursor search and the data-set maximum
  included) against the reference batched (one image per map, image i maximising map i);
* a VGG16-shaped model (138M random weights, 224 px; `tests/large_models.py`), one channel of an
  early and of a middle layer: `optvis.run` with `Settings.imagenet()` (Lucent's start,
  parameterisation, Adam and transforms) against the reference on the same model, layer and
  transforms (ours: the pad, then jitter, zoom and rotation in one warp; Lucent's second jitter
  of 4 px left out), the reference running the whole model as Lucent does. Rounds alternate (the
  machine is noisy) and the fastest round of each counts.

The reference is Lucent's recipe written out in plain torch: FFT parameterisation with 1/f
scaling (colour decorrelation needs 3 channels, so the 1-channel digits skip it) and sigmoid,
transforms pad 12 (0.5), jitter 8, scale 0.9-1.1 ("random_scale([1 + (i - 5) / 50. for i in
range(11)])"), rotate +-10 degrees, jitter 4, Adam lr 0.05, forward hooks on every module as
Lucent's hook_model does. Lucent runs the whole model; the padded 56-px image would not fit this
model's fc1, so the reference stops its forward pass after the target layer, as ours does; on the
VGG16-shaped model (adaptive pooling before its classifier) it runs the whole model, as Lucent does.

Prints per-step times and ratios (ours / reference; the targets are <= 0.5). Run:
`python benchmarks/optvis.py [--device cuda] [--threads N] [--skip-vgg]`.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from convis_widgets.compute import optvis
from convis_widgets.compute.optvis import objectives as obj
from convis_widgets.data import digits
from convis_widgets.models import pretrained_digits_cnn

LAYER = "conv3"
STEPS = 256
OURS = dict(jitter=2, scale=0.05, rotate=5.0)  # our transforms for small models
VGG_LAYERS = ("features.8", "features.15")  # relu2_2 (128x112x112) and relu3_3 (256x56x56)
VGG_CHANNEL = 7
VGG_STEPS = 8
VGG_ROUNDS = 3


class _Stop(Exception):
    pass


def _lucent_image(batch: int, c: int, h: int, w: int, device: torch.device) -> tuple[torch.Tensor, Any]:
    """Lucent's fft_image + to_valid_rgb (sigmoid; decorrelation only for 3 channels)."""
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    freqs = torch.sqrt(fx * fx + fy * fy)
    scale = (1.0 / torch.clamp(freqs, min=1.0 / max(w, h))).to(device)[None, None, ..., None]
    spectrum = (torch.randn(batch, c, h, w // 2 + 1, 2) * 0.01).to(device).requires_grad_(True)
    svd = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], device=device)
    colour = svd / svd.norm(dim=0).max()

    def image() -> torch.Tensor:
        x = torch.fft.irfftn(torch.view_as_complex(scale * spectrum), s=(h, w), norm="ortho") / 4.0
        if c == 3:
            x = torch.einsum("ij,bjhw->bihw", colour, x)
        return torch.sigmoid(x)

    return spectrum, image


def _translate(x: torch.Tensor, dx: float, dy: float) -> torch.Tensor:
    rows = [[1.0, 0.0, -2 * dx / x.shape[-1]], [0.0, 1.0, -2 * dy / x.shape[-2]]]
    theta = torch.tensor(rows, device=x.device)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def _rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]], device=x.device)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def _scale(x: torch.Tensor, factor: float) -> torch.Tensor:
    h, w = x.shape[-2:]
    size = [math.ceil(factor * h), math.ceil(factor * w)]
    pad_y, pad_x = max(0, math.ceil((h - size[0]) / 2)), max(0, math.ceil((w - size[1]) / 2))
    return F.pad(F.interpolate(x, size=size, mode="bilinear", align_corners=True), [pad_y, pad_x] * 2)


def lucent_transforms(x: torch.Tensor) -> torch.Tensor:
    """Lucent's standard_transforms: pad 12, jitter 8, random scale, random rotate, jitter 4."""
    x = F.pad(x, [12] * 4, value=0.5)
    x = _translate(x, random.choice(range(8)), random.choice(range(8)))
    x = _scale(x, random.choice([1 + (i - 5) / 50.0 for i in range(11)]))
    x = _rotate(x, random.choice(list(range(-10, 11)) + 5 * [0]))
    return _translate(x, random.choice(range(4)), random.choice(range(4)))


def reference(model: nn.Module, channels: list[int], steps: int, layer: str = LAYER,
              shape: tuple[int, int, int] = (1, 28, 28), whole_model: bool = False) -> float:
    """Seconds per step of the Lucent-style loop maximising map channels[i] of ``layer`` with image i;
    the forward stops after ``layer`` unless ``whole_model`` (as Lucent runs it)."""
    device = next(model.parameters()).device
    spectrum, image = _lucent_image(len(channels), *shape, device)
    opt = torch.optim.Adam([spectrum], lr=0.05)
    features: dict[str, torch.Tensor] = {}
    handles = []
    target = dict(model.named_modules())[layer]

    def hook(name: str, module: nn.Module) -> Any:
        def store(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
            features[name] = out
            if module is target and not whole_model:
                raise _Stop

        return store

    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(hook(name, module)))
    idx = torch.tensor(channels, device=device)
    rows = torch.arange(len(channels), device=device)
    try:
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad()
            try:
                model(lucent_transforms(image()))
            except _Stop:
                pass
            loss = -features[layer][rows, idx].mean(dim=(1, 2)).sum()
            loss.backward()
            opt.step()
        _sync(device)
        return (time.perf_counter() - t0) / steps
    finally:
        for h in handles:
            h.remove()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ours_single(model: nn.Module, channel: int, steps: int) -> float:
    device = next(model.parameters()).device
    _sync(device)
    t0 = time.perf_counter()
    for _ in optvis.run(model, obj.channel(LAYER, channel), (1, 28, 28), steps=steps, **OURS):
        pass
    _sync(device)
    return (time.perf_counter() - t0) / steps


def ours_imagenet(model: nn.Module, layer: str, channel: int, steps: int) -> float:
    """Seconds per step of `optvis.run` with `Settings.imagenet()` on a 3x224x224 model."""
    device = next(model.parameters()).device
    settings = optvis.Settings.imagenet(steps=steps)
    _sync(device)
    t0 = time.perf_counter()
    for _ in optvis.run(model, obj.channel(layer, channel), (3, 224, 224), settings=settings):
        pass
    _sync(device)
    return (time.perf_counter() - t0) / steps


def vgg_rows(device: str) -> list[tuple[str, float, float]]:
    """Ours against the whole-model reference on the VGG16-shaped model, fastest of alternating rounds."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from large_models import vgg16_shaped

    model = vgg16_shaped().to(device)
    ours_imagenet(model, VGG_LAYERS[0], VGG_CHANNEL, 2)  # warm up
    reference(model, [VGG_CHANNEL], 2, VGG_LAYERS[0], (3, 224, 224), whole_model=True)
    rows = []
    for layer in VGG_LAYERS:
        ours, ref = [], []
        for _ in range(VGG_ROUNDS):
            ours.append(ours_imagenet(model, layer, VGG_CHANNEL, VGG_STEPS))
            ref.append(reference(model, [VGG_CHANNEL], VGG_STEPS, layer, (3, 224, 224), whole_model=True))
        print(f"  {layer}: ours {[round(t * 1e3) for t in ours]} ms/step, "
              f"reference {[round(t * 1e3) for t in ref]} ms/step")
        rows.append((f"VGG16-shaped {layer}, 224 px, one channel", min(ours), min(ref)))
    return rows


def ours_layer(model: nn.Module, steps: int, data: Any) -> tuple[float, optvis.Gallery]:
    device = next(model.parameters()).device
    _sync(device)
    t0 = time.perf_counter()
    res = optvis.gallery(model, LAYER, (1, 28, 28), steps=steps, data=data, **OURS)
    _sync(device)
    return (time.perf_counter() - t0) / steps, res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-vgg", action="store_true",
                        help="leave out the VGG16-shaped rows (minutes on a CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    random.seed(0)
    torch.manual_seed(0)
    model = pretrained_digits_cnn().to(args.device)
    data = digits("train")
    maps = list(range(model.conv3.out_channels))
    ours_single(model, 5, 16)  # warm up
    reference(model, [5], 16)

    single_ours = min(ours_single(model, c, STEPS) for c in (5, 12, 27))
    single_ref = min(reference(model, [c], STEPS) for c in (5, 12, 27))
    layer_ours, res = ours_layer(model, STEPS, data)
    layer_ref = reference(model, maps, STEPS)
    alive = res.responded
    beat = (res.value > res.dataset_max) & alive if res.dataset_max is not None else alive & False

    vgg: list[tuple[str, float, float]] = []
    if not args.skip_vgg:
        print(f"VGG16-shaped model, {VGG_STEPS} steps, {VGG_ROUNDS} alternating rounds:")
        vgg = vgg_rows(args.device)
    print(f"device {args.device}, {torch.get_num_threads()} threads, {STEPS} steps ({VGG_STEPS} on VGG)")
    print(f"{'case':48s} {'ours ms/step':>13s} {'reference':>10s} {'ratio':>6s}")
    rows = [
        ("one channel, 28 px, with transforms", single_ours, single_ref),
        (f"whole {LAYER} ({len(maps)} maps), batched", layer_ours, layer_ref),
        (f"whole {LAYER}, ours batched vs ref one at a time", layer_ours, single_ref * len(maps)),
    ]
    rows += vgg
    for name, a, b in rows:
        print(f"{name:48s} {a * 1e3:13.2f} {b * 1e3:10.2f} {a / b:6.2f}")
    print(f"{LAYER}: {int(alive.sum())} of {len(maps)} maps responded; {int(beat.sum())} of them beat the "
          f"highest activation over the built-in digits train set")


if __name__ == "__main__":
    main()
