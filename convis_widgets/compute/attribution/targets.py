"""Which class each image is explained for, and the score (logit or probability) that is explained."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..access import first_tensor

Target = int | Sequence[int] | torch.Tensor | np.ndarray | str | None


def class_scores(output: object, *, probabilities: bool = False) -> torch.Tensor:
    """(N, classes) scores from a model output: logits as given, or their softmax."""
    out = first_tensor(output)
    if out is None or out.ndim != 2:
        shape = None if out is None else tuple(out.shape)
        raise ValueError(
            f"attribution needs a classifier whose output is (N, classes) scores; got output shape {shape}"
        )
    return out.softmax(dim=1) if probabilities else out


def resolve_targets(target: Target, scores: torch.Tensor) -> torch.Tensor:
    """One class index per image (a long tensor on the scores' device) from ``target``.

    ``target`` is an int for every image, one int per image, or None / "predicted" for the
    class with the highest score of each (clean) image.
    """
    n, classes = scores.shape
    if target is None or (isinstance(target, str) and target == "predicted"):
        return scores.detach().argmax(dim=1)
    if isinstance(target, str):
        raise ValueError(f"target must be a class index, one index per image, or 'predicted'; got {target!r}")
    if isinstance(target, (bool, np.bool_, float)):
        raise ValueError(f"target must be an int class index; got {target!r}")
    t = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor) else target)
    if t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"target must hold int class indices; got dtype {t.dtype}")
    t = t.to(device=scores.device, dtype=torch.long).reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(
            f"target gives {t.numel()} class indices for {n} images; give one int or one per image"
        )
    bad = (t < 0) | (t >= classes)
    if bool(bad.any()):
        raise ValueError(
            f"target class {int(t[bad][0])} is out of range: the model has {classes} classes "
            f"(0..{classes - 1})"
        )
    return t.clone()


def pick(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The score of each row's target class: ``scores[i, targets[i]]``."""
    return scores.gather(1, targets.reshape(-1, 1).to(scores.device)).squeeze(1)
