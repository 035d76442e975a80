"""Where the kata repository is (free of torch, so `hint` answers at once)."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root(start: Path | None = None) -> Path | None:
    """The kata repository holding `start` (default: the current directory): the folder with
    katas/ and reference/ (a clone), or katas/ with a kata's hints.toml (a workspace of `init`)."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "katas").is_dir() and ((d / "reference").is_dir() or any(d.glob(KATA_HINTS))):
            return d
    return None


KATA_HINTS = "katas/[0-9][0-9]_*/hints.toml"  # one per kata folder


def names_kata(key: str, folder: str) -> bool:
    """`key` names the kata in `folder` (01_atomic_graph): its folder, its number ("01", "1") or its name
    ("atomic_graph"); a path ending in the folder too. The one kata lookup (katas.kata, and hint's without torch)."""
    key = key.strip().rstrip("/").split("/")[-1]
    return key in (folder, folder[:2], folder[:2].lstrip("0"), folder[3:])


def shipped_katas() -> Path:
    """The katas/ that came with the package: the wheel's backprop_ninja/kata_files (package data), or
    the katas/ beside the package in a clone (an editable install: the learner's working copy, whose
    stubs may be solved; shipped_stubs() has them as shipped)."""
    package = Path(__file__).resolve().parents[1]  # backprop_ninja/
    wheel = package / "kata_files"
    return wheel if wheel.is_dir() else package.parent / "katas"


def shipped_stubs() -> Path:
    """The stubs as shipped: backprop_ninja/stubs/<folder>/ holds each kata's stub and its notebook (the
    files a learner writes in), in the wheel and in a clone alike, so never a learner's working copy
    (tests/test_workspace.py proves they are katas/'s files of the repository)."""
    return Path(__file__).resolve().parents[1] / "stubs"


def check_command(folder: str, steps, step: str) -> str:
    """The pytest line that runs one step's test of katas/<folder>.

    `-k` matches case-insensitively inside names, so a step whose name sits
    inside another's (dcounts in dcounts_sum, dC in dcounts) gets its test id.
    """
    here = _kata_folder_from_here(folder)
    if any(step.lower() in other.lower() for other in steps if other != step):
        return f"pytest {here}/test_{folder[3:]}.py::test_{step}".replace("pytest ./", "pytest ")
    return f"pytest {here} -k {step}"


def _kata_folder_from_here(folder: str) -> str:
    """katas/<folder> as the learner would type it from the current directory: from the repository's
    root `katas/01_atomic_graph`, from inside that folder `.`, from a sibling `../01_atomic_graph`."""
    cwd = Path.cwd()
    for base in (cwd, *cwd.parents):
        if (base / "katas" / folder).is_dir():
            return Path(os.path.relpath(base / "katas" / folder, cwd)).as_posix()
    return f"katas/{folder}"


def shown(where) -> str:
    """A path, or "path:line", as the learner would type it: relative to the current
    directory, unless that climbs out of it (then absolute)."""
    where = str(where)
    if not where:
        return ""
    path, sep, line = where.rpartition(":")
    if not sep or not line.isdigit():
        path, line = where, ""
    try:
        rel = os.path.relpath(path)
        path = path if rel.startswith("..") else rel
    except ValueError:  # another drive (Windows)
        pass
    path = Path(path).as_posix()
    return f"{path}:{line}" if line else path
