"""The pytest plugin: options, the `check` fixture, todo lines and the kata summary."""

from __future__ import annotations

import re
import sys

import pytest

from backprop_ninja.sandbox import client


def _worth_starting(argv: list[str]) -> bool:
    """pytest was asked for katas whose files have a step to run (not only stubs), and is no xdist controller.

    Decided from the command line and a read of the files (no torch yet), so
    that the worker's import of torch overlaps this process's.
    """
    import os
    from pathlib import Path

    from backprop_ninja.sandbox import scan

    if any(a in ("-n", "--numprocesses", "--dist") or a.startswith(("-n", "--numprocesses=")) for a in argv):
        return False
    kata_path = re.compile(r"(^|[/\\])(katas|\d\d_[a-z0-9_]+)([/\\]|$|::|\.py)")
    asked = [Path(a.split("::")[0]) for a in argv if not a.startswith("-") and kata_path.search(a)]
    if not asked:
        return False
    if any(a == "--impl" or a.startswith("--impl=") for a in argv) or os.environ.get("BACKPROP_NINJA_IMPL"):
        return True  # another tree, such as reference/: most likely solved
    folders = []
    for path in asked:
        folder = next((p for p in (path, *path.parents) if re.fullmatch(r"\d\d_[a-z0-9_]+", p.name)), None)
        folders += [folder] if folder else sorted(path.glob("[0-9][0-9]_*")) if path.is_dir() else []
    for folder in folders:
        try:
            source = (folder / f"{folder.name[3:]}.py").read_text(encoding="utf-8")
            defined = {n.name for n in scan.ast.parse(source).body if isinstance(n, scan.ast.FunctionDef)}
            if defined - scan.stubs(source):
                return True
        except (OSError, SyntaxError, ValueError):
            continue
    return False


if _worth_starting(sys.argv[1:]):
    client.start()  # before this process imports torch (next line): the two imports overlap

from backprop_ninja.checks.checker import DEFAULT_SECONDS, Verdict, check_chain, check_in  # noqa: E402
from backprop_ninja.models import katas  # noqa: E402  (after the early start, on purpose)
from backprop_ninja.models.paths import check_command, shown  # noqa: E402
from backprop_ninja.sandbox import loader  # noqa: E402

KEY = "backprop_ninja"  # user_properties key carrying (kata, step, status, where)


class KataFailure(Exception):
    """Raised by a kata test whose verdict is not done; the plugin prints its report alone."""

    def __init__(self, verdict: Verdict):
        super().__init__(verdict.report)
        self.verdict = verdict


def pytest_addoption(parser):
    """Add --impl and --step-timeout, each with an ini twin."""
    group = parser.getgroup("backprop-ninja")
    group.addoption("--impl", dest="bn_impl", default=None, metavar="PATH",
                    help="check the kata modules under PATH, a tree shaped like katas/ "
                         f"(e.g. reference); also ${loader.ENV}")
    group.addoption("--step-timeout", dest="bn_timeout", default=None, metavar="SECONDS",
                    help=f"stop a step that runs longer than this (default {DEFAULT_SECONDS:g})")
    group.addoption("--device", dest="bn_device", default=None, metavar="DEVICE",
                    help="run the forward pass, autograd and your steps on DEVICE (default cpu; e.g. cuda)")
    group.addoption("--show", dest="bn_show", default=None, metavar="DIR",
                    help="draw each wrong step (yours, autograd's, the difference) as a PNG in DIR; needs matplotlib")
    parser.addini("backprop_ninja_impl", "default for --impl", default="")
    parser.addini("backprop_ninja_show", "default for --show", default="")
    parser.addini("backprop_ninja_device", "default for --device", default="cpu")
    parser.addini("backprop_ninja_step_timeout", "default for --step-timeout", default=str(DEFAULT_SECONDS))


def pytest_configure(config):
    """Register the kata marker and start the per-kata tally."""
    config.addinivalue_line("markers", "kata(folder): a test of the kata in that folder of katas/")
    config.addinivalue_line("filterwarnings", "ignore:Failed to initialize NumPy")
    step_seconds(config)  # a bad --step-timeout is a usage error before anything runs
    _TALLY.clear()
    _BROKEN_SHOWN.clear()
    if not config.pluginmanager.has_plugin("backprop_ninja_shorten"):
        config.pluginmanager.register(_Shorten(), "backprop_ninja_shorten")


