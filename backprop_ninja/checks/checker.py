"""Checking one step: every probe at every configuration, then one verdict.

`check_step` is what pytest, `backprop-ninja status` and a notebook all
call. It never raises for anything the learner's code does: the verdict
carries the status (done / wrong / todo), a diagnosis id, and the report.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import textwrap

import torch

from backprop_ninja.checks import diagnose
from backprop_ninja.checks.compare import Row, compare, describe, figures, table
from backprop_ninja.checks.diagnose import errors
from backprop_ninja.checks.probes import Probe, fresh, named, probes, results
from backprop_ninja.models.katas import Kata, Step
from backprop_ninja.models.paths import check_command
from backprop_ninja.sandbox import scan
from backprop_ninja.sandbox.guard import Remote, call_step
from backprop_ninja.sandbox.loader import DEFAULT_SECONDS
from backprop_ninja.sandbox.results import Returned
from backprop_ninja.sandbox.source import module_names, step_lines, step_source


@dataclasses.dataclass
class Verdict:
    kata: str
    step: str
    status: str  # "done", "wrong" or "todo"
    diagnosis: str = ""  # a diagnosis id (README: the list), empty when done
    sentence: str = ""
    report: str = ""  # what the learner reads
    where: str = ""  # file:line of the step's def
    # wrong values only: (probe label, target, yours, autograd's) of the first failing probe, for a
    # picture (backprop_ninja.picture); tensors, so it stays in the process that checked
    first_failure: tuple = ()
    waits_for: str = ""  # a whole-kata check (the chain) stopped at a step that fails its own test: that step

    @property
    def line(self) -> str:
        """`diagnosis: <id> — <sentence>`"""
        return f"diagnosis: {self.diagnosis} — {self.sentence}" if self.diagnosis else ""


def location(fn) -> str:
    """file:line of a function's def, for "next step" and todo lines."""
    if isinstance(fn, Remote):
        return f"{fn.path}:{fn.line}"
    try:
        return f"{inspect.getsourcefile(fn)}:{inspect.getsourcelines(fn)[1]}"
    except (TypeError, OSError):
        return ""


def _probe_label(probe: Probe) -> str:
    return f"{probe.label}, {probe.cfg.label}"


def _called(step: Step, probe: Probe, graph=None, target: str | None = None) -> str:
    """The call, with its inputs' shapes; for a step with several gradients, only the inputs `target`'s
    gradient depends on (the lines downstream of it and what they read)."""
    kwargs = probe.kwargs
    if graph is not None and target is not None and len(step.targets) > 1:
        needed = _downstream_reads(graph, target)
        kwargs = {k: v for k, v in kwargs.items() if k in needed}
        others = len(probe.kwargs) - len(kwargs)
    args = ", ".join(f"{k} {describe(v)}" for k, v in kwargs.items())
    if kwargs is not probe.kwargs and others:
        args += f", … {others} more d{target} does not depend on"
    args += "".join(f", {k}={v}" if isinstance(v, int) else f", {k} {describe(v)}" for k, v in probe.extra.items())
    return f"{step.name}({args}) at {probe.cfg.describe()}"


def _downstream_reads(graph, target: str) -> set:
    """What the gradient of `target` can depend on: the lines downstream of it and what they read."""
    live, reads = {target}, set()
    for line, inputs in graph.inputs.items():
        if any(r in live for r in inputs):
            live.add(line)
            reads.update(inputs)
    return reads | (live - {graph.loss})


