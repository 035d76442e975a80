"""A verdict: what one check says of a step (or of a whole kata's chain), for every face to print."""

from __future__ import annotations

import dataclasses
import inspect

from backprop_ninja.checks.report import diagnosis_line, report
from backprop_ninja.checks.status import Status
from backprop_ninja.models.paths import check_command
from backprop_ninja.sandbox.guard import Remote


@dataclasses.dataclass
class Verdict:
    kata: str
    step: str
    status: Status  # done, wrong or todo; a plain string given here becomes its Status
    diagnosis: str = ""  # a diagnosis id (README: the list), empty when done
    sentence: str = ""
    report: str = ""  # what the learner reads
    where: str = ""  # file:line of the step's def
    # wrong values only: (probe label, target, yours, autograd's) of the first failing probe, for a
    # picture (backprop_ninja.picture); tensors, so it stays in the process that checked
    first_failure: tuple = ()
    waits_for: str = ""  # a whole-kata check (the chain, the training) stopped at a step failing its own test

    def __post_init__(self):
        self.status = Status(self.status)

    @property
    def line(self) -> str:
        """`diagnosis: <id> — <sentence>`"""
        return diagnosis_line(self.diagnosis, self.sentence)


def location(fn) -> str:
    """file:line of a function's def, for "next step" and todo lines."""
    if isinstance(fn, Remote):
        return f"{fn.path}:{fn.line}"
    try:
        return f"{inspect.getsourcefile(fn)}:{inspect.getsourcelines(fn)[1]}"
    except (TypeError, OSError):
        return ""


def waiting(kata, check: str, step: str, ident: str, where: str = "") -> Verdict:
    """A whole-kata check (`check`: the chain, the training) stopped at `step`, which fails its own test under
    `ident`: one line that points there, so that one problem is said once, by the step's own test."""
    sentence = f"waits for {step}: fix it first ({check_command(kata.folder, kata.step_names, step)})"
    return Verdict(kata.folder, check, "wrong", ident, sentence, report=report(check, sentence), where=where,
                   waits_for=step)
