"""Reading a kata's hints.toml: one table per step, keys "1", "2", "3"."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

LEVELS = ("1", "2", "3")  # 1: what to look at; 2: the rule; 3: nearly the line


def load_hints(path: Path) -> dict[str, dict[str, str]]:
    """{step: {"1": ..., "2": ..., "3": ...}} in the file's order."""
    with open(path, "rb") as f:
        return tomllib.load(f)
