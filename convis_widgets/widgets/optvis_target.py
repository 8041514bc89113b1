"""What a `FeatureVisualizer` optimises: the objective kind, its layer, its map (or unit, or class),
a second map and its weight, checked against the model and turned into an `objectives.Objective`."""

from __future__ import annotations

from typing import Any

import torch
from traitlets import Float, Int, Unicode, validate

from ..compute.optvis import objectives
from ..compute.probe import LayerInfo
from .base import LayerRule, one_of
from .layer_picker import LayerPicker

OBJECTIVES = [
    ("one map (its mean)", "channel"),
    ("one unit", "neuron"),
    ("a class (its logit)", "class"),
    ("two maps, weighted", "joint"),
    ("a whole layer (DeepDream)", "layer"),
]


class TargetChoice(LayerPicker):
    """The target traits of a `FeatureVisualizer` and their checks, on which its single-run and
    gallery parts build (the widget supplies what is declared here without a value)."""

    layer = Unicode()
    objective = Unicode("channel")
    index = Int(0)
    second = Int(1)
    weight = Float(0.5)

    model: torch.nn.Module
    layer_infos: list[LayerInfo]  # the model's layers and blocks with a map or a flat output
    n_classes: int

    def _candidates(self, objective: str | None = None) -> list[LayerInfo]:
        """Layers the objective can target: maps need a spatial layer, a neuron any layer."""
        kind = objective or self.objective
        if kind == "neuron":
            return self.layer_infos
        return [i for i in self.layer_infos if i.spatial]

    def _layer_rule(self) -> LayerRule:
        need = "any layer" if self.objective == "neuron" else "a layer with a spatial (N, C, H, W) output"
        names = [i.name for i in self._candidates()]
        return LayerRule(names, f"the {self.objective!r} objective needs {need}")

    def _default_layer(self) -> str:
        """The middle spatial layer the picker lists for the map objectives (mid-level patterns: a
        block output in the blocks view), else its first spatial layer."""
        spatial = ([i.name for i in self._listed() if i.spatial]
                   or [i.name for i in self.layer_infos if i.spatial])
        return spatial[len(spatial) // 2] if self.objective in ("channel", "joint", "layer") else spatial[0]

    def _info(self, layer: str | None = None) -> LayerInfo:
        """The probe's facts about ``layer`` (default: the chosen one)."""
        name = layer or self.layer
        return next(i for i in self.layer_infos if i.name == name)

    def _target_count(self) -> int:
        """How many maps (or units, or classes) the index can name."""
        if self.objective == "class":
            return self.n_classes
        return self._info().output_shape[0]  # channels of a map, or units of a flat layer

    def _check_index(self, what: str, value: int) -> int:
        n = self._target_count()
        if not 0 <= value < n:
            target = "classes" if self.objective == "class" else f"maps in {self.layer}"
            raise IndexError(f"{what} must be in 0..{n - 1} (there are {n} {target}); got {value}")
        return value

    @validate("objective")
    def _valid_objective(self, proposal: dict[str, Any]) -> str:
        return str(one_of(proposal, OBJECTIVES))

    @validate("index", "second")
    def _valid_index(self, proposal: dict[str, Any]) -> int:
        return self._check_index(proposal["trait"].name, proposal["value"])

    @validate("weight")
    def _valid_weight(self, proposal: dict[str, Any]) -> float:
        if not 0.0 <= proposal["value"] <= 1.0:
            raise ValueError(f"weight must be in [0, 1]; got {proposal['value']}")
        return proposal["value"]

    def target_title(self) -> str:
        """The current target in a reader's words: "map 10 of conv3", "class 3 (its logit)"."""
        kind, layer, i = self.objective, self.layer, self.index
        if kind == "channel":
            return f"map {i} of {layer}"
        if kind == "neuron":
            return (f"unit {i} of {layer}" if len(self._info().output_shape) == 1
                    else f"centre unit of map {i} of {layer}")
        if kind == "class":
            return f"class {i} (its logit)"
        if kind == "joint":
            return f"maps {i} and {self.second} of {layer}, weight {self.weight:g}"
        return f"all maps of {layer} (DeepDream)"

    def make_objective(self) -> objectives.Objective:
        """The objective the current choices describe."""
        kind, layer = self.objective, self.layer
        if kind == "channel":
            return objectives.channel(layer, self.index)
        if kind == "neuron":
            return objectives.neuron(layer, self.index)
        if kind == "class":
            return objectives.class_logit(self.index)
        if kind == "joint":
            return objectives.joint(layer, self.index, self.second, self.weight)
        return objectives.layer(layer)
