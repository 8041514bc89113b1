"""Training runs as record iterators: reproducible, learning, cancellable, saved and loaded back."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convis_widgets.compute.training import (
    Record,
    TrainingDiverged,
    first_layers,
    load_run,
    load_runs,
    train_run,
)
from convis_widgets.data import digits, patches
from convis_widgets.models import ConvAutoencoder, SeedCNN


@pytest.fixture(scope="module")
def small_digits():
    return digits("train").head(256), digits("test").head(64)


def comparable(records: list[Record]) -> list[dict]:
    """Records without their wall times, for exact comparison."""
    return [{k: v for k, v in r.to_dict().items() if k != "elapsed"} for r in records]


def test_a_run_is_reproducible_from_its_seed_and_leaves_torch_settings_alone(small_digits):
    train, val = small_digits
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    deterministic = torch.are_deterministic_algorithms_enabled()
    runs = [list(train_run(lambda: SeedCNN(), train, val, epochs=2, seed=s, out_dir=None))
            for s in (1, 1, 2)]
    assert comparable(runs[0]) == comparable(runs[1])
    assert comparable(runs[0]) != comparable(runs[2])
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), rng)
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_held_out_loss_decreases_on_the_digits_within_a_few_epochs():
    train, val = digits("train"), digits("test").head(160)
    records = list(train_run(lambda: SeedCNN(), train, val, epochs=3, out_dir=None))
    assert [r.epoch for r in records] == [0, 1, 2, 3] and all(r.is_epoch for r in records)
    losses = [r.val_loss for r in records]
    assert losses[-1] < 0.6 * losses[0] and losses[-1] < losses[1]
    assert records[-1].val_accuracy > 0.6 and records[0].train_loss is None
    batches = -(-len(train.images) // 64)
    assert records[-1].step == records[-1].total_steps == 3 * batches and records[-1].eta == 0


def test_records_carry_filters_activation_statistics_and_probe(small_digits):
    train, val = small_digits
    records = list(train_run(lambda: SeedCNN(first_kernel=5), train, val, epochs=1, record_every=2,
                             out_dir=None))
    batch_records = [r for r in records if not r.is_epoch]
    assert [r.batch for r in batch_records] == [2]  # 4 batches: every 2, the 4th is the epoch's
    last = records[-1]
    assert last.filters.shape == (16, 1, 5, 5) and last.filters.dtype == np.float32
    assert last.frac_zero.shape == (16,) and last.dead.dtype == np.bool_
    assert last.probe.shape == (16, 28, 28)  # classifier: relu1's activation of the probe image
    assert not np.array_equal(records[0].filters, last.filters)


def test_autoencoder_probe_is_a_reconstruction():
    train, val = patches("train").head(128), patches("test").head(32)
    records = list(train_run(lambda: ConvAutoencoder(), train, val, kind="autoencoder", epochs=1,
                             probe_index=3, out_dir=None))
    assert records[-1].probe.shape == (3, 32, 32) and records[-1].val_accuracy is None
    assert 0 <= records[-1].probe.min() and records[-1].probe.max() <= 1


def test_any_model_and_loss_and_first_layer_found():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(), nn.Flatten(),
                          nn.Linear(4 * 8 * 8, 3))
    assert first_layers(model) == ("0", "1")
    x, y = torch.rand(40, 1, 8, 8), torch.randint(0, 3, (40,))
    records = list(train_run(model, (x, y), epochs=2, loss=lambda out, t: F.nll_loss(
        out.log_softmax(1), t), out_dir=None))
    assert len(records) == 3 and records[-1].frac_zero.shape == (4,)
    assert first_layers(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())) == ("0", "0")


def test_cancel_keeps_the_partial_history_and_saves_it(small_digits, tmp_path):
    train, val = small_digits
    batches = 0

    def cancel() -> bool:
        nonlocal batches
        batches += 1
        return batches > 6  # 4 batches an epoch: stop in the second epoch

    records = list(train_run(lambda: SeedCNN(), train, val, epochs=5, cancel=cancel, out_dir=tmp_path))
    assert [r.epoch for r in records] == [0, 1]
    (run,) = load_runs(tmp_path)
    assert run.status == "cancelled" and "epoch 2, batch 3" in run.reason
    assert comparable(run.records) == comparable(records)
    event = threading.Event()
    event.set()
    assert [r.epoch for r in train_run(lambda: SeedCNN(), train, val, cancel=event, out_dir=None)] == [0]


def test_leaving_the_loop_early_saves_the_run_as_cancelled(small_digits, tmp_path):
    train, val = small_digits
    for record in train_run(lambda: SeedCNN(), train, val, epochs=4, out_dir=tmp_path, name="early"):
        if record.epoch == 1:
            break
    (run,) = load_runs(tmp_path)
    assert run.name == "early" and run.status == "cancelled" and run.last_epoch.epoch == 1


def test_saved_runs_load_back_identical(small_digits, tmp_path):
    train, val = small_digits
    records = list(train_run(lambda: SeedCNN(first_kernel=3), train, val, epochs=2, out_dir=tmp_path,
                             record_every=3))
    (path,) = tmp_path.rglob("*.json")
    run = load_run(path)
    assert run.status == "finished" and run.config["first_kernel"] == 3
    assert [r.to_dict() for r in run.records] == [r.to_dict() for r in records]
    assert all(np.array_equal(a.filters, b.filters) and a.filters.dtype == b.filters.dtype
               for a, b in zip(run.records, records, strict=True))
    model = run.model()
    np.testing.assert_array_equal(model.conv1.weight.detach().numpy(), records[-1].filters)
    assert not model.training
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_runs(tmp_path / "missing")


def test_nan_loss_stops_the_run_says_why_and_keeps_what_was_saved(small_digits, tmp_path):
    train, val = small_digits
    calls = 0

    def loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        value = F.cross_entropy(out, target)
        return value * float("nan") if calls > 8 else value  # the held-out pass counts calls too

    seen = []
    with pytest.raises(TrainingDiverged, match="loss was nan at epoch 2.*saved"):
        for record in train_run(lambda: SeedCNN(), train, val, epochs=3, loss=loss, out_dir=tmp_path):
            seen.append(record)
    (run,) = load_runs(tmp_path)
    assert run.status == "failed" and "nan" in run.reason
    assert [r.epoch for r in run.records] == [0, 1] == [r.epoch for r in seen]
    assert all(torch.isfinite(t).all() for t in run.state_dict.values())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be an int >= 1; got 0"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"lr": float("nan")}, "lr must be a positive number"),
        ({"kind": "regressor"}, "kind must be one of"),
        ({"probe_index": 500}, "probe_index must be in 0..63"),
    ],
)
def test_bad_settings_give_clear_errors(small_digits, kwargs, message, tmp_path):
    train, val = small_digits
    with pytest.raises(ValueError, match=message):
        list(train_run(lambda: SeedCNN(), train, val, out_dir=tmp_path, **kwargs))
    assert not list(tmp_path.iterdir())  # nothing started, nothing written


def test_bad_data_give_clear_errors():
    with pytest.raises(ValueError, match="data is empty"):
        list(train_run(SeedCNN(), torch.zeros(0, 1, 28, 28), out_dir=None))
    with pytest.raises(ValueError, match=r"float \(N, C, H, W\) images"):
        list(train_run(SeedCNN(), torch.zeros(5, 28, 28), out_dir=None))
    with pytest.raises(ValueError, match="needs labels"):
        list(train_run(SeedCNN(), torch.rand(10, 1, 28, 28), out_dir=None))
    with pytest.raises(ValueError, match="cannot hold out 20% of 2 images"):
        list(train_run(SeedCNN(), (torch.rand(2, 1, 28, 28), torch.zeros(2, dtype=torch.long)), out_dir=None))
