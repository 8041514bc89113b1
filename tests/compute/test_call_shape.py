"""One call shape for every technique, one cancel type, the attribution table, and the old shapes
still working with a DeprecationWarning."""

import importlib
import inspect
import threading

import pytest
import torch
from torch import nn

from convis_widgets import compute
from convis_widgets.compute import attribution, optvis
from convis_widgets.compute.attribution import METHODS, attribute, grad_cam, occlusion_map, smoothgrad
from convis_widgets.compute.cancel import RunCancelled, is_cancelled, stopper
from convis_widgets.compute.optvis import objectives

SHAPE = (1, 8, 8)
IMAGES = torch.rand(3, *SHAPE, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(6 * 8 * 8, 5)).eval()


def public_functions():
    """Every public function of the compute modules, by module and name."""
    modules = ["activations", "filters", "probe", "stats", "attribution.gradients", "attribution.occlusion",
               "optvis.gallery", "optvis.loop", "training.run", "training.comparison"]
    for module in modules:
        mod = importlib.import_module(f"convis_widgets.compute.{module}")
        for name, fn in vars(mod).items():
            if inspect.isfunction(fn) and not name.startswith("_") and fn.__module__ == mod.__name__:
                yield f"{module}.{name}", fn


@pytest.mark.parametrize("where,fn", list(public_functions()), ids=lambda v: v if isinstance(v, str) else "")
def test_one_call_shape(where, fn):
    params = inspect.signature(fn).parameters
    assert not {"layer_name", "layer_names"} & set(params), f"{where}: the layer argument is called layer"
    names = list(params)
    if names[:1] != ["model"]:
        return  # a helper on tensors, not a technique
    if "images" in names:
        assert names[1] == "images", where
        after = names[names.index("target") + 1:] if "target" in names else names[2:]
        assert all(params[n].kind in (params[n].KEYWORD_ONLY, params[n].VAR_KEYWORD) for n in after), \
            f"{where}: options after (model, images, target) are keyword-only"
        if "target" in names:
            assert names.index("target") == 2 and params["target"].default is None, where
    if "cancel" in params:
        assert params["cancel"].default is None, where


def test_old_keywords_and_positions_warn_and_give_the_same(cnn):
    new = compute.activations(cnn, IMAGES, layer=["0", "2"])
    with pytest.warns(DeprecationWarning, match=r"activations\(layer_names=...\).*layer="):
        old = compute.activations(cnn, IMAGES, layer_names=["0", "2"])
    with pytest.warns(DeprecationWarning, match="giving layer of activations"):
        positional = compute.activations(cnn, IMAGES, ["0", "2"])
    for got in (old, positional):
        assert list(got) == ["0", "2"] and all(torch.equal(got[k], new[k]) for k in new)
    with pytest.raises(TypeError, match="both layer_names= .* and layer="):
        compute.activations(cnn, IMAGES, layer_names="0", layer="0")


def test_old_order_model_layer_images_warns(cnn):
    new = compute.channel_statistics(cnn, IMAGES, layer="1", batch_size=2)
    with pytest.warns(DeprecationWarning, match=r"channel_statistics\(model, layer, images\)"):
        old = compute.channel_statistics(cnn, "1", IMAGES, batch_size=2)
    assert (old.mean == new.mean).all() and old.count == new.count == 3
    with pytest.warns(DeprecationWarning) as seen:
        best = optvis.dataset_max_activation(cnn, "1", IMAGES, [2, 0])
    assert len(seen) == 2  # old order, then channels given by position
    torch.testing.assert_close(best, optvis.dataset_max_activation(cnn, IMAGES, layer="1", channels=[2, 0]))
    with pytest.raises(TypeError, match="layer both by position and as layer="):
        compute.channel_statistics(cnn, "1", IMAGES, layer="1")


def test_old_positional_options_warn(cnn):
    with pytest.warns(DeprecationWarning, match="giving layer of grad_cam"):
        old = grad_cam(cnn, IMAGES, 1, "2")
    torch.testing.assert_close(old, grad_cam(cnn, IMAGES, 1, layer="2"))
    with pytest.warns(DeprecationWarning, match="window, stride"):
        old = occlusion_map(cnn, IMAGES, 1, (3, 3), (2, 2))
    torch.testing.assert_close(old.drops, occlusion_map(cnn, IMAGES, 1, window=(3, 3), stride=(2, 2)).drops)
    with pytest.warns(DeprecationWarning, match="samples, noise, seed"):
        old = smoothgrad(cnn, IMAGES, 1, 4, 0.1, 3)
    torch.testing.assert_close(old, smoothgrad(cnn, IMAGES, 1, samples=4, noise=0.1, seed=3))
    with pytest.raises(TypeError, match="at most 4 positional"):
        grad_cam(cnn, IMAGES, 1, "2", True)
    with pytest.raises(TypeError, match="window both by position and by keyword"):
        occlusion_map(cnn, IMAGES, 1, (3, 3), window=(3, 3))


def test_old_gallery_names_warn(cnn):
    with pytest.warns(DeprecationWarning, match="render_layer is deprecated; use optvis.gallery"):
        render_layer = optvis.render_layer
    assert render_layer is optvis.gallery
    with pytest.warns(DeprecationWarning, match="iter_render_layer"):
        assert optvis.iter_render_layer is optvis.iter_gallery
    with pytest.warns(DeprecationWarning, match="LayerRender"):
        layer_render = optvis.LayerRender
    with pytest.warns(DeprecationWarning, match="activation=.*value="):
        made = layer_render(channels=[0], images=IMAGES[:1], activation=torch.ones(1),
                            responded=torch.ones(1, dtype=torch.bool))
    assert isinstance(made, optvis.Gallery) and float(made.value) == 1.0
    with pytest.warns(DeprecationWarning, match="Gallery.activation"):
        assert made.activation is made.value
    with pytest.warns(DeprecationWarning, match="steps, seed"):
        old = optvis.gallery(cnn, "1", SHAPE, [0], 3, 1)
    new = optvis.gallery(cnn, "1", SHAPE, [0], steps=3, seed=1)
    assert torch.equal(old.images, new.images)
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        _ = optvis.nothing


