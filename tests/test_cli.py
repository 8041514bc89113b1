"""`convis-widgets demo --out DIR` writes the quickstart's pictures with no Jupyter."""

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


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "convis_widgets.cli", "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("convis-widgets ")
