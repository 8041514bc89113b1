"""preserved_state() gives the model back as it came in; model_checksum() sees any change."""

import pytest
import torch
from torch import nn

from convis_widgets.compute import model_checksum, model_device, model_dtype, preserved_state


def bn_net() -> nn.Sequential:
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                        nn.Linear(3 * 4 * 4, 2))
    net.train()
    net[1].eval()  # a mixed state must come back mixed
    net[0].bias.requires_grad_(False)
    return net


def mess_up(net: nn.Sequential) -> None:
    """Everything a careless technique might do to a model."""
    net.train()  # BatchNorm now updates its running stats
    for p in net.parameters():
        p.requires_grad_(True)
    net(torch.randn(4, 1, 6, 6)).sum().backward()
    with torch.no_grad():
        net[0].weight.add_(1.0)
        net[4].bias.zero_()


def test_restores_everything(no_hooks):
    net = bn_net()
    before = model_checksum(net)
    running_mean = net[1].running_mean.clone()
    with preserved_state(net) as m:
        assert m is net
        assert not any(x.training for x in net.modules())
        mess_up(net)
        assert model_checksum(net) != before
        assert not torch.equal(net[1].running_mean, running_mean)
    assert model_checksum(net) == before
    assert net.training and not net[1].training and net[0].training
    assert not net[0].bias.requires_grad and net[0].weight.requires_grad
    assert all(p.grad is None for p in net.parameters())  # created grads cleared
    torch.testing.assert_close(net[1].running_mean, running_mean, rtol=0, atol=0)
    assert net[1].num_batches_tracked.item() == 0
    no_hooks(net)


def test_restores_on_exception():
    net = bn_net()
    before = model_checksum(net)
    with pytest.raises(RuntimeError, match="technique failed"):
        with preserved_state(net, eval_mode=False):
            assert net.training
            mess_up(net)
            raise RuntimeError("technique failed")
    assert model_checksum(net) == before


def test_existing_grads_kept_exactly():
    net = bn_net()
    net(torch.randn(2, 1, 6, 6)).sum().backward()
    old = {n: None if p.grad is None else p.grad.clone() for n, p in net.named_parameters()}
    assert old["0.weight"] is not None and old["0.bias"] is None  # bias has requires_grad off
    before = model_checksum(net)
    with preserved_state(net):
        net(torch.randn(2, 1, 6, 6)).sum().backward()  # accumulates into .grad in place
    for n, p in net.named_parameters():
        if old[n] is None:
            assert p.grad is None
        else:
            torch.testing.assert_close(p.grad, old[n], rtol=0, atol=0)
    assert model_checksum(net) == before


def test_checksum_sees_each_kind_of_change():
    net = bn_net()
    base = model_checksum(net)
    assert model_checksum(bn_net()) != base  # different random weights
    changes = [
        lambda: net.eval(),
        lambda: net[4].weight.requires_grad_(False),
        lambda: net[1].running_var.mul_(2),
        lambda: net[4].weight.data.mul_(2),
    ]
    for change in changes:
        with preserved_state(net, eval_mode=False):
            change()
            assert model_checksum(net) != base
        assert model_checksum(net) == base
    no_grads = model_checksum(net, grads=False)
    net(torch.randn(2, 1, 6, 6)).sum().backward()
    assert model_checksum(net) != base  # a grad appeared
    assert model_checksum(net, grads=False) == no_grads


def test_model_device_and_dtype():
    assert model_device(nn.ReLU()) == torch.device("cpu")
    assert model_dtype(nn.ReLU()) == torch.float32
    assert model_dtype(nn.Linear(2, 2).double()) == torch.float64


def test_old_grad_tensors_are_set_aside_not_added_into():
    net = bn_net()
    net(torch.randn(2, 1, 6, 6)).sum().backward()
    old_grad = net[0].weight.grad
    old_value = old_grad.clone()
    with preserved_state(net):
        assert net[0].weight.grad is None
        net(torch.randn(2, 1, 6, 6)).sum().backward()
        assert net[0].weight.grad is not old_grad
    assert net[0].weight.grad is old_grad and torch.equal(old_grad, old_value)


def test_large_models_are_fingerprinted_not_copied():
    net = bn_net()
    before = model_checksum(net)
    with preserved_state(net, copy_limit_bytes=0):  # as if the model were larger than the limit
        net(torch.randn(4, 1, 6, 6))  # eval mode: no running-stat update
    assert model_checksum(net) == before
    with pytest.raises(RuntimeError, match=r"\['4.weight'\].*could not be restored"):
        with preserved_state(net, copy_limit_bytes=0):
            net[4].weight.data.mul_(2)  # in place through .data: no version bump, still seen
            net[1].running_var.mul_(3)  # buffers are always copied
    assert torch.equal(net[1].running_var, torch.ones(3))
