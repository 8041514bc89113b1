"""What the training scripts (train_pretrained, train_autoencoder) share: their common options and
the process state a script may set before it trains (the library never sets it)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .training import SHIPPED_THREADS, use_shipped_cpu_kernels


def training_parser(description: str | None, *, out: Path, seed: int, epochs: int, lr: float,
                    weight_decay: float) -> argparse.ArgumentParser:
    """A parser with --out, --seed, --epochs, --lr, --weight-decay and --threads, defaulting to the
    shipped weights' recipe; a script adds its own options to it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=out, help="where to write the .pt")
    parser.add_argument("--seed", type=int, default=seed,
                        help="the run's seed (the shipped weights: %(default)s)")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--weight-decay", type=float, default=weight_decay)
    parser.add_argument("--threads", type=int, default=SHIPPED_THREADS,
                        help="torch's thread count (the shipped weights: %(default)s)")
    return parser


def set_up_training_process(threads: int) -> None:
    """The shipped weights' CPU kernels and thread count, before any tensor work of the script."""
    use_shipped_cpu_kernels()
    torch.set_num_threads(threads)
