"""The private view: same outputs as the model, its own modules, flags and hooks, a snapshot of
the weights, and shared tensors for large models."""

from __future__ import annotations

import torch
from torch import nn

from convis_widgets.compute.access import open_model


class Tied(nn.Module):
    """A module used twice and a weight tied between two layers, as some users' models have."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.relu = nn.ReLU()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.b.weight = self.a.weight
        self.rnn = nn.GRU(4, 4, batch_first=True)
        self.flag = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv(x))
        x = self.relu(x) * 2  # the same ReLU module, a second time
        x = x.mean(dim=(2, 3)).repeat(1, 2)
        x = self.b(self.a(x))
        return self.rnn(x[:, None])[0][:, 0] + (1.0 if self.flag else 0.0)


def test_the_view_computes_what_the_model_computes_in_eval_mode():
    model = Tied().train()
    x = torch.rand(3, 1, 5, 5)
    access = open_model(model)
    with torch.no_grad():
        ours = access.forward(x)
        model.eval()
        theirs = model(x)
    torch.testing.assert_close(ours, theirs)
    assert access.view.b.weight is access.view.a.weight  # tied weights stay tied
    assert access.view.a.weight is not model.a.weight and not access.view.a.weight.requires_grad
    assert not any(m.training for m in access.view.modules())


def test_the_snapshot_does_not_follow_the_users_later_edits_nor_write_back():
    model = Tied().eval()
    x = torch.rand(2, 1, 5, 5)
    access = open_model(model)
    with torch.no_grad():
        first = access.forward(x)
        for p in model.parameters():
            p.add_(1.0)  # the user's training step in another cell
        model.flag = True
        torch.testing.assert_close(access.forward(x), first)
        access.view.a.weight.zero_()
    assert float(model.a.weight.detach().abs().sum()) > 0


def test_a_large_model_is_shared_read_only():
    model = Tied()
    access = open_model(model, snapshot=False)
    assert access.view.a.weight is model.a.weight and access.view.conv is not model.conv
    assert access.view.conv.bias is model.conv.bias


def test_first_call_rule_for_a_module_called_twice():
    model = Tied().eval()
    x = torch.rand(2, 1, 5, 5)
    with torch.no_grad():
        relu = open_model(model).outputs(x, ["relu"])["relu"]
        torch.testing.assert_close(relu, torch.relu(model.conv(x)))  # the first call, not x * 2
