"""The pytest plugin: options, the `check` fixture, todo lines and the kata summary.

Nothing happens at import (torch is imported by the first check). pytest_configure
reads the options once into a `Settings`, a usage error for any it cannot use, and
keeps it with the run's tally in `config.stash`; every hook reads them from there.
What a test's verdict tells the summary travels in the report as a `Record`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

from backprop_ninja.checks.status import Status
from backprop_ninja.models.paths import check_command, shown
from backprop_ninja.sandbox import client, loader

KEY = "backprop_ninja"  # user_properties key carrying a Record (as a dict of strings)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The run's options, resolved once (pytest_configure)."""

    impl: str | None  # --impl PATH (or its ini twin, or $BACKPROP_NINJA_IMPL through loader.impl_root)
    seconds: float  # --step-timeout
    device: str  # --device
    show: str | None  # --show DIR


@dataclasses.dataclass(frozen=True)
class Record:
    """What a test's verdict tells the summary: plain strings, so that it crosses xdist."""

    kata: str  # folder
    step: str  # a step, "chain" or "training" (a whole-kata check), "" for the kata's file as a whole
    status: str
    where: str = ""  # file:line of the step's def
    diagnosis: str = ""
    sentence: str = ""
    waits_for: str = ""  # a whole-kata check stopped at a step that fails its own test: that step

    @classmethod
    def of(cls, verdict) -> Record:
        return cls(verdict.kata, verdict.step, str(verdict.status), verdict.where, verdict.diagnosis,
                   verdict.sentence, getattr(verdict, "waits_for", ""))

    @classmethod
    def in_report(cls, report) -> Record | None:
        for key, value in getattr(report, "user_properties", ()):
            if key == KEY:
                return cls(**value)
        return None


@dataclasses.dataclass
class Tally:
    """The run's records, per kata, for the closing summary."""

    records: dict = dataclasses.field(default_factory=dict)  # kata folder -> {test id: Record}
    broken_shown: set = dataclasses.field(default_factory=set)  # folders whose file-wide problem was shown


SETTINGS = pytest.StashKey[Settings]()
TALLY = pytest.StashKey[Tally]()


class KataFailure(Exception):
    """Raised by a kata test whose verdict is not done; the plugin prints its report alone."""

    def __init__(self, verdict):
        super().__init__(verdict.report)
        self.verdict = verdict


def pytest_addoption(parser):
    """Add --impl, --step-timeout, --device and --show, each with an ini twin."""
    group = parser.getgroup("backprop-ninja")
    group.addoption("--impl", dest="bn_impl", default=None, metavar="PATH",
                    help="check the kata modules under PATH, a tree shaped like katas/ "
                         f"(e.g. reference); also ${loader.ENV}")
    group.addoption("--step-timeout", dest="bn_timeout", default=None, metavar="SECONDS",
                    help=f"stop a step that runs longer than this (default {loader.DEFAULT_SECONDS:g})")
    group.addoption("--device", dest="bn_device", default=None, metavar="DEVICE",
                    help="run the forward pass, autograd and your steps on DEVICE (default cpu; e.g. cuda)")
    group.addoption("--show", dest="bn_show", default=None, metavar="DIR",
                    help="draw each wrong step (yours, autograd's, the difference) as a PNG in DIR; needs matplotlib")
    parser.addini("backprop_ninja_impl", "default for --impl", default="")
    parser.addini("backprop_ninja_show", "default for --show", default="")
    parser.addini("backprop_ninja_device", "default for --device", default="cpu")
    parser.addini("backprop_ninja_step_timeout", "default for --step-timeout", default=str(loader.DEFAULT_SECONDS))


def pytest_configure(config):
    """Register the kata marker, resolve the options (a usage error for one that cannot be used), and
    start the worker early when there is a step to run, so that its import of torch overlaps this one's."""
    config.addinivalue_line("markers", "kata(folder): a test of the kata in that folder of katas/")
    config.addinivalue_line("filterwarnings", "ignore:Failed to initialize NumPy")
    settings = config.stash[SETTINGS] = resolve(config)
    config.stash[TALLY] = Tally()
    if not config.pluginmanager.has_plugin("backprop_ninja_run"):
        config.pluginmanager.register(_Run(config), "backprop_ninja_run")
    if worth_starting(config, settings):
        client.start(settings.device)


