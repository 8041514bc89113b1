"""Shipped digits weights (reproduced bit for bit by their script), the evaluation helper, deterministic
training, first-layer smoothness."""

from importlib import resources

import pytest
import torch

from convis_widgets.compute.filters import filter_report
from convis_widgets.compute.stats import channel_statistics
from convis_widgets.data import ImageDataset, digits
from convis_widgets.models import (
    DigitsCNN,
    SeedCNN,
    evaluate,
    pretrained_digits_cnn,
    train_digits_cnn,
    train_seed_cnn,
)
from tests.models.scripts import needs_pinned_torch, same_weights, trained_by_script

TRAINERS = [train_digits_cnn, train_seed_cnn]


def test_weights_file_is_small() -> None:
    # float32 state dict of DigitsCNN's 174,092 parameters (696 KB) and nothing else.
    path = resources.files("convis_widgets.models") / "weights" / "digits_cnn.pt"
    n_params = sum(p.numel() for p in DigitsCNN().parameters())
    assert path.is_file() and 4 * n_params < len(path.read_bytes()) < 4 * n_params + 10_000 < 800_000


def test_pretrained_loads_in_eval_mode_and_is_accurate() -> None:
    model = pretrained_digits_cnn()
    assert isinstance(model, DigitsCNN) and model.input_shape == (1, 28, 28)
    assert not any(m.training for m in model.modules())
    assert evaluate(model, digits("test")) >= 0.98  # 1,000 held-out real MNIST digits


def test_pretrained_has_few_dead_channels_on_the_test_digits() -> None:
    model, test = pretrained_digits_cnn(), digits("test")
    for layer, maps in (("relu1", 32), ("relu2", 64), ("relu3", 128)):
        dead = channel_statistics(model, test, layer=layer).dead
        assert len(dead) == maps and dead.sum() <= maps // 10, (layer, int(dead.sum()))


def test_evaluate_keeps_training_mode() -> None:
    model = SeedCNN().train()
    small = digits("test")
    accuracy = evaluate(model, ImageDataset(small.images[:20], small.labels[:20], small.classes, "x"))
    assert 0.0 <= accuracy <= 1.0 and model.training


def _tiny_train_set() -> ImageDataset:
    full = digits("train")
    return ImageDataset(full.images[:96], full.labels[:96], full.classes, "digits-tiny")


@pytest.mark.parametrize("train", TRAINERS)
def test_training_is_deterministic_and_leaves_global_state_alone(train) -> None:
    threads = torch.get_num_threads()
    rng = torch.get_rng_state()
    deterministic = torch.are_deterministic_algorithms_enabled()
    runs = [train(_tiny_train_set(), seed=s, epochs=1) for s in (3, 3, 4)]
    assert isinstance(runs[0], DigitsCNN if train is train_digits_cnn else SeedCNN)
    first, again, other = (m.state_dict() for m in runs)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["conv1.weight"], other["conv1.weight"])
    assert not runs[0].training
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), rng)
    assert torch.are_deterministic_algorithms_enabled() == deterministic


@pytest.mark.parametrize("train", TRAINERS)
def test_logging_and_a_test_set_do_not_change_the_weights(train) -> None:
    tiny, test = _tiny_train_set(), digits("test").head(40)
    lines: list[str] = []
    quiet = train(tiny, seed=3, epochs=2)
    rng = torch.get_rng_state()
    logged = train(tiny, seed=3, epochs=2, test_set=test, log=lines.append,
                   num_threads=torch.get_num_threads())
    assert all(torch.equal(a, b) for a, b in zip(quiet.state_dict().values(), logged.state_dict().values(),
                                                 strict=True))
    assert torch.equal(torch.get_rng_state(), rng)  # evaluate() included: no global draw
    assert [line.split()[:2] for line in lines] == [["epoch", "1/2"], ["epoch", "2/2"]]
    assert "held-out accuracy" in lines[-1]
    noted: list[str] = []
    train(tiny, epochs=1, num_threads=torch.get_num_threads() + 1, log=noted.append)
    assert noted[0].startswith(f"note: torch runs {torch.get_num_threads()} threads, not")


def test_pretrained_first_layer_is_smoother_than_random() -> None:
    trained = filter_report(pretrained_digits_cnn(), "conv1")
    untrained = filter_report(DigitsCNN(), "conv1")
    assert trained.mean > 0.2 and "smooth filters" in trained.verdict
    assert untrained.mean < trained.mean - 0.2 and "noisy" in untrained.verdict


@needs_pinned_torch
def test_the_training_script_reproduces_the_shipped_weights_bit_for_bit(tmp_path) -> None:
    trained, printed = trained_by_script("convis_widgets.models.train_pretrained", tmp_path / "cnn.pt")
    assert "epoch  20/20" in printed and "test accuracy 98.70%" in printed, printed
    assert same_weights(trained, pretrained_digits_cnn().state_dict())
