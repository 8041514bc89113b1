"""The OIP loop: records, reproducibility, stopping, live settings, state and hooks, clear errors."""

import pytest
import torch
from torch import nn

from convis_widgets.compute import model_checksum
from convis_widgets.compute.errors import LayerNotFoundError, ModelForwardError
from convis_widgets.compute.optvis import Settings, Step, run
from convis_widgets.compute.optvis import objectives as obj
from convis_widgets.compute.optvis import regularizers as reg
from convis_widgets.compute.optvis.loop import UNRESPONSIVE_PATIENCE

SHAPE = (1, 12, 12)
QUIET = dict(steps=30, blur_every=0, precursor=0)  # no filters: the image changes only by its gradient


def small_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(6 * 3 * 3, 5),
    )


class Flaky(nn.Module):
    """Passes its input through until ``after`` calls, then does ``what`` (NaN output or raise)."""

    def __init__(self, after: int, what: str) -> None:
        super().__init__()
        self.after, self.what, self.calls = after, what, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls > self.after:
            if self.what == "raise":
                raise RuntimeError("flaky layer gave up")
            return x * float("nan")
        return x


@pytest.fixture
def cnn():
    return small_cnn()


def final(records):
    records = list(records)
    assert records[-1].done and all(not r.done for r in records[:-1])
    return records[-1], records


def test_records_at_log_steps_and_the_objective_grows(cnn):
    last, records = final(run(cnn, obj.channel("3", 2), SHAPE, steps=64, n_reports=3, precursor=0))
    assert [r.step for r in records] == [0, 8, 16, 32, 64]
    assert isinstance(last, Step) and last.reason == "steps"
    assert last.images.dtype == torch.float32 and last.images.device.type == "cpu"
    assert last.images.shape == (1, *SHAPE) and last.loss.shape == (1,) and last.value.shape == (1,)
    assert float(last.value[0]) > float(records[0].value[0])
    torch.testing.assert_close(last.loss, -last.value)
    assert bool(last.responded[0]) == (float(last.value[0]) > 0)
    assert last.elapsed > 0 and last.rel_change is not None
    assert float(last.images.min()) >= 0 and float(last.images.max()) <= 1


def test_every_k_reports_and_settings_object_or_overrides(cnn):
    _, records = final(run(cnn, obj.class_logit(1), SHAPE, settings=Settings(steps=10, report=3)))
    assert [r.step for r in records] == [0, 3, 6, 9, 10]
    _, records = final(run(cnn, obj.neuron("4", 0), SHAPE, settings=Settings(steps=8), report=5))
    assert [r.step for r in records] == [0, 5, 8]


def test_reproducible_from_a_seed(cnn):
    kw = dict(steps=20, jitter=2, rotate=5.0, scale=0.1, seed=3)
    a, _ = final(run(cnn, obj.channel("3", 1), SHAPE, **kw))
    b, _ = final(run(cnn, obj.channel("3", 1), SHAPE, **kw))
    c, _ = final(run(cnn, obj.channel("3", 1), SHAPE, **{**kw, "seed": 4}))
    assert torch.equal(a.images, b.images) and torch.equal(a.value, b.value)
    assert not torch.equal(a.images, c.images)


def test_cancelled_run_keeps_its_last_picture(cnn):
    seen = []

    def cancel():
        return len(seen) >= 5

    records = []
    for r in run(cnn, obj.channel("3", 0), SHAPE, cancel=cancel, report=1, **QUIET):
        seen.append(r)
        records.append(r)
    last = records[-1]
    assert last.done and last.reason == "cancelled" and last.step == 5
    assert not torch.equal(last.images, records[0].images)
    assert not torch.equal(last.images, records[-2].images)  # the picture after the 5th update


def test_nonfinite_loss_stops_and_keeps_the_last_good_image(cnn, no_hooks):
    model = nn.Sequential(Flaky(after=7, what="nan"), *small_cnn())
    before = model_checksum(model)
    last, records = final(run(model, obj.channel("4", 1), SHAPE, report=1, **QUIET))
    assert last.reason == "nonfinite" and last.step == 5  # the 8th forward (one dry run + 6 steps) gave NaN
    assert bool(torch.isfinite(last.images).all()) and bool(torch.isfinite(last.loss).all())
    assert records[-2].step == 5 and torch.equal(last.images, records[-2].images)
    no_hooks(model)
    assert model_checksum(model) == before


