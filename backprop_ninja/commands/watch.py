"""`backprop-ninja watch [KATA]`: run a kata's tests, then again on every save.

Each run is `pytest katas/<folder>` in a fresh process of the same Python, so
every run reads the files as saved and nothing lingers between runs. The next
process is started as soon as a run ends and imports torch while the learner
edits: a save gets its result in about a second. Watching needs the optional
extra: pip install "backprop-ninja[watch]".

On a terminal, a run's output is fitted to the screen (fit_screen): when it
is taller, lines are left out so that the first failing step's report, with
its diagnosis, and the summary's last lines stay in view. If the kata folder
is deleted and comes back (a git checkout, an editor's save-by-rename of the
folder), watching re-arms on the new folder.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from backprop_ninja.models.paths import shown

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
#: The harness is imported before pytest starts, so pytest cannot rewrite its asserts and would say
#: so (PytestAssertRewriteWarning) on every run: that warning is about watch, not the learner's code.
WARM = """
import os, signal, sys
signal.signal(signal.SIGINT, lambda *_: os._exit(130))  # Ctrl-C stops the run at once, quietly: watch says so
import pytest, backprop_ninja.plugin
if sys.stdin.readline() != "go\\n":
    os._exit(0)
code = pytest.main(["-W", "ignore::pytest.PytestAssertRewriteWarning", *sys.argv[1:]])
sys.stdout.flush(); sys.stderr.flush()
os._exit(int(code))  # skip the interpreter's teardown (seconds, with torch loaded): the run is over
"""


class WarmPytest:
    """Runs pytest in a fresh process each time; the next process is started (and has imported
    torch) while the learner edits, so a run after a save starts at once. close() ends it.

    With `show`, the run's output (stdout and stderr) is collected and handed to show(text)
    when the run ends, instead of going straight to the terminal; `env` is added to the
    process's environment (e.g. COLUMNS, so that pytest draws its lines at the screen's width).
    """

    def __init__(self, args: list[str], show=None, env: dict | None = None):
        self.args = args
        self.show = show
        self.env = env
        self.next = None

    def _spawn(self):
        out = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT) if self.show else {}
        env = {**os.environ, **self.env} if self.env else None
        return subprocess.Popen([sys.executable, "-c", WARM, *self.args], stdin=subprocess.PIPE, text=True,
                                env=env, **out)

    def __call__(self) -> int:
        proc, self.next = self.next or self._spawn(), None
        try:
            proc.stdin.write("go\n")
            proc.stdin.close()
        except BrokenPipeError:  # it died while loading; its error is on the screen already (or in stdout)
            pass
        if self.show:
            text = proc.stdout.read()
            proc.stdout.close()
        code = proc.wait()
        self.next = self._spawn()
        if self.show:
            self.show(text)
        return code

    def close(self) -> None:
        """End the waiting process (it has run nothing: killing it loses nothing)."""
        proc, self.next = self.next, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream:
                    stream.close()


# ---------------------------------------------------------------- fitting a run to the screen

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TEST_HEADER = re.compile(r"^_{3,} .+ _{3,}$")  # pytest's "____ test_dprobs ____" above a failure's report
SECTION = re.compile(r"^={3,}.*={3,}$")  # pytest's "==== FAILURES ====" and the like
TAIL = 3  # the summary's last lines: the kata's count, next:, pytest's totals


def _rows(line: str, width: int) -> int:
    """Screen rows `line` takes at `width` columns (long lines wrap)."""
    return max(1, -(-len(ANSI.sub("", line)) // width))


def fit_screen(text: str, height: int, width: int) -> str:
    """`text` cut to `height` rows of `width` columns, keeping what the learner acts on.

    Kept first: the last TAIL lines, then the first failure's report (its
    header and its `diagnosis:` line before its table), then every other line
    from the top. Each run of left-out lines becomes one line saying how many.
    """
    lines = text.rstrip("\n").split("\n")
    if sum(_rows(line, width) for line in lines) <= height:
        return text
    plain = [ANSI.sub("", line) for line in lines]
    first = next((i for i, line in enumerate(plain) if TEST_HEADER.match(line)), None)
    report: list[int] = []
    if first is not None:
        end = next((i for i in range(first + 1, len(lines)) if TEST_HEADER.match(plain[i]) or SECTION.match(plain[i])),
                   len(lines))
        body = range(first + 1, end)
        diagnosis = [i for i in body if plain[i].startswith("diagnosis:")]
        report = [first, *diagnosis, *(i for i in body if i not in diagnosis)]
    tail = list(range(max(0, len(lines) - TAIL), len(lines)))
    order = [*tail, *report, *(i for i in range(len(lines)) if i not in tail and i not in report)]
    kept: set[int] = set()
    for i in dict.fromkeys(order):
        trial = kept | {i}
        if _cost(trial, lines, width) > height:
            continue
        kept = trial
    out, gap = [], 0
    for i, line in enumerate(lines):
        if i in kept:
            if gap:
                out.append(_left_out(gap))
                gap = 0
            out.append(line)
        else:
            gap += 1
    if gap:
        out.append(_left_out(gap))
    return "\n".join(out) + "\n"


def _left_out(count: int) -> str:
    return f"  … {count} line{'s' * (count != 1)} left out to fit the screen"


def _cost(kept: set, lines: list, width: int) -> int:
    """Rows the kept lines take, plus one for each run of lines left out."""
    rows = sum(_rows(lines[i], width) for i in kept)
    gaps = sum(1 for i in range(len(lines)) if i not in kept and (i == 0 or i - 1 in kept))
    return rows + gaps


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
        """Watch until close(); when a watched folder goes away (or is replaced by a new one of the
        same name), wait for it and watch it again, reporting its .py files as added."""
        roots = {str(p) for p in paths}
        python = watchfiles.PythonFilter()

        def wanted(change, path: str) -> bool:  # the .py files, and the watched folders themselves
            return path in roots or python(change, path)

        try:
            while not self._stop.is_set():
                armed = _identity(paths)
                if armed is None:  # a folder is missing: wait for it to come back
                    self._stop.wait(self._poll)
                    continue
                for changed in watchfiles.watch(*paths, watch_filter=wanted, stop_event=self._stop,
                                                raise_interrupt=False, rust_timeout=int(self._poll * 1000),
                                                yield_on_timeout=True):
                    files = {(change, path) for change, path in changed if path not in roots}
                    if files:
                        self._queue.put(files)
                    # a watched folder deleted (its inode may be reused at once by a new one of the same
                    # name, so the event is the sure sign) or gone: this watch hears nothing more
                    if len(files) < len(changed) or _identity(paths) != armed:
                        self._rearm(watchfiles, paths)
                        break
        except Exception as e:  # a folder that cannot be watched: the main thread reports it
            self._queue.put(e)
        self._queue.put(None)

    def _rearm(self, watchfiles, paths) -> None:
        """Wait until every folder is back, then report its .py files as added (they are new to us)."""
        while _identity(paths) is None:
            if self._stop.wait(self._poll):
                return
        added = {(watchfiles.Change.added, str(file)) for folder in paths for file in Path(folder).glob("*.py")}
        if added:
            self._queue.put(added)

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


def _identity(paths) -> tuple | None:
    """(device, inode) of each path, or None when one is missing: a folder deleted and made again
    is a new folder, which the old watch does not hear."""
    try:
        return tuple((st.st_dev, st.st_ino) for st in (os.stat(p) for p in paths))
    except OSError:
        return None


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
    from backprop_ninja.commands.status import first_unfinished, survey

    states = survey(root)
    first = first_unfinished(states)
    if first is not None:
        return first.kata, ""
    present = [s for s in states if s.present]
    if not present:
        return None, ""
    return present[0].kata, f"every kata is done; watching kata {present[0].kata.number} (pass KATA to choose)"


#: rows of the screen that are not the run's output: "$ pytest …", "changed: …", the banner (2), the cursor
AROUND = 5


def _on_screen(text: str) -> None:
    """Print a run's output fitted to the terminal as it is now."""
    size = shutil.get_terminal_size()
    sys.stdout.write(fit_screen(text, max(size.lines - AROUND, 8), size.columns))
    sys.stdout.flush()


def _screen_env() -> dict:
    """pytest's output goes through a pipe: tell it the screen's width, and keep its colours."""
    env = {"COLUMNS": str(shutil.get_terminal_size().columns)}
    if not os.environ.get("NO_COLOR"):
        env["PY_COLORS"] = "1"
    return env


def run(args) -> int:
    from backprop_ninja.models import katas
    from backprop_ninja.sandbox import loader

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

    screen = sys.stdout.isatty()
    pytest = WarmPytest(cmd[3:], show=_on_screen if screen else None, env=_screen_env() if screen else None)

    def runner():
        print("$ " + shlex.join(cmd[2:]), flush=True)  # pytest katas/NN_name ..., as the learner would type it
        return pytest()

    try:
        return loop(runner, Changes([folder]), clear=screen, banner=banner)
    finally:
        pytest.close()
