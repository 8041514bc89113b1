"""The install is honest on any machine: the package asks for a torch range, the pinned torch of
CI (constraints.txt) and of Binder (binder/requirements.txt) is one version inside that range, and
Binder takes the CPU build from the PyTorch project's CPU wheel index with every front end the
browser tests drive."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def requirement_lines(path: Path) -> dict[str, Requirement]:
    """The requirements of a pip requirements/constraints file by name (options and comments skipped)."""
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    reqs = [Requirement(line) for line in lines if line and not line.startswith("-")]
    return {r.name: r for r in reqs}


def pinned(req: Requirement) -> Version:
    (spec,) = req.specifier
    assert spec.operator == "==", f"{req} is not a pin"
    return Version(spec.version)


def test_the_package_asks_for_a_torch_range_and_the_pins_sit_inside_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch_req = next(Requirement(d) for d in project["dependencies"] if d.startswith("torch"))
    assert all(s.operator != "==" for s in torch_req.specifier), f"the package pins torch: {torch_req}"
    ci = pinned(requirement_lines(ROOT / "constraints.txt")["torch"])
    binder = pinned(requirement_lines(ROOT / "binder" / "requirements.txt")["torch"])
    assert ci == binder, f"CI tests torch {ci}, Binder would run {binder}"
    assert torch_req.specifier.contains(ci), f"the pinned torch {ci} is outside the package's {torch_req}"


def test_binder_takes_the_cpu_build_and_every_tested_front_end():
    text = (ROOT / "binder" / "requirements.txt").read_text()
    assert re.search(rf"^--(extra-)?index-url {re.escape(CPU_INDEX)}\s*$", text, re.MULTILINE)
    names = set(requirement_lines(ROOT / "binder" / "requirements.txt"))
    assert {"jupyterlab", "notebook", "voila", "mlxtend"} <= names
    assert "pip install --no-cache-dir ." in (ROOT / "binder" / "postBuild").read_text()


def test_the_readme_names_the_cpu_index_and_the_front_end_extras():
    readme = (ROOT / "README.md").read_text()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert CPU_INDEX in readme
    for extra in ("lab", "notebook", "voila", "frontends"):
        assert extra in extras and f"`{extra}`" in readme, f"extra {extra!r} missing from pyproject or README"
