"""Cost of the safe way into the model against plain torch, measured in the same run.

* `activations()` (input checks, the private view of the model, hooks, clones) against a bare
  `model(x)` under `torch.no_grad()`, for one image (the widget's case) and a batch of 64;
* `channel_statistics()` over the built-in test digits against a bare forward loop over the same
  batches that keeps only the hooked layer's output;
* a 256-step `optvis.run` (pixel parameterisation, every regulariser off, no precursor) against
  a bare gradient-ascent loop on the image with one forward hook that stops the pass.

Ours and plain torch are timed in alternation and each case reports the median of the per-round
ratios (ours / plain torch; 1.0 means no overhead), so other work on the machine cancels out.
Run: `python benchmarks/probe.py [--rounds N]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from convis_widgets.compute import optvis
from convis_widgets.compute.activations import activations
from convis_widgets.compute.optvis import objectives
from convis_widgets.compute.stats import channel_statistics
from convis_widgets.data import digits
from convis_widgets.models import pretrained_digits_cnn


def mean_time(fn: Callable[[], object], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def compare(ours: Callable[[], object], plain: Callable[[], object], rounds: int, number: int
            ) -> tuple[float, float, float]:
    """(best ours s, best plain s, median ratio) over ``rounds`` alternating rounds."""
    ours(), plain()
    a, b = [], []
    for _ in range(rounds):
        a.append(mean_time(ours, number))
        b.append(mean_time(plain, number))
    return min(a), min(b), statistics.median(x / y for x, y in zip(a, b, strict=True))


class _Stop(Exception):
    pass


def bare_ascent(model: torch.nn.Module, layer: str, channel: int, steps: int, lr: float) -> torch.Tensor:
    """Seed 003's loop in plain torch: RMS-normalised gradient ascent on the image, pass stopped
    after the layer, image clipped to [0, 1]."""
    module = dict(model.named_modules())[layer]
    kept: list[torch.Tensor] = []

    def hook(mod: torch.nn.Module, args: object, out: torch.Tensor) -> None:
        kept.append(out)
        raise _Stop

    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    handle = module.register_forward_hook(hook)
    try:
        for _ in range(steps + 1):
            kept.clear()
            try:
                model(x)
            except _Stop:
                pass
            value = kept[0][:, channel].mean()
            (g,) = torch.autograd.grad(-value, x)
            with torch.no_grad():
                x -= lr * g / g.pow(2).mean().sqrt().clamp_min(1e-20)
                x.clamp_(0, 1)
    finally:
        handle.remove()
    return x.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = pretrained_digits_cnn()
    test = digits("test")
    rows = []
    for n in (1, 64):
        x = test.images[:n]

        def bare(x=x):
            with torch.no_grad():
                return model(x)

        rows.append((f"activations, batch {n}",
                     *compare(lambda x=x: activations(model, x, layer=["conv2", "relu3"]), bare, args.rounds,
                              20)))

    batches = [test.images[i:i + 64] for i in range(0, len(test), 64)]

    def bare_stats():
        out = []
        handle = model.relu2.register_forward_hook(lambda m, i, o: out.append(o.mean()))
        try:
            with torch.no_grad():
                for b in batches:
                    model(b)
        finally:
            handle.remove()

    rows.append((f"channel_statistics, {len(test)} images",
                 *compare(lambda: channel_statistics(model, test.images, layer="relu2", batch_size=64),
                          bare_stats, args.rounds, 3)))

    plain_settings = dict(steps=256, precursor=0, blur_every=0, init="normal", report="log")

    def ours_run():
        for _ in optvis.run(model, objectives.channel("relu3", 10), (1, 28, 28), **plain_settings):
            pass

    def plain_run():
        bare_ascent(model, "relu3", 10, 256, 0.02)

    rows.append(("optvis.run, 256 steps", *compare(ours_run, plain_run, max(3, args.rounds // 2), 1)))

    print(f"{'case':38s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>6s}")
    for name, a, b, ratio in rows:
        print(f"{name:38s} {a * 1e3:9.2f} {b * 1e3:9.2f} {ratio:6.2f}")


if __name__ == "__main__":
    main()
