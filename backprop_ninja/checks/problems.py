"""What went wrong with one call of a step, before its values are compared.

It raised (an error, NotImplementedError, an exit, a crash, a time limit), changed its inputs in place,
or returned something that is not the probe's form of plain tensors. Each is (status, id, sentence,
report) or (id, sentence); none means the values can be compared.
"""

from __future__ import annotations

import inspect
import textwrap

import torch

from backprop_ninja.checks.diagnose import errors
from backprop_ninja.checks.feeding import feedable
from backprop_ninja.checks.probes import Probe, named, results
from backprop_ninja.checks.report import step_report, todo
from backprop_ninja.checks.verdict import location
from backprop_ninja.models.katas import Step
from backprop_ninja.sandbox.results import Returned
from backprop_ninja.sandbox.source import module_names, step_lines, step_source


def call_problem(step: Step, probe: Probe, call, fn) -> tuple | None:
    """(status, id, sentence, report) for a call that raised, mutated, or returned no tensor."""
    err = call.error
    lost = process_problem(step, err)
    if lost:
        ident, sentence = lost
        body = f"  at {call.where}" if call.where else ""
        return ("wrong", ident, sentence, step_report(step, body, ident, sentence, probe, headline="stopped"))
    if err is not None and err.isa("GraphAttached"):
        return _graph_attached(step, probe.targets[0], probe)
    if err is not None and err.isa("NotImplementedError"):
        return ("todo", "not-implemented", f"{step.name} still raises NotImplementedError: write it",
                todo(step.name, location(fn)))
    if err is not None:
        ident, sentence = error_diagnosis(step, err, call, fn, probe)
        body = f"  {err.type}: {err}" + (f"\n  at {call.where}" if call.where else "")
        return ("wrong", ident, sentence, step_report(step, body, ident, sentence, probe, headline="raised an error"))
    if call.mutated:
        names = ", ".join(call.mutated)
        sentence = (f"{step.name} changed its argument {names} in place (an in-place op such as +=, *= or "
                    f"a trailing-underscore method); the forward values are shared, so compute a new tensor instead")
        return ("wrong", "mutated-input", sentence, step_report(step, "", "mutated-input", sentence, probe))
    form = form_problem(step, probe, call.result)
    if form:
        ident, sentence = form
        return ("wrong", ident, sentence, step_report(step, "", ident, sentence, probe))
    return None


def form_problem(step: Step, probe: Probe, result) -> tuple[str, str] | None:
    """(id, sentence) when `result` is not the probe's form of plain tensors: a tuple of the wrong length,
    a dict without a key of every target or with a key of none, a value that is not a tensor or hangs
    on a graph."""
    got = results(probe, result)
    extra = [k for k in result if k not in probe.targets] if got is not None and probe.form == "dict" else []
    if extra:
        keys = ", ".join(map(repr, extra[:4])) + (" ..." if len(extra) > 4 else "")
        return "not-a-tensor", (f"{step.name}'s dict has a key that names no parameter: {keys}; return one "
                                "gradient for each name of params and nothing else")
    if got is None and probe.form == "dict":
        if not isinstance(result, dict):
            return "not-a-tensor", (f"{step.name} must return a dict of gradients keyed by the parameter names "
                                    f"({', '.join(probe.targets[:3])}, ...); it returned {kind_of(result)}")
        missing = [t for t in probe.order if t not in result]
        return "not-a-tensor", (f"{step.name}'s dict has no gradient for {', '.join(missing[:4])}"
                                f"{' ...' if len(missing) > 4 else ''}: return one for every name of params")
    if got is None:
        want = f"a tuple of {len(probe.targets)} tensors ({', '.join('d' + t for t in probe.targets)})"
        return "not-a-tensor", f"{step.name} must return {want}; it returned {kind_of(result)}"
    for target, g in zip(probe.targets, got):
        if isinstance(g, Returned) and g.kind == "graph":
            return _graph_attached(step, target, probe)[1:3]
        if not torch.is_tensor(g):
            return "not-a-tensor", _not_a_tensor(step, probe, target, g)
    return None


def hard_coded(step: Step, probe: Probe, call, home, quote: str) -> tuple:
    """A step right at the sizes checked so far that raises at these: a size of `home` (the kata's own
    sizes, its first configuration) written as a number."""
    sizes = ", ".join(dict.fromkeys(str(v) for _, v in home.sizes() if v > 2))
    sentence = (f"{step.name} is right at the {home.label} but raises at {probe.cfg.label}: a size of the "
                f"{home.label} ({sizes}) is written as a number{quote}; take every size from a shape (x.shape[0])")
    body = f"  {call.error.type}: {call.error}" + (f"\n  at {call.where}" if call.where else "")
    report = step_report(step, body, "hard-coded", sentence, probe, headline="raised an error")
    return ("wrong", "hard-coded", sentence, report)


