"""Saved comparisons of one data set: listed newest first, and those of the same settings run with
other seeds, which the verdict pools to measure the run-to-run spread a single seed cannot show."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .records import Run, load_runs

_DATE = re.compile(r"(\d{8}-\d{6})(?:-(\d+))?$")
_SEED = re.compile(r"-seed\d+$")
NOT_SETTINGS = frozenset({"seed", "probe_index", "num_threads"})
"""Config entries two comparisons of the same settings may differ in: the seed, the probe image the
seed chose and the machine's thread count."""


def saved_comparisons(home: str | Path) -> list[Path]:
    """Folders under ``home`` (one data set's folder) holding saved runs, newest first, by the date
    their names end with (from :func:`compare_first_kernels`)."""
    home = Path(home)
    if not home.is_dir():
        return []
    folders = {p.parent for p in home.rglob("*.json")}

    def when(folder: Path) -> tuple[str, int, str]:
        found = _DATE.search(folder.name)
        return (found.group(1), int(found.group(2) or 1), folder.name) if found else ("", 0, folder.name)

    return sorted(folders, key=when, reverse=True)


def settings_and_date(name: str) -> tuple[str, str]:
    """A saved comparison's folder name split into its settings and its date, e.g.
    ("3x3-vs-9x9-6ep-lr0.003-b64-seed2", "20261203-181940"); ("<name>", "") without a date."""
    found = _DATE.search(name)
    if not found or found.start() == 0:
        return name, ""
    return name[:found.start()].rstrip("-"), found.group(0)


def _settings(run: Run) -> tuple[str, dict[str, Any]]:
    return run.name, {k: v for k, v in run.config.items() if k not in NOT_SETTINGS}


def _but_seed(folder: Path) -> str:
    """A comparison folder's settings without its seed and date (its name from `settings_name`)."""
    return _SEED.sub("", settings_and_date(folder.name)[0])


def other_seeds(runs: Sequence[Run]) -> list[list[Run]]:
    """The finished comparisons saved before ``runs``' own, beside it, with the same runs and
    settings but another seed: the newest one per seed, in seed order (none if ``runs`` are unsaved).

    Only folders whose name gives the same settings but for the seed are read; their saved configs
    must then match too.
    """
    if not runs or runs[0].path is None:
        return []
    folder = runs[0].path.parent
    mine = sorted(_settings(r) for r in runs)
    seeds = {r.config.get("seed") for r in runs}
    listed = saved_comparisons(folder.parent)
    older = listed[listed.index(folder) + 1:] if folder in listed else listed
    found: dict[int, list[Run]] = {}
    for other in (f for f in older if _but_seed(f) == _but_seed(folder)):
        theirs = load_runs(other)
        seed = theirs[0].config.get("seed") if theirs else None
        if (isinstance(seed, int) and seed not in seeds and seed not in found
                and all(r.status == "finished" for r in theirs)
                and sorted(_settings(r) for r in theirs) == mine):
            found[seed] = theirs
    return [found[s] for s in sorted(found)]
