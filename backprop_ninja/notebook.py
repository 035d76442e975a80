"""Checking a step from a notebook (Jupyter, Colab): no pytest, no clone, only torch.

    from backprop_ninja import check
    check("dprobs", dprobs)     # or check("dprobs"): the function named dprobs in the notebook
"""

from __future__ import annotations

import inspect
import sys

from backprop_ninja.checks.checker import check_step
from backprop_ninja.checks.feeding import feedable
from backprop_ninja.checks.report import report, todo
from backprop_ninja.checks.verdict import Verdict
from backprop_ninja.models.katas import KATAS, Kata
from backprop_ninja.models.katas import kata as find_kata
from backprop_ninja.models.paths import shown
from backprop_ninja.sandbox.loader import DEFAULT_SECONDS
from backprop_ninja.sandbox.shipping import globals_read


class NotebookVerdict(Verdict):
    """A Verdict whose repr is one line, so a notebook cell does not echo the whole report again."""

    def __repr__(self) -> str:
        extra = f" ({self.diagnosis})" if self.status == "wrong" else ""
        return f"<{self.step}{f' (kata {self.kata[:2]})' if self.kata else ''}: {self.status}{extra}>"

    def __bool__(self) -> bool:
        return self.status == "done"

    def _ipython_display_(self) -> None:
        """A cell that ends in check(...) shows its report once: printed already, nothing more; quiet, the repr."""
        if not getattr(self, "printed", False):
            print(repr(self))


def _kata(step: str, kata, fn=None) -> tuple[Kata, str]:
    """The kata of `step` (and a note when another kata has a step of that name).

    A shared name without kata= goes to the kata whose parameters `fn` takes,
    else to the lowest kata (01).
    """
    if isinstance(kata, Kata):
        chosen = kata
    elif kata is not None:
        try:
            chosen = find_kata(str(kata))
        except KeyError as e:
            raise ValueError(e.args[0]) from None
    else:
        having = [k for k in KATAS if step in k.step_names]
        if not having:
            raise ValueError(_unknown(step))
        params = _params(fn)
        chosen = next((k for k in having if k.step(step).params == params), having[0])
    if step not in chosen.step_names:
        raise ValueError(f"kata {chosen.number} has no step {step!r}; its steps: {', '.join(chosen.step_names)}")
    others = [k for k in KATAS if k is not chosen and step in k.step_names]
    note = "".join(f"\n(this is {step} of kata {chosen.number}, {chosen.title}; for kata {k.number}, "
                   f"{k.title}: check({step!r}, kata={k.number!r}))" for k in others) if kata is None else ""
    return chosen, note


