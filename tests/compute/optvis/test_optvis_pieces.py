"""The small pieces of feature visualisation: regularisers, transforms, parameterisations, start images."""

import math

import numpy as np
import pytest
import torch

from convis_widgets.compute.errors import InputError
from convis_widgets.compute.optvis import init, initial_image, param, report_steps
from convis_widgets.compute.optvis import regularizers as reg
from convis_widgets.compute.optvis import transforms as tf


def noise(shape=(2, 1, 28, 28), seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def high_frequency_energy(x):
    spec = torch.fft.rfft2(x - x.mean(dim=(-2, -1), keepdim=True)).abs().pow(2)
    fy = torch.fft.fftfreq(x.shape[-2]).abs()[:, None]
    fx = torch.fft.rfftfreq(x.shape[-1])[None, :]
    return float(spec[..., (fx**2 + fy**2).sqrt() > 0.25].sum())


def test_blur_lowers_high_frequencies_and_keeps_the_mean():
    x = noise()
    y = reg.gaussian_blur(x, 1.0)
    assert y.shape == x.shape
    assert high_frequency_energy(y) < 0.05 * high_frequency_energy(x)
    torch.testing.assert_close(y.mean(), x.mean(), atol=1e-2, rtol=0)


def test_total_variation_penalty_and_its_gradient_lower_tv():
    x = noise().requires_grad_(True)
    tv = reg.total_variation(x)
    assert tv.shape == (2,)
    tv.sum().backward()
    with torch.no_grad():
        assert bool((reg.total_variation(x - 0.05 * x.grad.sign()) < tv).all())
    flat = torch.full((1, 1, 4, 4), 0.3)
    assert float(reg.total_variation(flat)) == 0.0


def test_l2_penalty_measures_distance_to_the_centre():
    x = torch.full((1, 1, 2, 2), 0.5)
    assert float(reg.l2_penalty(x, 0.0)) == pytest.approx(0.25)
    assert float(reg.l2_penalty(x, 0.5)) == 0.0


def test_bilateral_keeps_an_edge_that_gaussian_blur_smears():
    step = torch.zeros(1, 1, 16, 16)
    step[..., 8:] = 1.0
    x = step + 0.03 * torch.randn(step.shape, generator=torch.Generator().manual_seed(1))
    bil = reg.bilateral_filter(x, sigma_space=1.5, sigma_range=0.2)
    gauss = reg.gaussian_blur(x, 1.5)

    def edge(y):
        return float((y[..., 8] - y[..., 7]).mean())

    assert edge(bil) > 0.9 and edge(gauss) < 0.5
    assert float((bil - step).abs().mean()) < float((x - step).abs().mean())  # noise is smoothed too


def test_clip_keeps_the_range():
    y = reg.clip(torch.linspace(-2, 2, 9), (0.0, 1.0))
    assert float(y.min()) == 0.0 and float(y.max()) == 1.0


def test_jitter_is_an_exact_whole_pixel_shift():
    x = noise((1, 1, 8, 8))
    g = torch.Generator().manual_seed(0)
    theta = tf.affine_matrices(1, 8, 8, jitter=3, generator=g)
    shift_x, shift_y = round(float(-theta[0, 0, 2]) * 4), round(float(-theta[0, 1, 2]) * 4)
    y = tf._warp(x, theta, 0.0)
    def window(s):
        return slice(max(s, 0), 8 + min(s, 0))

    torch.testing.assert_close(y[..., window(shift_y), window(shift_x)],
                               x[..., window(-shift_y), window(-shift_x)], atol=1e-5, rtol=0)


def test_rotation_by_90_degrees_and_fill():
    x = noise((1, 1, 6, 6))
    rot = tf.random_affine(0, (1.0, 1.0), 90.0, generator=torch.Generator().manual_seed(0))
    theta = tf.affine_matrices(1, 6, 6, degrees=90.0, generator=torch.Generator().manual_seed(0))
    angle = math.degrees(math.atan2(float(theta[0, 1, 0]), float(theta[0, 0, 0])))
    y = rot(x)
    if abs(abs(angle) - 90) < 1e-3:  # only exact quarter turns are exact permutations
        assert torch.allclose(y, torch.rot90(x, 1 if angle > 0 else -1, (-2, -1)), atol=1e-5)
    zoom_out = tf.random_scale(0.5, 0.5, fill=0.7)(x)
    assert float(zoom_out[0, 0, 0, 0]) == pytest.approx(0.7)
    assert torch.equal(tf.random_affine()(x), x)


def test_pad_then_crop_is_identity_and_compose_runs_in_order():
    x = noise((2, 3, 5, 7))
    both = tf.compose(tf.pad(3, 0.5), tf.center_crop(5, 7))
    torch.testing.assert_close(both(x), x)
    assert tf.pad(2, 0.5)(x).shape == (2, 3, 9, 11)
    assert float(tf.pad(2, 0.5)(x)[0, 0, 0, 0]) == 0.5
    with pytest.raises(ValueError):
        tf.pad(-1)


def test_transforms_are_differentiable():
    x = noise((2, 1, 10, 10)).requires_grad_(True)
    g = torch.Generator().manual_seed(0)
    t = tf.compose(tf.pad(2), tf.random_affine(2, (0.9, 1.1), 10.0, generator=g))
    t(x).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_pixel_param_is_the_image():
    start = noise((2, 1, 4, 4))
    params, image = param.pixel(start)
    assert image() is params[0] and params[0].requires_grad
    torch.testing.assert_close(image(), start)


@pytest.mark.parametrize("channels", [1, 3])
def test_fft_param_reproduces_the_start_and_stays_in_range(channels):
    start = 0.1 + 0.8 * noise((2, channels, 12, 10))
    params, image = param.fft(start, value_range=(0.0, 1.0))
    torch.testing.assert_close(image(), start, atol=1e-4, rtol=0)
    with torch.no_grad():
        params[0].add_(torch.randn(params[0].shape) * 50)
    y = image()
    assert float(y.detach().min()) >= 0.0 and float(y.detach().max()) <= 1.0
    y.sum().backward()
    assert params[0].grad is not None


def test_fft_scale_favours_low_frequencies():
    s = param.spectrum_scale(16, 16)
    assert float(s[0, 0]) == pytest.approx(16.0) and float(s[8, 8]) < float(s[1, 1])
    with pytest.raises(ValueError, match="pixel, fft"):
        param.parameterise("wavelet", noise((1, 1, 4, 4)))


def test_multiscale_start_is_reproducible_in_range_and_long_scale():
    a = init.multiscale((1, 28, 28), batch=3, seed=5)
    b = init.multiscale((1, 28, 28), batch=3, seed=5)
    c = init.multiscale((1, 28, 28), batch=3, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (3, 1, 28, 28) and float(a.min()) >= 0 and float(a.max()) <= 1
    coarse = init.multiscale((1, 28, 28), grids=(3,), amplitudes=(0.3,))
    fine = init.multiscale((1, 28, 28), grids=(28,), amplitudes=(0.3,))
    assert reg.total_variation(coarse) < reg.total_variation(fine) / 3
    shifted = init.multiscale((1, 8, 8), value_range=(-1.0, 1.0))
    assert float(shifted.min()) >= -1 and float(shifted.max()) <= 1


def test_initial_image_kinds_and_errors():
    blank = initial_image("zeros", (1, 4, 4), value_range=(-1.0, 1.0))
    assert torch.equal(blank, torch.full((1, 1, 4, 4), -1.0))
    normal = initial_image("normal", (3, 8, 8), seed=1, batch=2)
    assert normal.shape == (2, 3, 8, 8) and abs(float(normal.mean()) - 0.5) < 0.05
    assert float((normal - 0.5).abs().max()) <= 0.2 + 1e-6  # cut at 2 std
    data = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])
    torch.testing.assert_close(initial_image("mean", (1, 4, 4), data=data), torch.full((1, 1, 4, 4), 0.5))
    mine = np.full((1, 4, 4), 0.25, dtype=np.float32)
    assert torch.equal(initial_image(mine, (1, 4, 4), batch=2), torch.full((2, 1, 4, 4), 0.25))
    with pytest.raises(ValueError, match="needs data"):
        initial_image("mean", (1, 4, 4))
    with pytest.raises(ValueError, match="multiscale, normal, zeros, mean"):
        initial_image("plasma", (1, 4, 4))
    with pytest.raises(InputError, match=r"\(1, 4, 4\)"):
        initial_image(torch.zeros(1, 5, 5), (1, 4, 4))


def test_candidate_starts_put_long_scales_first():
    cands = init.candidate_starts((1, 28, 28), 8, seed=0)
    assert cands.shape == (8, 1, 28, 28)
    tv = reg.total_variation(cands)
    assert float(tv[:4].max()) < float(tv[4:].min())


def test_report_steps_follow_seed_003():
    assert report_steps(600, "log", 6) == [0, 9, 18, 36, 72, 144, 288, 600]
    assert report_steps(10, 4) == [0, 4, 8, 10]
    assert report_steps(1) == [0, 1]
    with pytest.raises(ValueError, match='"log" or an int'):
        report_steps(10, "sometimes")


def test_the_readme_shows_the_settings_table_as_it_is():
    from pathlib import Path

    from convis_widgets.compute.optvis.settings import docs

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    start = readme.index("<!-- settings table: made by convis_widgets.compute.optvis.settings.docs() -->\n")
    end = readme.index("\n<!-- end of settings table -->")
    assert readme[start:end].split("\n", 1)[1] == docs()
