"""occlusion / occlusion_map agree with captum.attr.Occlusion (window over all channels), on both paths."""

import time

import pytest
import torch
from attribution_models import Branchy, PaddedNet, StridedNet, flaky_net, seed_cnn
from captum.attr import Occlusion

from convis_widgets.compute import model_checksum
from convis_widgets.compute.attribution import make_baseline, occlusion, occlusion_map, patch
from convis_widgets.compute.attribution.occlusion import timed_batch
from convis_widgets.compute.cancel import RunCancelled
from convis_widgets.compute.errors import ModelForwardError

MODELS = {
    "seed_3x3": lambda: seed_cnn(3),
    "seed_9x9": lambda: seed_cnn(9),
    "padded": lambda: PaddedNet().eval(),
    "strided": lambda: StridedNet().eval(),
}
# (window, stride): tiling and non-tiling strides (last window clipped at the border)
WINDOWS = [((3, 3), (1, 1)), ((5, 4), (3, 2)), ((7, 7), (4, 4))]


def images_for(model, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, *model.input_shape), generator=g, dtype=torch.float64)


def captum_occlusion(model, x, target, window, stride, baseline, forward=None):
    c = x.shape[1]
    return Occlusion(forward or model).attribute(
        x, sliding_window_shapes=(c, *window), strides=(c, *stride), baselines=baseline,
        target=target, perturbations_per_eval=16,
    )


def assert_rel(got, want, rtol=1e-5):
    """Equal to ``rtol`` relative to the largest value (Captum answers float32 for float64 input)."""
    want = want.to(got.dtype)
    torch.testing.assert_close(got, want, rtol=rtol, atol=rtol * float(want.abs().max()))


@pytest.mark.parametrize("window,stride", WINDOWS)
@pytest.mark.parametrize("name", list(MODELS))
def test_equals_captum_on_the_incremental_path(name, window, stride, no_hooks):
    model = MODELS[name]().double()
    x = images_for(model)
    before = model_checksum(model)
    result = occlusion_map(model, x, [1, 2], window=window, stride=stride)
    assert result.path == "incremental"
    want = captum_occlusion(model, x, [1, 2], window, stride, 0.0)
    assert result.attribution.shape == x.shape
    assert_rel(result.attribution, want)
    batched = occlusion_map(model, x, [1, 2], window=window, stride=stride, incremental=False)
    assert batched.path == "batched"
    assert_rel(result.drops, batched.drops, rtol=1e-9)
    assert model_checksum(model) == before
    no_hooks(model)


def test_float32_incremental_equals_batching_to_float_tolerance():
    model = seed_cnn(3)
    x = images_for(model, 3).float()
    inc = occlusion_map(model, x, None, window=(6, 6), stride=(1, 1), batch_size=100)
    plain = occlusion_map(model, x, None, window=(6, 6), stride=(1, 1), incremental=False)
    assert inc.path == "incremental"
    assert_rel(inc.attribution, plain.attribution, rtol=1e-4)
    assert_rel(inc.attribution, captum_occlusion(model, x, inc.targets, (6, 6), (1, 1), 0.0), rtol=1e-4)


def test_drops_are_the_score_change_of_each_patched_image():
    model = StridedNet().eval().double()
    x = images_for(model, 1)
    r = occlusion_map(model, x, 3, window=(5, 4), stride=(3, 2), baseline=0.5)
    assert r.drops.shape == (1, len(r.rows), len(r.cols))
    assert r.rows[-1] + 5 > 24  # the last window sticks out and is clipped
    i, j = 2, len(r.cols) - 1
    base = torch.full_like(x[0], 0.5)
    patched = patch(x[0], base, torch.tensor([r.rows[i]]), torch.tensor([r.cols[j]]), (5, 4))
    with torch.no_grad():
        want = model(x)[0, 3] - model(patched)[0, 3]
    torch.testing.assert_close(r.drops[0, i, j], want)
    torch.testing.assert_close(r.clean[0], model(x)[0, 3].detach())
    assert r.cell(r.rows[i] + 1, r.cols[j]) == (i, j)


