"""The compute core works in plain scripts: importing it loads no widget or plot library."""

from __future__ import annotations

import subprocess
import sys

import pytest

FORBIDDEN = ("ipywidgets", "ipympl", "matplotlib", "traitlets", "IPython", "sklearn", "scipy")


@pytest.mark.parametrize("module", ["convis_widgets", "convis_widgets.compute"])
def test_import_pulls_in_no_widget_or_plot_library(module):
    code = (f"import sys, {module}\n"
            f"print(' '.join(m for m in {FORBIDDEN!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert loaded == []
