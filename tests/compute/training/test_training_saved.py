"""Saved comparisons: newest first by their folder's date, and those of the same settings with other
seeds (the verdict's run-to-run spread), on runs written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convis_widgets.compute.training import Record, Run, other_seeds, saved_comparisons, settings_and_date

SETTINGS = {"kind": "classifier", "model": "SeedCNN", "data": "digits-train", "epochs": 1, "lr": 0.003,
            "batch_size": 64, "kernels": [3, 9]}


def save_comparison(home: Path, date: str, seed: int, *, status: str = "finished", lr: float = 0.003,
                    kernels: tuple[int, ...] = (3, 9), **config_extra: object) -> list[Run]:
    """One saved comparison: a run per kernel, one epoch, in ``home/<settings>-seed<seed>-<date>``."""
    folder = home / f"{'-vs-'.join(f'{k}x{k}' for k in kernels)}-1ep-lr{lr:g}-b64-seed{seed}-{date}"
    runs = []
    for k in kernels:
        record = Record(f"{k}x{k}", 1, 0, 10, 10, 1.0, 0.5, np.zeros((2, 1, k, k), np.float32), val_loss=0.4,
                        val_accuracy=0.9, dead=np.zeros(2, bool), frac_zero=np.zeros(2))
        config = {**SETTINGS, "lr": lr, "kernels": list(kernels), "first_kernel": k, "seed": seed,
                  "probe_index": seed * 7, "num_threads": 1 + seed, **config_extra}
        run = Run(f"{k}x{k}", config, [record], status)
        run.save(folder)
        runs.append(run)
    return runs


def test_saved_comparisons_are_listed_newest_first_by_the_date_in_their_name(tmp_path):
    save_comparison(tmp_path, "20261203-120000", 0)
    save_comparison(tmp_path, "20261203-090000", 1)
    save_comparison(tmp_path, "20261203-120000-2", 2)  # the same second: the counter orders them
    assert [p.name.split("-b64-")[1] for p in saved_comparisons(tmp_path)] == [
        "seed2-20261203-120000-2", "seed0-20261203-120000", "seed1-20261203-090000"]
    assert saved_comparisons(tmp_path / "none") == []


def test_other_seeds_are_the_finished_comparisons_of_the_same_settings_saved_before(tmp_path):
    save_comparison(tmp_path, "20261203-100000", 1)
    save_comparison(tmp_path, "20261203-100500", 1)  # seed 1 again, newer: this one counts
    save_comparison(tmp_path, "20261203-101000", 2, status="cancelled")  # not finished
    save_comparison(tmp_path, "20261203-101500", 3, lr=0.001)  # other settings
    save_comparison(tmp_path, "20261203-102000", 4, kernels=(3, 5))  # other runs
    save_comparison(tmp_path, "20261203-102200", 7, weight_decay=0.1)  # a setting its name does not give
    save_comparison(tmp_path, "20261203-102500", 0)  # the same seed as the one asked about
    save_comparison(tmp_path, "20261203-103000", 5)
    current = save_comparison(tmp_path, "20261203-104000", 0)
    save_comparison(tmp_path, "20261203-105000", 6)  # saved after the current one
    found = other_seeds(current)
    assert [c[0].config["seed"] for c in found] == [1, 5]
    assert found[0][0].path is not None and found[0][0].path.parent.name.endswith("20261203-100500")
    assert [r.name for r in found[1]] == ["3x3", "9x9"]
    assert other_seeds([Run("3x3", dict(SETTINGS, seed=0))]) == []  # an unsaved comparison has none
    assert other_seeds([]) == []


def test_a_saved_name_splits_into_settings_and_date():
    assert settings_and_date("3x3-vs-9x9-6ep-lr0.003-b64-seed2-20261203-181940") == (
        "3x3-vs-9x9-6ep-lr0.003-b64-seed2", "20261203-181940")
    assert settings_and_date("3x3-vs-9x9-6ep-lr0.003-b64-seed2-20261203-181940-2") == (
        "3x3-vs-9x9-6ep-lr0.003-b64-seed2", "20261203-181940-2")
    assert settings_and_date("my-runs") == ("my-runs", "")
