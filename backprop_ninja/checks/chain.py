"""Kata 01's whole-kata check: the steps in order, each fed the previous steps' own outputs."""

from __future__ import annotations

import torch

from backprop_ninja.checks.checker import check_in, scan_findings
from backprop_ninja.checks.compare import Row, compare, describe, table
from backprop_ninja.checks.feeding import fed, feeding
from backprop_ninja.checks.probes import fresh, lecture_probe
from backprop_ninja.checks.report import report, todo
from backprop_ninja.checks.verdict import Verdict, location, waiting
from backprop_ninja.models.katas import Kata
from backprop_ninja.models.lecture import trace
from backprop_ninja.models.paths import check_command
from backprop_ninja.sandbox.guard import call_step
from backprop_ninja.sandbox.loader import DEFAULT_SECONDS, function_of


def check_chain(kata: Kata, module, seconds: float = DEFAULT_SECONDS) -> Verdict:
    """Run the kata's steps in order, each fed the previous steps' outputs (the kata's own sizes).

    Forward values come from the trace; every upstream gradient is the
    learner's own. The report is the notebook's list of cmp lines.
    """
    cfg = kata.configs[0]
    tr = trace(kata.graph, cfg)
    mine: dict = {}
    rows: list[Row] = []
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
                           report=report("chain", f"stopped at {step.name}", "", "signature", sentence))
        if call is None or (call.error is not None and call.error.isa("NotImplementedError")):
            first = next((r.label for r in rows if not r.approximate), None)
            if first:  # a step before it already differs: that one comes first
                return _chain_stops_at(kata, module, first, seconds, rows)
            return Verdict(kata.folder, "chain", "todo", "not-implemented",
                           f"the chain waits for {step.name}",
                           report=todo("chain", f"waits for {step.name}"), where=location(fn) if fn else "")
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
        rows.append(compare(step.name, got, want, lecture_probe(step, kata.graph, cfg).scale, target=target))
    bad = [r for r in rows if not r.approximate]
    if not bad:
        return Verdict(kata.folder, "chain", "done")
    return _chain_stops_at(kata, module, bad[0].label, seconds, rows)


def _chain_stops_at(kata: Kata, module, name: str, seconds: float, rows, what: str = "") -> Verdict:
    """The chain's verdict at its first wrong step: one line when that step fails its own test.

    Its id is that step's own diagnosis, so the chain and the step name one problem once.
    """
    own = check_in(kata, module, name, seconds)
    if own.status != "done":
        return waiting(kata, "chain", name, own.diagnosis or "wrong-values")
    command = check_command(kata.folder, kata.step_names, name)
    if what:
        sentence = (f"{name} passes its own test but fails inside the chain ({what}), fed by your own "
                    "upstream gradients: check what it assumes about its inputs")
        return Verdict(kata.folder, "chain", "wrong", "wrong-values", sentence,
                       report=report("chain", f"stopped at {name}", "", "wrong-values", sentence))
    sentence = (f"fed by your own upstream gradients, {name} is the first to differ from autograd, though it "
                f"passes its own test ({command}); the ones after it inherit its error")
    return Verdict(kata.folder, "chain", "wrong", "wrong-values", sentence,
                   report=report("chain", "wrong values", table("chain", rows), "wrong-values", sentence))
