"""Kata 08's checks: the whole GPT's backward against autograd, then 100 AdamW steps beside it.

The learner's `backward(idx, targets, params, acts)` returns a dict of
gradients, one per parameter name (gpt.parameter_names), whose number depends
on the configuration's layers; so kata 08 has its own check in place of the
graph probes of katas 01-04, with the same verdicts and diagnosis ids:

- every gradient at every configuration (gpt.MODEL, ODD, FLOAT64), each with
  its own scale: the largest of its expected gradient and the gradients of
  the values it feeds (gpt.fed_by);
- the report names the first wrong gradient in backward order
  (gpt.backward_order: lnf first, wte last) and which are right;
- a catalogued mistake that reproduces the learner's result names it.
"""

from __future__ import annotations

import dataclasses
import functools

import torch

from backprop_ninja.checks.checker import (
    DEFAULT_SECONDS,
    Verdict,
    error_diagnosis,
    kind_of,
    location,
    process_problem,
    scan_findings,
    scan_verdict,
)
from backprop_ninja.checks.compare import TOLERANCE, Row, close, compare, describe, table
from backprop_ninja.models import gpt
from backprop_ninja.models.katas import Kata
from backprop_ninja.sandbox.guard import call_step
from backprop_ninja.sandbox.results import Returned


@dataclasses.dataclass
class GPTTrace:
    """One configuration's forward pass with autograd: what backward is fed and what it must return."""

    cfg: gpt.GPTConfig
    batch: dict  # idx, targets (B, T) int64
    params: dict  # name -> tensor, detached
    acts: dict  # gpt.saved_names -> tensor, detached and contiguous
    grads: dict  # name -> autograd's gradient through gpt.forward
    scales: dict  # name -> the size of its computation

    def kwargs(self) -> dict:
        """Fresh clones of everything backward is fed."""
        return {"idx": self.batch["idx"].clone(), "targets": self.batch["targets"].clone(),
                "params": {k: v.clone() for k, v in self.params.items()},
                "acts": {k: v.clone() for k, v in self.acts.items()}}

    def order(self) -> tuple[str, ...]:
        return gpt.backward_order(self.params)


@functools.lru_cache(maxsize=16)
def trace(cfg: gpt.GPTConfig) -> GPTTrace:
    """gpt.forward with loss.backward() (the yardstick), and forward_saved for the saved values."""
    batch = gpt.make_batch(cfg)
    params = {k: v.requires_grad_(True) for k, v in gpt.init_parameters(cfg).items()}
    _, loss = gpt.forward(params, batch["idx"], batch["targets"], cfg.nh)
    loss.backward()
    grads = {k: v.grad.detach() for k, v in params.items()}
    again = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    again_loss, acts, outs = gpt.forward_saved(again, batch["idx"], batch["targets"], cfg.nh)
    out_grads = dict(zip(outs, torch.autograd.grad(again_loss, list(outs.values()))))
    scales = {}
    for name, g in grads.items():
        sizes = [float(g.abs().max())] + [float(out_grads[o].abs().max()) for o in gpt.fed_by(name)]
        scales[name] = max(sizes) or 1.0
    return GPTTrace(cfg, batch, {k: v.detach() for k, v in params.items()},
                    {k: v.detach().contiguous() for k, v in acts.items()}, grads, scales)


def _called(tr: GPTTrace) -> str:
    return (f"backward(idx {describe(tr.batch['idx'])}, targets {describe(tr.batch['targets'])}, "
            f"params {{{len(tr.params)} tensors}}, acts {{{len(tr.acts)} tensors}}) at {tr.cfg.describe()}")


def _verdict(kata: Kata, ident: str, sentence: str, body: str, where: str, headline: str = "",
             first_failure: tuple = ()) -> Verdict:
    report = f"backward: {headline or ident}\n{body + chr(10) if body else ''}diagnosis: {ident} — {sentence}"
    return Verdict(kata.folder, "backward", "wrong", ident, sentence, report=report, where=where,
                   first_failure=first_failure)


def form_problem(grads, tr: GPTTrace) -> tuple[str, str] | None:
    """(id, sentence) when the result is not a dict of right-shaped plain tensors, else None."""
    if not isinstance(grads, dict):
        return "not-a-tensor", (f"backward must return a dict of gradients keyed by the parameter names "
                                f"(wte, wpe, h0_ln_1_w, ...); it returned {kind_of(grads)}")
    missing = [n for n in tr.order() if n not in grads]
    if missing:
        return "not-a-tensor", (f"backward's dict has no gradient for {', '.join(missing[:4])}"
                                f"{' ...' if len(missing) > 4 else ''}: return one for every name of params")
    for name in tr.order():
        got, want = grads[name], tr.grads[name]
        if isinstance(got, Returned) and got.kind == "graph" or torch.is_tensor(got) and got.requires_grad:
            return "graph-attached", (f"d{name} is attached to an autograd graph (requires_grad=True): a gradient "
                                      "is a plain tensor, built without requires_grad")
        if not torch.is_tensor(got):
            return "not-a-tensor", (f"grads[{name!r}] (d{name}) must be a torch.Tensor of shape "
                                    f"{tuple(want.shape)}; it is {kind_of(got)}")
        if got.shape != want.shape:
            return _shape(name, got, want)
        if got.dtype != want.dtype:
            return "dtype", (f"d{name} is {str(got.dtype)[6:]}, but {name} is {str(want.dtype)[6:]}: make it with "
                             "*_like(...) or from the inputs, so it follows their dtype")
        if got.device != want.device:
            return "device", f"d{name} is on {got.device}, but {name} is on {want.device}: make it from the inputs"
        if not torch.isfinite(got).all():
            return "non-finite", f"d{name} holds inf or NaN: look for a division by zero or an overflowing exp"
    return None


