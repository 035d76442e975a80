"""Probes: what a step is fed, and what autograd says it must return.

- The lecture probe feeds the true forward values and the true upstream
  gradients of one `loss.backward()`, and expects `<name>.grad`.
- The local probe makes `<name>` a leaf, recomputes only the lines that
  consume it up to the gradients the step is given, pulls *random*
  upstream gradients through them with `torch.autograd.grad`, and feeds the
  step the same random gradients. It catches what the lecture's values hide
  (`dlogit_maxes` is float noise there). A random upstream gradient is zero
  wherever the model makes it zero by structure (`_structural_zeros`: dpreatt
  above the diagonal, where the causal mask cuts preatt off from the loss), so
  a step that relies on that structure (llm.c's causal loop `t2 <= t` for dq and
  dk) is judged on what the model can feed it.
- The model probe (katas 08 and 12, models/gpt_trace.py) feeds a whole model's
  backward its batch, parameters and saved activations, and expects a dict
  of every parameter's gradient.

A probe is all the checker knows of a kata: what to feed, the gradients it
must get back by name (`targets`, in the result's `form`), the order a
backward pass reaches them, and each one's scale.
"""

from __future__ import annotations

import dataclasses
import zlib

import torch

from backprop_ninja.models import gpt_trace
from backprop_ninja.models.katas import Step
from backprop_ninja.models.lecture import Config, Graph, trace


@dataclasses.dataclass
class Probe:
    """One call of a step and what it must return."""

    label: str  # "lecture probe" (a GPT's "model probe") or "local probe"
    cfg: Config
    kwargs: dict  # parameter name -> tensor, fresh clones
    expected: tuple  # one tensor per target
    scales: tuple  # per target, the size of the computation, for the absolute tolerance
    branches: dict  # consumer line -> the gradient through it alone (targets[0] only)
    # what the step also declared and was fed by name (extra parameters: n, a forward value), for its report
    extra: dict = dataclasses.field(default_factory=dict)
    targets: tuple = ()  # the gradients' names, one per expected tensor
    order: tuple = ()  # the targets in the order a backward pass reaches them (the loss's side first)
    form: str = "tensor"  # what the step returns: "tensor", a "tuple" of targets, or a "dict" keyed by them

    @property
    def scale(self) -> float:
        """The size of the computation of the first (for most steps, the only) target."""
        return self.scales[0]


def upstream_of(step: Step, graph: Graph) -> tuple[str, ...]:
    """The lines whose gradients the step is given (its `d<line>` parameters)."""
    return tuple(p[1:] for p in step.params if p.startswith("d") and p[1:] in graph.lines)


def fresh(t: torch.Tensor) -> torch.Tensor:
    """A contiguous copy (a forward value may be a transposed view, such as a GPT's q, k, v)."""
    return t.detach().clone(memory_format=torch.contiguous_format)


def _pull(graph: Graph, values: dict, name: str, frontier: tuple, grads: dict):
    """Gradient of `name` through each frontier line alone, given their upstream grads.

    Returns None when a path from `name` reaches the loss without crossing
    the frontier (then the step's inputs cannot describe its gradient).
    """
    leaf = values[name].detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = graph.run({**values, name: leaf}, start=name, stop=frozenset(frontier))
    if graph.loss not in frontier and out[graph.loss] is not values[graph.loss]:
        return None
    branches = {}
    for line in frontier:
        # <out, g> is the scalar whose gradient is the vector-Jacobian product (and it keeps
        # autograd.grad off its grad_outputs path, which imports sympy: a second per run)
        with torch.enable_grad():
            pulled = (out[line] * grads[line]).sum()
        (g,) = torch.autograd.grad(pulled, leaf, retain_graph=True, allow_unused=True)
        branches[line] = torch.zeros_like(leaf) if g is None else g.detach()
    return branches


def _structural_zeros(graph: Graph, values: dict, line: str, g: torch.Generator) -> torch.Tensor | None:
    """Where d loss / d `line` is zero whatever its consumers' gradients are (a bool mask), or None.

    A random gradient at each consumer of `line` is pulled back to it: an entry that comes back
    exactly zero is cut off from the loss by the line's consumers themselves (a masked_fill's
    masked entries, an index the loss never picks), not by the values of this run.
    """
    consumers = tuple(graph.consumers(line))
    if not consumers:
        return None
    random = {c: torch.randn(values[c].shape, generator=g, dtype=values[c].dtype).to(values[c].device)
              for c in consumers}
    branches = _pull(graph, values, line, consumers, random)
    if branches is None:
        return None
    zero = sum(branches.values()) == 0
    return zero if bool(zero.any()) else None


def _scale(expected, upstream) -> float:
    sizes = [t.abs().max().item() for t in (*expected, *upstream) if t.numel()]
    return max(sizes, default=1.0) or 1.0


