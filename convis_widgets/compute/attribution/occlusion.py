"""Occlusion: how much the target score drops when a window of the image is replaced by a baseline.

Same definition as ``captum.attr.Occlusion`` with a window spanning all channels: windows
start every ``stride`` pixels, the last one in each direction may stick out past the border
(it is clipped), and each pixel's attribution is the mean drop over the windows covering it.
Positions run in batches sized to a memory budget; the convolutional front of the network
is recomputed only inside each window's receptive-field cone when it can be (see
:mod:`.incremental`), with the same results as plain batching.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._compat import keyword_only
from ..access import ModelAccess, first_tensor, open_model, output_bytes
from ..cancel import Cancel, check, stopper
from ..errors import InputError
from ..inputs import ImageData, Images, check_images, data_images
from .incremental import IncrementalOcclusion, incremental_runner
from .targets import Target, class_scores, pick, resolve_targets

Baseline = float | int | str | torch.Tensor | np.ndarray
Progress = Callable[[int, int], None]
Size = int | tuple[int, int] | list[int]
"""A window or stride: one int for both directions, or (height, width)."""
MEMORY_BUDGET = 512 * 2**20  # bytes of activations one batch of patched images may take
MAX_BATCH = 512


def _size_pair(value: object, what: str) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{what} must be an int or a (height, width) pair of ints; got {value!r}")
    return int(pair[0]), int(pair[1])


def check_window(
    image_size: Sequence[int], window: Size, stride: Size
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Validate a window and stride against an image's (height, width); return them as pairs."""
    win, step = _size_pair(window, "window"), _size_pair(stride, "stride")
    h, w = int(image_size[0]), int(image_size[1])
    if min(win) < 1:
        raise ValueError(f"window must be at least 1x1 pixels; got {win}")
    if win[0] > h or win[1] > w:
        raise ValueError(f"window {win} is larger than the image ({h}, {w}); use at most ({h}, {w})")
    if min(step) < 1:
        raise ValueError(f"stride must be at least 1 pixel in each direction; got {step}")
    for axis, name in ((0, "height"), (1, "width")):
        if step[axis] > win[axis] and win[axis] < (h, w)[axis]:
            raise ValueError(
                f"stride {step} is larger than the window {win} in {name}: pixels between windows would "
                "never be occluded; use a stride of at most the window size"
            )
    return win, step


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Top (or left) edge of every window along one axis, as Captum places them."""
    count = math.ceil((size - window) / stride) + 1
    return [k * stride for k in range(count)]


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Each channel blurred with a Gaussian of ``sigma`` pixels (edges replicated)."""
    if not sigma > 0:
        raise ValueError(f"blur sigma must be > 0 pixels; got {sigma!r}")
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = images.shape[1]
    x = F.pad(images, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def make_baseline(
    images: torch.Tensor, baseline: Baseline, *, data: ImageData | None = None, sigma: float | None = None
) -> torch.Tensor:
    """The values a window is filled with, one (C, H, W) per image.

    ``baseline``: a number; "mean" (each channel's mean over ``data``, default the images
    themselves); "blur" (a Gaussian-blurred copy of each image, ``sigma`` pixels, default
    image size / 14); or a tensor broadcastable to the images.
    """
    if isinstance(baseline, str):
        if baseline == "mean":
            ref = (
                images if data is None else check_images(data_images(data), device=images.device)
            )
            if ref.shape[1] != images.shape[1]:
                raise InputError(
                    f"data for the mean baseline has {ref.shape[1]} channels; images have {images.shape[1]}"
                )
            mean = ref.to(images.dtype).mean(dim=(0, 2, 3)).view(1, -1, 1, 1)
            return mean.expand_as(images).clone()
        if baseline == "blur":
            s = sigma if sigma is not None else max(1.0, min(images.shape[2:]) / 14)
            return gaussian_blur(images, s)
        raise ValueError(f"baseline must be a number, 'mean', 'blur' or a tensor; got {baseline!r}")
    if isinstance(baseline, bool):
        raise ValueError(f"baseline must be a number, 'mean', 'blur' or a tensor; got {baseline!r}")
    if isinstance(baseline, (int, float)):
        if not math.isfinite(baseline):
            raise ValueError(
                f"baseline must be a finite number, 'mean', 'blur' or a tensor; got {baseline!r}"
            )
        return torch.full_like(images, float(baseline))
    if isinstance(baseline, (torch.Tensor, np.ndarray)):
        b = torch.as_tensor(baseline)
        numeric = b.is_floating_point() or b.dtype in (torch.int32, torch.int64)
        if not numeric or not bool(torch.isfinite(b).all()):
            raise ValueError(
                f"a baseline tensor must hold finite numbers; got dtype {b.dtype}"
                + (" with NaN or Inf values" if b.is_floating_point() else "")
            )
        b = b.to(device=images.device, dtype=images.dtype)
        try:
            return torch.broadcast_to(b, images.shape).clone()
        except RuntimeError:
            raise ValueError(
                f"a baseline tensor must broadcast to the images' shape {tuple(images.shape)}; "
                f"got shape {tuple(b.shape)}"
            ) from None
    raise ValueError(f"baseline must be a number, 'mean', 'blur' or a tensor; got {type(baseline).__name__}")


def patch(
    image: torch.Tensor,
    baseline: torch.Tensor,
    tops: torch.Tensor,
    lefts: torch.Tensor,
    window: tuple[int, int],
) -> torch.Tensor:
    """Copies of one (C, H, W) image, copy i with the window at (tops[i], lefts[i]) set to baseline."""
    h, w = image.shape[1:]
    rr = torch.arange(h, device=image.device)
    cc = torch.arange(w, device=image.device)
    in_rows = (rr >= tops[:, None]) & (rr < tops[:, None] + window[0])
    in_cols = (cc >= lefts[:, None]) & (cc < lefts[:, None] + window[1])
    mask = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]
    return torch.where(mask, baseline, image)


