"""First-layer comparisons: runs grow together, match runs made alone, are saved, and refuse bad kernels."""

from __future__ import annotations

import re
import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convis_widgets.compute.training import (
    TrainingDiverged,
    compare_first_kernels,
    data_folder,
    load_runs,
    summarize,
    train_run,
    verdict,
)
from convis_widgets.data import ImageDataset, digits, patches
from convis_widgets.models import SeedCNN


@pytest.fixture(scope="module")
def small_digits():
    return digits("train").head(192), digits("test").head(48)


def without_time(record) -> dict:
    return {k: v for k, v in record.to_dict().items() if k != "elapsed"}


def test_runs_grow_together_and_are_saved(small_digits, tmp_path):
    train, val = small_digits
    comparison = compare_first_kernels("classifier", epochs=2, data=train, val_data=val, out_dir=tmp_path)
    records = list(comparison)
    assert [(r.run, r.epoch) for r in records] == [
        ("3x3", 0), ("9x9", 0), ("3x3", 1), ("9x9", 1), ("3x3", 2), ("9x9", 2)]
    assert [r.config["num_threads"] for r in comparison.runs] == [torch.get_num_threads()] * 2
    # a folder per data set, a subfolder named by the settings and the date
    assert comparison.folder.parent == tmp_path / data_folder("classifier", train)
    assert data_folder("classifier", train) == "classifier-digits-train-192-1x28x28-192"
    assert re.fullmatch(r"3x3-vs-9x9-2ep-lr0\.003-b64-seed0-\d{8}-\d{6}", comparison.folder.name)
    loaded = load_runs(tmp_path)
    assert [r.name for r in loaded] == ["3x3", "9x9"] and all(r.status == "finished" for r in loaded)
    assert [r.config["first_kernel"] for r in loaded] == [3, 9]
    assert loaded[1].model().conv1.kernel_size == (9, 9)
    for run in loaded:  # the probe image the records show is saved with each run
        assert run.probe_image is not None and (run.probe_image == comparison.probe_image).all()
    for run in loaded:
        assert [r.to_dict() for r in run.records] == [r.to_dict() for r in records if r.run == run.name]
    summaries = [summarize(r) for r in loaded]
    assert [s.epochs for s in summaries] == [2, 2] and all(s.channels == 16 for s in summaries)
    line = verdict(summaries)
    assert line.startswith("held-out accuracy ") and "over the last epoch" in line  # epoch 2 (not the first)
    assert [s.loss.n for s in summaries] == [1, 1]  # epoch 2: the first epoch is never averaged in


def test_an_interleaved_run_equals_the_same_run_made_alone(small_digits):
    train, val = small_digits
    together = [r for r in compare_first_kernels("classifier", (5, 3), epochs=2, data=train, val_data=val,
                                                 seed=4, out_dir=None, record_every=2) if r.run == "3x3"]
    alone = list(train_run(lambda: SeedCNN(1, 3, 10, 28), train, val, epochs=2, seed=4, out_dir=None,
                           name="3x3", record_every=2))
    assert [without_time(r) for r in together] == [without_time(r) for r in alone]


def test_autoencoder_comparison_on_colour_patches_with_any_kernel_list(tmp_path):
    train, val = patches("train"), patches("test")
    comparison = compare_first_kernels("autoencoder", [1, 5, 7], epochs=1, out_dir=tmp_path,
                                       data=ImageDataset(train.images[:64], train.labels[:64], [], "p"),
                                       val_data=val.images[:16])
    records = list(comparison)
    assert {r.run for r in records} == {"1x1", "5x5", "7x7"}
    assert all(r.probe.shape == (3, 32, 32) for r in records)
    assert [s.name for s in map(summarize, comparison.runs)] == ["1x1", "5x5", "7x7"]


