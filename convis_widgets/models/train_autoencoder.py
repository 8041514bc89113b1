"""Reproduce the shipped digits autoencoder's weights: python -m convis_widgets.models.train_autoencoder."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ..data import digits
from .pretrained import AUTOENCODER_WEIGHTS
from .scripts import set_up_training_process, training_parser
from .training import (
    AUTOENCODER_EPOCHS,
    AUTOENCODER_LR,
    AUTOENCODER_WEIGHT_DECAY,
    train_digits_autoencoder,
)

SHIPPED_SEED = 0
DEFAULT_OUT = Path(__file__).parent / "weights" / AUTOENCODER_WEIGHTS


def main(argv: list[str] | None = None) -> None:
    """Train on digits("train"), print each epoch's losses, save the state dict to --out."""
    parser = training_parser(__doc__, out=DEFAULT_OUT, seed=SHIPPED_SEED, epochs=AUTOENCODER_EPOCHS,
                             lr=AUTOENCODER_LR, weight_decay=AUTOENCODER_WEIGHT_DECAY)
    args = parser.parse_args(argv)
    set_up_training_process(args.threads)

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
