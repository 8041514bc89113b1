"""Data, labels and schedules are checked up front with errors that say what was wrong and where."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from torch import nn

from convis_widgets.compute.training import (
    TrainConfig,
    Trainer,
    builtin,
    compare_first_kernels,
    random_shift,
    train_run,
)
from convis_widgets.compute.training import builtins as registry
from convis_widgets.data import ImageDataset, digits
from convis_widgets.models import SeedCNN


def images(n: int = 30) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28)


def labels(n: int = 30, classes: int = 10) -> torch.Tensor:
    return torch.arange(n) % classes


def test_nan_or_infinite_images_are_refused_naming_how_many_and_where():
    x = images()
    x[3, 0, 5, 5] = float("nan")
    x[17, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"data: 2 of 30 images hold NaN or infinite values \(index 3, 17\)"):
        train_run(SeedCNN(), (x, labels()), out_dir=None)
    val = images(8)
    val[:7] = float("-inf")
    with pytest.raises(ValueError, match=r"val_data: 7 of 8 images .*\(index 0, 1, 2, 3, 4 and 2 more\)"):
        compare_first_kernels("autoencoder", (3,), data=images(), val_data=val, out_dir=None,
                              model_fn=lambda k: nn.Sequential(nn.Conv2d(1, 1, k, padding=k // 2)))


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (labels().float(), r"data: a classifier needs integer class indices from 0 to 9 as labels; "
                           r"got torch.float32 labels"),
        (labels() - 1, r"data: a classifier needs integer class indices from 0 to 9 as labels; got -1 "
                       r"\(3 negative, index 0, 10, 20\)"),
        (labels() + 1, r"data: labels must be integer class indices from 0 to 9 \(the data lists 10 "
                       r"classes\); got 10 \(3 too large, index 9, 19, 29\)"),
        (labels().bool(), "got torch.bool labels"),
    ],
)
def test_bad_labels_say_what_was_expected_and_what_was_given(y, message):
    data = ImageDataset(images(), labels(), [str(i) for i in range(10)], "x")
    data.labels = y  # past ImageDataset's own conversion
    with pytest.raises(ValueError, match=message):
        train_run(SeedCNN(), data, out_dir=None)


def test_labels_beyond_the_models_outputs_are_refused():
    expected = r"data: labels must be integer class indices from 0 to 3 \(the model outputs 4 classes\); got"
    with pytest.raises(ValueError, match=expected + r" 9 \(\d+ too large\)"):
        train_run(lambda: SeedCNN(num_classes=4), (images(), labels()), out_dir=None)
    with pytest.raises(ValueError, match=r"val_data: labels .*the model outputs 10 classes\); got 12"):
        train_run(SeedCNN(), (images(), labels()), (images(4), torch.tensor([0, 1, 12, 2])), out_dir=None)


def test_int32_labels_are_taken_as_class_indices():
    records = list(train_run(SeedCNN(), (images(), labels().int()), epochs=1, out_dir=None))
    assert records[-1].val_accuracy is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": "sgd"}, r"optimizer must be one of \('adam', 'adamw'\); got 'sgd'"),
        ({"schedule": "step"}, "schedule must be one of"),
        ({"max_shift": -1}, "max_shift must be an int >= 0; got -1"),
        ({"weight_decay": float("inf")}, "weight_decay must be a number >= 0"),
        ({"seed": 1.5}, "seed must be an int"),
        ({"probe_index": -2}, "probe_index must be None or an int >= 0"),
        ({"record_every": True}, "record_every must be an int >= 0; got True"),
    ],
)
def test_a_bad_schedule_is_refused_on_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_the_trainer_runs_adamw_with_a_cosine_schedule_shifts_and_logs():
    train, val = digits("train").head(64), digits("test").head(16)
    config = TrainConfig(epochs=2, batch_size=32, optimizer="adamw", schedule="cosine", max_shift=2)
    lines: list[str] = []
    trainer = Trainer("t", lambda: SeedCNN(), (train.images, train.labels), (val.images, val.labels),
                      kind="classifier", config=config, log=lines.append)
    run = trainer.run_to_end()
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # annealed to 0
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"] and "held-out accuracy" in lines[-1]
    assert run.status == "finished" and run.config["optimizer"] == "adamw"
    assert TrainConfig.from_dict(run.config) == replace(config, probe_index=run.config["probe_index"])


def test_random_shift_moves_each_image_within_bounds_with_zero_fill():
    x = torch.zeros(50, 1, 9, 9)
    x[:, :, 4, 4] = 1.0
    shifted = random_shift(x, 2, torch.Generator().manual_seed(0))
    where = [divmod(int(s.flatten().argmax()), 9) for s in shifted]
    assert shifted.shape == x.shape and shifted.sum() == 50
    assert all(2 <= r <= 6 and 2 <= c <= 6 for r, c in where) and len(set(where)) > 10
    assert random_shift(x, 0, torch.Generator()) is x


def test_no_builtin_registered_gives_a_clear_error(monkeypatch):
    monkeypatch.delitem(registry._REGISTRY, "classifier")
    with pytest.raises(LookupError, match="no built-in model and data are registered for kind 'classifier'"):
        builtin("classifier")


def test_the_readme_call_uses_the_builtin_model_and_data(tmp_path):
    comparison = compare_first_kernels("classifier", kernels=(3, 9), epochs=1, out_dir=tmp_path)
    records = list(comparison)
    assert len(records) == 4 and {r.config["data"] for r in comparison.runs} == {"digits-train"}
    assert all(r.config["builtin"] and r.config["model"] == "SeedCNN" for r in comparison.runs)
    assert comparison.runs[1].model().conv1.kernel_size == (9, 9)


def test_importing_compute_training_imports_no_model_data_or_widget_module():
    code = ("import sys, convis_widgets.compute.training as t\n"
            "print(' '.join(m for m in sys.modules if m.startswith('convis_widgets.') and m.split('.')[1] in "
            "('models', 'data', 'render', 'widgets', 'jobs')))\n"
            "print(t.builtin('classifier').model_name, t.builtin('autoencoder').model_name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["", "SeedCNN ConvAutoencoder"]


def test_train_and_held_out_tells_a_pair_of_sets_from_images_and_labels():
    from convis_widgets.compute.training import train_and_held_out

    images, labels = torch.rand(6, 1, 4, 4), torch.arange(6) % 2
    one = ImageDataset(images, labels, ["a", "b"], "one")
    two = ImageDataset(images[:2], labels[:2], ["a", "b"], "two")

    def same(got, want):
        return len(got) == len(want) and all(g is w for g, w in zip(got, want, strict=True))

    assert same(train_and_held_out((one, two)), (one, two))
    assert same(train_and_held_out(one), (one, None))
    pair = (images, labels)  # images and their labels: one set
    assert same(train_and_held_out(pair), (pair, None))
    held_out = images[:2]
    assert same(train_and_held_out((images, held_out)), (images, held_out))  # an autoencoder's two sets
