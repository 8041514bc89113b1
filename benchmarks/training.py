"""Cost of the training-run machinery against plain torch, and the wall time of the default comparison.

* images/s of `train_run` (records, per-epoch held-out pass on an eval-mode view with activation
  statistics and probe, filter snapshots, the run's own random generators supplied to every forward
  by a torch function mode, cancel check, no saving) against a bare torch loop on
  the same SeedCNN, data, batches and Adam settings in the same process: once a loop that only
  trains, once one that also computes the held-out loss each epoch. Target: >= 90% of the bare loop.
* wall time of `compare_first_kernels("classifier")` with its defaults (3x3 against 9x9 on the
  built-in digits, saved to a temporary folder). Target: < 60 s on 2 cores.

Run: `python benchmarks/training.py` (timings on a shared machine are noisy: run it twice).
"""

from __future__ import annotations

import os
import tempfile
import time

import torch
import torch.nn.functional as F

from convis_widgets.compute.training import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    compare_first_kernels,
    train_run,
)
from convis_widgets.data import digits
from convis_widgets.models import SeedCNN

EPOCHS = 4


def ours(train, val) -> float:
    t0 = time.perf_counter()
    for _ in train_run(lambda: SeedCNN(), train, val, epochs=EPOCHS, out_dir=None):
        pass
    return time.perf_counter() - t0


def bare(train, val, *, held_out: bool) -> float:
    """The same schedule written as plainly as torch allows."""
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = SeedCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=DEFAULT_LR)
    shuffle = torch.Generator().manual_seed(0)
    for _ in range(EPOCHS):
        model.train()
        total = 0.0
        for idx in torch.randperm(len(train), generator=shuffle).split(DEFAULT_BATCH_SIZE):
            loss = F.cross_entropy(model(train.images[idx]), train.labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        if held_out:
            model.eval()
            with torch.no_grad():
                F.cross_entropy(model(val.images), val.labels).item()
    return time.perf_counter() - t0


def main() -> None:
    threads = max(1, min(torch.get_num_threads(), os.cpu_count() or 1))
    torch.set_num_threads(threads)  # a script's choice: the library never sets it
    train, val = digits("train"), digits("test")
    images = EPOCHS * len(train)
    ours(train, val)  # warm up
    times: dict[str, list[float]] = {"ours": [], "bare": [], "bare+held-out": []}
    for _ in range(3):  # interleaved, best of 3: the machine is shared
        times["ours"].append(ours(train, val))
        times["bare"].append(bare(train, val, held_out=False))
        times["bare+held-out"].append(bare(train, val, held_out=True))
    best = {k: min(v) for k, v in times.items()}
    print(f"run loop vs bare torch: SeedCNN 3x3, {len(train)} digits x {EPOCHS} epochs, batch "
          f"{DEFAULT_BATCH_SIZE}, {threads} threads")
    for name, seconds in best.items():
        print(f"  {name:14s} {seconds:6.2f} s  {images / seconds:8.0f} images/s")
    for name in ("bare", "bare+held-out"):
        print(f"  ours / {name:14s} {best[name] / best['ours']:.0%} of its images/s")

    for _ in range(2):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            n = sum(1 for _ in compare_first_kernels("classifier", out_dir=out))
            wall = time.perf_counter() - t0
        print(f"default comparison (classifier, 3x3 vs 9x9, digits, {DEFAULT_EPOCHS} epochs, saved): "
              f"{wall:.1f} s wall, {n} records")


if __name__ == "__main__":
    main()
