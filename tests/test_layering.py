"""Arrows point down only (shared DESIGN.md): the compute core works in plain scripts, imports
torch and numpy only and nothing else of this package, lazily or not."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import convis_widgets

FORBIDDEN = ("ipywidgets", "ipympl", "matplotlib", "traitlets", "IPython", "sklearn", "scipy")
PACKAGE = Path(convis_widgets.__file__).parent

# which of the package's own parts each part may import (every import in the file, also one
# inside a function); "" is the package's __init__
OWN = {
    "compute": {"compute"},
    "data": {"data"},
    "jobs": {"jobs"},
    "models": {"models", "compute", "data"},
    "render": {"render", "compute"},
    "analysis": {"analysis", "compute"},
    "widgets": {"widgets", "compute", "data", "models", "render", "jobs", "analysis"},
    "cli": {"", "compute", "data", "models", "render"},
    "__main__": {"cli"},  # `python -m convis_widgets`: the command, nothing else
    "": {"", "compute", "data", "models", "widgets"},
}
THIRD_PARTY = {"compute": {"torch", "numpy"}, "jobs": set()}  # parts not named here: unchecked


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import statement in one source file."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = parts if parts[-1] == "__init__" else parts[:-1]
    package = [p for p in package if p != "__init__"]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                found.append((node.lineno, ".".join(base + ([node.module] if node.module else []))))
            else:
                found.append((node.lineno, str(node.module)))
    return found


def part_of(name: str) -> str:
    pieces = name.split(".")
    return pieces[1] if len(pieces) > 1 else ""


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_only(path):
    relative = path.relative_to(PACKAGE)
    part = "" if relative.parts[0] == "__init__.py" else relative.parts[0].removesuffix(".py")
    allowed_own = OWN[part]
    allowed_third = THIRD_PARTY.get(part)
    bad = []
    for line, name in imports(path):
        top = name.split(".")[0]
        if top == "convis_widgets":
            if part_of(name) not in allowed_own:
                bad.append(f"line {line}: {name}")
        elif allowed_third is not None and top not in allowed_third and top not in sys.stdlib_module_names:
            bad.append(f"line {line}: {name}")
    assert not bad, f"{relative} ({part or 'package init'}) may import only {sorted(allowed_own)}: {bad}"


def test_the_layering_test_sees_lazy_imports(tmp_path):
    """An import inside a function is still an import."""
    fake = PACKAGE / "compute" / "_layering_probe.py"
    assert not fake.exists()
    fake.write_text("def f():\n    from ..data import digits\n    return digits\n")
    try:
        assert (2, "convis_widgets.data") in imports(fake)
    finally:
        fake.unlink()


@pytest.mark.parametrize("module", ["convis_widgets", "convis_widgets.compute"])
def test_import_pulls_in_no_widget_or_plot_library(module):
    code = (f"import sys, {module}\n"
            f"print(' '.join(m for m in {FORBIDDEN!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert loaded == []


HOOK_CALLS = {"register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
              "register_backward_hook", "register_full_backward_pre_hook"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_access_module_registers_hooks(path):
    """Every contact with a model goes through compute/access.py: nothing else registers a hook."""
    if path == PACKAGE / "compute" / "access.py":
        return
    calls = [node.lineno for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Attribute) and node.attr in HOOK_CALLS]
    assert not calls, f"{path.relative_to(PACKAGE)} registers hooks at lines {calls}: use compute.access"