def _option(config, dest: str, ini: str):
    value = config.getoption(dest)
    return value if value not in (None, "") else (config.getini(ini) or None)


def step_seconds(config) -> float:
    """--step-timeout (or its ini twin) as a number of seconds above 0; a pytest.UsageError otherwise."""
    import math

    raw = _option(config, "bn_timeout", "backprop_ninja_step_timeout")
    name = "--step-timeout" if config.getoption("bn_timeout") not in (None, "") else "backprop_ninja_step_timeout"
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise pytest.UsageError(f"{name} {raw}: give the time limit per step as a number of seconds above 0, "
                                f"e.g. {name} {DEFAULT_SECONDS:g}")
    return seconds




class KataCheck:
    """The `check` fixture: `check("dprobs")` checks one step of this test file's kata."""

    def __init__(self, request):
        self.request = request
        self.kata = katas.kata(request.path.parent.name)
        config = request.config
        self.seconds = step_seconds(config)
        self.impl = _option(config, "bn_impl", "backprop_ninja_impl")
        self.device = _option(config, "bn_device", "backprop_ninja_device") or "cpu"
        self.show = _option(config, "bn_show", "backprop_ninja_show")
        if self.device != "cpu":
            self._use_device()

    def _use_device(self):
        """Every configuration of the kata on --device, or a one-sentence failure if it is not there."""
        import dataclasses

        import torch

        try:
            torch.empty(1, device=self.device)
        except (RuntimeError, AssertionError) as e:
            self.fail(Verdict(self.kata.folder, "", "wrong", "device", f"--device {self.device}: {e}",
                              report=f"diagnosis: device — --device {self.device} is not usable here: {e}"))
        self.kata = dataclasses.replace(
            self.kata, configs=tuple(dataclasses.replace(c, device=self.device) for c in self.kata.configs))

    @property
    def module(self) -> loader.Learner:
        """The learner's file, read, then imported in the worker (KataFailure with the reason if it cannot be)."""

        try:
            root = loader.impl_root(self.impl, base=self.request.path.parent)
            client.worker(self.device)
            learner = loader.open_file(loader.kata_file(root, self.kata), self.seconds)
        except loader.ImplError as e:
            self.fail(Verdict(self.kata.folder, "", "wrong", "import-error", str(e),
                              report=f"diagnosis: import-error — {e}"))
        # a finding outside every step (the file's top level, a helper) stops every step alike: said once
        wide = learner.wide_finding(self.kata.step_names)
        if wide:
            sentence = wide.sentence("")
            self.fail(Verdict(self.kata.folder, "", "wrong", wide.ident, sentence,
                              report=f"diagnosis: {wide.ident} — {sentence}\n  {shown(wide.where)}"))
        return learner

    def __call__(self, name: str) -> Verdict:
        return self.done(check_in(self.kata, self.module, name, self.seconds))

    def chain(self) -> Verdict:
        """Run every step fed by the previous steps' outputs, as the notebook does."""
        return self.done(check_chain(self.kata, self.module, self.seconds))

    def training(self, steps: int = 100) -> Verdict:
        """Train a few steps with backward() and with autograd; they must stay together."""
        from backprop_ninja.train.follow import check_training

        return self.done(check_training(self.kata, self.module, steps, self.seconds, device=self.device))

    def done(self, verdict: Verdict) -> Verdict:
        """Record the verdict; fail the test unless it is done."""
        self.request.node.user_properties.append(
            (KEY, _record(verdict)))
        if verdict.status != "done":
            if self.show and verdict.status == "wrong":
                from backprop_ninja.picture import show

                verdict.report += "\n" + show(verdict, self.request.config.invocation_params.dir / self.show)
            self.fail(verdict)
        return verdict

    def fail(self, verdict: Verdict):
        if not any(k == KEY for k, _ in self.request.node.user_properties):
            self.request.node.user_properties.append(
                (KEY, _record(verdict)))
        raise KataFailure(verdict)


@pytest.fixture
def check(request) -> KataCheck:
    """Check steps of the kata whose folder holds the test file."""
    request.node.add_marker(pytest.mark.kata(request.path.parent.name))
    return KataCheck(request)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Replace the traceback of a kata failure with its report."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and isinstance(call.excinfo.value, KataFailure):
        v = call.excinfo.value.verdict
        report.longrepr = KataReport((v.report or v.line) + (_pointer(item) if v.diagnosis == "import-error" else ""))


