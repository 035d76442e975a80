"""`backprop-ninja watch [KATA]`: run a kata's tests, then again on every save.

Each run is `python -m pytest katas/<folder>` in a fresh process (the same
Python), so every run sees the file as saved and nothing lingers between
runs. Watching needs the optional extra: pip install "backprop-ninja[watch]".
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

CLEAR = "\033[2J\033[H"
INSTALL = 'pip install "backprop-ninja[watch]"'


def register(subparsers) -> None:
    p = subparsers.add_parser("watch", help="re-run a kata's tests on every save",
                              description="Run the kata's tests now and again each time a .py file of the "
                                          "kata is saved. Ctrl-C stops.")
    p.add_argument("kata", nargs="?", metavar="KATA",
                   help="01, 02, 03, 04 or a folder name (default: the first kata not fully done)")
    p.add_argument("--impl", metavar="PATH", default=None,
                   help="watch and check the kata under PATH, a tree shaped like katas/")
    p.add_argument("-k", dest="keyword", metavar="EXPR", default=None,
                   help="only the tests matching EXPR, as pytest -k (e.g. -k dprobs)")
    p.set_defaults(func=run)


def pytest_command(folder: Path, impl: str | None = None, keyword: str | None = None) -> list[str]:
    """The pytest run for one kata folder, with this Python."""
    cmd = [sys.executable, "-m", "pytest", _shown(folder)]
    if impl:
        cmd += ["--impl", impl]
    if keyword:
        cmd += ["-k", keyword]
    return cmd


def _shown(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
        return path.as_posix() if rel.startswith("..") else Path(rel).as_posix()
    except ValueError:
        return str(path)


def run_pytest(cmd: list[str]) -> int:
    """One run, its output straight to the terminal."""
    return subprocess.call(cmd)


def python_changes(paths: list[Path]):
    """Sets of changed .py files under `paths`, one set per save (a burst of events counts once).

    Raises ImportError when watchfiles is not installed.
    """
    import watchfiles

    return watchfiles.watch(*paths, watch_filter=watchfiles.PythonFilter(), raise_interrupt=True)


def loop(runner, changes, *, max_runs: int | None = None, clear: bool = False,
         banner: str = "", out=None) -> int:
    """Call `runner()` once, then once per item of `changes`; Ctrl-C ends it with 0.

    `runner` runs the checks (its result is ignored); `changes` yields sets of
    (change, path), one per save. `max_runs` stops after that many runs (for
    tests); `clear` wipes the screen before each run, else a rule separates runs.
    """
    out = out or sys.stdout
    changes = iter(changes)
    runs, changed = 0, None
    try:
        while True:
            if clear:
                out.write(CLEAR)
            elif runs:
                print("\n" + "─" * 60, file=out)
            if changed:
                names = sorted({_shown(Path(p)) for _, p in changed})
                print(f"changed: {', '.join(names)}", file=out)
            out.flush()
            runner()
            runs += 1
            if max_runs is not None and runs >= max_runs:
                return 0
            print(banner, file=out, flush=True)
            changed = next(changes, None)
            if changed is None:
                return 0
    except KeyboardInterrupt:
        print("\nwatch stopped", file=out, flush=True)
        return 0


def default_kata(root: Path):
    """The first kata present under `root` and not fully done (the first present when all are)."""
    from .status import first_unfinished, survey

    states = survey(root)
    first = first_unfinished(states)
    if first is not None:
        return first.kata, ""
    present = [s for s in states if s.present]
    if not present:
        return None, ""
    return present[0].kata, f"every kata is done; watching kata {present[0].kata.number} (pass KATA to choose)"


def run(args) -> int:
    from .. import katas, loader

    try:
        root = loader.impl_root(getattr(args, "impl", None))
    except loader.ImplError as e:
        print(f"backprop-ninja watch: {e}", file=sys.stderr)
        return 1
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        print(f"backprop-ninja watch: watching for saves needs the optional package watchfiles: {INSTALL}",
              file=sys.stderr)
        return 1
    if args.kata:
        try:
            kata = katas.kata(args.kata)
        except KeyError as e:
            print(f"backprop-ninja watch: {e.args[0]}", file=sys.stderr)
            return 2
        note = ""
    else:
        try:
            kata, note = default_kata(root)
        except KeyboardInterrupt:
            return 0
        if kata is None:
            print(f"backprop-ninja watch: no kata under {_shown(root)}", file=sys.stderr)
            return 1
    folder = root / kata.folder
    if not folder.is_dir():
        print(f"backprop-ninja watch: kata {kata.number} ({kata.folder}) is not in this checkout", file=sys.stderr)
        return 1
    if note:
        print(note)
    cmd = pytest_command(folder, getattr(args, "impl", None), getattr(args, "keyword", None))
    banner = f"\nwatching {_shown(folder)}/ — save a file to run again, Ctrl-C to stop"

    def runner():
        print("$ " + shlex.join(cmd[2:]), flush=True)  # pytest katas/NN_name ..., as the learner would type it
        return run_pytest(cmd)

    return loop(runner, python_changes([folder]), clear=sys.stdout.isatty(), banner=banner)
