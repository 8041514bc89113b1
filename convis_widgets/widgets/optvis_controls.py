"""The controls of a `FeatureVisualizer`, made once, and which of them show: only those that act on
the current mode, objective and settings (a blur's sigma only while it blurs, and so on)."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from ..compute import optvis
from .optvis_target import OBJECTIVES, TargetChoice
from .setting_controls import MIRRORED, setting_control, slider_args


def _spectral(fv: OptvisControls) -> bool:
    return fv.param == "fft" or fv.init == "spectrum"


ACTS_WHEN: dict[str, Callable[[OptvisControls], bool]] = {
    "blur_sigma": lambda fv: fv.blur_every > 0,
    "bilateral_sigma_space": lambda fv: fv.bilateral_every > 0,
    "bilateral_sigma_range": lambda fv: fv.bilateral_every > 0,
    "fft_decay": _spectral,
    "decorrelate": lambda fv: _spectral(fv) and fv.input_shape[0] == 3,
    "convergence": lambda fv: fv.stop_on_convergence,
}
"""Setting controls shown only while they act: a blur's sigma only when it blurs, and so on."""
SHOWN_BY = ("blur_every", "bilateral_every", "param", "init", "stop_on_convergence")
"""The settings whose change shows or hides a control of `ACTS_WHEN`."""


class OptvisControls(TargetChoice):
    """The `FeatureVisualizer`'s controls and their visibility; the widget supplies what is declared here."""

    mode: str
    report: int
    param: str
    init: str
    blur_every: int
    bilateral_every: int
    stop_on_convergence: bool
    single_box: w.VBox
    gallery_box: w.VBox

    def _build_controls(self) -> None:
        """Every control, made and tagged once; `_link_controls` links each to its trait."""
        c = self._control
        self.layer_dropdown = c("layer", w.Dropdown(description="layer", layout=w.Layout(width="24em")))
        self.layers_toggle = self._layers_toggle()
        self.objective_dropdown = c("objective", w.Dropdown(options=OBJECTIVES, description="objective",
                                                            layout=w.Layout(width="22em")))
        self.mode_buttons = c("mode", w.ToggleButtons(options=[("one target", "single"),
                                                               ("layer gallery", "gallery")],
                                                      style={"button_width": "auto"}))
        wrap = dict(flex_flow="row wrap")  # at a narrow notebook the controls wrap, never get cut
        self.top_row = w.HBox([self.layer_dropdown, self.layers_toggle, self.objective_dropdown,
                               self.mode_buttons], layout=w.Layout(**wrap))

        slider = dict(continuous_update=False)
        self.index_slider = c("index", w.IntSlider(0, min=0, max=0, description="map", **slider))
        self.second_slider = c("second", w.IntSlider(0, min=0, max=0, description="second map", **slider))
        self.weight_slider = c("weight", w.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="weight",
                                                       **slider))
        self.range_slider = c("gallery_range", w.IntRangeSlider(value=(0, 0), min=0, max=0,
                                                                description="maps", **slider))
        self.contrast_box = c("contrast", w.Checkbox(description="contrast", indent=False,
                                                     layout=w.Layout(width="7em")))
        self.target_row = w.HBox([self.index_slider, self.second_slider, self.weight_slider,
                                  self.range_slider, self.contrast_box], layout=w.Layout(**wrap))

        self.setting_controls: dict[str, w.Widget] = {
            row.name: c(row.name, setting_control(row)) for row in optvis.TABLE
            if row.name in MIRRORED and row.control
        }
        self.report_text = c("report", w.BoundedIntText(
            min=0, max=100_000, description="snapshot every", **slider_args(),
            tooltip="0: snapshots at log-spaced steps (as in Mönchmeyer's OIP loop); "
                    "k: a snapshot every k steps"))
        self.n_reports_text = c("n_reports", w.BoundedIntText(min=1, max=8, description="snapshots (log)",
                                                              tooltip="how many log-spaced snapshots",
                                                              **slider_args()))
        optimisation, regularisers = (
            w.VBox([self.controls[row.name] for row in optvis.TABLE
                    if row.group == group and row.name in self.controls])
            for group in ("optimisation", "regularisers")
        )
        self.accordion = w.Accordion(children=[optimisation, regularisers])
        self.accordion.set_title(0, "optimisation")
        self.accordion.set_title(1, "regularisers and transforms (change them while it runs)")

        self._start_stop_buttons()
        self.reset_button = self._button("Reset", "reset", self.reset, icon="undo")
        self.export_folder = w.Text("convis_optvis", description="export to", layout=w.Layout(width="20em"))
        self.export_button = self._button("Export", "export", self._export_to_folder, icon="download")
        self.button_row = w.HBox([self.start_button, self.stop_button, self.reset_button,
                                  self.export_folder, self.export_button], layout=w.Layout(**wrap))

    def _show_mode(self) -> None:
        """Show only the controls that act on the current mode, objective and settings."""
        if not hasattr(self, "single_box"):
            return
        gallery = self.mode == "gallery"
        single = not gallery
        joint = self.objective == "joint" and single
        layered = gallery or self.objective != "class"  # the class objective reads the output
        shown = [(self.single_box, single), (self.gallery_box, gallery), (self.objective_dropdown, single),
                 (self.index_slider, single and self.objective != "layer"), (self.second_slider, joint),
                 (self.weight_slider, joint), (self.range_slider, gallery), (self.layer_dropdown, layered),
                 (self.layers_toggle, layered), (self.n_reports_text, self.report == 0)]
        shown += [(self.controls[name], acts(self)) for name, acts in ACTS_WHEN.items()
                  if name in self.controls]
        for widget, visible in shown:
            widget.layout.display = None if visible else "none"
        self.accordion.set_title(1, "regularisers and transforms" + ("" if gallery else
                                                                    " (change them while it runs)"))
