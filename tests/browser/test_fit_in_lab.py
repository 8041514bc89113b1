"""Nothing cut at the notebook's default width: every notebook in JupyterLab, in Chromium, at 900 px and
1,400 px wide; no control text, dropdown option or toggle row of any widget is cut or wrapped, and no
figure is wider than its output area (`lab.assert_nothing_cut`).

A notebook another browser test already runs is checked there, before that test touches a widget (a
notebook's run is the slow part); this file runs the others."""

from __future__ import annotations

from pathlib import Path

import pytest

from .lab import assert_nothing_cut, open_and_run

HERE = Path(__file__).parent
NOTEBOOKS = sorted(p.name for p in (HERE.parents[1] / "notebooks").glob("*.ipynb"))
CHECKED_ELSEWHERE = {
    "01_quickstart.ipynb": "test_quickstart_in_lab.py",
    "02_feature_visualization.ipynb": "test_feature_visualizer_in_lab.py",
    "03_occlusion_and_saliency.ipynb": "test_occlusion_in_lab.py",
    "04_training_comparison.ipynb": "test_training_in_lab.py",
    "06_units_and_the_data_set.ipynb": "test_inversion_and_dream_in_lab.py",
    "07_unit_and_feature_space.ipynb": "test_unit_inspector_in_lab.py",
    "08_latent_space.ipynb": "test_latent_explorer_in_lab.py",
}


@pytest.mark.parametrize(("notebook", "test_file"), sorted(CHECKED_ELSEWHERE.items()))
def test_notebooks_checked_elsewhere_are_checked_there(notebook, test_file):
    source = (HERE / test_file).read_text()
    assert f'assert_nothing_cut(page, artifacts, "{notebook}")' in source, (
        f"{test_file} no longer checks that nothing is cut in {notebook}: check it here instead")


RUN_HERE = [n for n in NOTEBOOKS if n not in CHECKED_ELSEWHERE]


@pytest.mark.parametrize("notebook", RUN_HERE)
def test_nothing_is_cut_at_900_and_1400_px(lab_server, page, artifacts, notebook):
    """Run the whole notebook, then look at every widget at both widths."""
    open_and_run(page, lab_server, notebook)
    assert_nothing_cut(page, artifacts, notebook)