def check_step(kata: Kata, name: str, fn, seconds: float = DEFAULT_SECONDS) -> Verdict:
    """Run every probe of step `name` against `fn`; return one verdict.

    `fn` is a plain function (shipped to the worker by reference or by its
    source) or a guard.Remote of a learner's file; it is fed by name: its
    table parameters and any extra parameter the kata can feed (feeding).
    """
    step = kata.step(name)
    where = location(fn)
    found = scan_findings(fn)
    if found:
        return scan_verdict(kata, step, found[0], where)
    names, unfed = feeding(kata, step, fn)
    if unfed:
        sentence = _unfed(kata, step, unfed)
        return Verdict(kata.folder, name, "wrong", "signature", sentence,
                       report=_report(step, "", "signature", sentence, None), where=where)
    rows: list[Row] = []
    seen: list = []  # (probe, what the learner returned): a diagnosis must hold at every one
    wrong: list = []  # (probe index, probe, target, got, want, row) for each gradient that differs
    for cfg in kata.configs:
        for probe in probes(step, kata.graph, cfg):
            args = fed(kata, probe.kwargs, names, cfg)
            probe = dataclasses.replace(probe, extra={k: v for k, v in args.items() if k not in probe.kwargs})
            call = call_step(fn, args, seconds, trusted=False)
            problem = _call_problem(step, probe, call, fn)
            if problem and problem[1] == "exception" and rows and all(r.approximate for r in rows):
                problem = _hard_coded(step, probe, call, kata.configs[0], _quote_number(fn, kata.configs[0]))
            if problem:
                return Verdict(kata.folder, name, *problem, where=where)
            got = results(probe, call.result)
            seen.append((probe, got))
            for target, g, e, scale in zip(probe.targets, got, probe.expected, probe.scales):
                label = _probe_label(probe) + (f" · d{target}" if len(probe.targets) > 1 else "")
                problem = diagnose.structure(step, target, g, e, probe)
                if problem:
                    ident, sentence, body = problem
                    if ident == "hard-coded":
                        sentence += _quote_number(fn, kata.configs[0])
                    return Verdict(kata.folder, name, "wrong", ident, sentence,
                                   report=_report(step, body, ident, sentence, probe), where=where)
                row = compare(label, g, e, scale)
                rows.append(row)
                if not row.approximate:
                    wrong.append((len(seen), probe, target, g, e, row))
    if not wrong:
        return Verdict(kata.folder, name, "done", where=where)
    probe, target, g, e, row = _first_in_backward_order(wrong)
    ident, sentence = diagnose.values(kata, step, target, g, e, probe, rows, seen)
    if ident == "hard-coded":
        sentence += _quote_number(fn, kata.configs[0])
    mine, autograd = figures(row.got, row.want)
    several = len(probe.targets) > 1
    body = (f"{_rows(step, [p for p, _ in seen], rows, probe)}\n"
            f"  first failure: {_probe_label(probe)}{' · d' + target if several else ''}; "
            f"at {list(row.worst)} you returned {mine}, autograd says {autograd}\n"
            f"  called: {_called(step, probe, kata.graph, target)}")
    headline = f"d{target} is wrong" if several else "wrong values"
    return Verdict(kata.folder, name, "wrong", ident, sentence,
                   report=_report(step, body, ident, sentence, None, headline=headline), where=where,
                   first_failure=(_probe_label(probe), target, g, e))


def _first_in_backward_order(wrong: list):
    """Of the (probe index, probe, target, got, want, row) that differ, the first probe's gradient that
    the backward pass reaches first (the probe's order)."""
    return min(wrong, key=lambda w: (w[0], w[1].order.index(w[2]) if w[2] in w[1].order else 0))[1:]


def _quote_number(fn, cfg) -> str:
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


def _rows(step: Step, ran: list[Probe], rows: list[Row], first: Probe) -> str:
    """The comparison table; for a step with several gradients, only the rows that differ at the first
    failing probe (`first`), the other probes where some differ, and the gradients right at every one."""
    targets = tuple(dict.fromkeys(t for p in ran for t in p.targets))  # kata 08's differ with the layers
    if len(targets) == 1:
        return table(step.name, rows)
    wrong = [r for r in rows if not r.approximate]
    here = _probe_label(first) + " · "
    elsewhere = dict.fromkeys(r.label.split(" · ")[0] for r in wrong if not r.label.startswith(here))
    right = [f"d{t}" for t in targets if not any(r.label.endswith(f" · d{t}") for r in wrong)]
    order = {f"{here}d{t}": i for i, t in enumerate(first.order)}  # backward order, as the pass reaches them
    shown = sorted((r for r in wrong if r.label.startswith(here)), key=lambda r: order.get(r.label, 0))
    return (table(step.name, shown) + (f"\n  wrong at {'; '.join(elsewhere)} too" if elsewhere else "")
            + (f"\n  right in every check: {', '.join(right)}" if right else ""))


