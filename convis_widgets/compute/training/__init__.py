"""Training runs as iterators of records, and first-layer comparisons (3x3 against 9x9, after the
course report "Autoencoders – Deep Networks Visualizations").

A run yields a :class:`Record` per epoch (and, if asked, every k batches): losses, time, the
first-layer filters, per-channel statistics of the first layer's activation and a fixed probe
image's reconstruction or activation. Runs stop between batches when cancelled, stop (and say
why) when the loss stops being finite, and are saved as JSON history plus a state dict.

Modules: :mod:`.config` (the schedule, :class:`TrainConfig`), :mod:`.data` (inputs, checked),
:mod:`.seeding` (a run's own generators), :mod:`.trainer` (the one training loop),
:mod:`.run` (:func:`train_run`), :mod:`.comparison` (:func:`compare_first_kernels`),
:mod:`.records` (records and files), :mod:`.saved` (saved comparisons, and those of other seeds),
:mod:`.report` (summaries, the spread over the last epochs or seeds and the verdict that says
"within noise" inside it),
:mod:`.builtins` (default model and data per kind, registered by ``import convis_widgets``).
This package needs torch + numpy only; it never changes the model you pass, nor torch's
global random generator, thread count or deterministic-algorithms setting.
"""

import os

import torch

from ..cancel import Cancel
from .builtins import Builtin, builtin, register_builtin
from .comparison import Comparison, check_kernels, compare_first_kernels, data_folder, settings_name
from .config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_KERNELS,
    DEFAULT_LR,
    DEFAULT_OUT_DIR,
    KINDS,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
)
from .data import HELD_OUT_FRACTION, Data, Pair, as_tensors, split_held_out, train_and_held_out
from .records import FORMAT, NotARunError, Record, Run, RunLoadWarning, load_run, load_runs
from .report import (
    LAST_EPOCHS,
    MIN_EPOCHS,
    NOISE_SE,
    Difference,
    RunSummary,
    Spread,
    compare,
    pooled,
    spread,
    summarize,
    verdict,
)
from .run import Training, train_run
from .saved import other_seeds, saved_comparisons, settings_and_date
from .seeding import SeededRandom
from .trainer import EVAL_BATCH_SIZE, Loss, Trainer, TrainingDiverged, first_layers, random_shift


def default_threads() -> int:
    """The thread count torch uses, within the machine's cores (for a script to pass to
    torch.set_num_threads)."""
    return max(1, min(torch.get_num_threads(), os.cpu_count() or 1))


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_EPOCHS",
    "DEFAULT_KERNELS",
    "DEFAULT_LR",
    "DEFAULT_OUT_DIR",
    "EVAL_BATCH_SIZE",
    "FORMAT",
    "HELD_OUT_FRACTION",
    "KINDS",
    "LAST_EPOCHS",
    "MIN_EPOCHS",
    "NOISE_SE",
    "OPTIMIZERS",
    "SCHEDULES",
    "Builtin",
    "Cancel",
    "Comparison",
    "Data",
    "Difference",
    "Loss",
    "NotARunError",
    "Pair",
    "Record",
    "Run",
    "RunLoadWarning",
    "RunSummary",
    "SeededRandom",
    "Spread",
    "TrainConfig",
    "Trainer",
    "Training",
    "TrainingDiverged",
    "as_tensors",
    "builtin",
    "check_kernels",
    "compare",
    "compare_first_kernels",
    "data_folder",
    "default_threads",
    "first_layers",
    "load_run",
    "load_runs",
    "other_seeds",
    "pooled",
    "random_shift",
    "register_builtin",
    "saved_comparisons",
    "settings_and_date",
    "settings_name",
    "split_held_out",
    "spread",
    "summarize",
    "train_and_held_out",
    "train_run",
    "verdict",
]
