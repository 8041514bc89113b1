"""Overhead of the compute core against the plain-torch limit, measured in the same run.

* `activations()` (input checks, state guard, hooks, clones) against a bare `model(x)` under
  `torch.no_grad()`, for one image (the widget's case) and a batch of 64;
* `channel_statistics()` over the built-in test digits against a bare forward loop over the same
  batches that keeps only the hooked layer's output.

Prints each time and the ratio (ours / plain torch): 1.0 means no overhead.
Run: `python benchmarks/probe.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from convis_widgets.compute.activations import activations
from convis_widgets.compute.stats import channel_statistics
from convis_widgets.data import digits
from convis_widgets.models import pretrained_digits_cnn


def best_time(fn: Callable[[], object], repeat: int = 7, number: int = 20) -> float:
    """Best mean wall time of `number` calls over `repeat` rounds (timeit's convention)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def main() -> None:
    torch.set_num_threads(2)
    model = pretrained_digits_cnn()
    test = digits("test")
    rows = []
    for n in (1, 64):
        x = test.images[:n]

        def bare(x=x):
            with torch.no_grad():
                return model(x)

        ours = best_time(lambda x=x: activations(model, x, ["conv2", "relu3"]))
        plain = best_time(bare)
        rows.append((f"activations, batch {n}", ours, plain))

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

    ours = best_time(lambda: channel_statistics(model, "relu2", test.images, batch_size=64),
                     number=3)
    plain = best_time(bare_stats, number=3)
    rows.append((f"channel_statistics, {len(test)} images", ours, plain))

    print(f"{'case':38s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>6s}")
    for name, a, b in rows:
        print(f"{name:38s} {a * 1e3:9.2f} {b * 1e3:9.2f} {a / b:6.2f}")


if __name__ == "__main__":
    main()
