"""Feature space of a layer: vectors against the activations, PCA against scikit-learn called
directly, t-SNE, nearest neighbours against brute force, and feature- against pixel-space classes."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from convis_widgets.analysis import Neighbours, features, pca, pixels, same_class_rate, tsne
from convis_widgets.compute import InputError, LayerNotFoundError, RunCancelled, activations, model_checksum
from convis_widgets.data import digits
from convis_widgets.models import pretrained_digits_cnn

IMAGES = torch.rand(23, 1, 10, 10, generator=torch.Generator().manual_seed(0))


def small() -> nn.Sequential:
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(48, 5)]
    return nn.Sequential(*layers).eval()


@pytest.mark.parametrize("loader", [False, True])
def test_features_are_the_layers_activations_pooled_or_flattened(loader):
    model = small()
    data = DataLoader(TensorDataset(IMAGES), batch_size=4) if loader else IMAGES
    act = activations(model, IMAGES, layer=["1", "4"])
    before = model_checksum(model)
    pools = ("mean", "max", "flatten", "auto")
    got = {pool: features(model, "1", data, pool=pool, batch_size=5) for pool in pools}
    np.testing.assert_allclose(got["mean"], act["1"].mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["max"], act["1"].amax(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["flatten"], act["1"].reshape(23, -1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got["auto"], got["flatten"])  # 3x8x8 is under FLATTEN_LIMIT
    np.testing.assert_allclose(features(model, "4", data), act["4"].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(features(model, -1, data), features(model, "4", data))  # last layer
    assert got["mean"].dtype == np.float32 and got["mean"].shape == (23, 3)
    assert model_checksum(model) == before


def test_features_reject_what_they_cannot_use():
    model = small()
    with pytest.raises(LayerNotFoundError, match="no layer named 'fc'"):
        features(model, "fc", IMAGES)
    with pytest.raises(ValueError, match="pool must be one of .* got 'median'"):
        features(model, "1", IMAGES, pool="median")
    with pytest.raises(InputError, match="empty data set"):
        features(model, "1", IMAGES[:0])
    with pytest.raises(RunCancelled, match="features was cancelled"):
        event = threading.Event()
        event.set()
        features(model, "1", IMAGES, cancel=event)


def test_pca_equals_scikit_learn_called_directly():
    vectors = np.random.default_rng(0).normal(size=(200, 12)) @ np.diag(np.linspace(3, 0.1, 12))
    got = pca(vectors, seed=0)
    direct = PCA(n_components=2, svd_solver="arpack", random_state=0)
    np.testing.assert_allclose(got.points, direct.fit_transform(vectors), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got.explained_variance_ratio, direct.explained_variance_ratio_)
    assert got.points.shape == (200, 2) and got.method == "pca"
    assert got.explained_variance_ratio[0] > got.explained_variance_ratio[1]
    auto = PCA(n_components=2, random_state=0).fit(vectors)  # scikit-learn's own choice of solver
    np.testing.assert_allclose(got.explained_variance_ratio, auto.explained_variance_ratio_, rtol=1e-6)
    assert pca(vectors[:, :2]).points.shape == (200, 2)  # as many components as numbers: no ARPACK
    with pytest.raises(ValueError, match=r"pca needs an \(N, D\) array of at least 2 vectors; got shape \(5"):
        pca(np.ones(5))
    with pytest.raises(ValueError, match="NaN or Inf"):
        pca(np.full((4, 2), np.nan))


def test_tsne_is_two_d_reproducible_and_keeps_clusters_apart():
    rng = np.random.default_rng(1)
    centres = np.repeat(np.eye(3) * 20, 40, axis=0)
    vectors = np.hstack([centres, np.zeros((120, 57))]) + rng.normal(size=(120, 60))
    a, b = tsne(vectors, seed=3, n_jobs=1), tsne(vectors, seed=3, n_jobs=1)
    assert a.points.shape == (120, 2) and a.method == "tsne"
    np.testing.assert_array_equal(a.points, b.points)
    labels = np.repeat(np.arange(3), 40)
    assert same_class_rate(a.points, labels, k=5) > 0.95
    assert tsne(vectors[:5], n_jobs=1).points.shape == (5, 2)  # perplexity capped below N


def test_tsne_reports_its_points_on_the_way_and_stops_when_cancelled():
    vectors = np.random.default_rng(4).normal(size=(60, 8))
    seen: list[tuple[int, int, tuple[int, ...]]] = []
    final = tsne(vectors, n_jobs=1, max_iter=300, every=50,
                 progress=lambda i, of, points: seen.append((i, of, points.shape)))
    assert seen == [(i, 300, (60, 2)) for i in (50, 100, 150, 200, 250, 300)]  # both phases, counted on
    assert final.points.shape == (60, 2)
    calls = []

    def stop_after_two() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(RunCancelled, match="tsne was cancelled"):
        tsne(vectors, n_jobs=1, every=10, cancel=stop_after_two)
    assert len(calls) == 3  # read once after the neighbour search, then at each report
    with pytest.raises(ValueError, match=r"max_iter must be an int >= 250 \(the exaggerated phase\)"):
        tsne(vectors, max_iter=100)


def test_neighbours_are_the_nearest_by_brute_force_and_leave_the_query_out():
    vectors = np.random.default_rng(2).normal(size=(50, 4))
    index = Neighbours(vectors)
    dist = np.linalg.norm(vectors - vectors[7], axis=1)
    expected = [i for i in np.argsort(dist, kind="stable") if i != 7][:5]
    idx, d = index.query(7, k=5)
    assert list(idx) == expected and 7 not in idx
    np.testing.assert_allclose(d, dist[expected])
    idx_v, _ = index.query(vectors[7], k=1)
    assert list(idx_v) == [7]  # a vector of the set is its own nearest
    with pytest.raises(IndexError, match="query index 50 is out of range for 50 vectors"):
        index.query(50)
    with pytest.raises(ValueError, match="query must be one vector of 4 numbers"):
        index.query(np.ones(3))
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        index.query(1, k=0)


def test_feature_space_neighbours_share_the_class_more_often_than_pixel_ones():
    """The lecture notes' claim on the shipped digits CNN over the 1,000 test digits: the 5 nearest
    neighbours at the FC layer (relu4) share the query's class 97.4% of the time, in pixel space
    81.3% (measured 2026-12-02; conv3's flattened maps: 95.3%). We assert a 10-point margin."""
    model, data = pretrained_digits_cnn(), digits("test")
    labels = data.labels.numpy()
    in_feature_space, in_pixel_space = features(model, "relu4", data), pixels(data)
    feature_rate = same_class_rate(in_feature_space, labels, k=5)
    pixel_rate = same_class_rate(in_pixel_space, labels, k=5)
    assert feature_rate > 0.95 and pixel_rate < 0.85
    assert feature_rate - pixel_rate > 0.10
    # the same per query, through the index a view uses
    feats, pix = Neighbours(in_feature_space), Neighbours(in_pixel_space)
    queries = range(0, 1000, 10)
    in_features = np.mean([labels[feats.query(q)[0]] == labels[q] for q in queries])
    in_pixels = np.mean([labels[pix.query(q)[0]] == labels[q] for q in queries])
    assert in_features - in_pixels > 0.05
