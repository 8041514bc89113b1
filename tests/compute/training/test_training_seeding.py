"""SeededRandom: random calls draw what torch.manual_seed(seed) would give, from the mode's own generator."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convis_widgets.compute.training import SeededRandom, seeding

X = torch.randn(6, 5, 7, 7, generator=torch.Generator().manual_seed(0))

CALLS = {
    "F.dropout": lambda: F.dropout(X, 0.3, True),
    "F.dropout in place": lambda: F.dropout(X.clone(), 0.3, True, True),
    "F.alpha_dropout": lambda: F.alpha_dropout(X, 0.3, True),
    "F.feature_alpha_dropout": lambda: F.feature_alpha_dropout(X, 0.3, True),
    "F.dropout1d": lambda: F.dropout1d(X[:, :, 0], 0.4, True),
    "F.dropout1d unbatched": lambda: F.dropout1d(X[0, :, 0], 0.4, True),
    "F.dropout2d": lambda: F.dropout2d(X, 0.4, True),
    "F.dropout3d unbatched": lambda: F.dropout3d(X[0, :, None], 0.4, True),
    "F.dropout3d": lambda: F.dropout3d(X[:, :, None], 0.4, True),
    "nn.Dropout": lambda: nn.Dropout(0.5)(X),
    "nn.Dropout2d": lambda: nn.Dropout2d(0.5)(X),
    "torch.dropout": lambda: torch.dropout(X, 0.2, True),
    "torch.feature_dropout": lambda: torch.feature_dropout(X, 0.2, True),
    "p = 1": lambda: F.dropout(X, 1.0, True),
    "nn.RReLU": lambda: nn.RReLU()(X),
    "nn.Linear init": lambda: nn.Linear(5, 3).weight,
    "nn.Conv2d init": lambda: nn.Conv2d(5, 3, 3).bias,
    "init.trunc_normal_": lambda: nn.init.trunc_normal_(torch.empty(3, 3)),
    "init.orthogonal_": lambda: nn.init.orthogonal_(torch.empty(3, 3)),
    "Tensor.uniform_": lambda: torch.empty(4).uniform_(),
    "Tensor.bernoulli_": lambda: torch.empty(9).bernoulli_(0.3),
    "torch.rand": lambda: torch.rand(4),
    "torch.randn_like": lambda: torch.randn_like(X),
    "torch.rand_like": lambda: torch.rand_like(X, dtype=torch.float64),
    "torch.randint_like high": lambda: torch.randint_like(X, 9),
    "torch.randint_like low high": lambda: torch.randint_like(X, 3, 9),
    "torch.randperm": lambda: torch.randperm(10),
    "torch.randint": lambda: torch.randint(0, 5, (4,)),
    "torch.normal": lambda: torch.normal(0.0, 1.0, (3,)),
    "torch.multinomial": lambda: torch.multinomial(torch.ones(5), 3),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_draws_equal_torchs_own_after_manual_seed_and_leave_the_global_generator_alone(name):
    call = CALLS[name]
    state = torch.get_rng_state()
    try:
        torch.manual_seed(7)
        expected = [call(), call()]
    finally:
        torch.set_rng_state(state)
    with torch.no_grad(), SeededRandom(7):
        got = [call(), call()]
    assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))
    assert torch.equal(torch.get_rng_state(), state)


LIKE_CALLS = ["torch.randn_like", "torch.rand_like", "torch.randint_like high", "torch.randint_like low high"]


@pytest.mark.parametrize("name", LIKE_CALLS)
def test_like_calls_draw_the_same_where_torch_gives_them_no_generator(name, monkeypatch):
    """torch releases before about 2.10 have no generator= on rand_like, randn_like and randint_like:
    there the mode draws as ATen does (empty_like, then an in-place draw), which gives the same values."""
    monkeypatch.setattr(seeding, "_like_takes_generator", lambda: False)
    test_draws_equal_torchs_own_after_manual_seed_and_leave_the_global_generator_alone(name)
    with SeededRandom(7):
        drawn = torch.randn_like(X, requires_grad=True)
    assert drawn.requires_grad and drawn.shape == X.shape


def test_gradients_through_routed_dropout_are_torchs():
    def grad(mode: SeededRandom | None) -> torch.Tensor:
        x = X.clone().requires_grad_(True)
        if mode is None:
            torch.manual_seed(3)
            F.dropout(x, 0.5, True).pow(2).sum().backward()
        else:
            with mode:
                F.dropout(x, 0.5, True).pow(2).sum().backward()
        return x.grad

    state = torch.get_rng_state()
    expected = grad(None)
    torch.set_rng_state(state)
    assert torch.equal(grad(SeededRandom(3)), expected)


def test_the_mode_holds_only_in_its_own_thread_and_goes_on_where_it_stopped():
    mode = SeededRandom(11)
    inside = threading.Event()
    leave = threading.Event()
    drawn: list[torch.Tensor] = []

    def work() -> None:
        with mode:
            drawn.append(torch.rand(3))
            inside.set()
            leave.wait(10)
            drawn.append(torch.rand(3))

    worker = threading.Thread(target=work)
    torch.manual_seed(5)
    worker.start()
    assert inside.wait(10)
    main = torch.rand(3)  # while the worker is inside the mode: the global generator
    leave.set()
    worker.join()
    reference = torch.Generator().manual_seed(5)
    assert torch.equal(main, torch.rand(3, generator=reference))
    own = torch.Generator().manual_seed(11)
    assert all(torch.equal(t, torch.rand(3, generator=own)) for t in drawn)
    with mode:  # entered again: its generator goes on
        assert torch.equal(torch.rand(3), torch.rand(3, generator=own))


def test_an_explicit_generator_is_kept():
    g = torch.Generator().manual_seed(2)
    with SeededRandom(9):
        a = torch.rand(3, generator=g)
    assert torch.equal(a, torch.rand(3, generator=torch.Generator().manual_seed(2)))
