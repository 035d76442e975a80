"""`backprop-ninja init DIR`: a learner's workspace from the installed package, no clone needed.

DIR gets katas/ (stubs, tests, hints and notebooks, as the package shipped
them, never the solutions: each stub and notebook comes from
backprop_ninja/stubs/, never from a learner's working copy, also from an
editable install of a clone), a pytest.ini so that a bare `pytest` runs the
katas, a .gitignore, and a git repository with one first commit, so that
`backprop-ninja reset KATA` can restore a stub from history.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from backprop_ninja.models.paths import shipped_katas, shipped_stubs, shown

PYTEST_INI = """\
# A backprop-ninja workspace: `pytest` runs every kata, `pytest katas/01_atomic_graph -k dprobs` one step.
[pytest]
testpaths = katas
"""

GITIGNORE = """\
__pycache__/
.pytest_cache/
.ipynb_checkpoints/
# reset's backups and show's pictures
.backprop-ninja/
"""

#: what a workspace takes from each kata folder (no caches)
KATA_FILES = ("*.py", "*.md", "*.toml", "*.ipynb")


def register(subparsers) -> None:
    p = subparsers.add_parser("init", help="make a workspace of every kata (with git, for reset)",
                              description="Copy the katas (stubs, tests, hints, notebooks) into DIR, add a "
                                          "pytest.ini, and commit them to a new git repository.")
    p.add_argument("dir", metavar="DIR", help="a new or empty folder")
    p.set_defaults(func=run)


def _git(dest: Path, *args: str) -> subprocess.CompletedProcess:
    # a fixed author for the first commit: a fresh machine may have no git identity
    return subprocess.run(["git", "-C", str(dest), "-c", "user.name=backprop-ninja",
                           "-c", "user.email=backprop-ninja@localhost", "-c", "commit.gpgsign=false", *args],
                          capture_output=True, text=True)


def make(dest: Path, source: Path | None = None, stubs: Path | None = None) -> list[str]:
    """Write the workspace into `dest`; return the kata folders copied.

    Each kata folder of `source` (the package's katas/: tests, hints, READMEs) is copied, then its
    stub and notebook are written from `stubs` (the stubs as shipped), whatever `source` holds.
    """
    source = source or shipped_katas()
    stubs = stubs or shipped_stubs()
    folders = sorted(p.parent for p in source.glob("[0-9][0-9]_*/hints.toml"))
    for folder in folders:
        target = dest / "katas" / folder.name
        target.mkdir(parents=True)
        for pattern in KATA_FILES:
            for f in sorted(folder.glob(pattern)):
                shutil.copy2(f, target / f.name)
        for pattern in KATA_FILES:
            for f in sorted((stubs / folder.name).glob(pattern)):
                shutil.copy2(f, target / f.name)  # the stub and its notebook, as shipped
    (dest / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    (dest / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    return [f.name for f in folders]


def run(args) -> int:
    dest = Path(args.dir).expanduser()
    if dest.exists() and any(dest.iterdir()):
        print(f"backprop-ninja init: {shown(dest)} is not empty; give a new folder (nothing was written)",
              file=sys.stderr)
        return 1
    folders = make(dest)
    committed = ""
    if shutil.which("git") is None:
        committed = "git is not installed: `backprop-ninja reset` needs it; install git, then run git init there"
    else:
        steps = [_git(dest, "init", "-q"), _git(dest, "add", "."),
                 _git(dest, "commit", "-q", "-m", "The katas, as backprop-ninja shipped them")]
        failed = next((s for s in steps if s.returncode != 0), None)
        if failed is not None:
            committed = f"git failed ({(failed.stderr or failed.stdout).strip()}); reset needs a first commit"
    print(f"workspace: {shown(dest)}   ({len(folders)} katas: {', '.join(folders)})")
    if committed:
        print(f"warning: {committed}", file=sys.stderr)
    print(f"next:      cd {shown(dest)} && pytest            (or open katas/{folders[0]}/*.ipynb in Jupyter)")
    return 0
