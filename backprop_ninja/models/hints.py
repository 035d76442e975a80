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


def command(step: str, number: str | None = None, level: int | None = None, call: bool = False) -> str:
    """The command line that shows a hint (with call=True, the notebook's hint(...) call); `number` is the
    kata's, for a step name two katas share. The one builder of the hint line: pytest's summary, status, hint."""
    if call:
        return (f"hint({step!r}" + (f", level={level}" if level and level > 1 else "")
                + (f", kata={number!r}" if number else "") + ")")
    return (f"backprop-ninja hint {step}" + (f" --kata {number}" if number else "")
            + (f" --level {level}" if level and level > 1 else ""))
