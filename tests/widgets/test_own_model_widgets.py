"""The widgets on a user's own model, a small ResNet with BatchNorm, shortcuts and F.relu: the layer
pickers list block outputs or every module, block names validate, Grad-CAM starts on the last stage,
the FeatureVisualizer takes its input shape from the data, TrainingComparison trains the user's net."""

from __future__ import annotations

import pytest
import torch
from own_models import ResNet

from convis_widgets import ActivationExplorer, FeatureVisualizer, OcclusionExplorer, TrainingComparison
from convis_widgets.compute.attribution import grad_cam
from convis_widgets.compute.state import model_checksum

SPATIAL_BLOCKS = ["bn1", "layer1", "layer2", "layer3"]


@pytest.fixture(scope="module")
def resnet() -> ResNet:
    torch.manual_seed(0)
    return ResNet().eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Normalised colour images, as a CIFAR model takes them."""
    return torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def listed(dropdown) -> list[str]:
    return [value for _, value in dropdown.options]


def test_activation_picker_lists_blocks_and_toggles_to_every_module(resnet, images):
    ex = ActivationExplorer(resnet, images)
    try:
        assert ex.layers == "blocks" and ex.controls["layers"].value == "blocks"
        assert listed(ex.layer_dropdown) == SPATIAL_BLOCKS
        assert ex.layer == ex.layer_dropdown.value == "bn1"  # the first spatial layer listed
        ex.layer = "layer3"  # a stage: its output is its last block's tensor, no module of its own
        assert ex.layer_dropdown.value == "layer3" and ex.current.shape == (32, 8, 8)
        ex.controls["layers"].value = "all"
        every = listed(ex.layer_dropdown)
        assert ex.layers == "all" and len(every) > 3 * len(SPATIAL_BLOCKS)
        assert {"layer2.0.shortcut.0", "layer3.1.bn2", "layer3"} <= set(every)
        assert every.index("layer3") == every.index("layer3.1") + 1  # the stage right after its last block
        assert ex.layer == ex.layer_dropdown.value == "layer3"  # the choice stays
        ex.layer = "layer2.0.bn1"
        ex.layers = "blocks"  # the module's block is chosen
        assert listed(ex.layer_dropdown) == SPATIAL_BLOCKS
        assert ex.layer == ex.layer_dropdown.value == "layer2"
        ex.layer = "layer2.0.bn1"  # a module inside a block shows every module
        assert ex.layers == "all" and ex.layer_dropdown.value == "layer2.0.bn1"
        assert ex.current.shape == (16, 16, 16)
        assert ex.last_error is None
        with pytest.raises(ValueError, match=r"layers must be one of \['blocks', 'all'\]; got 'some'"):
            ex.layers = "some"
    finally:
        ex.close()


def test_every_module_view_and_a_module_given_at_start(resnet, images):
    ex = ActivationExplorer(resnet, images, layer="layer1.1.conv2")
    assert ex.layers == "all" and ex.layer_dropdown.value == "layer1.1.conv2"
    ex.close()
    ex = ActivationExplorer(resnet, images, layers="all")
    assert ex.layer == "conv1" and "layer3" in listed(ex.layer_dropdown)
    ex.close()


def test_grad_cam_starts_on_the_last_stage(resnet, images):
    before = model_checksum(resnet)
    ex = OcclusionExplorer(resnet, images[:2], method="grad_cam", target=2, patch_size=8, stride=8)
    try:
        assert ex.layer == ex.layer_dropdown.value == "layer3"  # not the last conv, a 1x1 shortcut
        assert listed(ex.layer_dropdown) == SPATIAL_BLOCKS
        assert ex._map_key == (0, 2, "grad_cam", "layer3", None) and ex.maps["grad_cam"].shape == (32, 32)
        want = grad_cam(resnet, images[:1], 2, layer="layer3")
        torch.testing.assert_close(torch.from_numpy(ex.compute_map("grad_cam", 0, 2)), want[0])
        ex.layer = "layer3.0.shortcut.0"
        assert ex.layers == "all" and ex.layer_dropdown.value == "layer3.0.shortcut.0"
        assert ex.last_error is None
    finally:
        ex.close()
    assert model_checksum(resnet) == before


def test_feature_visualizer_takes_the_input_shape_from_data(resnet, images):
    fv = FeatureVisualizer(resnet, data=images, value_range=(-2.0, 2.0), steps=8)
    try:
        assert fv.input_shape == (3, 32, 32)
        assert fv.layers == "blocks" and listed(fv.layer_dropdown) == SPATIAL_BLOCKS
        assert fv.layer == "layer2"  # the middle block output, for mid-level patterns
        fv.layer = "layer3"
        assert fv.index_slider.max == 31
        fv.index = 5
        fv.start()
        assert fv.wait(60) and fv.last_error is None
        assert fv.step == 8 and fv.result.images.shape == (1, 3, 32, 32)
        drawn = fv.view.ax_img.get_images()[0].get_array()
        assert drawn.shape[:2] == (32, 32)
        fv.objective = "neuron"  # any layer: the head is listed too
        assert listed(fv.layer_dropdown) == [*SPATIAL_BLOCKS, "linear"]
    finally:
        fv.close()


def test_feature_visualizer_names_the_channels_on_a_wrong_shape(resnet):
    with pytest.raises(ValueError, match=r"first conv layer 'conv1' takes 3"):
        FeatureVisualizer(resnet, (1, 28, 28))


def test_training_comparison_trains_the_users_network(tmp_path):
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(40, 3, 16, 16, generator=g), torch.arange(40) % 10
    cmp = TrainingComparison(model_fn=lambda k: ResNet(width=4, first_kernel=k), data=(x, y),
                             kernels="3, 5", epochs=1, batch_size=16, out_dir=tmp_path)
    try:
        assert cmp.dataset == "yours"
        cmp.start_button.click()
        assert cmp.last_error is None
        assert [r.name for r in cmp.runs] == ["3x3", "5x5"]
        assert {name: [r.epoch for r in h] for name, h in cmp.histories.items()} == {"3x3": [0, 1],
                                                                                   "5x5": [0, 1]}
        assert [s.name for s in cmp.summaries] == ["3x3", "5x5"]
        assert [r.model().conv1.kernel_size for r in cmp.runs] == [(3, 3), (5, 5)]
        assert cmp.layer_view.columns["5x5"]["filters"][1].get_array() is not None
        assert cmp.loss_view.ax.get_title().startswith("your classifier")
    finally:
        cmp.close()


def test_training_comparison_offers_only_data_the_users_network_takes(tmp_path):
    x, y = torch.randn(20, 3, 16, 16), torch.arange(20) % 10
    cmp = TrainingComparison(model_fn=lambda k: ResNet(width=4, first_kernel=k), data=(x, y),
                             out_dir=tmp_path)
    try:
        assert [key for _, key in cmp.data_dropdown.options] == ["patches", "yours"]
        assert "Not offered: the built-in digits (1 channel), since your network takes 3." in cmp.intro.value
        with pytest.raises(ValueError, match=r"dataset must be one of \['patches', 'yours'\]; got 'digits'"
                                             r".*digits \(1 channel\), since your network takes 3"):
            cmp.dataset = "digits"
        assert cmp.dataset == "yours"
    finally:
        cmp.close()
    with pytest.raises(ValueError, match=r"takes 5 input channels; the built-in sets have .*pass data= "
                                         r"with 5-channel images"):
        TrainingComparison(model_fn=lambda k: torch.nn.Conv2d(5, 4, k), out_dir=tmp_path)


def test_training_comparison_shows_a_model_fn_that_ignores_the_kernel(tmp_path):
    x, y = torch.randn(20, 3, 16, 16), torch.arange(20) % 10
    cmp = TrainingComparison(model_fn=lambda k: ResNet(width=4), data=(x, y), kernels="3, 5", epochs=1,
                             out_dir=tmp_path)
    try:
        cmp.start_button.click()
        assert isinstance(cmp.last_error, ValueError)
        assert "model_fn(5) built a first conv layer of kernel 3, not 5" in str(cmp.last_error)
        assert "model_fn(5)" in cmp.errors.outputs[0]["text"]
    finally:
        cmp.close()
    with pytest.raises(TypeError, match=r"model_fn must be a callable .* not a model .* got ResNet"):
        TrainingComparison(model_fn=ResNet(), data=(x, y))


def test_the_built_in_sets_have_the_channel_counts_the_comparison_offers_them_by():
    from convis_widgets.data import digits, patches
    from convis_widgets.widgets.training_data import BUILTIN, BUILTIN_CHANNELS

    loaded = {"digits": digits("train"), "patches": patches("train")}
    assert set(loaded) == set(BUILTIN) == set(BUILTIN_CHANNELS)
    for key, data in loaded.items():
        c, h, w = data.images.shape[1:]
        assert c == BUILTIN_CHANNELS[key] and f"{c}x{h}x{w}" in BUILTIN[key]
