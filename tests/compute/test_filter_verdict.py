"""The filter verdict goes by how many filters are noisy, not by the mean smoothness."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from convis_widgets.compute.filters import NOISY_BELOW, NOISY_SHARE, filter_report, smoothness


def conv_with(bank: np.ndarray) -> nn.Module:
    """A one-layer model whose conv holds the filters ``bank`` (out, in, k, k)."""
    conv = nn.Conv2d(bank.shape[1], bank.shape[0], bank.shape[2], bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(bank))
    return nn.Sequential(conv)


def banks(n_noisy: int, n: int = 16) -> np.ndarray:
    """``n`` 5x5 filters: ramps (smoothness near 1), the first ``n_noisy`` of them checkerboards (pixel
    to pixel sign flips, smoothness near -1: the noisiest a filter can be)."""
    rng = np.random.default_rng(0)
    ramp = np.add.outer(np.arange(5.0), np.arange(5.0))
    checks = (-1.0) ** ramp
    bank = np.repeat(ramp[None, None], n, axis=0) + 0.01 * rng.normal(size=(n, 1, 5, 5))
    bank[:n_noisy] = checks + 0.01 * rng.normal(size=(n_noisy, 1, 5, 5))
    return bank


def test_half_noisy_filters_are_not_converged_even_when_the_mean_is_above_the_threshold():
    bank = banks(6)
    s = smoothness(bank)
    assert s.mean() > NOISY_BELOW and (s < NOISY_BELOW).sum() == 6  # the mean alone would say smooth
    report = filter_report(conv_with(bank), "0")
    assert report.verdict == (f"noisy filters (mean smoothness {report.mean:.2f}; 6 of 16 noisy, below "
                              f"{NOISY_BELOW:.2f}): not converged or weakly regularised")


def test_a_few_noisy_filters_are_mostly_converged_and_none_looks_converged():
    few = int(NOISY_SHARE * 16)  # 4 of 16: the most that still counts as mostly converged
    report = filter_report(conv_with(banks(few)), "0")
    assert report.verdict.endswith(f"{few} of 16 noisy, below {NOISY_BELOW:.2f}): mostly converged")
    report = filter_report(conv_with(banks(few + 1)), "0")
    assert report.verdict.endswith("not converged or weakly regularised")
    clean = filter_report(conv_with(banks(0)), "0")
    assert clean.verdict == f"smooth filters (mean smoothness {clean.mean:.2f}): looks converged"
