"""Shipped digits weights, the evaluation helper, deterministic training, first-layer smoothness."""

from importlib import resources

import torch

from convis_widgets.compute.filters import filter_report
from convis_widgets.data import ImageDataset, digits
from convis_widgets.models import (
    SeedCNN,
    evaluate,
    pretrained_digits_cnn,
    train_seed_cnn,
)


def test_weights_file_is_small() -> None:
    path = resources.files("convis_widgets.models") / "weights" / "digits_cnn.pt"
    assert path.is_file() and len(path.read_bytes()) < 400_000


def test_pretrained_loads_in_eval_mode_and_is_accurate() -> None:
    model = pretrained_digits_cnn()
    assert isinstance(model, SeedCNN) and model.input_shape == (1, 28, 28)
    assert not any(m.training for m in model.modules())
    assert evaluate(model, digits("test")) >= 0.95


def test_evaluate_keeps_training_mode() -> None:
    model = SeedCNN().train()
    small = digits("test")
    accuracy = evaluate(model, ImageDataset(small.images[:20], small.labels[:20], small.classes, "x"))
    assert 0.0 <= accuracy <= 1.0 and model.training


def _tiny_train_set() -> ImageDataset:
    full = digits("train")
    return ImageDataset(full.images[:96], full.labels[:96], full.classes, "digits-tiny")


def test_training_is_deterministic_and_leaves_global_state_alone() -> None:
    threads = torch.get_num_threads()
    rng = torch.get_rng_state()
    deterministic = torch.are_deterministic_algorithms_enabled()
    runs = [train_seed_cnn(_tiny_train_set(), seed=s, epochs=1) for s in (3, 3, 4)]
    first, again, other = (m.state_dict() for m in runs)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["conv1.weight"], other["conv1.weight"])
    assert not runs[0].training
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), rng)
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_logging_and_a_test_set_do_not_change_the_weights() -> None:
    tiny, test = _tiny_train_set(), digits("test").head(40)
    lines: list[str] = []
    quiet = train_seed_cnn(tiny, seed=3, epochs=2)
    rng = torch.get_rng_state()
    logged = train_seed_cnn(tiny, seed=3, epochs=2, test_set=test, log=lines.append,
                            num_threads=torch.get_num_threads())
    assert all(torch.equal(a, b) for a, b in zip(quiet.state_dict().values(), logged.state_dict().values(),
                                                 strict=True))
    assert torch.equal(torch.get_rng_state(), rng)  # evaluate() included: no global draw
    assert [line.split()[:2] for line in lines] == [["epoch", "1/2"], ["epoch", "2/2"]]
    assert "held-out accuracy" in lines[-1]
    noted: list[str] = []
    train_seed_cnn(tiny, epochs=1, num_threads=torch.get_num_threads() + 1, log=noted.append)
    assert noted[0].startswith(f"note: torch runs {torch.get_num_threads()} threads, not")


def test_pretrained_first_layer_is_smoother_than_random() -> None:
    trained = filter_report(pretrained_digits_cnn(), "conv1")
    untrained = filter_report(SeedCNN(), "conv1")
    assert trained.mean > 0.2 and "smooth filters" in trained.verdict
    assert untrained.mean < trained.mean - 0.2 and "noisy" in untrained.verdict