def test_lr_changed_mid_run_takes_effect(cnn):
    live = Settings(report=1, **QUIET | {"steps": 40})
    images = []
    for r in run(cnn, obj.channel("3", 3), SHAPE, settings=live):
        images.append(r.images)
        if r.step == 10:
            live.lr = 0.0
    assert not torch.equal(images[0], images[10])
    assert all(torch.equal(images[11], im) for im in images[12:])
    assert len(images) == 41


def test_blur_switched_on_mid_run_smooths(cnn):
    live = Settings(report=1, **QUIET | {"steps": 25, "lr": 0.0, "init": "normal"})
    tv = []
    for r in run(cnn, obj.channel("3", 3), SHAPE, settings=live):
        tv.append(float(reg.total_variation(r.images)[0]))
        if r.step == 10:
            live.blur_every, live.blur_sigma = 1, 1.0
    assert tv[10] == tv[5] and tv[12] < 0.6 * tv[10]


def test_regularisers_in_the_loop(cnn):
    base = dict(steps=40, precursor=0, blur_every=0, lr=0.05, init="normal")
    plain, _ = final(run(cnn, obj.channel("3", 0), SHAPE, **base))
    tv, _ = final(run(cnn, obj.channel("3", 0), SHAPE, **base, tv=50.0))
    assert float(reg.total_variation(tv.images)[0]) < float(reg.total_variation(plain.images)[0])
    l2, _ = final(run(cnn, obj.channel("3", 0), SHAPE, **base, l2=50.0))
    assert float(reg.l2_penalty(l2.images)[0]) < float(reg.l2_penalty(plain.images)[0])
    free, _ = final(run(cnn, obj.channel("3", 0), SHAPE, **{**base, "clip": False, "lr": 0.5}))
    assert float(free.images.min()) < 0 or float(free.images.max()) > 1
    kept, _ = final(run(cnn, obj.channel("3", 0), SHAPE, **{**base, "lr": 0.5}, value_range=(0.2, 0.7)))
    assert float(kept.images.min()) >= 0.2 and float(kept.images.max()) <= 0.7


def test_transforms_pad_adam_and_fft_run(cnn):
    for kw in (dict(jitter=2, scale=0.1, rotate=10.0, pad=3), dict(optimizer="adam", lr=0.05),
               dict(param="fft", optimizer="adam", lr=0.05), dict(pad=2)):
        last, records = final(run(cnn, obj.class_logit(0), SHAPE, steps=12, precursor=0, **kw))
        assert float(last.value[0]) > float(records[0].value[0]), kw


def test_converged_and_unresponsive_reasons(cnn):
    last, _ = final(run(cnn, obj.channel("3", 0), SHAPE, steps=200, stop_on_convergence=True,
                        convergence=0.5))
    assert last.reason == "converged" and last.step < 200
    dead = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    with torch.no_grad():
        dead[0].weight.zero_()
        dead[0].bias.fill_(-1.0)
    last, _ = final(run(dead, obj.channel("1", 0), SHAPE, steps=100))
    assert last.reason == "unresponsive" and last.step == UNRESPONSIVE_PATIENCE - 1
    assert not bool(last.responded[0])


def test_model_state_and_hooks_restored_also_on_error(cnn, no_hooks):
    model = nn.Sequential(*small_cnn()[:3], Flaky(after=5, what="raise"), *small_cnn()[3:])
    model.train()
    model[0].weight.requires_grad_(True)
    model[3].requires_grad_(False)
    model[0].weight.grad = torch.ones_like(model[0].weight)
    before = model_checksum(model)
    with pytest.raises(ModelForwardError, match="flaky layer gave up"):
        list(run(model, obj.channel("4", 0), SHAPE, steps=20, precursor=0))
    no_hooks(model)
    assert model_checksum(model) == before and model.training
    model[3].calls = 0
    it = run(model, obj.channel("4", 0), SHAPE, steps=20, precursor=0, report=1)
    next(it)
    next(it)
    # a private view runs in eval mode: the model's own flags are never switched, mid-run neither
    assert model[0].weight.requires_grad is True and model.training and model_checksum(model) == before
    it.close()  # a dropped iterator gives the model back too
    no_hooks(model)
    assert model_checksum(model) == before


