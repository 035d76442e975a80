"""Calling a learner's step safely: autograd out of reach, a time limit, inputs watched."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import traceback

import torch


class AutogradUsed(RuntimeError):
    """A step called autograd, which the kata asks you to replace."""


class StepTimeout(Exception):
    """A step ran longer than the per-step time limit."""


def _forbidden(what: str):
    def refuse(*args, **kwargs):
        raise AutogradUsed(f"{what} is switched off while your step runs: "
                           "the kata is to write this gradient by hand")
    return refuse


# Each entry point to automatic differentiation a step could reach for.
_AUTOGRAD = [
    (torch.Tensor, "backward", "Tensor.backward()"),
    (torch.autograd, "backward", "torch.autograd.backward()"),
    (torch.autograd, "grad", "torch.autograd.grad()"),
    (torch.autograd.functional, "vjp", "torch.autograd.functional.vjp()"),
    (torch.autograd.functional, "jacobian", "torch.autograd.functional.jacobian()"),
    (torch.func, "grad", "torch.func.grad()"),
    (torch.func, "vjp", "torch.func.vjp()"),
    (torch.func, "jacrev", "torch.func.jacrev()"),
]


@contextlib.contextmanager
def autograd_out_of_reach():
    """Make every autograd entry point raise AutogradUsed for the duration."""
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in _AUTOGRAD]
    try:
        for obj, attr, what in _AUTOGRAD:
            setattr(obj, attr, _forbidden(what))
        yield
    finally:
        for obj, attr, original in saved:
            setattr(obj, attr, original)


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise StepTimeout after `seconds` (where SIGALRM exists and this is the main thread)."""
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise StepTimeout(f"stopped after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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


def call_step(fn, kwargs: dict, seconds: float = 10.0) -> Call:
    """Call fn(**kwargs) with autograd out of reach, within a time limit, watching its inputs."""
    pristine = {k: v.clone() for k, v in kwargs.items() if torch.is_tensor(v)}
    call = Call()
    filename = getattr(getattr(fn, "__code__", None), "co_filename", None)
    try:
        with time_limit(seconds), autograd_out_of_reach():
            call.result = fn(**kwargs)
    except Exception as error:  # the learner's code may raise anything: report it, carry on
        call.error = Raised.of(error, filename)
    call.mutated = tuple(k for k, v in pristine.items()
                         if kwargs[k].shape != v.shape or not torch.equal(kwargs[k], v))
    return call
