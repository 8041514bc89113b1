"""Reproduce the shipped digits autoencoder's weights: python -m convis_widgets.models.train_autoencoder."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from ..data import digits
from .pretrained import AUTOENCODER_WEIGHTS
from .training import (
    AUTOENCODER_EPOCHS,
    AUTOENCODER_LR,
    AUTOENCODER_WEIGHT_DECAY,
    SHIPPED_THREADS,
    train_digits_autoencoder,
    use_shipped_cpu_kernels,
)

SHIPPED_SEED = 0
DEFAULT_OUT = Path(__file__).parent / "weights" / AUTOENCODER_WEIGHTS


def main(argv: list[str] | None = None) -> None:
    """Train on digits("train"), print each epoch's losses, save the state dict to --out."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the .pt")
    parser.add_argument("--seed", type=int, default=SHIPPED_SEED,
                        help="the run's seed (the shipped weights: %(default)s)")
    parser.add_argument("--epochs", type=int, default=AUTOENCODER_EPOCHS)
    parser.add_argument("--lr", type=float, default=AUTOENCODER_LR)
    parser.add_argument("--weight-decay", type=float, default=AUTOENCODER_WEIGHT_DECAY)
    parser.add_argument("--threads", type=int, default=SHIPPED_THREADS,
                        help="torch's thread count (the shipped weights: %(default)s)")
    args = parser.parse_args(argv)
    use_shipped_cpu_kernels()  # before any tensor work
    torch.set_num_threads(args.threads)  # a script may set process state; the library never does

    train_set, test_set = digits("train"), digits("test")
    start = time.perf_counter()
    model = train_digits_autoencoder(train_set, seed=args.seed, epochs=args.epochs, lr=args.lr,
                                     weight_decay=args.weight_decay, num_threads=args.threads,
                                     test_set=test_set, log=print)
    elapsed = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    with torch.no_grad():
        error = float(((model(test_set.images) - test_set.images) ** 2).mean())
    print(f"test reconstruction MSE {error:.4f}, trained in {elapsed:.1f} s")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
