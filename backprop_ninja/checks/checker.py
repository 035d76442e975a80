"""Checking one step: every probe at every configuration, then one verdict.

`check_step` is what pytest, `backprop-ninja status` and a notebook all
call. It never raises for anything the learner's code does: the verdict
carries the status (done / wrong / todo), a diagnosis id, and the report.
"""

from __future__ import annotations

import dataclasses

from backprop_ninja.checks import diagnose
from backprop_ninja.checks.compare import Row, compare, figures
from backprop_ninja.checks.feeding import fed, feeding, unfed_sentence
from backprop_ninja.checks.probes import probes, results
from backprop_ninja.checks.problems import call_problem, hard_coded, quote_number
from backprop_ninja.checks.report import called, probe_label, report, rows_table, step_report
from backprop_ninja.checks.verdict import Verdict, location
from backprop_ninja.models.katas import Kata, Step
from backprop_ninja.sandbox import scan
from backprop_ninja.sandbox.guard import Remote, call_step
from backprop_ninja.sandbox.loader import DEFAULT_SECONDS


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
        sentence = unfed_sentence(kata, step, unfed)
        return Verdict(kata.folder, name, "wrong", "signature", sentence,
                       report=step_report(step, "", "signature", sentence, None), where=where)
    rows: list[Row] = []
    seen: list = []  # (probe, what the learner returned): a diagnosis must hold at every one
    wrong: list = []  # (probe index, probe, target, got, want, row) for each gradient that differs
    for cfg in kata.configs:
        for probe in probes(step, kata.graph, cfg):
            args = fed(kata, probe.kwargs, names, cfg)
            probe = dataclasses.replace(probe, extra={k: v for k, v in args.items() if k not in probe.kwargs})
            call = call_step(fn, args, seconds, trusted=False)
            problem = call_problem(step, probe, call, fn)
            if problem and problem[1] == "exception" and rows and all(r.approximate for r in rows):
                problem = hard_coded(step, probe, call, kata.configs[0], quote_number(fn, kata.configs[0]))
            if problem:
                return Verdict(kata.folder, name, *problem, where=where)
            got = results(probe, call.result)
            seen.append((probe, got))
            for target, g, e, scale in zip(probe.targets, got, probe.expected, probe.scales):
                label = probe_label(probe) + (f" · d{target}" if len(probe.targets) > 1 else "")
                problem = diagnose.structure(step, target, g, e, probe)
                if problem:
                    ident, sentence, body = problem
                    if ident == "hard-coded":
                        sentence += quote_number(fn, kata.configs[0])
                    return Verdict(kata.folder, name, "wrong", ident, sentence,
                                   report=step_report(step, body, ident, sentence, probe), where=where)
                row = compare(label, g, e, scale, target=target, probe=probe_label(probe))
                rows.append(row)
                if not row.approximate:
                    wrong.append((len(seen), probe, target, g, e, row))
    if not wrong:
        return Verdict(kata.folder, name, "done", where=where)
    probe, target, g, e, row = _first_in_backward_order(wrong)
    ident, sentence = diagnose.values(kata, step, target, g, e, probe, rows, seen)
    if ident == "hard-coded":
        sentence += quote_number(fn, kata.configs[0])
    mine, autograd = figures(row.got, row.want)
    several = len(probe.targets) > 1
    body = (f"{rows_table(step, [p for p, _ in seen], rows, probe)}\n"
            f"  first failure: {row.label}; "
            f"at {list(row.worst)} you returned {mine}, autograd says {autograd}\n"
            f"  called: {called(step, probe, kata.graph, target)}")
    headline = f"d{target} is wrong" if several else "wrong values"
    return Verdict(kata.folder, name, "wrong", ident, sentence,
                   report=step_report(step, body, ident, sentence, None, headline=headline), where=where,
                   first_failure=(probe_label(probe), target, g, e))


def _first_in_backward_order(wrong: list):
    """Of the (probe index, probe, target, got, want, row) that differ, the first probe's gradient that
    the backward pass reaches first (the probe's order)."""
    return min(wrong, key=lambda w: (w[0], w[1].order.index(w[2]) if w[2] in w[1].order else 0))[1:]


def check_in(kata: Kata, module, name: str, seconds: float = DEFAULT_SECONDS) -> Verdict:
    """check_step on the module's function for step `name`; a missing function is a no-step verdict."""
    from backprop_ninja.sandbox import loader

    try:
        fn = loader.step_function(module, kata, name)
    except loader.ImplError as e:
        return Verdict(kata.folder, name, "wrong", "no-step", str(e),
                       report=report(name, "missing", "", "no-step", str(e)))
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
    text = report(step.name, finding.ident, f"  at {finding.where}", finding.ident, sentence)
    return Verdict(kata.folder, step.name, "wrong", finding.ident, sentence, report=text, where=where)
