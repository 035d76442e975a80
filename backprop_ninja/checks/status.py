"""A check's status, one word: done, wrong, todo; and in pytest's report, waits and blocked."""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    """A str Enum: `Status.DONE == "done"`, so a verdict's plain string compares equal to its member."""

    DONE = "done"  # matches autograd at every probe
    WRONG = "wrong"  # differs, fails, or cannot be checked: the diagnosis says which
    TODO = "todo"  # still raises NotImplementedError
    WAITS = "waits"  # a whole-kata check (the chain) that waits for a step's own test to pass
    BLOCKED = "blocked"  # a step not checked because its file does not load (said once, at the first step)

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)
