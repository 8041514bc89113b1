"""An autoencoder's latent space: codes, their fitted distribution, samples, lines and fragmentation."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from convis_widgets.compute.cancel import RunCancelled
from convis_widgets.compute.latent import (
    autoencoder_parts,
    decode,
    encode,
    fit_latent,
    fragmentation,
    interpolate,
)
from convis_widgets.compute.state import model_checksum
from convis_widgets.data import digits
from convis_widgets.models import DigitsAutoencoder, pretrained_digits_autoencoder


class Parts(nn.Module):
    """An autoencoder known only by its encoder and decoder submodules."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 16), nn.Unflatten(1, (1, 4, 4)))


@pytest.fixture(scope="module")
def shipped():
    return pretrained_digits_autoencoder(), digits("train"), digits("test")


def test_parts_are_methods_or_submodules_else_a_clear_error() -> None:
    assert autoencoder_parts(DigitsAutoencoder()) == ("encode", "decode")
    assert autoencoder_parts(Parts()) == ("encoder", "decoder")
    with pytest.raises(TypeError, match=r"needs encode\(\) and decode\(\) methods, or encoder and decoder"):
        autoencoder_parts(nn.Conv2d(1, 1, 3))
    with pytest.raises(TypeError, match="must be a torch.nn.Module; got str"):
        autoencoder_parts("model")  # type: ignore[arg-type]


def test_encode_matches_the_model_and_leaves_it_as_it_was(shipped) -> None:
    model, train, _ = shipped
    model.train()
    before = model_checksum(model)
    try:
        codes = encode(model, train.images[:300], batch_size=128)
        with torch.no_grad():
            direct = model.eval().encode(train.images[:300])
    finally:
        model.train()
    assert codes.shape == (300, 16) and codes.dtype == torch.float32
    torch.testing.assert_close(codes, direct)
    assert model.training and model_checksum(model) == before
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    model.eval()


def test_encode_reads_a_dataset_and_submodule_autoencoders() -> None:
    torch.manual_seed(0)
    model = Parts()
    images = torch.rand(10, 1, 4, 4)
    codes = encode(model, images)
    with torch.no_grad():
        torch.testing.assert_close(codes, model.encoder(images))
        torch.testing.assert_close(decode(model, codes), model.decoder(codes))


def test_encode_cancels() -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(RunCancelled, match="encoding"):
        encode(DigitsAutoencoder(), torch.rand(4, 1, 28, 28), cancel=stop)


def test_fit_matches_numpy_and_samples_follow_it() -> None:
    rng = np.random.default_rng(0)
    codes = torch.as_tensor(rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4)) + 3, dtype=torch.float32)
    dist = fit_latent(codes)
    np.testing.assert_allclose(dist.mean, codes.numpy().mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dist.covariance, np.cov(codes.numpy().T), rtol=1e-4, atol=1e-4)
    assert torch.allclose(dist.directions @ dist.directions.T, torch.eye(4), atol=1e-5)
    assert bool((dist.variances[:-1] >= dist.variances[1:]).all())
    assert float(dist.explained.sum()) == pytest.approx(1.0)
    many = dist.sample(20_000, seed=1)
    np.testing.assert_allclose(many.mean(0), dist.mean, atol=0.1)
    np.testing.assert_allclose(np.cov(many.numpy().T), dist.covariance, rtol=0.1, atol=0.1)
    assert torch.equal(dist.sample(5, seed=2), dist.sample(5, seed=2))
    assert not torch.equal(dist.sample(5, seed=2), dist.sample(5, seed=3))


def test_points_are_steps_in_standard_deviations() -> None:
    codes = torch.randn(200, 3, generator=torch.Generator().manual_seed(0)) * torch.tensor([3.0, 1.0, 0.1])
    dist = fit_latent(codes)
    torch.testing.assert_close(dist.point([]), dist.mean[None])
    step = dist.point([2.0]) - dist.mean
    torch.testing.assert_close(step[0], 2 * dist.variances[0].sqrt() * dist.directions[0])
    with pytest.raises(ValueError, match="at most 3 steps"):
        dist.point([0.0] * 4)


def test_codes_keep_their_shape() -> None:
    codes = torch.rand(50, 2, 3)
    dist = fit_latent(codes)
    assert dist.sample(4).shape == (4, 2, 3) and dist.point([1.0]).shape == (1, 2, 3)
    line = interpolate(codes[0], codes[1], steps=5)
    assert line.shape == (5, 2, 3)
    torch.testing.assert_close(line[0], codes[0])
    torch.testing.assert_close(line[-1], codes[1])
    torch.testing.assert_close(line[2], (codes[0] + codes[1]) / 2)
    with pytest.raises(ValueError, match="at least 2"):
        interpolate(codes[0], codes[1], steps=1)
    with pytest.raises(ValueError, match="differ in shape"):
        interpolate(codes[0], codes[1, 0], steps=3)


def test_fragmentation_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(60, 3)).astype(np.float32)
    queries = np.vstack([train[:2], rng.normal(size=(8, 3)) * 3, [[50.0, 0, 0]]]).astype(np.float32)
    frag = fragmentation(torch.as_tensor(queries), torch.as_tensor(train), quantile=0.9)
    pair = np.linalg.norm(train[:, None] - train[None], axis=-1)
    np.fill_diagonal(pair, np.inf)
    threshold = np.quantile(pair.min(axis=1), 0.9)
    to_train = np.linalg.norm(queries[:, None] - train[None], axis=-1)
    assert frag.threshold == pytest.approx(threshold, rel=1e-5)
    np.testing.assert_allclose(frag.distances, to_train.min(axis=1), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(frag.nearest, to_train.argmin(axis=1))
    np.testing.assert_array_equal(frag.far, to_train.min(axis=1) > threshold)
    assert not frag.far[:2].any() and bool(frag.far[-1])
    with pytest.raises(ValueError, match="quantile must be between 0 and 1"):
        fragmentation(torch.as_tensor(queries), torch.as_tensor(train), quantile=1.5)


def test_shipped_autoencoder_samples_decode_to_digits_shape_and_many_fall_far(shipped) -> None:
    model, train, test = shipped
    codes = encode(model, train)
    dist = fit_latent(codes)
    samples = dist.sample(500, seed=0)
    images = decode(model, samples)
    assert images.shape == (500, 1, 28, 28) and 0 <= float(images.min()) and float(images.max()) <= 1
    sampled, held_out = fragmentation(samples, codes), fragmentation(encode(model, test), codes)
    # held-out digits land among the training codes; codes drawn from the fitted normal often do not
    assert held_out.share_far < 0.05 < 0.15 < sampled.share_far
