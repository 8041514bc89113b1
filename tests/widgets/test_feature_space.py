"""FeatureSpace without a browser: the scatter, the projection toggle, a click and its neighbours."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.backend_bases import MouseEvent

from convis_widgets.analysis.feature_space import Neighbours, features, pca, pixels
from convis_widgets.compute import model_checksum
from convis_widgets.data import digits
from convis_widgets.models import pretrained_digits_cnn
from convis_widgets.widgets.feature_space import FeatureSpace
from tests.own_models import ResNet


@pytest.fixture(scope="module")
def cnn():
    return pretrained_digits_cnn()


@pytest.fixture(scope="module")
def test_digits():
    return digits("test").head(200)  # 100 zeros and 100 ones


def test_the_shipped_model_alone_shows_the_test_digits_by_pca(cnn):
    before = model_checksum(cnn)
    fs = FeatureSpace(cnn)
    assert fs.layer == "relu4" and len(fs.images) == 1000
    expected = pca(features(cnn, "relu4", fs.images)).points
    np.testing.assert_allclose(fs.view.scatter.get_offsets(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(fs.view.scatter.get_array(), fs.labels)
    assert "PCA" in fs.view.ax_scatter.get_title() and "click a point" in fs.status.value
    assert model_checksum(cnn) == before
    fs.close()


def test_a_click_on_a_point_shows_its_neighbours_in_both_spaces(cnn, test_digits):
    fs = FeatureSpace(cnn, test_digits)
    fs.figure.canvas.draw()

    def keys() -> list[str]:
        return [t.get_text() for t in fs.view.ax_scatter.get_legend().get_texts()]

    assert keys() == [str(d) for d in range(10)]  # nothing picked yet: no key for its marks
    x, y = fs.view.ax_scatter.transData.transform(fs.view.points[42])
    fs.figure.canvas.callbacks.process("button_press_event",
                                       MouseEvent("button_press_event", fs.figure.canvas, x, y, button=1))
    assert fs.query == 42
    feature, pixel = fs.neighbours(42)
    assert list(feature) == list(Neighbours(features(cnn, "relu4", test_digits.images)).query(42, 5)[0])
    assert list(pixel) == list(Neighbours(pixels(test_digits.images)).query(42, 5)[0])
    assert 42 not in feature and 42 not in pixel
    shown = np.ma.filled(fs.view.ax_feature[0].get_images()[0].get_array(), np.nan)
    np.testing.assert_allclose(shown, test_digits.images[feature[0], 0].numpy())
    assert "image 42:" in fs.status.value and "feature-space neighbours share its label" in fs.status.value
    assert keys()[-2:] == ["picked image", "its feature neighbours"]
    fs.close()


def test_feature_neighbours_share_the_class_more_often_than_pixel_neighbours(cnn):
    fs = FeatureSpace(cnn)  # all 1,000 test digits (the first 200 are only 0s and 1s)
    labels = fs.labels
    same = np.zeros(2)
    for i in range(0, 1000, 10):
        for k, idx in enumerate(fs.neighbours(i)):
            same[k] += (labels[idx] == labels[i]).mean()
    same /= 100
    assert same[0] > same[1] + 0.1  # measured: 0.98 in feature space (relu4) against 0.78 in pixels
    fs.close()


def test_tsne_replaces_the_pca_picture_and_is_kept_per_layer(cnn, test_digits):
    fs = FeatureSpace(cnn, test_digits, query=3)
    said: list[str] = []
    fs.status.observe(lambda change: said.append(change["new"]), "value")
    fs.method = "tsne"
    assert ("relu4", "tsne") in fs.projections and "t-SNE" in fs.view.ax_scatter.get_title()
    # PCA's picture first, then t-SNE's points every 25 iterations with an ETA, then the end
    assert "t-SNE starts from it" in said[0]
    steps = [s for s in said if "iteration" in s]
    assert len(steps) == 30 and "iteration 25 of 750, estimating" in steps[0], said[:3]
    assert any("ETA" in s for s in steps) and "iteration" not in said[-1]
    points = fs.view.scatter.get_offsets()
    assert points.shape == (200, 2) and not np.allclose(points, fs.projections[("relu4", "pca")].points)
    fs.layer = "relu2"
    assert fs.vectors["relu2"].shape == (200, 64 * 11 * 11)
    fs.close()


def test_a_users_resnet_on_unlabelled_images():
    model = ResNet().eval()
    images = torch.rand(30, 3, 32, 32)
    fs = FeatureSpace(model, images, layer="layer3", query=0)
    assert fs.labels is None and "share its label" not in fs.status.value
    assert fs.view.ax_query.get_title() == "picked: image 0"
    fs.close()


def test_bad_choices_say_what_was_expected(cnn, test_digits):
    fs = FeatureSpace(cnn, test_digits)
    with pytest.raises(ValueError, match=r"method must be one of \['pca', 'tsne'\]; got 'umap'"):
        fs.method = "umap"
    with pytest.raises(ValueError, match="query must be an image index from 0 to 199"):
        fs.query = 200
    assert "query must be an image index" in str(fs.errors.outputs)
    fs.close()