def _shape(name: str, got, want) -> tuple[str, str]:
    g, w = tuple(got.shape), tuple(want.shape)
    if len(g) == 2 and g == w[::-1]:
        return "transposed", (f"d{name} has shape {g}, {name} has {w}: it is transposed — in a matmul's backward, "
                              "let the shapes choose the order (x.T @ dout)")
    if len(g) > len(w) and g[len(g) - len(w):] == w:
        return "missing-sum", (f"d{name} has shape {g}, {name} has {w}: {name} was broadcast (used at every "
                               f"position of the batch), so sum its gradient over the extra leading dimensions")
    if tuple(s for s in g if s != 1) == tuple(s for s in w if s != 1):
        return "keepdim", f"d{name} has shape {g}, {name} has {w}: a sum kept a dimension (keepdim) or dropped one"
    return "shape", (f"d{name} has shape {g}, but {name} has {w}: check which dimension each sum runs over "
                     "(wpe's rows are positions, summed over the batch)")


def _reproduces(result, grads: dict, tr: GPTTrace) -> bool:
    """A mistake's result equals the learner's on every gradient (same shapes, same values)."""
    if not (isinstance(result, dict) and isinstance(grads, dict)) or set(result) != set(grads):
        return False
    for name, mine in grads.items():
        theirs = result[name]
        if not (torch.is_tensor(mine) and torch.is_tensor(theirs)):
            if mine is not theirs:
                return False
            continue
        if mine.shape != theirs.shape or theirs.requires_grad != mine.requires_grad:
            return False
        if not close(mine.detach().to(torch.float64), theirs.detach().to(torch.float64), tr.scales.get(name, 1.0)):
            return False
    return True


def catalogued(grads: dict, tr: GPTTrace, kata: Kata) -> tuple[str, str] | None:
    """(id, sentence) of the first catalogued mistake whose result is the learner's, on the same inputs."""
    from backprop_ninja.checks import mistakes

    for m in mistakes.of(kata.folder, "backward"):
        call = call_step(m.fn, tr.kwargs(), trusted=True)  # the harness's own code: here, beside autograd
        if call.error is None and _reproduces(call.result, grads, tr):
            return m.id, m.sentence
    return None


def _factor(k: float, cfg: gpt.GPTConfig) -> str:
    B, T = cfg.B, cfg.T
    named = [("B*T", B * T), ("1/(B*T)", 1 / (B * T)), ("T", T), ("1/T", 1 / T), ("B", B), ("1/B", 1 / B),
             ("nh", cfg.nh), ("1/nh", 1 / cfg.nh), ("sqrt(hs)", cfg.hs**0.5), ("1/sqrt(hs)", cfg.hs**-0.5),
             ("hs", cfg.hs), ("1/hs", 1 / cfg.hs), ("2", 2.0), ("1/2", 0.5)]
    for shown, v in named:
        if abs(abs(k) - v) <= 1e-3 * v:
            return f"{shown} (= {v:.4g} here)"
    return f"{abs(k):.4g}"


def generic(name: str, got, want, tr: GPTTrace) -> tuple[str, str]:
    """What kind of wrong the first wrong gradient is: zero, sign, a constant factor, or just wrong."""
    scale = tr.scales[name]
    if close(got, torch.zeros_like(got), scale):
        return "wrong-values", (f"d{name} is zero everywhere, but {name} does reach the loss: a path from it "
                                "to the loss is missing")
    if close(got, -want, scale):
        return "sign", f"d{name} has the opposite sign of autograd's: check the sign of each local derivative"
    denom = float((want * want).sum())
    if denom:
        k = float((got * want).sum()) / denom
        if abs(k - 1) > 1e-4 and close(got, k * want, scale):
            sign = " and the opposite sign" if k < 0 else ""
            return "scale", (f"d{name} is autograd's times {_factor(k, tr.cfg)}{sign}: the pattern is right and a "
                             "constant factor is off (the loss averages over all B*T positions; attention "
                             "scales by hs**-0.5)")
    return "wrong-values", f"d{name} matches no known mistake: work back from the loss one layer at a time"


