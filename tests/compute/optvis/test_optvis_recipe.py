"""The run's parts come from tables keyed by settings rows, and read the live settings when called."""

import pytest
import torch

from convis_widgets.compute.optvis import recipe
from convis_widgets.compute.optvis import regularizers as reg
from convis_widgets.compute.optvis.loop import Settings
from convis_widgets.compute.optvis.settings import OPTIMIZERS, ROWS


def images(seed: int = 0) -> torch.Tensor:
    return torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(seed))


def test_every_part_is_named_by_a_live_row_of_the_table():
    for name in [p.name for p in recipe.PENALTIES] + [op.every for op in recipe.IMAGE_OPS]:
        assert name in ROWS, name
        assert ROWS[name].live, f"{name} is read every step, so its row must say live"
    assert OPTIMIZERS == tuple(recipe.UPDATES)
    assert ROWS["optimizer"].choices == OPTIMIZERS


def test_penalties_add_their_weighted_terms_and_follow_a_mid_run_change():
    x, value = images(), torch.tensor([0.3, -0.2])
    live = Settings(l2=0.0, tv=0.0)
    assert torch.equal(recipe.penalised(-value, x, live), -value)
    live.l2 = 0.5
    expected = -value + 0.5 * reg.l2_penalty(x, 0.0)
    assert torch.equal(recipe.penalised(-value, x, live), expected)
    live.tv = 2.0
    expected = expected + 2.0 * reg.total_variation(x)
    assert torch.equal(recipe.penalised(-value, x, live), expected)


def test_ascent_moves_by_lr_over_the_gradients_rms_per_image():
    parts = recipe.build("pixel", "ascent", images(), decorrelate=False, decay=1.0, value_range=(0.0, 1.0))
    before = parts.params[0].detach().clone()
    g = torch.randn(before.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        parts.update([g], Settings(lr=0.1))
    moved = before - parts.params[0].detach()
    rms = (moved.pow(2).reshape(2, -1).mean(dim=1).sqrt())
    torch.testing.assert_close(rms, torch.full((2,), 0.1))
    assert parts.pixel


def test_adam_reads_the_learning_rate_every_step():
    parts = recipe.build("fft", "adam", images(), decorrelate=False, decay=1.0, value_range=(0.0, 1.0))
    assert not parts.pixel
    before = [p.detach().clone() for p in parts.params]
    g = [torch.ones_like(p) for p in parts.params]
    with torch.no_grad():
        parts.update(g, Settings(lr=0.0))
    assert all(torch.equal(a, p) for a, p in zip(before, parts.params, strict=True))
    with torch.no_grad():
        parts.update(g, Settings(lr=0.05))
    assert not all(torch.equal(a, p) for a, p in zip(before, parts.params, strict=True))


def test_image_ops_blur_on_their_steps_and_clip_last():
    live = Settings(blur_every=2, blur_sigma=1.0, clip=True)
    x = images() * 3 - 1
    untouched = x.clone()
    recipe.image_ops(x, live, done=1)
    assert torch.equal(x, untouched.clamp(0, 1))
    y = untouched.clone()
    recipe.image_ops(y, live, done=2)
    assert torch.equal(y, reg.gaussian_blur(untouched, 1.0).clamp(0, 1))


def test_an_unknown_optimizer_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"one of \('ascent', 'adam'\), got 'sgd'"):
        recipe.build("pixel", "sgd", images(), decorrelate=False, decay=1.0, value_range=(0.0, 1.0))
