"""The pytest plugin: options, the `check` fixture, todo lines and the kata summary."""

from __future__ import annotations

import re
import sys

import pytest

from . import guard


def _worth_starting(argv: list[str]) -> bool:
    """pytest was asked for katas whose files have a step to run (not only stubs), and is no xdist controller.

    Decided from the command line and a read of the files (no torch yet), so
    that the worker's import of torch overlaps this process's.
    """
    import os
    from pathlib import Path

    from . import scan

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
    guard.start()  # before this process imports torch (next line): the two imports overlap

from . import katas, loader  # noqa: E402  (after the early start, on purpose)
from .checker import DEFAULT_SECONDS, Verdict, check_chain, check_in  # noqa: E402
from .paths import shown  # noqa: E402

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
    parser.addini("backprop_ninja_impl", "default for --impl", default="")
    parser.addini("backprop_ninja_device", "default for --device", default="cpu")
    parser.addini("backprop_ninja_step_timeout", "default for --step-timeout", default=str(DEFAULT_SECONDS))


def pytest_configure(config):
    """Register the kata marker and start the per-kata tally."""
    config.addinivalue_line("markers", "kata(folder): a test of the kata in that folder of katas/")
    config.addinivalue_line("filterwarnings", "ignore:Failed to initialize NumPy")
    step_seconds(config)  # a bad --step-timeout is a usage error before anything runs
    _TALLY.clear()


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
            guard.worker(self.device)
            return loader.open_file(loader.kata_file(root, self.kata), self.seconds)
        except loader.ImplError as e:
            self.fail(Verdict(self.kata.folder, "", "wrong", "import-error", str(e),
                              report=f"diagnosis: import-error — {e}"))

    def __call__(self, name: str) -> Verdict:
        return self.done(check_in(self.kata, self.module, name, self.seconds))

    def chain(self) -> Verdict:
        """Run every step fed by the previous steps' outputs, as the notebook does."""
        return self.done(check_chain(self.kata, self.module, self.seconds))

    def training(self, steps: int = 100) -> Verdict:
        """Train a few SGD steps with backward() and with autograd; they must stay together."""
        from .follow import check_training

        return self.done(check_training(self.kata, self.module, steps, self.seconds, device=self.device))

    def done(self, verdict: Verdict) -> Verdict:
        """Record the verdict; fail the test unless it is done."""
        self.request.node.user_properties.append(
            (KEY, _record(verdict)))
        if verdict.status != "done":
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
        report.longrepr = v.report or v.line


def _record(v: Verdict) -> tuple:
    """What a report carries to the summary (plain strings, so it crosses xdist)."""
    return (v.kata, v.step, v.status, v.where, v.diagnosis, v.sentence)


def _verdict_of(report):
    for key, value in getattr(report, "user_properties", ()):
        if key == KEY:
            return value
    return None


def pytest_report_teststatus(report, config):
    """A step still to write is reported as TODO, not as a failure with a traceback."""
    v = _verdict_of(report)
    if report.when == "call" and v and v[2] == "todo":
        return "todo", "T", ("TODO", {"yellow": True})
    return None


def pytest_runtest_logreport(report):
    """Tally each kata step's status for the closing summary."""
    v = _verdict_of(report)
    if report.when == "call" and v and v[1]:
        _TALLY.setdefault(v[0], {})[report.nodeid] = v


_TALLY: dict = {}  # kata folder -> {test id: _record(verdict)}


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Close with: steps done per kata, the todo lines, the next step and how to get a hint."""
    if not _TALLY:
        return
    tr = terminalreporter
    tr.section("backprop-ninja")
    for folder in sorted(_TALLY):
        kata = katas.kata(folder)
        seen = {v[1]: v for v in _TALLY[folder].values()}
        for name in [n for n in seen if n not in kata.step_names]:
            seen.pop(name)  # the chain and other whole-kata checks are not steps
        done = sum(v[2] == "done" for v in seen.values())
        for v in _TALLY[folder].values():
            if v[2] == "todo":
                place = shown(v[3]) if v[1] in kata.step_names else v[5]
                tr.write_line(f"todo  {v[1]:<16} {place}", yellow=True)
        tr.write_line(f"kata {kata.number} ({kata.title}): {done}/{len(kata.steps)} steps done"
                      + ("" if len(seen) == len(kata.steps) else f" ({len(seen)} checked in this run)"),
                      bold=True)
        nxt = next((seen[n] for n in kata.step_names if n in seen and seen[n][2] != "done"), None)
        if nxt:
            tr.write_line(f"next: {nxt[1]} — {shown(nxt[3])}   hint: {hint_command(kata, nxt[1])}")
        elif len(seen) == len(kata.steps):
            tr.write_line(f"every step of kata {kata.number} is done", green=True)
    _TALLY.clear()


def hint_command(kata: katas.Kata, step: str) -> str:
    """The exact command that shows the first hint of a step."""
    shared = [k for k in katas.KATAS if step in k.step_names]
    return f"backprop-ninja hint {step}" + (f" --kata {kata.number}" if len(shared) > 1 else "")