def test_double_precision_models_are_followed(cnn):
    cnn.double()
    last, _ = final(run(cnn, obj.channel("3", 0), SHAPE, steps=5))
    assert last.images.dtype == torch.float32
    assert next(cnn.parameters()).dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_model(cnn, no_hooks):
    cnn.cuda()
    before = model_checksum(cnn)
    last, _ = final(run(cnn, obj.channel("3", 0), SHAPE, steps=10, jitter=1, rotate=5.0, precursor=4))
    assert last.images.device.type == "cpu" and float(last.value[0]) > 0
    assert next(cnn.parameters()).device.type == "cuda" and model_checksum(cnn) == before
    no_hooks(cnn)


def test_bad_inputs_give_clear_errors(cnn):
    with pytest.raises(ValueError, match="layer '3' has 6 channels"):
        run(cnn, obj.channel("3", 6), SHAPE)
    with pytest.raises(LayerNotFoundError, match="valid names"):
        run(cnn, obj.channel("conv9", 0), SHAPE)
    with pytest.raises(TypeError, match=r"setting\(s\) \['learning_rate'\]; valid settings: steps, lr"):
        run(cnn, obj.channel("3", 0), SHAPE, learning_rate=0.1)
    with pytest.raises(TypeError, match="valid settings"):
        Settings(sigma=1)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        Settings(optimizer="sgd")
    with pytest.raises(ValueError, match="value_range"):
        Settings(value_range=(1, 0))
    with pytest.raises(ValueError, match=r"input_shape needed .*e\.g\. \(1, 28, 28\)"):
        run(cnn, obj.channel("3", 0))
    with pytest.raises(TypeError, match="Objective"):
        run(cnn, "3:0", SHAPE)  # type: ignore[arg-type]


def test_settings_copy_and_json_round_trip():
    s = Settings(lr=0.1, init=torch.zeros(1, 2, 2), value_range=(-1, 1))
    d = s.to_dict()
    assert d["value_range"] == [-1.0, 1.0] and d["init"] == [[[0.0, 0.0], [0.0, 0.0]]]
    back = Settings.from_dict(d)
    assert back == s and back.value_range == (-1.0, 1.0)
    t = s.replace(tv=0.2)
    assert t.tv == 0.2 and s.tv == 0.0 and t.lr == 0.1
    assert "lr=0.1" in repr(s)
    net = Settings.imagenet()
    assert (net.param, net.optimizer, net.pad, net.jitter, net.rotate) == ("fft", "adam", 12, 8, 10.0)


class SanitisesItsInput(nn.Module):
    """Replaces NaN pixels by 0 before its conv (some users' models do), and has a path whose
    gradient at a zero pixel is 0 * inf: its first step turns the image NaN while the loss stays 0."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nan_to_num(x)
        return self.conv(x + 0.0 * x[:, :, :1, :1].sqrt())


def test_a_nan_image_is_never_returned_even_when_the_loss_stays_finite():
    records = list(run(SanitisesItsInput(), obj.channel("conv", 0), SHAPE, steps=20, init="zeros",
                       precursor=0, report=1, blur_every=0))
    last = records[-1]
    assert last.done and last.reason == "nonfinite" and last.step == 0
    assert all(bool(torch.isfinite(r.images).all()) for r in records)


def test_the_old_name_of_a_steps_value_still_works_and_says_so(cnn):
    last, _ = final(run(cnn, obj.channel("3", 0), SHAPE, steps=2))
    with pytest.warns(DeprecationWarning, match="Step.value"):
        assert torch.equal(last.activation, last.value)
