"""Every notebook in notebooks/ runs top to bottom in a real kernel, and its widgets end without error."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

CHECK_WIDGETS = """
from convis_widgets.widgets.base import ConvisWidget
_widgets = [v for v in list(globals().values()) if isinstance(v, ConvisWidget)]
assert _widgets, "the notebook shows no convis widget"
for _w in _widgets:
    assert _w.wait(120), f"{type(_w).__name__} still busy after 120 s"
    assert _w.last_error is None, f"{type(_w).__name__} showed an error: {_w.last_error!r}"
print(f"{len(_widgets)} widgets checked")
"""


def test_there_are_notebooks():
    assert any(p.name == "01_quickstart.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # notebooks choose their own backend
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(CHECK_WIDGETS))
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", out
            if out.get("name") == "stderr":
                assert "Warning" not in out.get("text", ""), out["text"]
    assert "widgets checked" in "".join(o.get("text", "") for o in nb.cells[-1].outputs)