def _option(config, dest: str, ini: str) -> tuple[str | None, str]:
    """(the value, the name to quote): the command line's option, else its ini twin."""
    value = config.getoption(dest)
    if value not in (None, ""):
        return value, "--" + {"bn_impl": "impl", "bn_timeout": "step-timeout", "bn_device": "device",
                              "bn_show": "show"}[dest]
    return (config.getini(ini) or None), ini


def resolve(config) -> Settings:
    """The options as one Settings; pytest.UsageError, in one sentence, for one that cannot be used."""
    raw, name = _option(config, "bn_timeout", "backprop_ninja_step_timeout")
    try:
        seconds = loader.step_seconds(raw, name)
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    impl, impl_name = _option(config, "bn_impl", "backprop_ninja_impl")
    show, show_name = _option(config, "bn_show", "backprop_ninja_show")
    tree = (impl, impl_name) if impl else (os.environ.get(loader.ENV), f"${loader.ENV}")
    for path, path_name in (tree, (show, show_name)):
        refused = loader.refused(path, path_name) if path else ""
        if refused:
            raise pytest.UsageError(refused)
    device, device_name = _option(config, "bn_device", "backprop_ninja_device")
    device = device or "cpu"
    if device != "cpu":
        _usable_device(device, device_name)
    return Settings(impl, seconds, device, show)


def _usable_device(device: str, name: str) -> None:
    """A device the checks can compute on, or a usage error that says why not and what to use."""
    from backprop_ninja.models.devices import DeviceError, usable

    try:
        usable(device, name, "compared", "check on the CPU")
    except DeviceError as e:
        raise pytest.UsageError(str(e)) from None


def worth_starting(config, settings: Settings) -> bool:
    """This run asks for katas whose files have a step to run (not only stubs), and is no xdist controller.

    Decided from the command line and a read of the files (no torch yet).
    """
    from backprop_ninja.sandbox import scan

    if getattr(config.option, "numprocesses", None) or getattr(config.option, "dist", "no") != "no":
        return False
    if settings.impl or os.environ.get(loader.ENV):
        return True  # another tree, such as reference/: most likely solved
    kata_path = re.compile(r"(^|[/\\])(katas|\d\d_[a-z0-9_]+)([/\\]|$|::|\.py)")
    asked = [Path(a.split("::")[0]) for a in config.invocation_params.args
             if isinstance(a, str) and not a.startswith("-") and kata_path.search(a)]
    folders = []
    for path in asked:
        path = config.invocation_params.dir / path
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


class KataCheck:
    """The `check` fixture: `check("dprobs")` checks one step of this test file's kata."""

    def __init__(self, request):
        from backprop_ninja.models import katas

        self.request = request
        self.settings = request.config.stash[SETTINGS]
        self.kata = katas.kata(request.path.parent.name)
        if self.settings.device != "cpu":
            self.kata = dataclasses.replace(self.kata, configs=tuple(
                dataclasses.replace(c, device=self.settings.device) for c in self.kata.configs))

    @property
    def impl(self) -> str | None:
        return self.settings.impl

    @property
    def seconds(self) -> float:
        return self.settings.seconds

    @property
    def module(self) -> loader.Learner:
        """The learner's file, read, then imported in the worker (KataFailure with the reason if it cannot be)."""
        from backprop_ninja.checks.report import diagnosis_line
        from backprop_ninja.checks.verdict import Verdict

        try:
            root = loader.impl_root(self.impl, base=self.request.path.parent)
            client.worker(self.settings.device)
            learner = loader.open_file(loader.kata_file(root, self.kata), self.seconds)
        except loader.ImplError as e:
            self.fail(Verdict(self.kata.folder, "", Status.WRONG, "import-error", str(e),
                              report=diagnosis_line("import-error", str(e))))
        # a finding outside every step (the file's top level, a helper) stops every step alike: said once
        wide = learner.wide_finding(self.kata.step_names)
        if wide:
            sentence = wide.sentence("")
            self.fail(Verdict(self.kata.folder, "", Status.WRONG, wide.ident, sentence,
                              report=f"{diagnosis_line(wide.ident, sentence)}\n  {shown(wide.where)}"))
        return learner

    def __call__(self, name: str):
        from backprop_ninja.checks.checker import check_in

        return self.done(check_in(self.kata, self.module, name, self.seconds))

    def chain(self):
        """Run every step fed by the previous steps' outputs, as the notebook does."""
        from backprop_ninja.checks.chain import check_chain

        return self.done(check_chain(self.kata, self.module, self.seconds))

    def training(self, steps: int = 100):
        """Train a few steps with backward() and with autograd; they must stay together."""
        from backprop_ninja.train.follow import check_training

        return self.done(check_training(self.kata, self.module, steps, self.seconds, device=self.settings.device))

    def done(self, verdict):
        """Record the verdict; fail the test unless it is done."""
        self._record(verdict)
        if verdict.status != Status.DONE:
            if self.settings.show and verdict.status == Status.WRONG:
                from backprop_ninja.picture import show

                verdict.report += "\n" + show(verdict, self.request.config.invocation_params.dir / self.settings.show)
            raise KataFailure(verdict)
        return verdict

    def fail(self, verdict):
        self._record(verdict)
        raise KataFailure(verdict)

    def _record(self, verdict) -> None:
        properties = self.request.node.user_properties
        if not any(k == KEY for k, _ in properties):
            properties.append((KEY, dataclasses.asdict(Record.of(verdict))))


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