def quote_number(fn, cfg) -> str:
    """The learner's line that holds one of the configuration's sizes as a number, quoted."""
    import ast

    found = step_lines(fn)
    if found is None:
        return ""
    lines, start = found
    try:
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except SyntaxError:
        return ""
    named = {v for _, v in cfg.sizes()} | {here for _, here, _ in cfg.size_pairs()}  # with 30, 3C, 4C
    sizes = named | {v - 1 for v in named}
    found = [node for node in ast.walk(tree) if isinstance(node, ast.Constant) and type(node.value) in (int, float)
             and node.value in sizes and node.value not in (0, 1, 2)]
    if not found:
        return ""
    # the largest first: a small size (3) is also an exponent (fch**3), a large one rarely anything but a size
    node = max(found, key=lambda n: (n.value, -n.lineno))
    return f"; your line {start + node.lineno - 1} holds it: `{lines[node.lineno - 1].strip()}`"


def _graph_attached(step: Step, target: str, probe: Probe) -> tuple:
    sentence = (f"{step.name} asks for requires_grad, which attaches d{target} to an autograd graph: build it "
                "from the inputs with plain tensor operations, without requires_grad_ or requires_grad=True")
    return ("wrong", "graph-attached", sentence, step_report(step, "", "graph-attached", sentence, probe))


def process_problem(step: Step, err) -> tuple[str, str] | None:
    """(id, sentence) when the step ended, crashed or exhausted the process it ran in."""
    if err is None:
        return None
    if err.isa("MemoryError") or "can't allocate memory" in err.message or "DefaultCPUAllocator" in err.message:
        return "memory", (f"{step.name} asked for more memory than the harness allows ({err.type}: "
                          f"{err.message[:120]}): look for a tensor whose size grows with a loop, or a huge shape")
    if err.isa("SystemExit") or err.isa("ProcessExit"):
        what = err.message if err.isa("SystemExit") else f"os._exit or exit: {err.message}"
        return "exit", f"{step.name} tried to end the run ({what}); a step returns its gradient: remove the exit"
    if err.isa("KeyboardInterrupt"):
        return "exit", (f"{step.name} raised KeyboardInterrupt, which would stop the run; a step returns its "
                        "gradient: remove the raise")
    if err.isa("ProcessCrash") or err.isa("WorkerError"):
        return "crash", (f"{step.name} crashed the Python process it ran in ({err.message}); the run went on "
                         "in a fresh one: look for ctypes, os.kill or a C extension in the step")
    return None


def kind_of(x) -> str:
    if x is None:
        return "None (is a `return` missing?)"
    if isinstance(x, Returned):
        return x.text
    if type(x).__module__ == "numpy":
        return "a NumPy array"
    return f"a {type(x).__name__}"


def _not_a_tensor(step: Step, probe: Probe, target: str, x) -> str:
    advice = {"None": "add the missing `return`",
              "numpy": "stay in torch: use torch operations, or torch.from_numpy(...) at the end",
              "subclass": "return a plain torch.Tensor, built with torch operations on the inputs"}
    kind = x.kind if isinstance(x, Returned) else ""
    key = ("None" if x is None else "numpy" if kind == "numpy" or type(x).__module__ == "numpy"
           else "subclass" if kind == "subclass" else "")
    return (f"{named(probe, target)} must be a torch.Tensor with {target}'s shape; {step.name} returned {kind_of(x)}"
            + (f": {advice[key]}" if key else ": build it with torch operations on the inputs"))


def error_diagnosis(step: Step, err, call, fn, probe: Probe) -> tuple[str, str]:
    """(id, sentence) for a step that raised `err` at `probe`: autograd, a time limit, a signature the
    harness cannot call, else what errors.explain makes of the error and the line it points to."""
    if err.isa("AutogradUsed"):
        return "autograd", f"{err}; derive it with the chain rule instead"
    if err.isa("StepTimeout"):
        return "timeout", (f"{step.name} was {err} and never returned: look for a loop that does not end, "
                           f"or a loop over every element that could be one tensor operation")
    if err.isa("TypeError") and "argument" in str(err) and fn.__code__.co_filename not in call.where:
        try:
            mine = str(inspect.signature(fn))
        except (TypeError, ValueError):
            mine = "(?)"
        return "signature", (f"the harness calls {step.signature()} by these parameter names; "
                             f"your function takes {step.name}{mine}: rename its parameters to match")
    return errors.explain(step, err, **_error_context(step, probe, fn))


def _error_context(step: Step, probe: Probe, fn) -> dict:
    """What errors.explain needs: the step's source, what the harness can feed, their shapes, the sizes."""
    context = {"source": step_source(fn), "defined": module_names(fn)}
    from backprop_ninja.checks.diagnose.catalogued import kata_of

    kata = kata_of(step)
    values = kata.graph.feeds(probe.cfg) if kata else {}
    values.update(probe.kwargs)
    for inner in [v for v in values.values() if isinstance(v, dict)]:  # kata 08's params and acts, by name
        values.update(inner)
    context["shapes"] = {k: tuple(v.shape) for k, v in values.items() if torch.is_tensor(v)}
    context["feedable"] = feedable(kata) if kata else tuple(probe.kwargs)
    context["sizes"] = list(probe.cfg.sizes())
    return context