def check_in(kata: Kata, module, name: str, seconds: float = DEFAULT_SECONDS) -> Verdict:
    """check_step on the module's function for step `name`; a missing function is a no-step verdict."""
    from backprop_ninja.sandbox import loader

    try:
        fn = loader.step_function(module, kata, name)
    except loader.ImplError as e:
        return Verdict(kata.folder, name, "wrong", "no-step", str(e),
                       report=f"{name}: missing\ndiagnosis: no-step — {e}")
    return check_step(kata, name, fn, seconds)


def scan_findings(fn) -> list:
    """What the scan found in the learner's function (and its file's top level); none for the harness's own."""
    if isinstance(fn, Remote):
        return list(fn.findings)
    if (getattr(fn, "__module__", None) or "").startswith("backprop_ninja."):
        return []
    return scan.scan_function(fn)


def scan_verdict(kata: Kata, step: Step, finding, where: str) -> Verdict:
    sentence = finding.sentence(step.name)
    report = f"{step.name}: {finding.ident}\n  at {finding.where}\ndiagnosis: {finding.ident} — {sentence}"
    return Verdict(kata.folder, step.name, "wrong", finding.ident, sentence, report=report, where=where)


@functools.lru_cache(maxsize=32)  # a GPT's batch makes every parameter: once per kata
def feedable(kata: Kata) -> tuple[str, ...]:
    """Every name a step of `kata` may declare beyond its table parameters (extra parameters: the
    forward values and sizes its graph knows by name, each a tensor or an int)."""
    return kata.graph.extra_names(kata.configs[0])


def _parameters(fn) -> list | None:
    """[(name, kind, has a default)] of the learner's signature; None when it cannot be told."""
    if isinstance(fn, Remote):
        return [tuple(p) for p in fn.params] if fn.params else None
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [(p.name, p.kind.name, p.default is not p.empty) for p in sig.parameters.values()]


def feeding(kata: Kata, step: Step, fn) -> tuple[list[str], list[str]]:
    """(the names to feed `fn`, the parameters it declares that cannot be fed)."""
    params = _parameters(fn)
    if params is None:
        return list(step.params), []
    extra = set(feedable(kata))
    names, unfed = [], []
    for name, kind, has_default in params:
        if kind in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            continue
        if kind != "POSITIONAL_ONLY" and (name in step.params or name in extra):
            names.append(name)
        elif not has_default:
            unfed.append(name)
    if any(kind == "VAR_KEYWORD" for _, kind, _ in params):
        names += [p for p in step.params if p not in names]
    return names, unfed


def fed(kata: Kata, given: dict, names: list[str], cfg) -> dict:
    """The arguments by name: the probe's (or chain's) own, else a forward value or a size.

    A forward value is a fresh contiguous clone (q of kata 06 is a transposed view in the trace):
    what a step does to it touches nothing the harness keeps.
    """
    values = kata.graph.feeds(cfg) if any(name not in given for name in names) else {}
    out = {}
    for name in names:
        if name in given:
            out[name] = given[name]
        elif torch.is_tensor(value := values.get(name)):
            out[name] = value
        else:
            out[name] = getattr(cfg, name)
    return out


def _unfed(kata: Kata, step: Step, unfed: list[str]) -> str:
    upstream = [u for u in unfed if u.startswith("d") and u[1:] in kata.graph]
    others = [u for u in unfed if u not in upstream]
    why = []
    if others:
        why.append(f"{', '.join(others)} {'is' if len(others) == 1 else 'are'} not a name the harness knows")
    if upstream:
        are = "is an upstream gradient" if len(upstream) == 1 else "are upstream gradients"
        why.append(f"{', '.join(upstream)} {are} this step is not given (only the table's are)")
    return (f"the harness calls {step.signature()} by these parameter names, and feeds any extra parameter "
            f"named after a forward value, an input of the batch or a size ({', '.join(feedable(kata))}); "
            f"{'; '.join(why)}: rename or remove {', '.join(unfed)}")