@pytest.mark.parametrize("kind", ["number", "mean", "blur", "tensor"])
def test_baselines_equal_captum_with_the_same_baseline_tensor(kind):
    model = PaddedNet().eval().double()
    x = images_for(model)
    data = images_for(model, 6, seed=5)
    baseline = {"number": 0.25, "mean": "mean", "blur": "blur", "tensor": torch.full((2, 1, 1), 0.1)}[kind]
    got = occlusion(model, x, 0, window=(4, 4), stride=(2, 2), baseline=baseline,
                    data=data if kind == "mean" else None)
    b = make_baseline(x.clone(), baseline, data=data if kind == "mean" else None)
    if kind == "mean":
        torch.testing.assert_close(b[0, :, 0, 0], data.mean(dim=(0, 2, 3)))
    if kind == "blur":
        assert float((b[0] - x[0]).abs().mean()) > 0.05  # really blurred
        assert float(b[0].std()) < float(x[0].std())
    assert_rel(got, captum_occlusion(model, x, 0, (4, 4), (2, 2), b))


def test_probabilities_and_predicted_target():
    model = seed_cnn(3).double()
    x = images_for(model)
    r = occlusion_map(model, x, "predicted", window=(7, 7), stride=(7, 7), probabilities=True)
    pred = model(x).argmax(1)
    assert r.targets.tolist() == pred.tolist()
    want = captum_occlusion(model, x, pred, (7, 7), (7, 7), 0.0, forward=lambda t: model(t).softmax(1))
    assert_rel(r.attribution, want)


def test_untraceable_model_falls_back_to_batching(no_hooks):
    model = Branchy().eval().double()
    x = images_for(model)
    r = occlusion_map(model, x, 1, window=(3, 3), stride=(2, 2))
    assert r.path == "batched"
    assert_rel(r.attribution, captum_occlusion(model, x, 1, (3, 3), (2, 2), 0.0))
    no_hooks(model)


