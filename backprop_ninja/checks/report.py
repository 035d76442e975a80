"""What the learner reads: every check's report is laid out here, in one form.

    <name>: <headline>
    <body: the table, the error, where it stopped>   (optional)
      called: <the call, with its inputs' shapes>    (optional)
    diagnosis: <id> — <sentence>                     (optional)

and a step still to write is one line, `todo: <name> — <where>`.
"""

from __future__ import annotations

from backprop_ninja.checks.compare import Row, describe, table
from backprop_ninja.checks.probes import Probe
from backprop_ninja.models.katas import Step


def diagnosis_line(ident: str, sentence: str) -> str:
    """`diagnosis: <id> — <sentence>`; empty without an id."""
    return f"diagnosis: {ident} — {sentence}" if ident else ""


def report(name: str, headline: str, body: str = "", ident: str = "", sentence: str = "", called: str = "") -> str:
    """The report's lines, the empty ones left out."""
    lines = (f"{name}: {headline}", body, called, diagnosis_line(ident, sentence))
    return "\n".join(line for line in lines if line)


def todo(name: str, where: str) -> str:
    """A check still waiting for the learner: `todo: <name> — <where>`."""
    return f"todo: {name} — {where}"


def step_report(step: Step, body: str, ident: str, sentence: str, probe: Probe | None,
                headline: str = "") -> str:
    """A step's report: headed by `headline` (else the id), with the call at `probe` when there is one."""
    call = f"  called: {called(step, probe)}" if probe is not None else ""
    return report(step.name, headline or ident, body, ident, sentence, call)


def probe_label(probe: Probe) -> str:
    """`<probe>, <configuration>`: where a check ran, as a table row and a picture name it."""
    return f"{probe.label}, {probe.cfg.label}"


def called(step: Step, probe: Probe, graph=None, target: str | None = None) -> str:
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


def rows_table(step: Step, ran: list[Probe], rows: list[Row], first: Probe) -> str:
    """The comparison table; for a step with several gradients, only the rows that differ at the first
    failing probe (`first`), the other probes where some differ, and the gradients right at every one."""
    targets = tuple(dict.fromkeys(t for p in ran for t in p.targets))  # kata 08's differ with the layers
    if len(targets) == 1:
        return table(step.name, rows)
    wrong = [r for r in rows if not r.approximate]
    here = probe_label(first)
    elsewhere = dict.fromkeys(r.probe for r in wrong if r.probe != here)
    right = [f"d{t}" for t in targets if not any(r.target == t for r in wrong)]
    order = {t: i for i, t in enumerate(first.order)}  # backward order, as the pass reaches them
    shown = sorted((r for r in wrong if r.probe == here), key=lambda r: order.get(r.target, 0))
    return (table(step.name, shown) + (f"\n  wrong at {'; '.join(elsewhere)} too" if elsewhere else "")
            + (f"\n  right in every check: {', '.join(right)}" if right else ""))
