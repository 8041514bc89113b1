"""Whole-layer galleries: batched maps, non-responsive maps said so, the data-set quality figure."""

import pytest
import torch
from torch import nn

from convis_widgets.compute import model_checksum
from convis_widgets.compute.errors import LayerNotFoundError
from convis_widgets.compute.optvis import Gallery, dataset_max_activation, gallery, iter_gallery

SHAPE = (1, 10, 10)


def with_dead_maps() -> nn.Sequential:
    """conv -> relu with 5 maps; maps 1 and 3 have zero weights and a negative bias, so never fire."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 5, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 8 * 8, 2))
    with torch.no_grad():
        for dead in (1, 3):
            model[0].weight[dead].zero_()
            model[0].bias[dead] = -1.0
    return model


@pytest.fixture
def model():
    return with_dead_maps()


def test_render_layer_batches_and_marks_maps_that_never_respond(model, no_hooks):
    before = model_checksum(model)
    data = torch.rand(20, *SHAPE, generator=torch.Generator().manual_seed(0))
    res = gallery(model, "1", SHAPE, steps=25, data=data, batch_size=3)
    assert isinstance(res, Gallery) and res.channels == [0, 1, 2, 3, 4]
    assert res.images.shape == (5, *SHAPE) and res.value.shape == (5,)
    assert res.responded.tolist() == [True, False, True, False, True]
    assert res.dataset_max is not None and res.quality is not None
    alive = res.responded
    assert bool((res.value[alive] > res.dataset_max[alive]).all())
    torch.testing.assert_close(res.quality[alive], res.value[alive] / res.dataset_max[alive])
    assert bool(torch.isnan(res.quality[~alive]).all())  # the data set never drives a dead map either
    no_hooks(model)
    assert model_checksum(model) == before


def test_iter_render_layer_yields_each_batch_and_stops_on_cancel(model):
    parts = list(iter_gallery(model, "0", SHAPE, channels=[4, 0, 2], steps=10, batch_size=2,
                                   data=torch.rand(4, *SHAPE)))
    assert [p.channels for p in parts] == [[4, 0], [2]]
    stopped = list(iter_gallery(model, "0", SHAPE, steps=50, batch_size=2, cancel=lambda: True))
    assert len(stopped) == 1 and stopped[0].images.shape == (2, *SHAPE)


def test_gallery_is_reproducible_and_matches_single_maps_in_the_batch(model):
    a = gallery(model, "1", SHAPE, channels=[0, 2], steps=15, seed=2)
    b = gallery(model, "1", SHAPE, channels=[0, 2], steps=15, seed=2)
    assert torch.equal(a.images, b.images)
    assert a.dataset_max is None and a.quality is None  # no built-in set has 1x10x10 images


def test_dataset_max_activation_is_the_best_map_mean(model):
    data = torch.rand(7, *SHAPE, generator=torch.Generator().manual_seed(3))
    best = dataset_max_activation(model, data, layer="0", batch_size=3)
    with torch.no_grad():
        expected = model[0](data).mean(dim=(2, 3)).max(dim=0).values
    torch.testing.assert_close(best, expected)
    torch.testing.assert_close(dataset_max_activation(model, data, layer="0", channels=[2, 0]),
                               expected[[2, 0]])


def test_gallery_errors(model):
    with pytest.raises(ValueError, match="layer '1' has 5 channels"):
        gallery(model, "1", SHAPE, channels=[0, 5])
    with pytest.raises(LayerNotFoundError, match="valid names"):
        gallery(model, "relu", SHAPE)
    with pytest.raises(TypeError, match="valid settings"):
        gallery(model, "1", SHAPE, blur=2)
    with pytest.raises(ValueError, match="out of range: layer '0' has 5"):
        dataset_max_activation(model, torch.rand(2, *SHAPE), layer="0", channels=[9])


def test_digits_cnn_third_layer_in_one_batch():
    from convis_widgets.data import digits
    from convis_widgets.models import pretrained_digits_cnn

    cnn = pretrained_digits_cnn()
    assert gallery(cnn, "relu3", channels=[0], steps=2).dataset_max is None  # no data: no quality
    res = gallery(cnn, "relu3", channels=range(0, 64, 8), steps=24, data=digits("train"))
    assert res.dataset_max is not None
    assert int(res.responded.sum()) >= 3
    beat = res.value[res.responded] > res.dataset_max[res.responded]
    assert float(beat.float().mean()) >= 0.5