class KataReport:
    """A kata failure as pytest shows it: the report in FAILURES, once; the short test summary, which
    pytest fills from `reprcrash.message` (in full on CI), only points back to it."""

    class _Crash:
        message = "its report is above"

    reprcrash = _Crash()

    def __init__(self, text: str):
        self.text = text

    def toterminal(self, tw) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


def _pointer(item) -> str:
    """For a kata file that does not compile: its path:line, the line and a caret under the fault."""
    check = getattr(item, "funcargs", {}).get("check")
    if check is None:
        return ""
    try:
        path = loader.kata_file(loader.impl_root(check.impl, base=check.request.path.parent), check.kata)
        compile(path.read_text(), str(path), "exec")
    except SyntaxError as e:
        text = (e.text or "").rstrip("\n")
        indent = len(text) - len(text.lstrip())
        caret = " " * max((e.offset or 1) - 1 - indent, 0) + "^"
        return f"\n  {shown(f'{path}:{e.lineno}')}\n    {text.strip()}\n    {caret}"
    except (loader.ImplError, OSError, ValueError):
        return ""
    return ""


def _record(v: Verdict) -> tuple:
    """What a report carries to the summary (plain strings, so it crosses xdist)."""
    return (v.kata, v.step, v.status, v.where, v.diagnosis, v.sentence)


def _verdict_of(report):
    for key, value in getattr(report, "user_properties", ()):
        if key == KEY:
            return value
    return None


def pytest_report_teststatus(report, config):
    """A step still to write is TODO; the chain waiting for a wrong step, and a kata file that does
    not load after its first report, are one word each, not one more failure block."""
    v = _verdict_of(report)
    if report.when != "call" or not v:
        return None
    if v[2] == "todo":
        return "todo", "T", ("TODO", {"yellow": True})
    if v[1] == "chain" and v[5].startswith("waits for"):
        return "waits", "w", ("WAITS", {"yellow": True})
    if not v[1]:  # the kata's file as a whole: it does not load, or a line outside every step
        first = getattr(report, "_bn_first", None)
        if first is None:
            first = report._bn_first = v[0] not in _BROKEN_SHOWN
            _BROKEN_SHOWN.add(v[0])
        if not first:
            return "blocked", "b", ("BLOCKED", {"yellow": True})
    return None


_BROKEN_SHOWN: set = set()  # kata folders whose file-wide problem has been shown once


def pytest_runtest_logreport(report):
    """Tally each kata step's status for the closing summary."""
    v = _verdict_of(report)
    if report.when == "call" and v:
        _TALLY.setdefault(v[0], {})[report.nodeid] = v


_TALLY: dict = {}  # kata folder -> {test id: _record(verdict)}