def _report(step: Step, body: str, ident: str, sentence: str, probe: Probe | None,
            headline: str = "") -> str:
    called = f"  called: {_called(step, probe)}" if probe is not None else ""
    lines = (f"{step.name}: {headline or ident}", body, called, f"diagnosis: {ident} — {sentence}")
    return "\n".join(line for line in lines if line)


def _call_problem(step: Step, probe: Probe, call, fn) -> tuple | None:
    """(status, id, sentence, report) for a call that raised, mutated, or returned no tensor."""
    err = call.error
    lost = process_problem(step, err)
    if lost:
        ident, sentence = lost
        body = f"  at {call.where}" if call.where else ""
        return ("wrong", ident, sentence, _report(step, body, ident, sentence, probe, headline="stopped"))
    if err is not None and err.isa("GraphAttached"):
        return _graph_attached(step, probe.targets[0], probe)
    if err is not None and err.isa("NotImplementedError"):
        return ("todo", "not-implemented", f"{step.name} still raises NotImplementedError: write it",
                f"todo: {step.name} — {location(fn)}")
    if err is not None:
        ident, sentence = error_diagnosis(step, err, call, fn, probe)
        body = f"  {err.type}: {err}" + (f"\n  at {call.where}" if call.where else "")
        return ("wrong", ident, sentence, _report(step, body, ident, sentence, probe, headline="raised an error"))
    if call.mutated:
        names = ", ".join(call.mutated)
        sentence = (f"{step.name} changed its argument {names} in place (an in-place op such as +=, *= or "
                    f"a trailing-underscore method); the forward values are shared, so compute a new tensor instead")
        return ("wrong", "mutated-input", sentence, _report(step, "", "mutated-input", sentence, probe))
    form = form_problem(step, probe, call.result)
    if form:
        ident, sentence = form
        return ("wrong", ident, sentence, _report(step, "", ident, sentence, probe))
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


def _hard_coded(step: Step, probe: Probe, call, home, quote: str = "") -> tuple:
    """A step right at the sizes checked so far that raises at these: a size of `home` (the kata's own
    sizes, its first configuration) written as a number."""
    sizes = ", ".join(dict.fromkeys(str(v) for _, v in home.sizes() if v > 2))
    sentence = (f"{step.name} is right at the {home.label} but raises at {probe.cfg.label}: a size of the "
                f"{home.label} ({sizes}) is written as a number{quote}; take every size from a shape (x.shape[0])")
    body = f"  {call.error.type}: {call.error}" + (f"\n  at {call.where}" if call.where else "")
    report = _report(step, body, "hard-coded", sentence, probe, headline="raised an error")
    return ("wrong", "hard-coded", sentence, report)


def _graph_attached(step: Step, target: str, probe: Probe) -> tuple:
    sentence = (f"{step.name} asks for requires_grad, which attaches d{target} to an autograd graph: build it "
                "from the inputs with plain tensor operations, without requires_grad_ or requires_grad=True")
    return ("wrong", "graph-attached", sentence, _report(step, "", "graph-attached", sentence, probe))


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


def error_diagnosis(step: Step, err, call, fn, probe: Probe | None = None) -> tuple[str, str]:
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


def _error_context(step: Step, probe: Probe | None, fn) -> dict:
    """What errors.explain needs: the step's source, what the harness can feed, their shapes, the sizes."""
    context = {"source": step_source(fn), "defined": module_names(fn)}
    if probe is None:
        return context
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