def lecture_probe(step: Step, graph: Graph, cfg: Config) -> Probe:
    """The true values and gradients of the lecture's `loss.backward()`."""
    tr = trace(graph, cfg)
    frontier = upstream_of(step, graph)
    kwargs = {p: fresh(tr.values[p] if p in tr.values else tr.grads[p[1:]]) for p in step.params}
    expected = tuple(tr.grads[t] for t in step.targets)
    branches = {}
    if len(step.targets) == 1 and len(frontier) > 1:
        branches = _pull(graph, tr.values, step.targets[0], frontier, tr.grads) or {}
    if len(step.targets) == 1:
        scales = (_scale(expected, [tr.grads[f] for f in frontier]),)
    else:  # each gradient at the size of its own computation: its own and its consumers' gradients
        scales = tuple(_scale([tr.grads[t]], [tr.grads[c] for c in graph.consumers(t)]) for t in step.targets)
    return Probe(graph.model.probe, cfg, kwargs, expected, scales, branches)


def local_probe(step: Step, graph: Graph, cfg: Config) -> Probe | None:
    """Random upstream gradients pulled through the consumers; None where it cannot apply."""
    frontier = upstream_of(step, graph)
    if len(step.targets) != 1 or not frontier:
        return None
    tr = trace(graph, cfg)
    g = torch.Generator().manual_seed(cfg.seed ^ zlib.crc32(step.name.encode()))
    grads = {f: torch.randn(tr.values[f].shape, generator=g, dtype=tr.values[f].dtype).to(tr.values[f].device)
             for f in frontier}  # same shape as each upstream line
    structure = torch.Generator().manual_seed(cfg.seed ^ zlib.crc32(b"structure " + step.name.encode()))
    for f in frontier:  # zero where the model's own gradient is zero by structure (dpreatt above the diagonal)
        zero = _structural_zeros(graph, tr.values, f, structure)
        if zero is not None:
            grads[f] = grads[f].masked_fill(zero, 0.0)
    branches = _pull(graph, tr.values, step.targets[0], frontier, grads)
    if branches is None:
        return None
    expected = (sum(branches.values()),)
    kwargs = {p: fresh(tr.values[p] if p in tr.values else grads[p[1:]]) for p in step.params}
    return Probe("local probe", cfg, kwargs, expected, (_scale(expected, grads.values()),),
                 branches if len(frontier) > 1 else {})


def probes(step: Step, graph, cfg) -> list[Probe]:
    """The probes of one step at one configuration, lecture (model) probe first."""
    if isinstance(graph, gpt_trace.WholeModel):
        return [model_probe(step, graph, cfg)]
    found = [lecture_probe(step, graph, cfg), local_probe(step, graph, cfg)]
    form = "tensor" if len(step.targets) == 1 else "tuple"
    return [dataclasses.replace(p, targets=step.targets, order=_backward_order(step, graph), form=form)
            for p in found if p is not None]


def _backward_order(step: Step, graph: Graph) -> tuple[str, ...]:
    """The step's targets, the one whose first consumer comes latest in the forward first."""
    lines = list(graph.lines)

    def reached(target):
        return -min((lines.index(c) for c in graph.consumers(target)), default=0)

    return tuple(sorted(step.targets, key=lambda t: (reached(t), step.targets.index(t))))


def model_probe(step: Step, model: gpt_trace.WholeModel, cfg) -> Probe:
    """Katas 08, 12: a whole model's backward, fed the batch, the parameters and the saved activations."""
    tr = model.trace(cfg)
    names = tuple(tr.params)
    return Probe(model.probe, cfg, tr.kwargs(), tuple(tr.grads[n] for n in names),
                 tuple(tr.scales[n] for n in names), {}, targets=names, order=tr.order(), form="dict")


def cloned(kwargs: dict) -> dict:
    """Fresh copies of a probe's arguments, a dict of tensors (kata 08's params, acts) included."""
    return {k: cloned(v) if isinstance(v, dict) else v.clone() if torch.is_tensor(v) else v
            for k, v in kwargs.items()}


def results(probe: Probe, result) -> tuple | None:
    """The returned gradients, one per target in the probe's order, or None if the result has the wrong form."""
    if probe.form == "tensor":
        return (result,)
    if probe.form == "tuple" and isinstance(result, (tuple, list)) and len(result) == len(probe.targets):
        return tuple(result)
    if probe.form == "dict" and isinstance(result, dict) and all(t in result for t in probe.targets):
        return tuple(result[t] for t in probe.targets)
    return None


def named(probe: Probe, target: str) -> str:
    """How the learner's code names one gradient: d<target>, or grads['<target>'] (d<target>) in a dict."""
    return f"grads[{target!r}] (d{target})" if probe.form == "dict" else f"d{target}"
