"""Guard and fingerprint a model's state: for your own code, and for tests of ours.

No technique of this package needs the guard: they work on a private view (see :mod:`.access`)
and never change the model. :func:`model_checksum` is how the tests prove it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .access import COPY_LIMIT_BYTES, model_device, model_dtype

__all__ = ["COPY_LIMIT_BYTES", "model_checksum", "model_device", "model_dtype", "preserved_state"]


def _fingerprint(t: torch.Tensor) -> torch.Tensor:
    """Sum and sum of squares in float64: changes with any realistic edit of the values."""
    flat = t.detach().reshape(-1).double()
    return torch.stack([flat.sum(), flat.pow(2).sum()])


@contextmanager
def preserved_state(
    model: nn.Module, *, eval_mode: bool = True, copy_limit_bytes: int = COPY_LIMIT_BYTES
) -> Iterator[nn.Module]:
    """Record the model's state, optionally switch to eval, and restore it all on exit.

    Restores training flags, ``requires_grad``, each ``.grad`` (the old gradient tensors are set
    aside, so a backward pass inside makes fresh ones and never adds into them) and every
    parameter or buffer whose value changed, also on error. Buffers (e.g. BatchNorm running
    stats) are always copied; parameters when they fit in ``copy_limit_bytes``. A larger
    parameter that changed cannot be restored and raises a RuntimeError naming it.
    """
    training = [(m, m.training) for m in model.modules()]
    named_params = list(model.named_parameters())
    params = [p for _, p in named_params]
    requires_grad = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    copy_params = sum(p.numel() * p.element_size() for p in params) <= copy_limit_bytes
    saved = [  # (name, tensor, a copy or a fingerprint of it, whether it is a copy)
        (name, t, t.detach().clone() if copy else _fingerprint(t), copy)
        for copy, named in ((copy_params, named_params), (True, list(model.named_buffers())))
        for name, t in named
    ]
    for p in params:
        p.grad = None
    try:
        if eval_mode:
            model.eval()
        yield model
    finally:
        for m, flag in training:
            m.training = flag
        lost = []
        with torch.no_grad():
            for name, t, kept, is_copy in saved:
                if not is_copy:
                    if not torch.equal(_fingerprint(t), kept):
                        lost.append(name)
                elif kept.shape != t.shape:
                    t.data = kept
                elif not torch.equal(t, kept):
                    t.copy_(kept)
        for p, flag, grad in zip(params, requires_grad, grads, strict=True):
            p.requires_grad_(flag)
            p.grad = grad
        if lost:
            raise RuntimeError(
                f"parameters {lost} were changed in place and the model is larger than "
                f"copy_limit_bytes={copy_limit_bytes}, so they could not be restored"
            )


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
