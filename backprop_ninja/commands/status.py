"""`backprop-ninja status`: every kata and step (done / wrong / todo), and the next step.

The checks run through check_step, one verdict per step; the learner's files
are imported and their steps called in one worker process (guard.py), so
the whole survey takes about a second once torch is imported.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import shutil
import sys
import time
from pathlib import Path

from backprop_ninja.models.paths import shown
from backprop_ninja.sandbox.loader import step_seconds

MISSING = "not in this checkout"


def register(subparsers) -> None:
    p = subparsers.add_parser("status", help="every kata and step: done / wrong / todo, and the next step",
                              description="Check every step of every kata (without running pytest) "
                                          "and name the next step to write.")
    p.add_argument("--impl", metavar="PATH", default=None,
                   help="check the kata modules under PATH, a tree shaped like katas/ (e.g. reference); "
                        "also $BACKPROP_NINJA_IMPL")
    p.add_argument("--step-timeout", type=seconds_option, default=None, metavar="SECONDS",
                   help="stop a step that runs longer than this (default 10)")
    p.set_defaults(func=run)


def seconds_option(text: str) -> float:
    """--step-timeout for argparse (status's and show's): loader.step_seconds, a usage error otherwise."""
    try:
        return step_seconds(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0 (e.g. 10)") from None


@dataclasses.dataclass
class KataState:
    """One kata of the tree: its file, one verdict per step, or why it has none."""

    kata: object  # katas.Kata
    path: Path
    verdicts: list = dataclasses.field(default_factory=list)
    problem: str = ""  # MISSING, or why the file cannot be loaded, or a line that stops every step
    label: str = "cannot load"  # what the problem does to the kata, in two words
    fix: str = ""  # the next thing to do about the problem ("" : make the file load)

    def count(self, status: str) -> int:
        return sum(v.status == status for v in self.verdicts)

    @property
    def present(self) -> bool:
        return self.problem != MISSING

    @property
    def done(self) -> bool:
        return self.present and not self.problem and self.count("done") == len(self.kata.steps)


def survey(root: Path, seconds: float | None = None) -> list[KataState]:
    """Check every step of every kata under `root` (a tree shaped like katas/)."""
    from backprop_ninja.models import katas
    from backprop_ninja.sandbox import loader
    from backprop_ninja.sandbox.loader import DEFAULT_SECONDS

    states = []
    for kata in katas.KATAS:
        path = loader.kata_file(root, kata)
        state = KataState(kata, path)
        states.append(state)
        if not path.parent.is_dir() or (not path.exists() and not any(path.parent.glob("*.py"))):
            state.problem = MISSING  # a kata still to come (or left out of this tree)
            continue
        try:
            with _quiet():
                module = loader.open_file(path, seconds or DEFAULT_SECONDS)
        except loader.ImplError as e:
            state.problem = str(e)
            continue
        wide = module.wide_finding(kata.step_names)
        if wide:  # a line outside every step: each step would say the same, so the kata says it once
            state.problem, state.label = f"{wide.ident}: {wide.sentence('')}", "not checked"
            state.fix = f"remove line {wide.line} of {shown(str(path))}"
            continue
        for name in kata.step_names:
            state.verdicts.append(_verdict(kata, module, name, seconds or DEFAULT_SECONDS))
    return states


def _verdict(kata, module, name: str, seconds: float):
    from backprop_ninja.checks.checker import check_in

    with _quiet():  # a learner's print() inside a step would drown the table
        return check_in(kata, module, name, seconds)


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def next_step(states: list[KataState]):
    """(state, verdict) of the first step not done, in kata then step order; verdict None for a file
    that does not load; None when every kata present is done."""
    for state in states:
        if not state.present:
            continue
        if state.problem:
            return state, None
        for v in state.verdicts:
            if v.status != "done":
                return state, v
    return None


def first_unfinished(states: list[KataState]):
    """The first kata present and not fully done (None when all are)."""
    return next((s for s in states if s.present and not s.done), None)


# ---------------------------------------------------------------- output

class _Paint:
    CODES = {"done": "32", "wrong": "31", "todo": "33", "bold": "1", "dim": "2"}

    def __init__(self, on: bool):
        self.on = on

    def __call__(self, text: str, style: str) -> str:
        return f"\033[{self.CODES[style]}m{text}\033[0m" if self.on else text


def _rows(label: str, items: list[str], paint, style: str, width: int) -> list[str]:
    """`  label  a  b  c` wrapped at `width`, continuation lines aligned."""
    lead = f"  {label:<6} "
    lines, cur, cur_len = [], lead, len(lead)
    for item, painted in items:
        if cur_len > len(lead) and cur_len + 2 + len(item) > width:
            lines.append(cur.rstrip())
            cur, cur_len = " " * len(lead), len(lead)
        cur += painted + "  "
        cur_len += len(item) + 2
    lines.append(cur.rstrip())
    if paint.on:
        lines[0] = lines[0].replace(lead, "  " + paint(f"{label:<6}", style) + " ", 1)
    return lines


def render(states: list[KataState], paint=None, width: int = 100) -> list[str]:
    """The status table: per kata a line of counts, then its steps in rows by status."""
    from backprop_ninja.plugin import hint_command

    paint = paint or _Paint(False)
    out = []
    title_w = max(len(s.kata.title) for s in states)
    for s in states:
        head = f"kata {s.kata.number}  {s.kata.title:<{title_w}}  "
        if not s.present:
            out.append(paint(head, "dim") + paint(MISSING, "dim"))
            continue
        if s.problem:
            out.append(paint(head, "bold") + paint(s.label, "wrong"))
            out.append(f"         {s.problem}")
            continue
        n = len(s.kata.steps)
        counts = f"{s.count('done')}/{n} done"
        counts += "".join(f" · {s.count(k)} {k}" for k in ("wrong", "todo") if s.count(k))
        out.append(paint(head, "bold") + (paint(counts + "  ✓", "done") if s.done else counts))
        for status in ("done", "wrong", "todo"):
            items = []
            for v in s.verdicts:
                if v.status == status:
                    text = f"{v.step} ({v.diagnosis})" if status == "wrong" else v.step
                    items.append((text, paint(text, status) if status == "wrong" else text))
            if items and not (status == "done" and s.done):
                out.extend(_rows(status, items, paint, status, width))
    out.append("")
    nxt = next_step(states)
    if nxt is None:
        left = [s.kata.number for s in states if not s.present]
        out.append(paint("every kata is done", "done") if not left else
                   paint("every kata in this checkout is done", "done")
                   + f" (kata {', '.join(left)} {'is' if len(left) == 1 else 'are'} {MISSING})")
        return out
    state, v = nxt
    if v is None:
        out.append(f"next:  {state.fix or f'fix {shown(str(state.path))} so that it loads'} (kata {state.kata.number})")
        return out
    place = shown(v.where) or shown(state.path)
    out.append(f"next:  {paint(v.step, 'bold')} (kata {state.kata.number}) — {place}")
    if v.status == "wrong":
        out.append(f"       {v.line}")
    out.append(f"hint:  {hint_command(state.kata, v.step)}")
    return out


def run(args) -> int:
    from backprop_ninja.sandbox import loader

    try:
        root = loader.impl_root(getattr(args, "impl", None))
    except loader.ImplError as e:
        print(f"backprop-ninja status: {e}", file=sys.stderr)
        return 1
    from backprop_ninja.sandbox import client

    client.start()  # its import of torch overlaps this process's
    t0 = time.perf_counter()
    states = survey(root, getattr(args, "step_timeout", None))
    checked = time.perf_counter() - t0
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    width = min(shutil.get_terminal_size((100, 24)).columns, 120)
    print(f"backprop-ninja status — {shown(str(root))}/")
    print()
    for line in render(states, _Paint(colour), width):
        print(line)
    steps = sum(len(s.verdicts) for s in states)
    print(f"checked {steps} steps in {checked:.1f} s")
    return 0
