"""Run a training script as a user would, in a process of its own: torch and oneDNN take the script's
kernel cap only before their first use, which this test process is long past."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from convis_widgets.models.training import SHIPPED_CPU_KERNELS


def trained_by_script(module: str, out: Path, timeout_s: float = 400) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict `python -m <module> --out <out>` writes, and what it printed; the environment
    sets no kernel cap of its own, so the script's own cap is what is tested."""
    env = {k: v for k, v in os.environ.items() if k not in SHIPPED_CPU_KERNELS}
    done = subprocess.run([sys.executable, "-m", module, "--out", str(out)], env=env, capture_output=True,
                          text=True, timeout=timeout_s, check=False)
    assert done.returncode == 0, done.stderr
    return torch.load(out, weights_only=True), done.stdout


def same_weights(trained: dict[str, torch.Tensor], shipped: dict[str, torch.Tensor]) -> bool:
    """Whether two state dicts hold the same tensors, bit for bit."""
    return trained.keys() == shipped.keys() and all(torch.equal(trained[k], shipped[k]) for k in shipped)


def _pinned_torch() -> str:
    """The torch version of constraints.txt, which the shipped weights were trained with."""
    constraints = Path(__file__).resolve().parents[2] / "constraints.txt"
    return next(line.split("==")[1].strip() for line in constraints.read_text().splitlines()
                if line.startswith("torch=="))


PINNED_TORCH = _pinned_torch()
needs_pinned_torch = pytest.mark.skipif(
    torch.__version__.split("+")[0] != PINNED_TORCH,
    reason=f"bit for bit only with the pinned torch {PINNED_TORCH} (constraints.txt): other releases may "
           "draw other dropout noise from the same seed (2.3.1 does) or round conv sums differently")
