"""Runs leave everything outside them alone: torch's global state, other threads, the user's model."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

import convis_widgets
from convis_widgets.compute.optvis import objectives
from convis_widgets.compute.optvis import run as optvis_run
from convis_widgets.compute.state import model_checksum
from convis_widgets.compute.training import Record, compare_first_kernels, train_run
from convis_widgets.data import digits
from convis_widgets.models import SeedCNN

PACKAGE = Path(convis_widgets.__file__).parent


@pytest.fixture(scope="module")
def small_digits():
    return digits("train").head(192), digits("test").head(48)


def comparable(records: list[Record]) -> list[dict]:
    return [{k: v for k, v in r.to_dict().items() if k != "elapsed"} for r in records]


def weights(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_in_a_thread_leaves_the_main_threads_random_numbers_and_settings_alone(small_digits):
    train, val = small_digits
    alone = train_run(lambda: SeedCNN(), train, val, epochs=2, out_dir=None)
    alone_records = comparable(list(alone))
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    started, drew = threading.Event(), threading.Event()

    def first_batch_reached() -> bool:  # called before each batch: the first waits for a main-thread draw
        if not started.is_set():
            started.set()
            assert drew.wait(60)
        return False

    result: dict = {}

    def work() -> None:
        it = train_run(lambda: SeedCNN(), train, val, epochs=2, out_dir=None, cancel=first_batch_reached)
        result["records"] = comparable(list(it))
        result["weights"] = weights(it.run.model())

    torch.manual_seed(1234)
    worker = threading.Thread(target=work)
    worker.start()
    assert started.wait(60)
    during = [torch.rand(4)]
    drew.set()
    while worker.is_alive():
        during.append(torch.rand(4))
    worker.join()
    after = [torch.rand(4) for _ in range(20)]
    # The global generator went on as if no run had happened: neither drawn from nor reset.
    reference = torch.Generator().manual_seed(1234)
    expected = [torch.rand(4, generator=reference) for _ in range(len(during) + len(after))]
    assert during and all(torch.equal(a, b) for a, b in zip(during + after, expected, strict=True))
    seen = {tuple(t.tolist()) for t in during}
    assert not any(tuple(t.tolist()) in seen for t in after)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert result["records"] == alone_records
    assert same_weights(result["weights"], weights(alone.run.model()))


def test_same_seed_same_weights_with_main_thread_draws_between_batches_and_interleaved(small_digits):
    train, val = small_digits
    def run():  # named as the comparison names its 3x3 run
        return train_run(lambda: SeedCNN(1, 3), train, val, epochs=2, seed=5, record_every=1, name="3x3",
                         out_dir=None)

    plain = run()
    plain_records = comparable(list(plain))
    disturbed = run()
    records = []
    for record in disturbed:  # a record after every batch: draw between all of them
        records.append(record)
        torch.rand(1000)
        torch.nn.functional.dropout(torch.ones(100), 0.5, training=True)
    assert comparable(records) == plain_records
    assert same_weights(weights(disturbed.run.model()), weights(plain.run.model()))
    comparison = compare_first_kernels("classifier", (5, 3), epochs=2, data=train, val_data=val, seed=5,
                                       record_every=1, out_dir=None)
    together = [r for r in comparison if r.run == "3x3"]
    assert comparable(together) == plain_records
    assert same_weights(weights(comparison.runs[1].model()), weights(plain.run.model()))


def test_training_a_module_trains_a_copy_and_leaves_the_module_as_given(small_digits):
    train, val = small_digits
    model = SeedCNN().train()
    model.conv2.weight.requires_grad_(False)  # a frozen layer stays frozen, in the copy too
    model.fc2.weight.grad = torch.ones_like(model.fc2.weight)
    calls = []
    handle = model.register_forward_hook(lambda *args: calls.append(1))
    before, given = model_checksum(model), weights(model)
    first = train_run(model, train, val, epochs=1, seed=1, record_every=1, out_dir=None)
    second = train_run(model, train, val, epochs=1, seed=2, record_every=1, out_dir=None)
    picture = optvis_run(model, objectives.channel("relu3", 0), (1, 28, 28), steps=4)
    for _ in range(3):  # interleave two runs and a technique on the same model, step by step
        for it in (first, picture, second):
            next(it)
        assert model_checksum(model) == before and not calls
    for it in (first, second, picture):
        list(it)
    handle.remove()
    assert model_checksum(model) == before and same_weights(weights(model), given) and not calls
    assert model.training and not model.conv2.weight.requires_grad
    trained = first.run.model()
    assert trained is not model and not trained.training
    assert not same_weights(weights(trained), given)
    assert torch.equal(trained.conv2.weight, model.conv2.weight)  # frozen: not trained
    assert not trained._forward_hooks  # the user's hook was not copied along


def test_a_module_that_cannot_be_copied_gets_a_clear_error(small_digits):
    train, val = small_digits
    model = SeedCNN()
    model.lock = threading.Lock()
    with pytest.raises(TypeError, match="trains a copy of the model.*pass a function that builds it"):
        train_run(model, train, val, epochs=1, out_dir=None)


FORBIDDEN_CALLS = ("manual_seed", "set_rng_state", "fork_rng", "use_deterministic_algorithms",
                   "set_num_threads", "torch_settings")
GLOBAL_RNGS = ("torch", "torch.random", "torch.cuda", "torch.mps", "torch.xpu")


LIBRARY = sorted((PACKAGE / "compute").rglob("*.py")) + [PACKAGE / "models" / "training.py"]


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_library_code_sets_no_process_wide_torch_state_and_compute_imports_nothing_above(path):
    tree = ast.parse(path.read_text())
    calls = [ast.unparse(n) for n in ast.walk(tree)
             if isinstance(n, ast.Attribute) and n.attr in FORBIDDEN_CALLS
             and (n.attr != "manual_seed" or ast.unparse(n.value) in GLOBAL_RNGS)]  # a Generator's may
    assert calls == []
    if "compute" not in path.parts:
        return
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            base += node.module.split(".") if node.module else []
            imported += [".".join(base + [a.name]) for a in node.names]
        elif isinstance(node, ast.Import):
            imported += [a.name for a in node.names]
    above = tuple(f"convis_widgets.{name}" for name in ("data", "models", "render", "widgets", "jobs", "cli"))
    assert [m for m in imported if m.startswith(above)] == []
