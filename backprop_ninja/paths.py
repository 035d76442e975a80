"""Where the kata repository is (free of torch, so `hint` answers at once)."""

from __future__ import annotations

from pathlib import Path


def repo_root(start: Path | None = None) -> Path | None:
    """The kata repository holding `start` (default: the current directory): the folder with katas/ and reference/."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "katas").is_dir() and (d / "reference").is_dir():
            return d
    return None