def _placement(order: tuple, wrong: set, silent: set) -> str:
    """Where the first slip lies, from which gradients are right and which wrong, in backward order."""
    first = next(n for n in order if n in wrong)
    before = [n for n in order[:order.index(first)] if n not in silent]
    after = [n for n in order[order.index(first):] if n not in silent]
    if not before:
        return (f" (every gradient differs from d{first}, the first the backward pass reaches, on: the slip is "
                "at its start)")
    right = f"the {len(before)} before it are right (d{before[0]} … d{before[-1]})" if len(before) > 1 \
        else f"d{before[0]} before it is right"
    if all(n in wrong for n in after):
        return (f" (first wrong in backward order: d{first}; {right}, so the slip lies after d{before[-1]} and "
                f"before d{first}; every gradient after it inherits it)")
    bad = [f"d{n}" for n in order if n in wrong]
    return (f" (first wrong in backward order: d{first}; wrong: {', '.join(bad)}; the others are right, so the "
            "slip is in the lines of those gradients themselves)")


def check_backward(kata: Kata, name: str, fn, seconds: float = DEFAULT_SECONDS) -> Verdict:
    """Every gradient of `fn` at every configuration of the kata; one verdict."""
    where = location(fn)
    found = scan_findings(fn)
    if found:
        return scan_verdict(kata, kata.step(name), found[0], where)
    rows: list[Row] = []
    first = None
    for cfg in kata.configs:
        tr = trace(cfg)
        call = call_step(fn, tr.kwargs(), seconds, trusted=False)
        if call.error is not None:
            err = call.error
            lost = process_problem(kata.step(name), err)
            if lost or err.isa("GraphAttached"):
                ident, sentence = lost or ("graph-attached", (
                    "backward asks for requires_grad, which attaches its gradients to an autograd graph: build "
                    "them from the inputs with plain tensor operations, without requires_grad_"))
                body = f"  {err.type}: {err}" + (f"\n  at {call.where}" if call.where else "")
                return _verdict(kata, ident, sentence, body, where, headline="stopped" if lost else "")
            if err.isa("NotImplementedError"):
                return Verdict(kata.folder, name, "todo", "not-implemented",
                               "backward still raises NotImplementedError: write it",
                               report=f"todo: backward — {where}", where=where)
            ident, sentence = error_diagnosis(kata.step(name), err, call, fn)
            if err.isa("TypeError") and "NoneType" in str(err):
                sentence = (f"backward raised TypeError: {err}: a value there is None — a step of the classes "
                            "layernorm, attention or mlp still has its `...` placeholder (paste your kata 05-07 "
                            "step in), or a function lacks its `return`")
            body = (f"  {err.type}: {err}" + (f"\n  at {call.where}" if call.where else "")
                    + f"\n  called: {_called(tr)}")
            return _verdict(kata, ident, sentence, body, where, headline="raised an error")
        if call.mutated:
            sentence = (f"backward changed {', '.join(call.mutated[:3])} in place (an in-place op such as +=, or a "
                        "trailing-underscore method on an input); the forward values are shared, so compute new "
                        "tensors instead")
            return _verdict(kata, "mutated-input", sentence, f"  called: {_called(tr)}", where)
        grads = call.result
        problem = form_problem(grads, tr)
        if problem:
            ident, sentence = catalogued(grads, tr, kata) or problem
            return _verdict(kata, ident, sentence, f"  called: {_called(tr)}", where)
        for pname in tr.order():
            row = compare(f"{cfg.label} · d{pname}", grads[pname], tr.grads[pname], tr.scales[pname])
            rows.append(row)
            if not row.approximate and first is None:
                first = (tr, pname, grads, row)
    if first is None:
        return Verdict(kata.folder, name, "done", where=where)
    tr, pname, grads, row = first
    wrong = {n for n in tr.order() if not close(grads[n], tr.grads[n], tr.scales[n])}
    silent = {n for n in tr.order()
              if float(tr.grads[n].abs().max()) <= TOLERANCE.get(tr.grads[n].dtype, 1e-5) * tr.scales[n]}
    ident, sentence = catalogued(grads, tr, kata) or generic(pname, grads[pname], tr.grads[pname], tr)
    sentence += _placement(tr.order(), wrong, silent)
    bad = [r for r in rows if not r.approximate and r.label.startswith(tr.cfg.label + " · ")]
    failing = {r.label.split(" · ")[0] for r in rows if not r.approximate}
    others = [c.label for c in kata.configs if c.label in failing and c.label != tr.cfg.label]
    body = (f"{table('backward', bad)}\n"
            + (f"  wrong at {', '.join(others)} too\n" if others else "") +
            f"  first failure in backward order: {tr.cfg.label} · d{pname}; at {list(row.worst)} you returned "
            f"{row.got:.6g}, autograd says {row.want:.6g}\n  called: {_called(tr)}")
    return _verdict(kata, ident, sentence, body, where, headline="wrong values",
                    first_failure=(tr.cfg.label, pname, grads[pname], tr.grads[pname]))
