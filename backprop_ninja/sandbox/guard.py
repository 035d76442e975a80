"""Calling a learner's step safely: in a worker process, within a time limit, inputs watched.

The learner's code never runs in this process. `call_step` ships the
function to the worker (backprop_ninja.sandbox.worker) by reference (its file and
name) or by its source, sends the inputs, and waits at most `seconds` for
the answer; a worker that runs over is killed and a fresh one started on
the next call. What comes back is plain data (wire.py): plain tensors, or a
description of anything else; the exception as `Raised`. The harness's own
functions (the catalogued mistakes) are trusted and run here, grad mode off.
"""


from __future__ import annotations

import dataclasses
import inspect
import sys
import types

from backprop_ninja.sandbox.client import worker
from backprop_ninja.sandbox.results import Call, Raised, StepFailed, mutated, pristine, raised, rebuilt
from backprop_ninja.sandbox.shipping import ShipError, ship


@dataclasses.dataclass(frozen=True)
class Remote:
    """A function of a learner's file, known by (file, name): it runs in the worker, never here.

    `params` and `line` come from the worker's import of the file; `findings`
    are what the static scan (scan.py) found in this function or at the
    file's top level.
    """

    path: str
    name: str
    params: tuple = ()  # ((name, kind, has a default), ...) as inspect.Parameter gives them
    line: int = 0
    findings: tuple = ()
    stub: bool = False  # still the stub (scan.stubs): it raises NotImplementedError, no need to run it

    @property
    def __name__(self) -> str:  # noqa: A003  (read as a function's name is)
        return self.name

    @property
    def __code__(self):
        """What the checker reads of a function's code: its file and def line."""
        return types.SimpleNamespace(co_filename=self.path, co_firstlineno=self.line)

    @property
    def __signature__(self) -> inspect.Signature:
        kinds = inspect.Parameter
        return inspect.Signature([
            kinds(name, getattr(kinds, kind), default=None if default else kinds.empty)
            for name, kind, default in self.params])

    def __call__(self, **kwargs):
        """Call it in the worker; its error is raised here as StepFailed (NotImplementedError as itself)."""
        if self.findings:
            f = self.findings[0]
            raise StepFailed(Raised("AutogradUsed" if f.ident == "autograd" else "NotYourOwn",
                                    f.sentence(self.name), (), f.where))
        call = call_step(self, kwargs)
        if call.error is not None:
            if call.error.isa("NotImplementedError"):
                raise NotImplementedError(call.error.message)
            raise StepFailed(call.error)
        return call.result


def call_step(fn, kwargs: dict, seconds: float = 10.0, trusted: bool | None = None,
              watch_inputs: bool = True) -> Call:
    """Call fn(**kwargs) in the worker, within `seconds`; report what it returned, raised and mutated.

    `trusted` (default: fn is the harness's own, backprop_ninja.*) runs it
    here instead, grad mode off: the catalogued mistakes, when a diagnosis
    compares them with the learner's answer. check_step passes False: a
    function checked as a step always runs in the worker.

    `watch_inputs=False` skips the check for inputs changed in place (a clone
    and a comparison of each): a training loop passes it, since the worker's
    inputs are its own copies for this one call and a change to them cannot
    reach the run's parameters; the checks, which diagnose it, keep it.
    """
    if _trusted(fn) if trusted is None else trusted:
        return _call_here(fn, kwargs)
    if isinstance(fn, Remote) and fn.stub:
        return Call(error=Raised("NotImplementedError", f"{fn.name}: not written yet",
                                 ("NotImplementedError", "RuntimeError", "Exception", "BaseException"),
                                 f"{fn.path}:{fn.line}"))
    try:
        spec = {"kind": "file", "path": fn.path, "name": fn.name} if isinstance(fn, Remote) else ship(fn)
    except ShipError as e:
        return Call(error=Raised("ShipError", str(e), ("ShipError",)))
    w = worker()
    if spec["kind"] == "file" and spec["path"] not in w.loaded:
        answer = w.request({"op": "load", "path": spec["path"]}, seconds)
        if "error" in answer:
            return Call(error=raised(answer["error"]))
        w.loaded.add(spec["path"])
    answer = w.request({"op": "call", "fn": spec, "kwargs": kwargs, "watch": spec["kind"] != "file",
                        "inputs": watch_inputs}, seconds)
    show(answer)
    try:
        changed = tuple(str(m) for m in answer.get("mutated", ()))
    except TypeError:
        changed = ()
    if "error" in answer:
        return Call(error=raised(answer["error"]), mutated=changed)
    return Call(result=rebuilt(answer.get("result")), mutated=changed)


def _trusted(fn) -> bool:
    """The harness's own functions (backprop_ninja.*, e.g. the catalogued mistakes) run here."""
    return isinstance(fn, types.FunctionType) and (fn.__module__ or "").startswith("backprop_ninja.")


def _call_here(fn, kwargs: dict) -> Call:
    import torch

    before = pristine(kwargs)
    call = Call()
    try:
        with torch.no_grad():
            call.result = fn(**kwargs)
    except Exception as error:  # a catalogued mistake may raise on some inputs: it then names nothing
        call.error = Raised.of(error, fn.__code__.co_filename)
    call.mutated = tuple(mutated(before))
    return call

def show(answer: dict) -> None:
    """What the learner's code printed, printed here (pytest captures it; status hides it)."""
    printed = answer.get("printed")
    if isinstance(printed, str) and printed:
        sys.stdout.write(printed)


TICK_MARGIN = 30.0  # seconds of silence beyond a call's limit before the parent stops the worker itself (the
#                    worker's own watchdog stops a slow call at its limit; this is for a worker that cannot)


def run_loop(fn: Remote, loop: str, args: dict, seconds: float, progress, *, threads: int = 1,
             device: str = "cpu") -> dict:
    """Run the project's training loop `loop` ("backprop_ninja.train.M:F") in the worker, beside the
    learner's `fn`, imported there once and called directly (at most `seconds` a call).

    `args` (plain data and plain tensors) cross once; each progress frame the loop sends is handed to
    progress(value) here as it comes. Returns the loop's last answer: what F returned, or
    {"stopped": {"iteration": i, "error": {...}}} when a call ran over, or {"error": {...}} when
    the worker went silent or ended (its "iteration" is then the last one a frame reported).
    A Ctrl-C stops the worker and is raised here.
    """
    w = worker(device)
    if fn.path not in w.loaded:
        answer = w.request({"op": "load", "path": fn.path}, seconds)
        if "error" in answer:
            return {"error": answer["error"]}
        w.loaded.add(fn.path)
    last = {"iteration": 0}

    def noted(message):
        if isinstance(message, dict) and isinstance(message.get("tick"), int):
            last["iteration"] = message["tick"]
        progress(message)

    answer = w.request({"op": "train", "loop": loop, "fn": {"kind": "file", "path": fn.path, "name": fn.name},
                        "seconds": seconds, "threads": threads, "args": args}, seconds + TICK_MARGIN, noted)
    if "stopped" in answer or "error" in answer:
        w.stop()  # a timeout's watchdog has ended it already; any other fault leaves nothing worth keeping
    if "error" in answer and isinstance(answer["error"], dict):
        answer["error"].setdefault("iteration", last["iteration"])
    return answer
