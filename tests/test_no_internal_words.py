"""What users read (README, CHANGELOG, notebooks, the package's docstrings and widget text) cites the
articles by title and author, never by the project's internal "seed 00x" file names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# "seed 003", "seed_002", "Seed-001", "seeds/003_...": the internal words; an RNG "seed 0" is fine
INTERNAL = re.compile(r"\bseeds?[ _-]?0\d\d\b|\bseeds/\d{3}_|shared/seeds", re.IGNORECASE)
SHIPPED = sorted(
    [ROOT / "README.md", ROOT / "CHANGELOG.md"]
    + list((ROOT / "notebooks").glob("*.ipynb"))
    + list((ROOT / "convis_widgets").rglob("*.py"))
    + list((ROOT / "docs").rglob("*.md"))
)


def test_the_pattern_catches_the_internal_words_and_spares_rng_seeds():
    caught = ["seed 003's OIP loop", "(seed 002)", "Seed_001", "see seeds/003_11440e120bd2f0ad.txt"]
    spared = ["with seed 0 and 6 epochs", "seed 1 rather than 0", "a fixed seed", "seed=0"]
    assert all(INTERNAL.search(t) for t in caught)
    assert not any(INTERNAL.search(t) for t in spared)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_text_has_no_internal_seed_words(path):
    hits = [f"line {n}: {line.strip()[:100]}" for n, line in enumerate(path.read_text().splitlines(), 1)
            if INTERNAL.search(line)]
    assert not hits, f"{path.relative_to(ROOT)} names an article by its internal file name; cite its title " \
                     f"and author instead (the README lists them under \"The articles\"):\n" + "\n".join(hits)
