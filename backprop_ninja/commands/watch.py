"""`backprop-ninja watch [KATA]`: run a kata's tests, then again on every save.

Each run is `pytest katas/<folder>` in a fresh process of the same Python, so
every run reads the files as saved and nothing lingers between runs. The next
process is started as soon as a run ends and imports torch while the learner
edits: a save gets its result in about a second. Watching needs the optional
extra: pip install "backprop-ninja[watch]".
"""

from __future__ import annotations

import queue
import shlex
import subprocess
import sys
import threading
from pathlib import Path

from ..paths import shown

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
    cmd = [sys.executable, "-m", "pytest", shown(folder)]
    if impl:
        cmd += ["--impl", impl]
    if keyword:
        cmd += ["-k", keyword]
    return cmd


#: a pytest process that imports pytest, torch and the harness first, then waits for "go" (so a
#: run after a save does not wait for torch); everything the learner writes is read after "go".
WARM = """
import os, signal, sys
signal.signal(signal.SIGINT, lambda *_: os._exit(130))  # Ctrl-C stops the run at once, quietly: watch says so
import pytest, backprop_ninja.plugin
if sys.stdin.readline() != "go\\n":
    os._exit(0)
code = pytest.main(sys.argv[1:])
sys.stdout.flush(); sys.stderr.flush()
os._exit(int(code))  # skip the interpreter's teardown (seconds, with torch loaded): the run is over
"""


class WarmPytest:
    """Runs pytest in a fresh process each time; the next process is started (and has imported
    torch) while the learner edits, so a run after a save starts at once. close() ends it."""

    def __init__(self, args: list[str]):
        self.args = args
        self.next = None

    def _spawn(self):
        return subprocess.Popen([sys.executable, "-c", WARM, *self.args], stdin=subprocess.PIPE, text=True)

    def __call__(self) -> int:
        proc, self.next = self.next or self._spawn(), None
        try:
            proc.stdin.write("go\n")
            proc.stdin.close()
        except BrokenPipeError:  # it died while loading; its error is on the screen already
            pass
        code = proc.wait()
        self.next = self._spawn()
        return code

    def close(self) -> None:
        """End the waiting process (it has run nothing: killing it loses nothing)."""
        proc, self.next = self.next, None
        if proc is not None:
            proc.kill()
            proc.wait()
            if proc.stdin:
                proc.stdin.close()


class Changes:
    """Sets of (change, path) of the .py files under `paths`, one set per save; __pycache__ and
    other files are ignored.

    Watching starts when the object is made, in a thread, so a save while a run
    is going still triggers the next run; saves queued during a run make one
    set. Raises ImportError when watchfiles is not installed. close() stops it.
    """

    def __init__(self, paths: list[Path], poll: float = 0.2):
        import watchfiles

        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._poll = poll
        self._thread = threading.Thread(target=self._watch, args=(watchfiles, list(paths)), daemon=True,
                                        name="backprop-ninja-watch")
        self._thread.start()

    def _watch(self, watchfiles, paths) -> None:
        try:
            for changed in watchfiles.watch(*paths, watch_filter=watchfiles.PythonFilter(),
                                            stop_event=self._stop, raise_interrupt=False):
                self._queue.put(changed)
        except Exception as e:  # e.g. the folder was deleted: the main thread reports it
            self._queue.put(e)
        self._queue.put(None)

    def __iter__(self):
        return self

    def __next__(self) -> set:
        while True:
            try:
                item = self._queue.get(timeout=self._poll)  # a timeout keeps Ctrl-C responsive
            except queue.Empty:
                continue
            if item is None:
                raise StopIteration
            if isinstance(item, Exception):
                raise item
            merged = set(item)
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    return merged
                if isinstance(more, set):
                    merged |= more
                else:
                    self._queue.put(more)
                    return merged

    def close(self) -> None:
        self._stop.set()


def loop(runner, changes, *, max_runs: int | None = None, clear: bool = False,
         banner: str = "", out=None) -> int:
    """Call `runner()` once, then once per item of `changes`; Ctrl-C ends it with 0.

    `runner` runs the checks (its result is ignored); `changes` yields sets of
    (change, path), one per save. `max_runs` stops after that many runs (for
    tests); `clear` wipes the screen before each run, else a rule separates runs.
    """
    out = out or sys.stdout
    source, changes = changes, iter(changes)
    runs, changed = 0, None
    try:
        while True:
            if clear:
                out.write(CLEAR)
            elif runs:
                print("\n" + "─" * 60, file=out)
            if changed:
                names = sorted({shown(Path(p)) for _, p in changed})
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
    finally:
        if hasattr(source, "close"):
            source.close()


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
            print(f"backprop-ninja watch: no kata under {shown(root)}", file=sys.stderr)
            return 1
    repo = katas.repo_root()
    tests = (repo or root.parent) / "katas" / kata.folder  # the kata's tests (and, by default, its file)
    folder = root / kata.folder  # the learner's file: what is watched
    if not (tests / f"test_{kata.module}").is_file() or not folder.is_dir():
        print(f"backprop-ninja watch: kata {kata.number} ({kata.folder}) is not in this checkout", file=sys.stderr)
        return 1
    if note:
        print(note)
    cmd = pytest_command(tests, getattr(args, "impl", None), getattr(args, "keyword", None))
    banner = f"\nwatching {shown(folder)}/ — save a file to run again, Ctrl-C to stop"

    pytest = WarmPytest(cmd[3:])

    def runner():
        print("$ " + shlex.join(cmd[2:]), flush=True)  # pytest katas/NN_name ..., as the learner would type it
        return pytest()

    try:
        return loop(runner, Changes([folder]), clear=sys.stdout.isatty(), banner=banner)
    finally:
        pytest.close()
