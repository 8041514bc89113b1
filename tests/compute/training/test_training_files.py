"""Saved runs on disk: other programs' files are passed over, damaged runs are named, good ones load."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from convis_widgets.compute.training import NotARunError, RunLoadWarning, load_run, load_runs, train_run
from convis_widgets.data import digits
from convis_widgets.models import SeedCNN


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A folder with two saved runs (one epoch on a few digits each)."""
    folder = tmp_path_factory.mktemp("runs")
    train, val = digits("train").head(64), digits("test").head(16)
    for name in ("a", "b"):
        list(train_run(lambda: SeedCNN(), train, val, epochs=1, name=name, out_dir=folder))
    return folder


def copy_runs(saved, tmp_path):
    for path in saved.rglob("*"):
        if path.is_file():
            target = tmp_path / path.relative_to(saved)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return sorted(tmp_path.rglob("*.json"))


def test_other_programs_json_files_are_passed_over_silently(saved, tmp_path):
    copy_runs(saved, tmp_path)
    (tmp_path / "notes.json").write_text(json.dumps(["a", "list", "of", "notes"]))
    (tmp_path / "settings.json").write_text(json.dumps({"format": "something else", "x": 1}))
    (tmp_path / "broken-notes.json").write_text("{not json at all")
    (tmp_path / "empty.json").write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runs = load_runs(tmp_path)
    assert [r.name for r in runs] == ["a", "b"] and all(r.status == "finished" for r in runs)
    with pytest.raises(NotARunError, match="notes.json is not a saved convis run"):
        load_run(tmp_path / "notes.json")


def test_damaged_runs_are_left_out_and_named_in_one_warning(saved, tmp_path):
    a, b = copy_runs(saved, tmp_path)
    b.write_text(b.read_text()[:200])  # cut short: our format, not valid JSON
    newer = a.with_name("c.json")
    newer.write_text(a.read_text().replace('"convis-run/1"', '"convis-run/2"'))
    missing = a.with_name("d.json")
    doc = json.loads(a.read_text())
    del doc["records"]
    missing.write_text(json.dumps(doc))
    with pytest.warns(RunLoadWarning) as caught:
        runs = load_runs(tmp_path)
    assert [r.name for r in runs] == ["a"]
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("3 saved run(s) under")
    assert "b.json is damaged (not valid JSON" in message
    assert "c.json is in format 'convis-run/2'; this version reads 'convis-run/1'" in message
    assert "d.json is damaged (KeyError: 'records')" in message


def test_damaged_weights_are_named(saved, tmp_path):
    a, _ = copy_runs(saved, tmp_path)
    a.with_suffix(".pt").write_bytes(b"not a torch file")
    with pytest.warns(RunLoadWarning, match=r"1 saved run\(s\).*a\.pt is damaged"):
        runs = load_runs(tmp_path)
    assert [r.name for r in runs] == ["b"]
    with pytest.raises(ValueError, match=r"a\.pt is damaged"):
        load_run(a)


def test_a_loaded_run_rebuilds_its_builtin_model_through_the_registry(saved):
    run = load_runs(saved)[0]
    assert run.trained is None and run.config["builtin"] is False and run.config["model"] == "SeedCNN"
    model = run.model()
    assert isinstance(model, SeedCNN) and not model.training
    assert all(torch.equal(model.state_dict()[k], v) for k, v in run.state_dict.items())
    assert run.config["num_threads"] == torch.get_num_threads()
    assert {"epochs", "batch_size", "lr", "weight_decay", "seed", "optimizer", "schedule", "max_shift",
            "record_every", "probe_index"} <= run.config.keys()