def _params(fn) -> tuple[str, ...] | None:
    try:
        return tuple(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None


def _unknown(step: str) -> str:
    import difflib

    names = [s for k in KATAS for s in k.step_names]
    close = difflib.get_close_matches(step, names, n=3) or difflib.get_close_matches("d" + step, names, n=3)
    steps = "\n".join(f"  kata {k.number}: {', '.join(k.step_names)}" for k in KATAS)
    return (f"no step {step!r}" + (f" (did you mean {' or '.join(close)}?)" if close else "")
            + f"; the steps:\n{steps}")


def _forward_globals(kata: Kata, fn) -> list[str]:
    """The kata's forward values (tensors: counts, hprebn, ...) that `fn` reads from the notebook's globals.

    The set-up cell puts the lecture-size values there; the checks feed a step
    its inputs at other sizes too, so a value read from there is the wrong one.
    """
    import torch

    if kata.graph is None:
        return []
    params = set(_params(fn) or ())
    names = set(feedable(kata))
    return [n for n, v in globals_read(fn).items() if n in names and n not in params and torch.is_tensor(v)]


def _reads_globals(kata: Kata, step: str, fn, names: list[str]) -> NotebookVerdict:
    """A `signature` verdict: the step takes a forward value from the notebook instead of as a parameter."""
    them = ", ".join(f"`{n}`" for n in names)
    sentence = (f"{step} reads {them} from the notebook's globals, where the set-up cell left the lecture-size "
                f"value{'s' if len(names) > 1 else ''}; the checks feed each step its inputs at other sizes too: "
                f"add {them} to {step}'s parameters, e.g. def {step}({', '.join([*(_params(fn) or ()), *names])})")
    return NotebookVerdict(kata.folder, step, "wrong", "signature", sentence,
                           report=report(step, "not checked", "", "signature", sentence))


def _caller_function(name: str):
    """The object called `name` where check() was called from (its locals, then its globals)."""
    frame = inspect.currentframe()
    try:
        while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "backprop_ninja":
            frame = frame.f_back
        if frame is None:
            return None
        if name in frame.f_locals:
            return frame.f_locals[name]
        return frame.f_globals.get(name)
    finally:
        del frame


def check(step: str, fn=None, kata=None, seconds: float = DEFAULT_SECONDS, quiet: bool = False,
          show: bool = False) -> Verdict:
    """Check `fn` as the step `step` against autograd; print the report; return the verdict.

    step:  a step name, e.g. "dprobs" (kata 04's is "backward").
    fn:    your function; left out, the function named `step` where you call
           check() from (your notebook's globals): check("dprobs").
    kata:  needed only for a name katas share (dlogits is in kata 01, the
           atomic graph, and kata 02, cross entropy in one expression; dx in
           five katas; each notebook's cells pass it where it is needed).
           Without kata=, the kata whose parameters your function takes is
           chosen (dlogits(logits, Yb) is kata 02's, dx(W_fc, dfch) kata 07's),
           else the lowest kata with that step; kata="02" says it outright.
    seconds: per-call time limit (a runaway loop is stopped).
    quiet: return the verdict without printing.
    show:  draw a wrong step: yours, autograd's and the difference as heatmaps
           (inline in a notebook, else a PNG whose path is printed; needs matplotlib).

    The report is the one pytest prints: a "done" line, a "todo" line, or the
    comparison table and `diagnosis: <id> — <sentence>`. Needs torch only: no
    pytest run and no clone of the repository. A name that is no step, or no
    function to check, is answered in one paragraph (a no-step verdict), never raised.
    """
    if callable(step) and fn is None:  # check(dprobs): the function itself, named after its step
        step, fn = getattr(step, "__name__", ""), step
    if fn is None:
        fn = _caller_function(step)
    try:
        chosen, note = _kata(str(step), kata, fn)
        if fn is None:
            raise NameError(f"no function named {step} here: define `def {chosen.step(step).signature()}:` "
                            f"first (run its cell), or pass yours: check({step!r}, my_function)")
        if not callable(fn):
            raise TypeError(f"check({step!r}, fn): fn must be your function for {chosen.step(step).signature()}, "
                            f"not {type(fn).__name__}")
    except (ValueError, NameError, TypeError) as e:
        verdict = NotebookVerdict("", str(step), "wrong", "no-step", str(e),
                                  report=report(step, "not checked", "", "no-step", str(e)))
        if not quiet:
            print(verdict.report)
        verdict.printed = not quiet
        return verdict
    borrowed = _forward_globals(chosen, fn)
    if borrowed:
        verdict = _reads_globals(chosen, str(step), fn, borrowed)
    else:
        verdict = NotebookVerdict(**vars(check_step(chosen, step, fn, seconds)))
    if not quiet:
        if verdict.status == "done":
            configs = ", ".join(c.label for c in chosen.configs)
            print(f"{step}: done — matches autograd ({configs}){note}")
        elif verdict.status == "todo" and verdict.diagnosis == "not-implemented":
            # a notebook cell's file is a kernel's temporary file: name only a real one
            where = f"; write it in {shown(verdict.where)}" if verdict.where and "ipykernel_" not in verdict.where \
                else ""
            print(todo(step, f"it still raises NotImplementedError{where}") + note)
        else:
            print((verdict.report or verdict.line) + note)
        sys.stdout.flush()
    verdict.printed = not quiet
    if show and verdict.status == "wrong":
        from backprop_ninja.picture import show as draw

        line = draw(verdict)
        if line:
            print(line)
    return verdict
