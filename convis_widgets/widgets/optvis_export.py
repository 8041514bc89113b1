"""The settings and files of a `FeatureVisualizer` run: its settings as JSON (to reproduce it or load it
again) and its export (pictures, evolution, gallery)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..compute import optvis
from .optvis_gallery import GalleryRun
from .optvis_single import SingleRun
from .setting_controls import MIRRORED


class RunExport(SingleRun, GalleryRun):
    """Export and import of a run; the widget supplies what is declared here without a value."""

    mode: str
    contrast: bool
    export_folder: w.Text

    def _fit_controls(self) -> None:
        """Fit the controls to the objective and layer (the widget's own)."""
        raise NotImplementedError(f"{type(self).__name__} has no controls to fit")

    def run_settings(self) -> dict[str, Any]:
        """Everything needed to reproduce the current run, as JSON-able values."""
        return {
            "model": type(self.model).__name__,
            "input_shape": list(self.input_shape),
            "mode": self.mode,
            "objective": {"kind": self.objective, "layer": self.layer, "index": self.index,
                          "second": self.second, "weight": self.weight,
                          "description": self.make_objective().description},
            "gallery_range": list(self.gallery_range),
            "report": self.report,
            "n_reports": self.n_reports,
            "contrast": self.contrast,
            "settings": self.settings.to_dict(),
        }

    def load_settings(self, source: str | Path | dict) -> None:
        """Set every choice from a settings JSON written by `export` (a path or the parsed dict)."""
        spec = json.loads(Path(source).read_text()) if isinstance(source, (str, Path)) else source
        target = spec["objective"]
        settings = optvis.Settings.from_dict(spec["settings"])
        with self.hold_trait_notifications():
            self.mode = spec.get("mode", "single")
            self.objective = target["kind"]
            self.layer = target["layer"]
            for name, value in settings.to_dict().items():
                if name in MIRRORED:
                    setattr(self, name, value)
            self.settings = settings
        self._fit_controls()
        self.index, self.second, self.weight = target["index"], target["second"], target["weight"]
        self.gallery_range = tuple(spec.get("gallery_range", self.gallery_range))
        self.report, self.n_reports = spec.get("report", 0), spec.get("n_reports", 6)
        self.contrast = spec.get("contrast", True)

    def export(self, folder: str | Path) -> list[Path]:
        """Write the picture and snapshot strip (PNG), the evolution (GIF) and the settings (JSON);
        in gallery mode the grid (PNG) and its pictures (npz)."""
        folder = Path(folder)
        written = self._export_gallery(folder) if self.mode == "gallery" else self._export_single(folder)
        path = folder / "settings.json"
        path.write_text(json.dumps(self.run_settings(), indent=2))
        return [*written, path]

    def _export_to_folder(self) -> None:
        written = self.export(self.export_folder.value)
        self._set_status("exported " + ", ".join(p.name for p in written) + f" to {written[0].parent}")

    def _export_clicked(self) -> None:
        """What the Export button does: export to the folder beside it, an error shown in the widget."""
        self._on_button(self._export_to_folder)()