def test_progress_is_reported_and_can_stop_the_run():
    model = seed_cnn(3)
    x = images_for(model, 2).float()
    seen = []
    occlusion_map(model, x, 0, window=(4, 4), stride=(4, 4), batch_size=10,
                  progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (98, 98) and len(seen) == 10

    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        occlusion_map(model, x, 0, window=(4, 4), stride=(4, 4), batch_size=10, progress=stop)


@pytest.mark.parametrize(
    "window,stride,target,match",
    [
        ((29, 3), (1, 1), 0, r"window \(29, 3\) is larger than the image \(28, 28\)"),
        ((3, 3), (0, 1), 0, r"stride must be at least 1"),
        ((3, 3), (4, 1), 0, r"stride \(4, 1\) is larger than the window"),
        ((0, 3), (1, 1), 0, r"window must be at least 1x1"),
        ((3, 3), (1, 1), 10, r"target class 10 is out of range: the model has 10 classes"),
        ((3, 3), (1, 1), [1, 2, 3], r"3 class indices for 2 images"),
        ("big", (1, 1), 0, r"window must be an int or a \(height, width\) pair"),
    ],
)
def test_bad_sizes_and_targets_give_clear_errors(window, stride, target, match):
    model = seed_cnn(3)
    with pytest.raises(ValueError, match=match):
        occlusion(model, torch.rand(2, 1, 28, 28), target, window=window, stride=stride)


def test_bad_baseline_gives_a_clear_error():
    model = seed_cnn(3)
    with pytest.raises(ValueError, match="baseline must be a number, 'mean', 'blur' or a tensor"):
        occlusion(model, torch.rand(1, 1, 28, 28), 0, window=(3, 3), stride=(3, 3), baseline="zeros")
    with pytest.raises(ValueError, match="must broadcast to the images' shape"):
        occlusion(model, torch.rand(1, 1, 28, 28), 0, window=(3, 3), stride=(3, 3),
                  baseline=torch.zeros(2, 5, 5))


@pytest.mark.parametrize("fail_on", [1, 3, 5])  # 3: the incremental check, 5: one of its batches
def test_a_forward_that_raises_mid_run_leaves_the_model_as_it_was(fail_on, no_hooks):
    model = flaky_net(fail_on)
    model.train()
    before = model_checksum(model)
    with pytest.raises(ModelForwardError, match=f"failing on call {fail_on}"):
        occlusion_map(model, torch.rand(1, 1, 12, 12), 0, window=(3, 3), stride=(1, 1), batch_size=40)
    assert model_checksum(model) == before
    assert model.training
    no_hooks(model)


def test_occlusion_and_occlusion_map_share_their_defaults():
    model = seed_cnn()
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(occlusion(model, x), occlusion_map(model, x).attribution)


class PacedNet(torch.nn.Module):
    """A linear head that takes at least 20 ms per image of a batch: batches of a known least cost."""

    input_shape = (1, 8, 8)

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(64, 3)

    def forward(self, x):
        if bool(torch.isfinite(x).all()):  # data-dependent: torch.fx cannot trace it, plain batching
            time.sleep(0.02 * len(x))
        return self.fc(x.flatten(1))


def test_timed_batches_grow_from_one_position_to_about_the_time_asked():
    model = PacedNet().eval()
    x = images_for(model, n=1).float()
    sizes: list[int] = []
    done = [0]

    def progress(now, _total):
        sizes.append(now - done[0])
        done[0] = now

    timed = occlusion_map(model, x, 0, window=2, stride=1, seconds_per_batch=0.2, progress=progress)
    assert timed.path == "batched" and sum(sizes) == 49
    assert sizes[0] == 1 and all(b <= 2 * a for a, b in zip(sizes, sizes[1:], strict=False))
    assert max(sizes) <= 10  # 0.2 s holds at most 10 images of 20 ms
    assert max(sizes) >= 5  # and it gets near that (on a machine up to twice as slow as asked)
    plain = occlusion_map(model, x, 0, window=2, stride=1)
    torch.testing.assert_close(timed.drops, plain.drops)


def test_timed_batch_sizes_and_bad_budgets():
    assert timed_batch(4, 0.1, 0.3, 512) == 8  # fast: doubles at most
    assert timed_batch(40, 1.2, 0.3, 512) == 10  # slow: what fits in the time
    assert timed_batch(3, 10.0, 0.3, 512) == 1  # never below one position
    assert timed_batch(400, 0.01, 0.3, 512) == 512  # never above the memory budget's batch
    with pytest.raises(ValueError, match="seconds_per_batch must be a number of seconds > 0"):
        occlusion_map(PacedNet(), torch.rand(1, 1, 8, 8), 0, window=2, seconds_per_batch=0)


def test_a_cancel_is_read_during_the_setup_before_the_first_batch():
    model = seed_cnn(3)
    x = images_for(model, 1).float()
    forwards = []
    handle = model.register_forward_pre_hook(lambda _m, _a: forwards.append(1))  # our views keep it
    asked = []
    try:
        with pytest.raises(RunCancelled, match="occlusion was cancelled"):
            occlusion_map(model, x, 0, window=4, stride=1, cancel=lambda: True,
                          progress=lambda *_: pytest.fail("a batch ran after the cancel"))
        assert len(forwards) == 1  # the clean scores only: no set-up forward after the cancel
        at_first_batch = []
        result = occlusion_map(model, x, 0, window=4, stride=1, cancel=lambda: asked.append(1) is not None,
                               progress=lambda *_: at_first_batch.append(len(asked)))
        # read after the clean forward, between the incremental runner's two steps, after it
        assert result.path == "incremental" and at_first_batch[0] == 3
    finally:
        handle.remove()
