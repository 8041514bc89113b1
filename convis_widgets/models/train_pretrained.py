"""Reproduce the shipped digits weights: python -m convis_widgets.models.train_pretrained."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from ..compute.filters import filter_report
from ..compute.stats import channel_statistics
from ..data import digits
from .pretrained import DIGITS_WEIGHTS
from .scripts import set_up_training_process, training_parser
from .training import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_MAX_SHIFT,
    DEFAULT_WEIGHT_DECAY,
    evaluate,
    train_digits_cnn,
)

# Seed 1 rather than 0: seed 0 leaves 12 of conv3's 128 maps dead on the test digits (map 10 among
# them, which the notebooks and README show), seed 1 leaves 7.
SHIPPED_SEED = 1
DEFAULT_OUT = Path(__file__).parent / "weights" / DIGITS_WEIGHTS


def main(argv: list[str] | None = None) -> None:
    """Train on digits("train"), print progress and checks, save the state dict to --out."""
    parser = training_parser(__doc__, out=DEFAULT_OUT, seed=SHIPPED_SEED, epochs=DEFAULT_EPOCHS,
                             lr=DEFAULT_LR, weight_decay=DEFAULT_WEIGHT_DECAY)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--max-shift", type=int, default=DEFAULT_MAX_SHIFT)
    args = parser.parse_args(argv)
    set_up_training_process(args.threads)

    train_set, test_set = digits("train"), digits("test")
    start = time.perf_counter()
    model = train_digits_cnn(
        train_set,
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        max_shift=args.max_shift,
        num_threads=args.threads,
        test_set=test_set,
        log=print,
    )
    elapsed = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    print(f"test accuracy {evaluate(model, test_set):.2%}, trained in {elapsed:.1f} s")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    for layer in ("relu1", "relu2", "relu3"):
        print(f"{layer} on the test digits: {channel_statistics(model, test_set, layer=layer).summary()}")

    torch.manual_seed(args.seed)
    # 100 models' worth of first layers drawn with conv1's default initialisation.
    untrained = nn.Sequential(nn.Conv2d(1, 100 * model.conv1.out_channels, 3))
    print("first-layer smoothness (smooth filters mean a converged network, after the lecture notes\n"
          "'Visualizing and understanding CNNs'):")
    print(f"  trained     {filter_report(model, 'conv1').verdict}")
    print(f"  random init {filter_report(untrained, '0').verdict}")


if __name__ == "__main__":
    main()