class _Shorten:
    """Before pytest prints its failures: the first wrong step of each kata in full, the later ones
    as their diagnosis line (-v, or -k naming the step, shows them in full)."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        if config.get_verbosity() <= 0:
            _shorten_later_wrong(terminalreporter.stats.get("failed", []), config.getoption("keyword") or "")
        return (yield)


def _named_by(keyword: str, step: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(step)}(?![A-Za-z0-9_])", keyword, re.IGNORECASE) is not None


def _shorten_later_wrong(reports, keyword: str) -> None:
    per_kata: dict = {}
    for report in reports:
        v = _verdict_of(report)
        if v and v[2] == "wrong" and v[0] in _KATA_FOLDERS and v[1] in katas.kata(v[0]).step_names:
            per_kata.setdefault(v[0], []).append((katas.kata(v[0]).step_names.index(v[1]), report, v))
    for found in per_kata.values():
        found.sort(key=lambda x: x[0])
        for _, report, v in found[1:]:
            if not _named_by(keyword, v[1]):
                kata = katas.kata(v[0])
                report.longrepr = KataReport(f"diagnosis: {v[4]} — {v[5]}\n(the whole report: "
                                             f"{check_command(kata.folder, kata.step_names, v[1])})")


_KATA_FOLDERS = {k.folder for k in katas.KATAS}


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Close with: steps done per kata, the todo lines, the next step and how to get a hint."""
    if not _TALLY:
        return
    tr = terminalreporter
    verbose = config.get_verbosity() > 0
    tr.section("backprop-ninja")
    for folder in sorted(_TALLY):
        kata = katas.kata(folder)
        broken = next((v for v in _TALLY[folder].values() if not v[1]), None)
        if broken:
            # the diagnosis above says it in full; here, what stops the kata, in a line
            tr.write_line(f"kata {kata.number} ({kata.title}): no step checked: {broken[5].split('; ')[0]}",
                          bold=True)
            continue
        seen = {v[1]: v for v in _TALLY[folder].values()}
        for name in [n for n in seen if n not in kata.step_names]:
            seen.pop(name)  # the chain and other whole-kata checks are not steps
        todo = [v for v in _TALLY[folder].values() if v[2] == "todo"]
        for v in todo if verbose else todo[:1]:
            place = shown(v[3]) if v[1] in kata.step_names else v[5]
            tr.write_line(f"todo  {v[1]:<16} {place}", yellow=True)
        if len(todo) > 1 and not verbose:
            tr.write_line(f"todo  … and {len(todo) - 1} more (pytest -v lists them)", yellow=True)
        chain = seen_chain(_TALLY[folder])
        if chain and chain[2] == "wrong" and chain[5].startswith("waits for"):
            tr.write_line(f"chain {chain[5]}", yellow=True)
        done, known = _done(config, kata, seen)
        unknown = len(kata.steps) - known
        tr.write_line(f"kata {kata.number} ({kata.title}): {done}/{len(kata.steps)} steps done"
                      + (f" ({unknown} not checked yet: run pytest katas/{folder})" if unknown else ""),
                      bold=True)
        nxt = next((seen[n] for n in kata.step_names if n in seen and seen[n][2] != "done"), None)
        if nxt:
            tr.write_line(f"next: {nxt[1]} — {shown(nxt[3])}   hint: {hint_command(kata, nxt[1])}")
        elif done == len(kata.steps):
            # a whole-kata check (the chain, training beside autograd) can still fail: never say "done" over it
            whole = [v for v in _TALLY[folder].values() if v[1] not in kata.step_names and v[2] == "wrong"]
            if whole:
                tr.write_line(f"every step of kata {kata.number} passes its own test, but {whole[0][1]} does not: "
                              f"{whole[0][4]} (see its report above)", yellow=True)
            else:
                tr.write_line(f"every step of kata {kata.number} is done", green=True)
    _TALLY.clear()
    _BROKEN_SHOWN.clear()


def seen_chain(tally: dict):
    return next((v for v in tally.values() if v[1] == "chain"), None)


CACHE = "backprop_ninja/steps"  # kata folder -> {step: [hash of its source, status]}


def _done(config, kata: katas.Kata, seen: dict) -> tuple[int, int]:
    """(steps done, steps whose status is known): those run now, and, under -k, the others as last
    checked while their source has not changed since (pytest's cache)."""
    cache = getattr(config, "cache", None)
    path = next((v[3].rpartition(":")[0] for v in seen.values() if v[3]), "")
    sources = _step_sources(path)
    stored = cache.get(CACHE, {}) if cache is not None else {}
    mine = dict(stored.get(kata.folder, {}))
    status = {}
    for name in kata.step_names:
        key = _key(sources.get(name))
        if name in seen:
            status[name] = seen[name][2]
            if key:
                mine[name] = [key, seen[name][2]]
        elif key and name in mine and mine[name][0] == key:
            status[name] = mine[name][1]
    if cache is not None and path:
        cache.set(CACHE, {**stored, kata.folder: mine})
    return sum(s == "done" for s in status.values()), len(status)


def _step_sources(path: str) -> dict:
    """Each top-level function's source text in the learner's file ({} if it cannot be read)."""
    import ast

    try:
        text = open(path).read()
        tree = ast.parse(text)
    except (OSError, SyntaxError, ValueError):
        return {}
    return {node.name: ast.get_source_segment(text, node) or "" for node in tree.body
            if isinstance(node, ast.FunctionDef)}


def _key(source) -> str:
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("backprop-ninja")
    except PackageNotFoundError:  # run from a checkout that was never installed
        release = "checkout"
    return hashlib.sha256(f"{release}\n{source}".encode()).hexdigest()[:16] if source else ""


def hint_command(kata: katas.Kata, step: str) -> str:
    """The exact command that shows the first hint of a step."""
    shared = [k for k in katas.KATAS if step in k.step_names]
    return f"backprop-ninja hint {step}" + (f" --kata {kata.number}" if len(shared) > 1 else "")