def _steps_of(folder: str) -> tuple:
    """The step names of the kata in `folder` (none for a folder that is no kata)."""
    from backprop_ninja.models import katas

    try:
        return katas.kata(folder).step_names
    except KeyError:
        return ()


def shown_status(record: Record) -> Status:
    """The word pytest's report gives a test: its verdict's status, except for a whole-kata check (the
    chain, the training) waiting for a step (a step still todo, or one that fails its own test): WAITS."""
    try:
        status = Status(record.status)
    except ValueError:  # a verdict with a word of its own: never an error of pytest's
        return Status.WRONG
    whole_kata = record.step and record.step not in _steps_of(record.kata)
    if whole_kata and (status == Status.TODO or record.waits_for):
        return Status.WAITS
    return status


def pytest_report_teststatus(report, config):
    """A step still to write is TODO; a whole-kata check waiting for a step, WAITS; a kata file that does
    not load, after its first report, BLOCKED: one word each, not one more failure block."""
    record = Record.in_report(report)
    if report.when != "call" or record is None:
        return None
    status = shown_status(record)
    if status == Status.TODO:
        return "todo", "T", ("TODO", {"yellow": True})
    if status == Status.WAITS:
        return "waits", "w", ("WAITS", {"yellow": True})
    if not record.step:  # the kata's file as a whole: it does not load, or a line outside every step
        first = getattr(report, "_bn_first", None)
        if first is None:
            shown_once = config.stash[TALLY].broken_shown
            first = report._bn_first = record.kata not in shown_once
            shown_once.add(record.kata)
        if not first:
            return "blocked", "b", ("BLOCKED", {"yellow": True})
    return None


class _Run:
    """The hooks that need the run's config (registered per config in pytest_configure)."""

    def __init__(self, config):
        self.config = config

    def pytest_runtest_logreport(self, report):
        """Tally each kata step's record for the closing summary."""
        record = Record.in_report(report)
        if report.when == "call" and record is not None:
            self.config.stash[TALLY].records.setdefault(record.kata, {})[report.nodeid] = record

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        """Before pytest prints its failures: the first wrong step of each kata in full, the later ones
        as their diagnosis line (-v, or -k naming the step, shows them in full)."""
        if config.get_verbosity() <= 0:
            _shorten_later_wrong(terminalreporter.stats.get("failed", []), config.getoption("keyword") or "")
        return (yield)


def _named_by(keyword: str, step: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(step)}(?![A-Za-z0-9_])", keyword, re.IGNORECASE) is not None


