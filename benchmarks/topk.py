"""Top-k pass against a bare `torch.no_grad()` forward loop, and its peak memory as the set grows.

* images/s of `top_k(model, layer, digits("train"))` (4,000 digits; input checks, the private
  view, the hook, the running top-k, the receptive-field crops) against a bare loop of
  `model(x)` over the same batches of the same size, timed in alternation; the median of the
  per-round ratios (ours / bare images per second; issue 14's target is >= 0.90);
* the pass's peak memory above what the process already held, for the set and the set repeated
  10 and 20 times (`REPEATS`), each in a fresh process (Linux: peak RSS reset through
  /proc/self/clear_refs), for the data held as one tensor and for batches streamed from an iterable
  (crops kept as they come).

Run: `python benchmarks/topk.py [--rounds N] [--layers conv3 conv1]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from convis_widgets.compute.topk import top_k
from convis_widgets.data import digits
from convis_widgets.models import pretrained_digits_cnn

BATCH = 256


def bare_loop(model: torch.nn.Module, images: torch.Tensor) -> None:
    with torch.no_grad():
        for start in range(0, len(images), BATCH):
            model(images[start:start + BATCH])


def speed(layer: str, rounds: int) -> tuple[float, float, float]:
    """(best top-k images/s, best bare images/s, median ratio) over alternating rounds."""
    model, data = pretrained_digits_cnn(), digits("train")
    n = len(data)
    top_k(model, layer, data, batch_size=BATCH)
    bare_loop(model, data.images)
    ours, bare = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        top_k(model, layer, data, batch_size=BATCH)
        t1 = time.perf_counter()
        bare_loop(model, data.images)
        t2 = time.perf_counter()
        ours.append(n / (t1 - t0))
        bare.append(n / (t2 - t1))
    return max(ours), max(bare), statistics.median(a / b for a, b in zip(ours, bare, strict=True))


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_case(kind: str, repeat: int, layer: str) -> None:
    """In this process: the pass's peak memory (bytes above the RSS before it), printed."""
    model, data = pretrained_digits_cnn(), digits("train")
    images = data.images.repeat(repeat, 1, 1, 1) if kind == "tensor" else data.images

    def stream() -> Iterator[torch.Tensor]:
        for _ in range(repeat):
            for start in range(0, len(images), BATCH):
                yield images[start:start + BATCH]

    source = images if kind == "tensor" else stream()
    top_k(model, layer, images[:BATCH])  # warm up allocator and libraries
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS to the current RSS
    before = _status("VmRSS")
    result = top_k(model, layer, source, batch_size=BATCH)
    print(result.seen, _status("VmHWM") - before)


REPEATS = (1, 10, 20)
"""The set, repeated 10 and 20 times. The RSS peak moves with glibc's malloc arenas, not with the
data: it rose from 1x to 10x in some runs and never from 10x to 20x (x0.76-1.04). With
MALLOC_ARENA_MAX=1, streamed: conv3 48.3 / 48.7 MiB at 1x / 10x; conv1 45 / 66 / 23 MiB at 1x / 10x
/ 20x (noise of tens of MiB, no trend)."""


def memory(kind: str, repeat: int, layer: str) -> tuple[int, int]:
    out = subprocess.run([sys.executable, __file__, "--memory-case", kind, str(repeat), layer],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layers", nargs="+", default=["conv3", "conv1"])
    parser.add_argument("--memory-case", nargs=3, metavar=("KIND", "REPEAT", "LAYER"))
    args = parser.parse_args()
    if args.memory_case:
        kind, repeat, layer = args.memory_case
        memory_case(kind, int(repeat), layer)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}, 4,000 train digits")
    for layer in args.layers:
        ours, bare, ratio = speed(layer, args.rounds)
        print(f"{layer}: top_k {ours:,.0f} images/s, bare forward {bare:,.0f} images/s, "
              f"median ratio {ratio:.2f} (target >= 0.90)")
    for kind in ("tensor", "stream"):
        for layer in args.layers:
            runs = [memory(kind, repeat, layer) for repeat in REPEATS]
            sizes = ", ".join(f"{n:,} images {m / 2**20:.1f} MiB" for n, m in runs)
            print(f"peak memory of the pass, {kind}, {layer}: {sizes} "
                  f"(10x: x{runs[1][1] / max(runs[0][1], 1):.2f}, 20x against 10x: "
                  f"x{runs[2][1] / max(runs[1][1], 1):.2f})")


if __name__ == "__main__":
    main()
