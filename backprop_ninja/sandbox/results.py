"""What a call of a learner's step gives back, as plain data the harness can trust.

A step's answer crosses from the worker process (sandbox/worker.py) as
plain data; these are the types it is rebuilt into, and the two functions
that tell which inputs a call changed in place.
"""

from __future__ import annotations

import dataclasses
import traceback


class AutogradUsed(RuntimeError):
    """A step called autograd, which the kata asks you to replace."""


class GraphAttached(AutogradUsed):
    """A step asked for requires_grad, to attach its result to an autograd graph."""


class StepTimeout(Exception):
    """A step ran longer than the per-step time limit."""


@dataclasses.dataclass(frozen=True)
class Raised:
    """What a step raised, as plain data: it crosses a process boundary, and the checker
    decides by the exception's type *names*, never by the learner's exception object."""

    type: str  # e.g. "NameError"
    message: str
    kinds: tuple[str, ...] = ()  # the names of its class and every base class, e.g. ("KeyError", "LookupError", ...)
    where: str = ""  # "file.py:LINE: source" of the learner's deepest line, or ""

    def __str__(self) -> str:
        return self.message

    def isa(self, name: str) -> bool:
        """True when the exception was a `name` (or a subclass of it)."""
        return name in self.kinds or name == self.type

    @classmethod
    def of(cls, error: BaseException, filename: str | None = None) -> "Raised":
        return cls(type(error).__name__, str(error), tuple(c.__name__ for c in type(error).__mro__),
                   where_in(error, filename))


@dataclasses.dataclass
class Call:
    """What happened when a step was called."""

    result: object = None
    error: Raised | None = None
    mutated: tuple = ()  # names of arguments changed in place

    @property
    def where(self) -> str:
        """"file.py:LINE: source" of the learner's line that raised, or ""."""
        return self.error.where if self.error else ""


def where_in(error: BaseException, filename: str | None) -> str:
    """The deepest line of the learner's file in the traceback, as file:line: code."""
    frames = traceback.extract_tb(error.__traceback__)
    mine = [f for f in frames if filename and f.filename == filename] or frames[-1:]
    if not mine:
        return ""
    f = mine[-1]
    return f"{f.filename}:{f.lineno}: {(f.line or '').strip()}"


@dataclasses.dataclass(frozen=True)
class Returned:
    """A step's result that is not a plain tensor, as the worker described it (e.g. "a NumPy array")."""

    kind: str  # "none", "numpy", "subclass", "graph", "number" or "other"
    text: str

    def __str__(self) -> str:
        return self.text


class StepFailed(RuntimeError):
    """A learner's function raised (in the worker); `raised` says what and where."""

    def __init__(self, raised: Raised):
        super().__init__(f"{raised.type}: {raised.message}" + (f" at {raised.where}" if raised.where else ""))
        self.raised = raised


def pristine(kwargs: dict) -> dict:
    """name -> (the tensor, a clone of it) for every tensor argument and every tensor in a dict argument.

    A tensor in a dict is named as it is read, params['wte']. The tensor itself
    is kept, not the dict's entry: a step may rebind or delete an entry of its
    own copy of the dict; it must not change the values it was given.
    """
    import torch

    out = {}
    for k, v in kwargs.items():
        if torch.is_tensor(v):
            out[k] = (v, v.clone())
        elif isinstance(v, dict):
            out.update({f"{k}[{name!r}]": (t, t.clone()) for name, t in v.items() if torch.is_tensor(t)})
    return out


def mutated(before: dict) -> list[str]:
    """The names of pristine's tensors that a call changed in place (values or shape)."""
    import torch

    return [k for k, (now, was) in before.items() if now.shape != was.shape or not torch.equal(now, was)]


def raised(data) -> Raised:
    """A Raised from the worker's plain description (whatever its shape, never trusted)."""
    if not isinstance(data, dict):
        return Raised("WorkerError", "the worker's answer could not be read", ("WorkerError",))
    kinds = data.get("kinds") if isinstance(data.get("kinds"), list) else []
    return Raised(str(data.get("type", "Exception")), str(data.get("message", "")),
                  tuple(str(k) for k in kinds), str(data.get("where", "")))


def rebuilt(x):
    """A returned value rebuilt from the worker's answer: tensors, tuples or dicts of them, or a Returned."""
    import torch

    if type(x) is torch.Tensor:
        return x
    if isinstance(x, dict) and isinstance(x.get("$sequence"), list):
        return tuple(rebuilt(v) for v in x["$sequence"])
    if isinstance(x, dict) and isinstance(x.get("$dict"), list):
        pairs = x["$dict"]
        if all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in pairs):
            return {k: rebuilt(v) for k, v in pairs}
    if isinstance(x, dict) and "$returned" in x:
        if x["$returned"] == "none":
            return None
        return Returned(str(x["$returned"]), str(x.get("text", "")))
    return Returned("other", "something the harness cannot read")