def test_the_old_keyword_warning_points_at_the_caller(cnn):
    with pytest.warns(DeprecationWarning) as seen:
        compute.filter_report(cnn, layer_name="0")
    assert seen[0].filename == __file__


@pytest.mark.parametrize("call", [
    lambda m: compute.resolve_layer(m, name="2")[0],
    lambda m: compute.conv_weight(m, layer_name="2").shape,
    lambda m: compute.receptive_field(m, layer_name="2", input_shape=SHAPE).size,
    lambda m: sorted(optvis.output_shapes(m, names=["2"], input_shape=SHAPE)),
], ids=["resolve_layer", "conv_weight", "receptive_field", "output_shapes"])
def test_every_old_layer_keyword_is_now_layer(cnn, call):
    with pytest.warns(DeprecationWarning, match=r"=\.\.\.\) is deprecated; use layer="):
        old = call(cnn)
    assert old in ("2", torch.Size([6, 4, 3, 3]), (5, 5), ["2"])


def test_one_cancel_type():
    event = threading.Event()
    assert not is_cancelled(None) and not is_cancelled(event) and not is_cancelled(lambda: False)
    event.set()
    assert is_cancelled(event) and is_cancelled(lambda: True) and is_cancelled(lambda: 1)
    with pytest.raises(TypeError, match="cancel must be a threading.Event, a function .* got bool"):
        stopper(True)


@pytest.mark.parametrize("cancel", [threading.Event, lambda: (lambda: True)], ids=["event", "function"])
def test_every_long_technique_stops_on_the_same_cancel(cnn, cancel):
    stop = cancel()
    if isinstance(stop, threading.Event):
        stop.set()
    with pytest.raises(RunCancelled, match="occlusion was cancelled"):
        occlusion_map(cnn, IMAGES, 0, window=3, stride=1, batch_size=4, cancel=stop)
    with pytest.raises(RunCancelled, match="smoothgrad"):
        smoothgrad(cnn, IMAGES, 0, samples=4, cancel=stop)
    with pytest.raises(RunCancelled, match="channel_statistics"):
        compute.channel_statistics(cnn, IMAGES, layer="1", cancel=stop)
    with pytest.raises(RunCancelled, match="dataset_max_activation"):
        optvis.dataset_max_activation(cnn, IMAGES, layer="1", cancel=stop)
    records = list(optvis.run(cnn, objectives.channel("1", 0), SHAPE, steps=20, cancel=stop))
    assert records[-1].reason == "cancelled" and records[-1].step == 0
    parts = list(optvis.iter_gallery(cnn, "1", SHAPE, steps=20, batch_size=2, cancel=stop))
    assert len(parts) == 1 and parts[0].channels == [0, 1]


def test_a_cancel_set_half_way_stops_occlusion_after_that_batch(cnn):
    seen = []
    event = threading.Event()

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if len(seen) == 2:
            event.set()

    with pytest.raises(RunCancelled):
        occlusion_map(cnn, IMAGES[:1], 0, window=2, stride=1, batch_size=10, progress=progress, cancel=event)
    assert seen == [10, 20]


def test_the_method_table_calls_each_method_as_its_own_function(cnn):
    assert list(METHODS) == ["saliency", "smoothgrad", "grad_cam", "guided_backprop", "deconvnet",
                             "occlusion"]
    settings = dict(layer="2", samples=3, noise=0.1, seed=1, window=(3, 3), stride=(2, 2), probabilities=True)
    direct = {
        "saliency": attribution.saliency(cnn, IMAGES, 2, probabilities=True),
        "smoothgrad": smoothgrad(cnn, IMAGES, 2, samples=3, noise=0.1, seed=1, probabilities=True),
        "grad_cam": grad_cam(cnn, IMAGES, 2, layer="2", probabilities=True),
        "guided_backprop": attribution.guided_backprop(cnn, IMAGES, 2, probabilities=True),
        "deconvnet": attribution.deconvnet(cnn, IMAGES, 2, probabilities=True),
        "occlusion": attribution.occlusion(cnn, IMAGES, 2, window=(3, 3), stride=(2, 2), probabilities=True),
    }
    for name, method in METHODS.items():
        got = method(cnn, IMAGES, 2, **settings)  # every method gets the same settings, takes its own
        torch.testing.assert_close(got, direct[name], msg=name)
        assert got.shape == IMAGES.shape
        assert method.takes_layer == ("layer" in method.options) == (name == "grad_cam")
        assert method.takes_samples == (name == "smoothgrad") and method.takes_window == (name == "occlusion")
        assert method.title and method.description
        params = inspect.signature(method.function).parameters
        assert all(option in params for option in method.options), name
    torch.testing.assert_close(attribute("grad_cam", cnn, IMAGES, 2, layer="2", probabilities=True),
                               direct["grad_cam"])
    assert attribution.GRADIENT_METHODS == tuple(list(METHODS)[:5])


def test_the_method_table_rejects_what_no_method_takes(cnn):
    with pytest.raises(TypeError, match=r"option\(s\) \['sigma_x'\]; options: probabilities, layer"):
        METHODS["saliency"](cnn, IMAGES, 0, sigma_x=1)
    with pytest.raises(ValueError, match="unknown attribution method 'lime'; methods: saliency, smoothgrad"):
        attribute("lime", cnn, IMAGES)