@dataclass(frozen=True)
class OcclusionResult:
    """Everything an occlusion run found, per image.

    ``drops[n, i, j]``: target score of the clean image minus with the window at
    (``rows[i]``, ``cols[j]``); ``attribution``: per pixel, the mean drop of the windows
    covering it (Captum's value); ``path``: "incremental" or "batched".
    """

    attribution: torch.Tensor
    drops: torch.Tensor
    clean: torch.Tensor
    targets: torch.Tensor
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    window: tuple[int, int]
    stride: tuple[int, int]
    path: str

    def cell(self, top: int, left: int) -> tuple[int, int]:
        """Index (i, j) into ``drops`` of the window position nearest to (top, left)."""
        i = min(range(len(self.rows)), key=lambda k: abs(self.rows[k] - top))
        j = min(range(len(self.cols)), key=lambda k: abs(self.cols[k] - left))
        return i, j


def _matches(runner: IncrementalOcclusion, access: ModelAccess, occluded: torch.Tensor) -> bool:
    """The incremental runner reproduces the model's own output for the first window position."""
    zero = torch.zeros(1, dtype=torch.long, device=occluded.device)
    want = first_tensor(access.forward(occluded))
    got = first_tensor(runner(zero))
    if got is None or want is None or got.shape != want.shape:
        return False
    tol = 1e-4 * float(want.abs().max()) + 1e-6
    return bool(torch.allclose(got, want, rtol=1e-4, atol=tol))


def _incremental(
    access: ModelAccess, image: torch.Tensor, base: torch.Tensor, tops: torch.Tensor, lefts: torch.Tensor,
    window: tuple[int, int], stop: Callable[[], bool],
) -> IncrementalOcclusion | None:
    """The incremental runner prepared for the first image, or None where it does not apply or does
    not reproduce the model's own output; ``stop`` is read between its two costly steps."""
    runner = incremental_runner(access.view)
    if runner is None or not runner.prepare(image, base, tops, lefts, window):
        return None
    check(stop, "occlusion")
    return runner if _matches(runner, access, patch(image, base, tops[:1], lefts[:1], window)) else None


