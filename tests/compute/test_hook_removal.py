"""No technique leaves a hook behind (captum's tests/attr/test_hook_removal.py, over every hook
table), also when the model raises mid-run; the model's own hooks stay, its observers do not
see our passes, and its state comes back exactly."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from attribution_models import CALLS, RaisesOnCall
from torch import nn

from convis_widgets.compute import (
    ModelForwardError,
    activations,
    channel_statistics,
    layers,
    model_checksum,
    receptive_field,
)
from convis_widgets.compute.access import HOOK_TABLES
from convis_widgets.compute.attribution import (
    deconvnet,
    grad_cam,
    guided_backprop,
    occlusion_map,
    saliency,
    smoothgrad,
)
from convis_widgets.compute.optvis import dataset_max_activation, iter_gallery, run
from convis_widgets.compute.optvis import objectives as obj
from convis_widgets.compute.probe import capture
from convis_widgets.compute.training import train_run

SHAPE = (1, 12, 12)
IMAGES = torch.rand(3, *SHAPE, generator=torch.Generator().manual_seed(0))


def net(fail_on: int) -> nn.Sequential:
    """conv -> BatchNorm (train mode) -> ReLU(inplace) -> pool -> raises on call ``fail_on`` -> fc."""
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        RaisesOnCall(fail_on), nn.Flatten(), nn.Linear(4 * 6 * 6, 3),
    ).train()
    model[0].bias.requires_grad_(False)
    model[6].weight.grad = torch.full_like(model[6].weight, 0.5)
    return model


def consume(it) -> None:
    for _ in it:
        pass


TECHNIQUES: dict[str, Callable[[nn.Module], object]] = {
    "layers": lambda m: layers(m, SHAPE),
    "receptive_field": lambda m: receptive_field(m, "4", SHAPE),
    "activations": lambda m: activations(m, IMAGES, layer=["0", "4"]),
    "channel_statistics": lambda m: channel_statistics(m, IMAGES, layer="4", batch_size=1),
    "dataset_max_activation": lambda m: dataset_max_activation(m, IMAGES, layer="4", batch_size=1),
    "optvis.run": lambda m: consume(run(m, obj.channel("4", 0), SHAPE, steps=12, precursor=0)),
    "optvis.run class logit": lambda m: consume(run(m, obj.class_logit(1), SHAPE, steps=12, precursor=2)),
    "iter_gallery": lambda m: consume(iter_gallery(m, "4", SHAPE, steps=6, batch_size=2)),
    "occlusion incremental": lambda m: occlusion_map(m, IMAGES, None, window=(3, 3), stride=(3, 3),
                                                     batch_size=2),
    "occlusion batched": lambda m: occlusion_map(m, IMAGES, 1, window=(3, 3), stride=(3, 3), batch_size=2,
                                                 incremental=False),
    "saliency": lambda m: saliency(m, IMAGES, 1),
    "smoothgrad": lambda m: smoothgrad(m, IMAGES, 1, samples=4, batch_size=2),
    "grad_cam": lambda m: grad_cam(m, IMAGES, 1, layer="2"),
    "guided_backprop": lambda m: guided_backprop(m, IMAGES, 1),
    "deconvnet": lambda m: deconvnet(m, IMAGES, 1),
    "train_run": lambda m: consume(train_run(m, (IMAGES.repeat(2, 1, 1, 1), torch.tensor([0, 1, 2] * 2)),
                                             (IMAGES, torch.tensor([0, 1, 2])), epochs=1, batch_size=2,
                                             out_dir=None)),
}


def hook_counts(model: nn.Module) -> dict[tuple[str, str], int]:
    return {(name, table): len(getattr(m, table)) for name, m in model.named_modules()
            for table in HOOK_TABLES}


@pytest.mark.parametrize("fail_on", [1, 2, 5])
@pytest.mark.parametrize("name", TECHNIQUES)
def test_no_hook_is_left_when_the_model_raises_mid_run(name, fail_on):
    model = net(fail_on)
    before = model_checksum(model)
    with pytest.raises(ModelForwardError, match=f"failing on call {fail_on}"):
        while True:  # a technique that ends before the failing call is run again
            TECHNIQUES[name](model)
    assert all(n == 0 for n in hook_counts(model).values())
    assert model_checksum(model) == before
    CALLS.pop(model[4].key)


@pytest.mark.parametrize("name", TECHNIQUES)
def test_the_models_own_hooks_stay_and_its_observers_do_not_see_our_passes(name):
    model = net(10**9)
    seen: list[int] = []
    pre: list[int] = []
    handles = [
        model[0].register_forward_hook(lambda m, a, o: seen.append(1)),  # a user's observer
        model[1].register_forward_pre_hook(lambda m, a: pre.append(1)),  # e.g. torch's prune/weight_norm
        model[6].register_full_backward_hook(lambda m, gi, go: seen.append(2)),
    ]
    counts = hook_counts(model)
    before = model_checksum(model)
    try:
        TECHNIQUES[name](model)
        assert seen == []  # our passes never reach the user's forward and backward hooks
        assert pre  # forward pre-hooks are part of how the model computes: they run
        assert hook_counts(model) == counts and model_checksum(model) == before
    finally:
        for h in handles:
            h.remove()
    CALLS.pop(model[4].key)


def test_capture_hooks_the_users_own_forwards_and_removes_them(no_hooks):
    model = net(10**9).eval()
    with pytest.raises(RuntimeError, match="inside"), capture(model, ["0", "3"]) as cap:
        model(IMAGES)
        assert set(cap) == {"0", "3"} and cap["3"].shape == (3, 4, 6, 6)
        raise RuntimeError("inside the block")
    no_hooks(model)
    CALLS.pop(model[4].key)