def check_chain(kata: Kata, module, seconds: float = DEFAULT_SECONDS) -> Verdict:
    """Run the kata's steps in order, each fed the previous steps' outputs (the kata's own sizes).

    Forward values come from the trace; every upstream gradient is the
    learner's own. The report is the notebook's list of cmp lines.
    """
    from backprop_ninja.checks.probes import lecture_probe
    from backprop_ninja.models.lecture import trace

    cfg = kata.configs[0]
    tr = trace(kata.graph, cfg)
    mine: dict = {}
    rows: list[Row] = []
    from backprop_ninja.sandbox.loader import function_of

    for step in kata.steps:
        fn = function_of(module, step.name, kata.step_names)
        if callable(fn) and scan_findings(fn):  # the step's own test names the finding; the chain waits for it
            first = next((r.label for r in rows if not r.approximate), step.name)
            return _chain_stops_at(kata, module, first, seconds, rows)
        names, unfed = feeding(kata, step, fn) if callable(fn) else ([], [])
        given = {p: fresh(tr.values[p] if p in tr.values else mine[p])
                 for p in step.params if p in tr.values or p in mine}
        call = None
        if callable(fn) and not unfed:
            call = call_step(fn, fed(kata, given, names, cfg), seconds, trusted=False)
        if callable(fn) and unfed:
            sentence = f"{step.name} fails on its own: {check_command(kata.folder, kata.step_names, step.name)}"
            return Verdict(kata.folder, "chain", "wrong", "signature", sentence,
                           report=f"chain: stopped at {step.name}\ndiagnosis: signature — {sentence}")
        if call is None or (call.error is not None and call.error.isa("NotImplementedError")):
            first = next((r.label for r in rows if not r.approximate), None)
            if first:  # a step before it already differs: that one comes first
                return _chain_stops_at(kata, module, first, seconds, rows)
            return Verdict(kata.folder, "chain", "todo", "not-implemented",
                           f"the chain waits for {step.name}",
                           report=f"todo: chain — waits for {step.name}", where=location(fn) if fn else "")
        got = call.result
        target = step.targets[0]
        want = tr.grads[target]
        if call.error is not None or not torch.is_tensor(got) or got.shape != want.shape:
            first = next((r.label for r in rows if not r.approximate), None)
            if first:  # a step before it already differs: that one comes first
                return _chain_stops_at(kata, module, first, seconds, rows)
            return _chain_stops_at(kata, module, step.name, seconds, rows,
                                   call.error.type if call.error else f"returned {describe(got)}")
        mine[step.name] = got.detach()
        rows.append(compare(step.name, got, want, lecture_probe(step, kata.graph, cfg).scale))
    bad = [r for r in rows if not r.approximate]
    if not bad:
        return Verdict(kata.folder, "chain", "done")
    return _chain_stops_at(kata, module, bad[0].label, seconds, rows)


def _chain_stops_at(kata: Kata, module, name: str, seconds: float, rows, what: str = "") -> Verdict:
    """The chain's verdict at its first wrong step: one line when that step fails its own test.

    Its id is that step's own diagnosis, so the chain and the step name one problem once.
    """
    own = check_in(kata, module, name, seconds)
    command = check_command(kata.folder, kata.step_names, name)
    if own.status != "done":
        sentence = f"waits for {name}: fix it first ({command})"
        return Verdict(kata.folder, "chain", "wrong", own.diagnosis or "wrong-values", sentence,
                       report=f"chain: {sentence}", waits_for=name)
    if what:
        sentence = (f"{name} passes its own test but fails inside the chain ({what}), fed by your own "
                    "upstream gradients: check what it assumes about its inputs")
        return Verdict(kata.folder, "chain", "wrong", "wrong-values", sentence,
                       report=f"chain: stopped at {name}\ndiagnosis: wrong-values — {sentence}")
    sentence = (f"fed by your own upstream gradients, {name} is the first to differ from autograd, though it "
                f"passes its own test ({command}); the ones after it inherit its error")
    return Verdict(kata.folder, "chain", "wrong", "wrong-values", sentence,
                   report=f"chain: wrong values\n{table('chain', rows)}\ndiagnosis: wrong-values — {sentence}")