def _check_batching(batch_size: int | None, seconds_per_batch: float | None) -> None:
    if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
        raise ValueError(f"batch_size must be an int >= 1 or None; got {batch_size!r}")
    if seconds_per_batch is not None and not seconds_per_batch > 0:
        raise ValueError(f"seconds_per_batch must be a number of seconds > 0 or None; "
                         f"got {seconds_per_batch!r}")


def _memory_batch(
    access: ModelAccess, x: torch.Tensor, runner: IncrementalOcclusion | None, n_pos: int
) -> int:
    """As many positions as fit in MEMORY_BUDGET, at most MAX_BATCH, evened out (no small last batch)."""
    full = output_bytes(access, x[:1])
    per_image = 2 * (runner.bytes_per_image(full) if runner is not None else full)
    batch_size = int(min(MAX_BATCH, max(1, MEMORY_BUDGET // per_image)))
    return -(-n_pos // -(-n_pos // batch_size))


@keyword_only(3, "window", "stride", "baseline")
def occlusion_map(
    model: nn.Module,
    images: Images,
    target: Target = None,
    *,
    window: Size = (4, 4),
    stride: Size = (1, 1),
    baseline: Baseline = 0.0,
    data: ImageData | None = None,
    sigma: float | None = None,
    probabilities: bool = False,
    batch_size: int | None = None,
    incremental: bool = True,
    progress: Progress | None = None,
    cancel: Cancel = None,
    partial: Callable[[torch.Tensor], None] | None = None,
    seconds_per_batch: float | None = None,
) -> OcclusionResult:
    """Occlude every window position of every image; the per-position drops and per-pixel attribution.

    ``window`` and ``stride`` are (height, width) or one int; ``baseline`` as for
    :func:`make_baseline` (``data`` and ``sigma`` go to it). ``batch_size`` patched images run at
    a time (default: as many as fit in MEMORY_BUDGET, at most MAX_BATCH, evened out over the
    batches; the incremental path needs far less memory). ``incremental=False`` forces plain
    batching. ``progress(done, total)`` is called and ``cancel`` read after each batch; before them
    ``partial(drops)`` gets a copy of the drops so far, (images, rows, cols) with NaN where not yet
    computed, so a caller can show what a stopped run reached. ``seconds_per_batch``: batches start
    at one position and are resized after each so that one takes about this long (``batch_size``
    stays the most), so a ``cancel`` is read that often even on a large model.
    """
    _check_batching(batch_size, seconds_per_batch)
    stop = stopper(cancel)
    access = open_model(model)
    x = check_images(images, model=model)
    win, step = check_window(x.shape[2:], window, stride)
    base = make_baseline(x, baseline, data=data, sigma=sigma)
    rows = window_starts(x.shape[2], win[0], step[0])
    cols = window_starts(x.shape[3], win[1], step[1])
    n_pos = len(rows) * len(cols)
    index = torch.arange(n_pos, device=x.device)
    tops = torch.tensor(rows, device=x.device)[index // len(cols)]
    lefts = torch.tensor(cols, device=x.device)[index % len(cols)]
    drops = torch.full((len(x), n_pos), math.nan, dtype=x.dtype, device=x.device)
    with torch.no_grad():
        clean_scores = class_scores(access.forward(x), probabilities=probabilities)
        targets = resolve_targets(target, clean_scores)
        clean = pick(clean_scores, targets)
        check(stop, "occlusion")  # each step of the setup costs a forward or two on a large model
        runner = _incremental(access, x[0], base[0], tops, lefts, win, stop) if incremental else None
        check(stop, "occlusion")
        if batch_size is None:
            batch_size = _memory_batch(access, x, runner, n_pos)
        size = batch_size if seconds_per_batch is None else 1  # timed batches grow from one position
        for n in range(len(x)):
            if runner is not None and n > 0:
                runner.prepare(x[n], base[n], tops, lefts, win)
            start = 0
            while start < n_pos:
                idx = index[start : start + size]
                began = time.perf_counter()
                if runner is not None:
                    out = runner(idx)
                else:
                    out = access.forward(patch(x[n], base[n], tops[idx], lefts[idx], win),
                                         what=f"a batch of {len(idx)} occluded images")
                scores = class_scores(out, probabilities=probabilities)
                drops[n, idx] = clean[n] - scores[:, targets[n]]
                if partial is not None:
                    partial(drops.view(len(x), len(rows), len(cols)).clone())
                start += len(idx)
                if seconds_per_batch is not None:
                    drops[n, start - 1].item()  # waits for the device: the time is the batch's own
                    size = timed_batch(len(idx), time.perf_counter() - began, seconds_per_batch, batch_size)
                if progress is not None:
                    progress(n * n_pos + start, len(x) * n_pos)
                check(stop, "occlusion")
    grid = drops.view(len(x), len(rows), len(cols))
    attribution = attribution_from_drops(grid, rows, cols, win, tuple(x.shape[1:]))
    return OcclusionResult(
        attribution,
        grid,
        clean,
        targets,
        tuple(rows),
        tuple(cols),
        win,
        step,
        "incremental" if runner is not None else "batched",
    )


def timed_batch(done: int, seconds: float, target: float, most: int) -> int:
    """The next batch size after ``done`` positions took ``seconds``: about ``target`` seconds' worth
    at that pace, at most twice the last batch (a fast first batch may be a warm cache) and ``most``."""
    fit = math.floor(done * target / seconds) if seconds > 0 else most
    return max(1, min(fit, 2 * done, most))


def attribution_from_drops(
    drops: torch.Tensor,
    rows: Sequence[int],
    cols: Sequence[int],
    window: tuple[int, int],
    image_shape: Sequence[int],
) -> torch.Tensor:
    """Per-pixel mean of the drops (N, rows, cols) of the windows covering each pixel: (N, C, H, W)."""
    c, h, w = (int(s) for s in image_shape)
    dev, dt = drops.device, drops.dtype
    rr, cc = torch.arange(h, device=dev), torch.arange(w, device=dev)
    top = torch.tensor(list(rows), device=dev)[:, None]
    left = torch.tensor(list(cols), device=dev)[:, None]
    row_mask = ((rr >= top) & (rr < top + window[0])).to(dt)
    col_mask = ((cc >= left) & (cc < left + window[1])).to(dt)
    total = row_mask.T @ drops @ col_mask
    count = row_mask.sum(0)[:, None] * col_mask.sum(0)[None, :]
    return (total / count)[:, None].expand(-1, c, -1, -1).contiguous()


@keyword_only(3, "window", "stride", "baseline")
def occlusion(
    model: nn.Module,
    images: Images,
    target: Target = None,
    *,
    window: Size = (4, 4),
    stride: Size = (1, 1),
    baseline: Baseline = 0.0,
    data: ImageData | None = None,
    sigma: float | None = None,
    probabilities: bool = False,
    batch_size: int | None = None,
    incremental: bool = True,
    progress: Progress | None = None,
    cancel: Cancel = None,
) -> torch.Tensor:
    """Per-pixel occlusion attribution shaped like ``images`` (Captum's ``Occlusion`` value);
    the arguments are those of :func:`occlusion_map`."""
    return occlusion_map(model, images, target, window=window, stride=stride, baseline=baseline, data=data,
                         sigma=sigma, probabilities=probabilities, batch_size=batch_size,
                         incremental=incremental, progress=progress, cancel=cancel).attribution
