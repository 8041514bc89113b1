"""Saved comparisons of a `TrainingComparison`: listed newest first by the date their folder's
name ends with, loaded back as they were shown live, and timed (the pace a new run is told)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..compute.training import Record, Run, load_runs, saved_comparisons, settings_and_date
from .base import ConvisWidget
from .labels import shorten_middle

LABEL_CHARS = 44  # a saved comparison's label in the dropdown, cut in the middle (fits at 900 px)


def saved_label(name: str) -> str:
    """A saved comparison's label: its settings and its date short, "3x3/9x9-6ep-lr0.003-b64-seed2
    12-03 18:19" (the settings tell comparisons apart; the year and seconds seldom do); a longer one
    is cut in the middle, keeping the seed and date at its end."""
    settings, date = settings_and_date(name)
    settings = settings.replace("-vs-", "/")
    if date:
        day, time, *again = date.split("-")
        settings += f" {day[4:6]}-{day[6:8]} {time[:2]}:{time[2:4]}" + (f" ({again[0]})" if again else "")
    return shorten_middle(settings, LABEL_CHARS)


class SavedComparisons(ConvisWidget):
    """The saved-comparison part of a `TrainingComparison`: its "saved" list of comparisons, Load, and
    the pace of the latest saved run; the widget supplies what is declared here without a value."""

    kind: str
    saved_dropdown: w.Dropdown
    load_button: w.Button
    runs: list[Run]
    _paces: dict[Path, float | None]

    def _home(self) -> Path:
        """The folder of the current kind and data set's saved comparisons (the widget's own)."""
        raise NotImplementedError(f"{type(self).__name__} has no folder of saved comparisons")

    def _reset(self, runs: list[Run], title: str) -> None:
        """Lay the views out for ``runs`` (the widget's own)."""
        raise NotImplementedError(f"{type(self).__name__} has no views to lay out")

    def _show(self, record: Record, runs: list[Run]) -> None:
        """Show one record of ``runs`` (the widget's own)."""
        raise NotImplementedError(f"{type(self).__name__} has no views to show a record in")

    def _finish(self, runs: list[Run], how: str) -> None:
        """The table, verdict and status once ``runs`` are over (the widget's own)."""
        raise NotImplementedError(f"{type(self).__name__} has no table to finish")

    def _pace(self) -> float | None:
        """Seconds per epoch of one run in the latest saved comparison of this data set (None if none)."""
        folders = [Path(f) for _, f in self.saved_dropdown.options]
        if not folders:
            return None
        if folders[0] not in self._paces:
            epochs = [(r.last_epoch.elapsed, r.last_epoch.epoch) for r in load_runs(folders[0])
                      if r.last_epoch is not None and r.last_epoch.epoch > 0]
            seconds, count = sum(t for t, _ in epochs), sum(e for _, e in epochs)
            self._paces[folders[0]] = seconds / count if count else None
        return self._paces[folders[0]]

    def _list_saved(self) -> None:
        """List the saved comparisons of the current kind and data set, newest first and chosen."""
        folders = saved_comparisons(self._home())
        self.saved_dropdown.options = [(saved_label(f.name), str(f)) for f in folders]
        if folders:
            self.saved_dropdown.value = str(folders[0])
        self.load_button.disabled = not folders  # nothing to load: no button that can only fail
        self.load_button.tooltip = "" if folders else "no saved comparison of this kind and data set yet"

    def load(self, folder: str | os.PathLike[str] | None = None) -> list[Run]:
        """Show saved runs as they were shown live: curves, filters, probe, table and verdict (a folder of
        them; default: the one chosen under "saved")."""
        chosen = folder if folder is not None else self.saved_dropdown.value
        if chosen is None:
            article = "an" if self.kind[:1] in "aeiou" else "a"
            raise FileNotFoundError(f"no saved comparison of {article} {self.kind} on this data under "
                                    f"{self._home()}")
        runs = load_runs(chosen)
        if not runs:
            raise FileNotFoundError(f"no saved runs in {chosen}")
        self.runner.cancel()
        self._clear_error()
        c = runs[0].config
        kernels = c.get("kernels") or [r.config.get("first_kernel") for r in runs]
        shown: dict[str, Any] = {k: c[k] for k in ("epochs", "batch_size", "lr", "seed") if k in c}
        self._set_choices({**shown, "kernels": ", ".join(map(str, kernels))})  # the settings it was run with
        self._reset(runs, f"saved: {c['kind']} on {c['data']}")
        self.runs = runs
        for run in runs:
            for record in run.records:
                self._show(record, runs)
        self._finish(runs, f"loaded {Path(chosen).name}")
        return runs


