"""`convis-widgets demo|attribution --out DIR` write the widgets' pictures with no Jupyter."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from convis_widgets.cli import main


def test_demo_writes_pictures_and_summary(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--image", "3"]) == 0
    listed = capsys.readouterr().out.split()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert sorted(p.split("/")[-1] for p in listed) == names
    for layer in ("conv1", "relu2", "pool2", "relu3"):
        assert f"activations_{layer}.png" in names
    for layer in ("conv1", "conv2", "conv3"):
        assert f"filters_{layer}.png" in names
    picture = np.asarray(Image.open(tmp_path / "activations_conv1.png").convert("L"))
    assert picture.shape[0] > 300 and picture.std() > 20  # a drawn picture, not a blank page
    summary = (tmp_path / "summary.txt").read_text()
    assert "test image 3" in summary and "test accuracy on the built-in digits: 0.9" in summary
    assert "relu3:" in summary and "conv1: smooth filters" in summary


def test_demo_rejects_a_bad_image_index(tmp_path):
    with pytest.raises(SystemExit, match="0..999"):
        main(["demo", "--out", str(tmp_path), "--image", "1000"])


@pytest.mark.parametrize("module", ["convis_widgets.cli", "convis_widgets"])
def test_console_script_is_installed(module):
    out = subprocess.run([sys.executable, "-m", module, "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("convis-widgets ")


def test_attribution_writes_one_map_per_method_of_the_table(tmp_path, capsys):
    from convis_widgets.compute.attribution import METHODS

    assert main(["attribution", "--out", str(tmp_path), "--image", "3"]) == 0
    listed = capsys.readouterr().out.split()
    assert sorted(p.split("/")[-1] for p in listed) == sorted(f"attribution_{m}.png" for m in METHODS)
    for name in METHODS:
        picture = np.asarray(Image.open(tmp_path / f"attribution_{name}.png").convert("L"))
        assert picture.std() > 10, name  # a drawn map beside the digit, not a blank page


def test_attribution_takes_chosen_methods_and_rejects_unknown_ones(tmp_path, capsys):
    assert main(["attribution", "--out", str(tmp_path), "--method", "grad_cam", "--method", "saliency",
                 "--layer", "relu2"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["attribution_grad_cam.png", "attribution_saliency.png"]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["attribution", "--out", str(tmp_path), "--method", "lime"])
    assert "invalid choice: 'lime'" in capsys.readouterr().err
