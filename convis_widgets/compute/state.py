"""Give the model back exactly as it came in: training flags, requires_grad, grads, weights."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter or buffer (CPU if it has none)."""
    for t in _tensors(model):
        return t.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """Floating dtype of the model's first floating parameter or buffer (float32 if none)."""
    for t in _tensors(model):
        if t.is_floating_point():
            return t.dtype
    return torch.float32


def _tensors(model: nn.Module) -> Iterator[torch.Tensor]:
    yield from model.parameters()
    yield from model.buffers()


@contextmanager
def preserved_state(model: nn.Module, *, eval_mode: bool = True) -> Iterator[nn.Module]:
    """Record the model's state, optionally switch to eval, and restore it all on exit.

    Restores training flags, ``requires_grad``, each ``.grad`` (None stays None) and the value
    of every parameter and buffer that changed (e.g. BatchNorm running stats), also on error.
    """
    training = [(m, m.training) for m in model.modules()]
    params = list(model.parameters())
    requires_grad = [p.requires_grad for p in params]
    grads = [None if p.grad is None else p.grad.detach().clone() for p in params]
    values = [(t, t.detach().clone()) for t in [*params, *model.buffers()]]
    try:
        if eval_mode:
            model.eval()
        yield model
    finally:
        for m, flag in training:
            m.training = flag
        with torch.no_grad():
            for t, saved in values:
                if t.shape != saved.shape:
                    t.data = saved
                elif not torch.equal(t, saved):
                    t.copy_(saved)
        for p, flag, grad in zip(params, requires_grad, grads, strict=True):
            p.requires_grad_(flag)
            p.grad = grad


def model_checksum(model: nn.Module, *, grads: bool = True) -> str:
    """sha256 of parameters, buffers, grads, training and requires_grad flags.

    Two equal checksums mean the model was left unchanged.
    """
    h = hashlib.sha256()

    def add_tensor(name: str, t: torch.Tensor) -> None:
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        flat = t.detach().cpu().contiguous().reshape(-1)
        h.update(flat.view(torch.uint8).numpy().tobytes())

    for name, p in model.named_parameters():
        add_tensor("param:" + name, p)
        h.update(f"requires_grad={p.requires_grad}".encode())
        if grads:
            if p.grad is None:
                h.update(b"grad=None")
            else:
                add_tensor("grad:" + name, p.grad)
    for name, b in model.named_buffers():
        add_tensor("buffer:" + name, b)
    for name, m in model.named_modules():
        h.update(f"module:{name}|training={m.training}".encode())
    return h.hexdigest()