def test_the_builtin_autoencoder_learns_the_dark_digits_instead_of_going_black(tmp_path):
    """From the sigmoid's 0.5 the digits (mean 0.13) drove every output to 0 in the first steps and the
    net stayed black (held-out MSE 0.1134 at every epoch, all seeds); it starts at their mean now."""
    train, test = digits("train"), digits("test")
    black = float((test.images ** 2).mean())  # what an all-black output scores
    comparison = compare_first_kernels("autoencoder", (3,), epochs=2, data=train, val_data=test, out_dir=None)
    losses = [r.val_loss for r in comparison if r.is_epoch]
    assert losses[0] < black  # untrained, it outputs about the mean image
    assert losses[-1] < 0.5 * black and losses[-1] < losses[1] < losses[0], (losses, black)


def test_a_user_model_and_loss(tmp_path):
    def model_fn(k: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, 3, k, padding=k // 2), nn.ReLU(), nn.Conv2d(3, 1, 3, padding=1))

    images = torch.rand(30, 1, 12, 12)
    records = list(compare_first_kernels("autoencoder", (3, 5), epochs=1, data=images, model_fn=model_fn,
                                         loss=F.l1_loss, out_dir=tmp_path))
    assert len(records) == 4
    assert {r.config["loss"] for r in load_runs(tmp_path)} == {"l1_loss"}
    with pytest.raises(ValueError, match=r"model_fn\(5\) built a first conv layer of kernel 3"):
        compare_first_kernels("autoencoder", (3, 5), data=images, out_dir=None,
                              model_fn=lambda k: model_fn(3))


@pytest.mark.parametrize(
    ("kernels", "message"),
    [
        ((3, 4), r"odd ints from 1 to the image size \(28\); got \[3, 4\] \(bad: \[4\]\)"),
        ((3, 29), r"\(bad: \[29\]\)"),
        ((), "got \\[\\]"),
        ((3, 3), "repeat"),
    ],
)
def test_bad_kernels_are_refused_before_anything_runs(small_digits, tmp_path, kernels, message):
    train, val = small_digits
    with pytest.raises(ValueError, match=message):
        compare_first_kernels("classifier", kernels, data=train, val_data=val, out_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_bad_data_and_schedule(tmp_path):
    with pytest.raises(ValueError, match="epochs must be an int >= 1; got 0"):
        compare_first_kernels("classifier", epochs=0, out_dir=tmp_path)
    empty = ImageDataset(torch.zeros(0, 1, 28, 28), torch.zeros(0), ["a"], "empty")
    with pytest.raises(ValueError, match="data is empty"):
        compare_first_kernels("classifier", data=empty, out_dir=tmp_path)
    with pytest.raises(ValueError, match="needs labelled data"):
        compare_first_kernels("classifier", data=torch.rand(20, 1, 28, 28), out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"held-out images are \(3, 28, 28\)"):
        compare_first_kernels("autoencoder", data=torch.rand(20, 1, 28, 28),
                              val_data=torch.rand(4, 3, 28, 28), out_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_run_that_diverges_stops_alone_and_the_others_finish(small_digits, tmp_path):
    train, val = small_digits

    class Exploding(SeedCNN):
        """Infinite logits while training: its loss is never finite."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) * (float("inf") if self.training else 1.0)

    def model_fn(k: int) -> nn.Module:
        return Exploding(1, k) if k == 9 else SeedCNN(1, k)

    with pytest.raises(TrainingDiverged, match=r"run '9x9': the loss was (inf|nan) at epoch 1, batch 1"):
        list(compare_first_kernels("classifier", epochs=2, data=train, val_data=val, model_fn=model_fn,
                                   out_dir=tmp_path))
    three, nine = load_runs(tmp_path)
    assert (three.status, nine.status) == ("finished", "failed")
    assert three.last_epoch.epoch == 2 and nine.last_epoch.epoch == 0


def test_cancel_stops_every_run_and_saves_each(small_digits, tmp_path):
    train, val = small_digits
    stop = threading.Event()
    comparison = compare_first_kernels("classifier", epochs=3, data=train, val_data=val, cancel=stop,
                                       out_dir=tmp_path)
    for record in comparison:
        if record.epoch == 1:
            stop.set()
    runs = load_runs(tmp_path)
    assert [r.status for r in runs] == ["cancelled", "cancelled"]
    assert [r.last_epoch.epoch for r in runs] == [1, 1]