def _shorten_later_wrong(reports, keyword: str) -> None:
    per_kata: dict = {}
    for report in reports:
        r = Record.in_report(report)
        if r and r.status == Status.WRONG and r.step in _steps_of(r.kata):
            per_kata.setdefault(r.kata, []).append((_steps_of(r.kata).index(r.step), report, r))
    for found in per_kata.values():
        found.sort(key=lambda x: x[0])
        for _, report, r in found[1:]:
            if not _named_by(keyword, r.step):
                report.longrepr = KataReport(f"diagnosis: {r.diagnosis} — {r.sentence}\n(the whole report: "
                                             f"{check_command(r.kata, _steps_of(r.kata), r.step)})")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Close with: steps done per kata, the todo lines, the next step and how to get a hint."""
    from backprop_ninja.models import katas

    tally = config.stash[TALLY]
    if not tally.records:
        return
    tr = terminalreporter
    verbose = config.get_verbosity() > 0
    tr.section("backprop-ninja")
    for folder in sorted(tally.records):
        kata = katas.kata(folder)
        records = list(tally.records[folder].values())
        broken = next((r for r in records if not r.step), None)
        if broken:
            # the diagnosis above says it in full; here, what stops the kata, in a line
            tr.write_line(f"kata {kata.number} ({kata.title}): no step checked: {broken.sentence.split('; ')[0]}",
                          bold=True)
            continue
        seen = {r.step: r for r in records if r.step in kata.step_names}  # the chain and the like are no steps
        todo = sorted((r for r in records if r.status == Status.TODO and r.step in kata.step_names),
                      key=lambda r: kata.step_names.index(r.step))  # the kata's order, as xdist's arrive in any
        for r in todo if verbose else todo[:1]:
            tr.write_line(f"todo  {r.step:<16} {shown(r.where)}", yellow=True)
        if len(todo) > 1 and not verbose:
            tr.write_line(f"todo  … and {len(todo) - 1} more (pytest -v lists them)", yellow=True)
        chain = next((r for r in records if r.step == "chain"), None)
        if chain and chain.status == Status.WRONG and chain.waits_for:
            tr.write_line(f"chain {chain.sentence}", yellow=True)
        done, known = _done(config, kata, seen)
        unknown = len(kata.steps) - known
        tr.write_line(f"kata {kata.number} ({kata.title}): {done}/{len(kata.steps)} steps done"
                      + (f" ({unknown} not checked yet: run pytest katas/{folder})" if unknown else ""),
                      bold=True)
        nxt = next((seen[n] for n in kata.step_names if n in seen and seen[n].status != Status.DONE), None)
        if nxt:
            tr.write_line(f"next: {nxt.step} — {shown(nxt.where)}   hint: {hint_command(kata, nxt.step)}")
        elif done == len(kata.steps):
            # a whole-kata check (the chain, training beside autograd) can still fail: never say "done" over it
            whole = [r for r in records if r.step not in kata.step_names and r.status == Status.WRONG]
            if whole:
                tr.write_line(f"every step of kata {kata.number} passes its own test, but {whole[0].step} does "
                              f"not: {whole[0].diagnosis} (see its report above)", yellow=True)
            else:
                tr.write_line(f"every step of kata {kata.number} is done", green=True)


CACHE = "backprop_ninja/steps"  # kata folder -> {step: [hash of its source, status]}


def _done(config, kata, seen: dict) -> tuple[int, int]:
    """(steps done, steps whose status is known): those run now, and, under -k, the others as last
    checked while their source has not changed since (pytest's cache)."""
    cache = getattr(config, "cache", None)
    path = next((r.where.rpartition(":")[0] for r in seen.values() if r.where), "")
    sources = _step_sources(path)
    stored = cache.get(CACHE, {}) if cache is not None else {}
    mine = dict(stored.get(kata.folder, {}))
    status = {}
    for name in kata.step_names:
        key = _key(sources.get(name))
        if name in seen:
            status[name] = seen[name].status
            if key:
                mine[name] = [key, seen[name].status]
        elif key and name in mine and mine[name][0] == key:
            status[name] = mine[name][1]
    if cache is not None and path:
        cache.set(CACHE, {**stored, kata.folder: mine})
    return sum(s == Status.DONE for s in status.values()), len(status)


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


def hint_command(kata, step: str) -> str:
    """The exact command that shows the first hint of a step."""
    from backprop_ninja.models import hints, katas

    shared = [k for k in katas.KATAS if step in k.step_names]
    return hints.command(step, kata.number if len(shared) > 1 else None)
