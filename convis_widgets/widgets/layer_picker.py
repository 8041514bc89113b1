"""`LayerPicker`: the layer dropdown every layer-choosing widget shares, listing the network's block
outputs (a ResNet stage, a conv with its activation) or every module that runs, with its toggle."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as w
from traitlets import Unicode, observe, validate

from ..compute import probe
from ..compute.probe import LayerInfo
from .base import ConvisWidget, LayerRule
from .labels import shorten_middle

LAYER_VIEWS = [("blocks", "blocks"), ("every module", "all")]  # (label, value) of the `layers` trait
LABEL_CHARS = 48  # a layer option's most characters: the picker then fits beside a 900-px file browser
SHORTEST_NAME = 12  # a name is never shortened below this, however long its type and shape


def layer_label(info: LayerInfo, width: int = LABEL_CHARS) -> str:
    """The picker's option for a layer, "name  (Type, CxHxW)" in at most ``width`` characters: a long
    name shortened in the middle, so its end (which tells siblings apart) and its shape always show."""
    suffix = f"  ({info.type}, {'x'.join(map(str, info.output_shape))})"
    return shorten_middle(info.name, max(width - len(suffix), SHORTEST_NAME)) + suffix


def layer_tooltip(info: LayerInfo) -> str:
    """The chosen layer's whole name, type and output shape, shown when the pointer rests on the picker."""
    return f"{info.name} ({info.type}, output {'x'.join(map(str, info.output_shape))})"


def merged_layers(every: Sequence[LayerInfo], blocks: Sequence[LayerInfo]) -> list[LayerInfo]:
    """Every module's layer and each block output, in execution order: a block `probe.layers` lacks
    (a ResNet stage handing on its last block's tensor) comes right after the last module inside it."""
    merged = list(every)
    for block in blocks:
        if any(i.name == block.name for i in merged):
            continue
        inside = [k for k, i in enumerate(merged) if i.name.startswith(block.name + ".")]
        merged.insert(inside[-1] + 1 if inside else len(merged), block)
    return merged


class LayerPicker(ConvisWidget):
    """A widget whose layer picker (``layer_dropdown``) lists the network's block outputs or every
    module: the ``layers`` trait, "blocks" or "all", with its toggle. Any usable layer validates in
    either view; choosing one the blocks view lacks shows every module."""

    layers = Unicode("blocks", help='what the layer picker lists: "blocks" (each block\'s output) or "all"')

    layer: str  # the subclass's trait
    layer_infos: list[LayerInfo]  # every layer the widget may show, blocks included, in execution order
    block_names: list[str]
    layer_dropdown: w.Dropdown

    def _find_layers(self, model: Any, input_shape: Sequence[int]) -> list[LayerInfo]:
        """Every layer of ``model`` and its block outputs, merged in execution order (`block_names` set)."""
        every, blocks = probe.layers_and_blocks(model, input_shape)  # one dry forward
        self.block_names = [b.name for b in blocks]
        return merged_layers(every, blocks)

    layer_need = "a layer it can show"  # what a usable layer is, in the error for one that is not

    def _candidates(self) -> list[LayerInfo]:
        """The layers the widget can use now, in either view: every one found, unless the widget
        narrows them."""
        return self.layer_infos

    def _layer_rule(self) -> LayerRule:
        """The usable layers and, for the error naming them, `layer_need`."""
        return LayerRule([i.name for i in self._candidates()], self.layer_need)

    def _listed(self, view: str | None = None) -> list[LayerInfo]:
        """The usable layers the picker lists in ``view`` (default: the current one)."""
        usable = self._candidates()
        if (view or self.layers) == "all":
            return usable
        return [i for i in usable if i.name in self.block_names]

    def _first_view(self, given: object = None) -> object:
        """The view given, else "blocks" when the model has a usable block output, else "all"."""
        if given is not None:
            return given
        return "blocks" if self._listed("blocks") else "all"

    def _layers_toggle(self) -> w.ToggleButtons:
        """The control of ``layers``: block outputs only, or every module."""
        return self._control("layers", w.ToggleButtons(
            options=LAYER_VIEWS, style={"button_width": "auto"},
            tooltips=["each block's output (a ResNet stage, a conv with its activation)",
                      "every module that runs"]), "layer-view")

    def _fit_layer_picker(self, give_way: bool = False) -> None:
        """List the current view's layers in the picker. A chosen layer the view lacks switches it to
        every module; with ``give_way`` (the view was just chosen) the layer gives way instead, to the
        first listed layer at or after it (the block it belongs to)."""
        listed = [i.name for i in self._listed()]
        if self.layer and self.layer not in listed:
            if not give_way and self.layers != "all":
                self.layers = "all"  # observed: lists every module
                return
            order = [i.name for i in self._candidates()]
            later = order[order.index(self.layer):] if self.layer in order else []
            self.layer = next((n for n in later if n in listed), listed[-1])
        if not hasattr(self, "layer_dropdown"):
            return
        listed_infos = self._listed()
        options = tuple((layer_label(i), i.name) for i in listed_infos)
        if self.layer_dropdown.options != options:
            with self._unlinked("layer"):  # new options reset the dropdown's value: keep the trait's
                self.layer_dropdown.options = options
        chosen = next((i for i in listed_infos if i.name == self.layer), None)
        self.layer_dropdown.tooltip = layer_tooltip(chosen) if chosen else None

    @contextmanager
    def _unlinked(self, trait: str) -> Iterator[None]:
        """Within, ``trait``'s control is not linked to it; on leaving, the control takes its value."""
        links = [link for link in self._links if link.source[1] == trait]
        for link in links:
            link.unlink()
        try:
            yield
        finally:
            for link in links:
                link.link()

    @validate("layers")
    def _valid_layers(self, proposal: dict[str, Any]) -> str:
        value, views = proposal["value"], [v for _, v in LAYER_VIEWS]
        if value not in views:
            raise ValueError(f"layers must be one of {views}; got {value!r}")
        if value == "blocks" and not self._listed("blocks"):
            need = self._layer_rule().need
            raise ValueError(f"the model has no block output this widget can use ({need}); "
                             f"its blocks: {self.block_names}. layers='all' lists every module")
        return value

    @observe("layers")
    def _on_layers(self, _change: dict[str, Any]) -> None:
        self._fit_layer_picker(give_way=True)

    @observe("layer")
    def _on_layer_view(self, _change: dict[str, Any]) -> None:
        self._fit_layer_picker()  # a module inside a block: every module is shown
