"""Work that overlaps on one model: iterators interleaved in one thread, techniques in two threads,
and the user's own forwards and training steps beside them. Each technique sees only its own
passes, the user's calls give the model's normal output, and the model ends exactly as given."""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import nn

from convis_widgets.compute import activations, channel_statistics, model_checksum
from convis_widgets.compute.access import HOOK_TABLES
from convis_widgets.compute.attribution import grad_cam, occlusion_map, saliency
from convis_widgets.compute.optvis import iter_gallery, run
from convis_widgets.compute.optvis import objectives as obj

SHAPE = (1, 12, 12)


class Net(nn.Module):
    """conv -> BatchNorm -> relu (functional) -> pool -> conv -> relu -> fc, as users write them."""

    input_shape = SHAPE

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(6)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(8 * 6 * 6, 4)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        return self.fc(self.relu(self.conv2(x)).flatten(1))


def users_model() -> Net:
    """In train mode, one layer frozen, old gradients on the others: a model mid fine-tuning."""
    model = Net().train()
    model.conv1.requires_grad_(False)
    for p in (model.conv2.weight, model.fc.weight):
        p.grad = torch.full_like(p, 0.25)
    return model


def no_hooks(model: nn.Module) -> bool:
    return all(not getattr(m, t) for m in model.modules() for t in HOOK_TABLES)


def test_iterators_interleaved_in_one_thread_leave_the_model_as_given():
    model = users_model()
    before = model_checksum(model)
    a = run(model, obj.channel("conv2", 0), steps=30, report=1, precursor=0)
    b = run(model, obj.class_logit(2), steps=30, report=1, precursor=4, optimizer="adam")
    c = iter_gallery(model, "relu", channels=range(8), steps=10, batch_size=3)
    records = []
    for ra, rb in zip(a, b, strict=False):
        records.append((ra, rb))
        # while both are suspended: the model is exactly the user's, no hook on it
        assert model_checksum(model) == before and no_hooks(model)
        if len(records) == 5:
            parts = list(c)
            assert [p.channels for p in parts] == [[0, 1, 2], [3, 4, 5], [6, 7]]
        if len(records) == 8:
            saliency(model, torch.rand(2, *SHAPE), 1)
            grad_cam(model, torch.rand(2, *SHAPE), 1, layer="conv2")
            occlusion_map(model, torch.rand(1, *SHAPE), None, window=(4, 4), stride=(2, 2))
    assert records[-1][0].done and records[-1][1].done and len(records) == 31
    assert model_checksum(model) == before and model.training and no_hooks(model)


def test_each_of_two_threads_sees_only_its_own_passes():
    model = users_model().eval()
    gen = torch.Generator().manual_seed(1)
    data_a, data_b = torch.rand(16, *SHAPE, generator=gen), torch.rand(5, *SHAPE, generator=gen)
    stats_alone = channel_statistics(model, data_a, layer="relu", batch_size=4)
    acts_alone = activations(model, data_b, layer="conv1")["conv1"]
    before = model_checksum(model)
    errors: list[BaseException] = []
    results: dict[str, list] = {"stats": [], "acts": []}

    def many(kind: str) -> None:
        try:
            for _ in range(15):
                if kind == "stats":
                    results[kind].append(channel_statistics(model, data_a, layer="relu", batch_size=4))
                else:
                    results[kind].append(activations(model, data_b, layer="conv1")["conv1"])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=many, args=(k,)) for k in ("stats", "acts")]
    for t in threads:
        t.start()
    other = torch.rand(1, *SHAPE)
    while any(t.is_alive() for t in threads):
        with torch.no_grad():
            model(other)  # the user's own cell, with another input, in between
    for t in threads:
        t.join()
    assert not errors
    for s in results["stats"]:
        assert s.count == 16 and (s.dead == stats_alone.dead).all()
        assert abs(s.mean - stats_alone.mean).max() < 1e-6
    for a in results["acts"]:
        torch.testing.assert_close(a, acts_alone)
    assert model_checksum(model) == before and no_hooks(model)


def test_the_users_forward_and_training_step_work_while_a_run_goes_on():
    model = users_model()
    model.bn1.momentum = 0.0  # the user's train-mode forwards then leave the running stats as they are
    x = torch.rand(8, *SHAPE)
    model.eval()
    with torch.no_grad():
        expected = model(x)
    model.train()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    done = threading.Event()
    errors: list[BaseException] = []

    def feature_visualisation() -> None:
        try:
            for _ in run(model, obj.channel("conv1", 3), steps=400, report=1, precursor=0):
                pass
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=feature_visualisation)
    thread.start()
    forwards = steps = 0
    while not done.is_set() or forwards < 3:
        model.eval()
        with torch.no_grad():
            out = model(x)  # never the internal early stop, never another run's hooks
        torch.testing.assert_close(out, expected)
        forwards += 1
        model.train()
        loss = F.cross_entropy(model(x), torch.arange(8) % 4)
        loss.backward()  # fine-tuning: gradients reach every parameter that requires them
        steps += 1
    thread.join()
    assert not errors and forwards >= 3
    assert model.conv2.weight.grad is not None and model.conv1.weight.grad is None
    assert not torch.equal(model.conv2.weight.grad, grads["conv2.weight"])  # the user's steps added up
    assert all(p.requires_grad for n, p in model.named_parameters() if not n.startswith("conv1"))
    assert no_hooks(model)


def test_a_run_draws_nothing_from_torchs_global_generator():
    model = users_model()
    state = torch.get_rng_state()
    for _ in run(model, obj.channel("conv2", 1), steps=20, jitter=2, rotate=5.0, scale=0.1, init="normal"):
        pass
    occlusion_map(model, torch.rand(1, *SHAPE, generator=torch.Generator()), None, window=(3, 3),
                  stride=(3, 3))
    assert torch.equal(torch.get_rng_state(), state)


def test_forwards_in_one_thread_while_another_traces_the_model_for_occlusion():
    """torch.fx patches nn.Module.__call__ process-wide while it traces: our forwards take turns."""
    model = users_model().eval()
    x = torch.rand(2, *SHAPE)
    errors: list[BaseException] = []
    done = threading.Event()

    def occlude() -> None:
        try:
            for _ in range(15):
                occlusion_map(model, x[:1], None, window=(4, 4), stride=(4, 4))
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=occlude)
    thread.start()
    expected = activations(model, x, layer="conv2")["conv2"]
    while not done.is_set():
        torch.testing.assert_close(activations(model, x, layer="conv2")["conv2"], expected)
    thread.join()
    assert not errors
