"""The optimisation settings as widgets: a trait and (where the row names one) a control for every
row of `optvis.settings.TABLE`, made in one place for any widget that shows them."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
from traitlets import Bool, Float, HasTraits, Int, TraitType, Tuple, Unicode

from ..compute import optvis

# Every other row of the settings table is a trait of its own, with a control where the row
# names one; "report" and "n_reports" are the widget's own (report 0: log-spaced snapshots).
OWN = ("report", "n_reports")
MIRRORED = tuple(row.name for row in optvis.TABLE if row.name not in OWN)


def setting_trait(row: optvis.Setting) -> TraitType:
    """The widget trait that mirrors one row of the settings table."""
    kind = row.kind
    if kind == "int":
        return Int(row.default)
    if kind == "number":
        return Float(row.default)
    if kind == "bool":
        return Bool(row.default)
    if kind in ("choice", "init"):
        return Unicode(row.default)
    return Tuple(default_value=tuple(row.default))  # "range", "ints", "numbers"


SettingTraits = type("SettingTraits", (HasTraits,),
                     {"__doc__": "One trait per mirrored row of `optvis.TABLE`.",
                      **{name: setting_trait(optvis.settings.ROWS[name]) for name in MIRRORED}})


EM_PER_CHARACTER = 0.55  # the widest average of the notebook fonts' letters, in em
LABEL_EM = round(EM_PER_CHARACTER * max(len(row.label or row.name) for row in optvis.TABLE
                                         if row.control and row.control[0] != "check")) + 1
"""The setting controls' one label width, from the table's longest label beside a control (a checkbox's
label follows its box): a new row's label cannot be cut."""
CONTROL_EM = 17  # the slider or box and its readout, beside the label


def labelled() -> dict[str, Any]:
    """Keyword arguments shared by the setting controls (a Layout of its own for each): one label
    width, so a panel's controls line up, with room for the longest label of the settings table."""
    return dict(style={"description_width": f"{LABEL_EM}em"},
                layout=w.Layout(width=f"{LABEL_EM + CONTROL_EM}em"))


def slider_args() -> dict[str, Any]:
    """Keyword arguments of the setting sliders and number boxes: labelled, and sent on release."""
    return dict(continuous_update=False, **labelled())


def setting_control(row: optvis.Setting) -> w.Widget:  # noqa: PLR0911 (one control per kind)
    """The control a settings-table row asks for (see `optvis.settings.Control`)."""
    assert row.control is not None
    kind, *args = row.control
    label = row.label or row.name
    if kind == "slider":
        fmt = {"readout_format": args[3]} if len(args) > 3 else {}
        return w.FloatSlider(min=args[0], max=args[1], step=args[2], description=label, tooltip=row.help,
                             **fmt, **slider_args())
    if kind == "int_slider":
        return w.IntSlider(min=args[0], max=args[1], description=label, tooltip=row.help, **slider_args())
    if kind == "int":
        return w.BoundedIntText(min=args[0], max=args[1], description=label, tooltip=row.help,
                                **slider_args())
    if kind == "text":
        return w.IntText(description=label, tooltip=row.help, **slider_args())
    if kind == "log":
        return w.FloatLogSlider(base=10, min=args[0], max=args[1], step=args[2], readout_format=args[3],
                                description=label, tooltip=row.help, **slider_args())
    if kind == "check":
        return w.Checkbox(description=label, indent=False, tooltip=row.help)
    if kind == "dropdown":
        return w.Dropdown(options=list(args[0]), description=label, tooltip=row.help, **labelled())
    raise ValueError(f"setting {row.name!r}: unknown control {kind!r}")


def checked_settings(settings: optvis.Settings, changes: dict[str, Any]) -> optvis.Settings:
    """``settings`` with ``changes``, checked together by `optvis.Settings` itself (the one set of
    rules); the ValueError names the settings, the values given and what is allowed."""
    try:
        return settings.replace(**changes)
    except ValueError as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in changes.items())
        raise ValueError(f"FeatureVisualizer setting {shown} refused: {exc}") from None
