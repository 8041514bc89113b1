"""``Settings.imagenet()`` against Lucent's ``param.image(224, fft=True, decorrelate=True)``.

Reference numbers (``LUCENT``) were measured once, outside the repo, by running Lucent's own code
(greentfrapp/lucent at 6123386, ``lucent/optvis/param/spatial.py`` ``fft_image`` and
``lucent/optvis/param/color.py`` ``to_valid_rgb(..., decorrelate=True)``, torch 2.13 on the CPU),
with its random spectrum replaced by the same draw this file makes: ``torch.randn`` of shape
(1, 3, 224, 113, 2) from ``torch.Generator().manual_seed(0)``, times 0.01 (Lucent's sd). The
statistics are computed exactly as in the helpers below:

- ``pre_std``: std of the image before the sigmoid (after the colour matrix);
- ``step_rms``: RMS change of that pre-sigmoid image after one Adam step (lr 0.05) on the loss
  ``-(image * G).sum()``, ``G = randn(1, 3, 224, 224)`` from generator seed 1;
- ``sat64``: share of pixel values < 0.01 or > 0.99 after 64 Adam steps (lr 0.05, no transforms)
  maximising ``objective`` below (mean squared ReLU output of a fixed random 7x7 conv);
- ``start_std``, ``start_rg``, ``start_slope``: std of the start image, the Pearson correlation of
  its red and green channels, and the least-squares slope of log power against log radial
  frequency over every non-zero rfft2 frequency (channel-mean power, image mean removed).

Over Lucent seeds 0-4 these vary by < 10% (pre_std 0.0117-0.0129, sat64 0.092-0.098); step_rms does
not depend on the spectrum. Before the fix ours gave, for seed 0: pre_std 0.0471, step_rms 0.247,
sat64 0.56 (same spectrum); start std 0.088, red-green correlation 0.00, slope -0.02.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convis_widgets.compute.optvis import initial_image, param, run
from convis_widgets.compute.optvis import objectives as obj
from convis_widgets.compute.optvis.loop import Settings

SIZE = 224
LUCENT = {
    "pre_std": 0.011782,
    "step_rms": 0.061755,
    "sat64": 0.095085,
    "start_std": 0.002945,
    "start_rg": 0.909458,
    "start_slope": -1.998162,
}
REL = 0.10


def gen(seed):
    return torch.Generator().manual_seed(seed)


def lucent_spectrum():
    return torch.randn((1, 3, SIZE, SIZE // 2 + 1, 2), generator=gen(0)) * 0.01


KERNEL = torch.randn((8, 3, 7, 7), generator=gen(1)) / 7


def objective(x):
    return F.relu(F.conv2d(x, KERNEL, stride=2)).pow(2).mean()


def preset_param(same_spectrum=True):
    """The preset's start and parameterisation, built as the loop builds them."""
    s = Settings.imagenet()
    x0 = initial_image(s.init, (3, SIZE, SIZE), s.seed, value_range=s.value_range)
    params, image = param.parameterise(s.param, x0, decorrelate=s.decorrelate, decay=s.fft_decay,
                                       value_range=s.value_range)
    if same_spectrum:
        assert params[0].shape == (1, 3, SIZE, SIZE // 2 + 1, 2)
        with torch.no_grad():
            params[0].copy_(lucent_spectrum())
    return s, params, image


def pre_sigmoid(image):
    return torch.logit(image.double())


def red_green(x):
    return float(torch.corrcoef(torch.stack([x[:, 0].flatten(), x[:, 1].flatten()]).double())[0, 1])


def spectral_slope(x):
    x = (x - x.mean(dim=(-2, -1), keepdim=True)).double()
    power = torch.fft.rfft2(x).abs().pow(2).mean(dim=(0, 1))
    fy = torch.fft.fftfreq(x.shape[-2], dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(x.shape[-1], dtype=torch.float64)[None, :]
    f = (fx**2 + fy**2).sqrt()
    lf, lp = f[f > 0].log(), power[f > 0].log()
    lf = lf - lf.mean()
    return float((lf * (lp - lp.mean())).sum() / (lf * lf).sum())


def test_preset_is_lucents_recipe():
    s = Settings.imagenet()
    assert (s.init, s.param, s.decorrelate, s.fft_decay, s.optimizer, s.lr) == (
        "spectrum", "fft", True, 1.0, "adam", 0.05)
    assert param.SPECTRUM_DIVISOR == 4.0 and param.SPECTRUM_SD == 0.01


def test_contrast_before_the_sigmoid_matches_lucent_for_the_same_spectrum():
    _, _, image = preset_param()
    with torch.no_grad():
        std = float(pre_sigmoid(image()).std())
    assert std == pytest.approx(LUCENT["pre_std"], rel=REL)


def test_one_adam_step_moves_the_image_as_far_as_lucents():
    s, params, image = preset_param()
    with torch.no_grad():
        before = pre_sigmoid(image())
    adam = torch.optim.Adam(params, lr=s.lr)
    grad_image = torch.randn((1, 3, SIZE, SIZE), generator=gen(1))
    (-(image() * grad_image).sum()).backward()
    adam.step()
    with torch.no_grad():
        rms = float((pre_sigmoid(image()) - before).pow(2).mean().sqrt())
    assert rms == pytest.approx(LUCENT["step_rms"], rel=REL)


def test_saturation_after_64_adam_steps_matches_lucent():
    s, params, image = preset_param()
    adam = torch.optim.Adam(params, lr=s.lr)
    for _ in range(64):
        adam.zero_grad()
        (-objective(image())).backward()
        adam.step()
    with torch.no_grad():
        x = image()
    saturated = float(((x < 0.01) | (x > 0.99)).float().mean())
    assert saturated == pytest.approx(LUCENT["sat64"], rel=REL)


def test_start_image_matches_lucents_start():
    s = Settings.imagenet()
    x0 = initial_image(s.init, (3, SIZE, SIZE), s.seed, value_range=s.value_range)
    assert x0.shape == (1, 3, SIZE, SIZE)
    assert float(x0.std()) == pytest.approx(LUCENT["start_std"], rel=REL)
    assert red_green(x0) == pytest.approx(LUCENT["start_rg"], rel=REL)
    assert spectral_slope(x0) == pytest.approx(LUCENT["start_slope"], rel=REL)
    # the fft parameterisation started from it holds Lucent's image (same draw, same maths)
    _, _, image = preset_param(same_spectrum=True)
    _, _, from_start = preset_param(same_spectrum=False)
    with torch.no_grad():
        torch.testing.assert_close(from_start(), image(), atol=1e-6, rtol=0)


def test_a_preset_run_starts_from_lucents_start():
    model = nn.Sequential(nn.Conv2d(3, 4, 8, stride=8), nn.ReLU())
    records = list(run(model, obj.channel("1", 0), (3, SIZE, SIZE), settings=Settings.imagenet(steps=1)))
    start = records[0].images
    assert records[0].step == 0 and records[-1].done
    assert float(start.std()) == pytest.approx(LUCENT["start_std"], rel=REL)
    assert red_green(start) == pytest.approx(LUCENT["start_rg"], rel=REL)


def test_spectrum_start_and_fft_still_work_for_a_small_grey_model():
    x0 = initial_image("spectrum", (1, 28, 28), seed=3, batch=2, value_range=(0.0, 1.0))
    assert x0.shape == (2, 1, 28, 28) and 0.0 <= float(x0.min()) and float(x0.max()) <= 1.0
    assert not torch.equal(x0[0], x0[1])
    torch.testing.assert_close(initial_image("spectrum", (1, 28, 28), seed=3, batch=2), x0)
    start = 0.1 + 0.8 * torch.rand((1, 1, 28, 28), generator=gen(2))
    for x in (x0, start):
        params, image = param.fft(x, value_range=(0.0, 1.0))
        torch.testing.assert_close(image(), x, atol=1e-4, rtol=0)


def test_the_divisor_shrinks_contrast_and_steps_by_four():
    spectrum = torch.randn((1, 3, 16, 9, 2), generator=gen(4), dtype=torch.float64)
    lucid = pre_sigmoid(param.spectrum_image(spectrum, (16, 16)))
    plain = pre_sigmoid(param.spectrum_image(spectrum, (16, 16), divisor=1.0))
    torch.testing.assert_close(plain, 4 * lucid)
    with pytest.raises(ValueError, match="spectrum must have shape"):
        param.spectrum_image(spectrum, (16, 15))
