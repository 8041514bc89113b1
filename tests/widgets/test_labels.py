"""Labels that never lose their end, controls as wide as their text, rows that wrap (`widgets.labels`),
and the layer picker's options and tooltip built with them."""

from __future__ import annotations

import ipywidgets as w
import pytest
import torch

import convis_widgets as cw
from convis_widgets.compute.probe import LayerInfo
from convis_widgets.widgets.labels import ELLIPSIS, fit_control, fit_tree, shorten_middle
from convis_widgets.widgets.layer_picker import LABEL_CHARS, layer_label


@pytest.mark.parametrize(("text", "width", "expected"), [
    ("relu1", 10, "relu1"),
    ("0123456789", 10, "0123456789"),
    ("layer3.0.shortcut.0", 9, "laye…ut.0"),
    ("layer3.0.shortcut.0", 10, "laye…cut.0"),
    ("abc", 3, "abc"),
    ("abcd", 3, "a…d"),
])
def test_shorten_middle_keeps_start_and_end(text, width, expected):
    short = shorten_middle(text, width)
    assert short == expected
    assert len(short) == min(len(text), width)


def test_shorten_middle_keeps_every_end_of_every_length():
    name = "decoder.block4.deconv2"
    for width in range(3, len(name) + 3):
        short = shorten_middle(name, width)
        assert len(short) <= width
        assert short == name or (ELLIPSIS in short and name.endswith(short.split(ELLIPSIS)[1]))


def test_shorten_middle_refuses_a_width_with_no_room():
    with pytest.raises(ValueError, match="at least 3"):
        shorten_middle("layer", 2)


def test_layer_label_shortens_the_name_not_its_shape():
    info = LayerInfo(name="features.denseblock4.denselayer16.conv2", type="ConvTranspose2d",
                     output_shape=(32, 7, 7), spatial=True, module=torch.nn.Identity())
    label = layer_label(info)
    assert len(label) <= LABEL_CHARS
    assert label.endswith("conv2  (ConvTranspose2d, 32x7x7)")
    assert label.startswith("features.")
    relu = LayerInfo("relu2", "ReLU", (8, 14, 14), True, torch.nn.ReLU())
    assert layer_label(relu) == "relu2  (ReLU, 8x14x14)"


def test_fit_control_sizes_controls_to_their_text():
    dropdown = w.Dropdown(options=["a"], description="a long description")
    fit_control(dropdown)
    assert dropdown.style.description_width == "initial"
    layout = dropdown.layout
    assert (layout.width, layout.max_width, layout.flex) == ("auto", "calc(100% - 4px)", "0 0 auto")
    toggles = w.ToggleButtons(options=["per channel", "global"])
    fit_control(toggles)
    assert toggles.style.button_width == "auto"
    assert toggles.layout.margin == "2px 2px 2px 12px"  # apart from a toggle group beside it
    named = w.ToggleButtons(options=["a", "b"], description="model")
    fit_control(named)
    assert named.layout.margin is None  # its label sets it apart
    slider = w.IntSlider(description="size", style={"description_width": "9em"},
                         layout=w.Layout(width="26em"))
    fit_control(slider)
    assert (slider.style.description_width, slider.layout.width) == ("9em", "26em")  # set on purpose: kept
    status = w.HTML("a long line of text that may wrap")
    fit_control(status)
    assert status.layout.flex is None  # text wraps in its own box


def test_fit_tree_lets_rows_wrap():
    inner = w.HBox([w.Button(description="export PNG + settings")])
    box = w.VBox([w.HBox([w.Dropdown(options=["x"])]), inner])
    fit_tree(box)
    assert box.layout.flex_flow is None
    assert [row.layout.flex_flow for row in box.children] == ["row wrap", "row wrap"]
    assert inner.children[0].layout.width == "auto"


def test_a_widget_picker_names_the_whole_layer_in_its_tooltip():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU())
    explorer = cw.ActivationExplorer(model, torch.rand(2, 1, 8, 8), layer="1")
    try:
        assert explorer.layer_dropdown.tooltip == "1 (ReLU, output 4x6x6)"
        assert explorer.layer_dropdown.layout.width == "auto"
        explorer.layer = "0"
        assert explorer.layer_dropdown.tooltip == "0 (Conv2d, output 4x6x6)"
        rows = [c for c in explorer.children if isinstance(c, w.HBox)]
        assert rows and all(r.layout.flex_flow == "row wrap" for r in rows)
    finally:
        explorer.close()
