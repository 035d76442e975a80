"""Naming what is wrong: the form of the result, then catalogued mistakes, then generic patterns.

`structure` looks at the form of one returned tensor (graph, shape, dtype,
device, finiteness); `values` explains a right-shaped tensor with wrong
numbers. Both prefer a catalogued mistake that reproduces the learner's
result on the same inputs; then come generic patterns, each a rule of the
chain rule the learner can act on:

- shape family: transposed, keepdim, missing-sum, summed over the wrong dim,
  a sum not broadcast back, a size hard-coded from the lecture;
- sign; scale by a constant, with the factor named (n, 1/n, n-1, n/(n-1)
  is Bessel's, 2, ...);
- branches: the answer is a combination of the gradients through each
  consumer with one left out (missing-branch), negated (sign) or scaled;
- chain-rule: the local derivative alone, or the upstream gradient passed through;
- accumulate: the rows of dC used once are right, the repeated ones not;
- hard-coded: right at the lecture's sizes, wrong at any other;
- float64 only: a small constant slip such as a missing eps;
- otherwise wrong-values, with how many elements differ and the worst one.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from . import mistakes
from .compare import close, describe, tolerance
from .guard import call_step
from .katas import KATAS, Kata, Step
from .lecture import LECTURE, Config
from .probes import Probe

# ---------------------------------------------------------------------------------------------
# the form of a result


def structure(step: Step, target: str, got: torch.Tensor, want: torch.Tensor, probe: Probe):
    """(id, sentence, body) when the result is attached to a graph, misshapen, mistyped or not finite."""
    body = f"  d{target}: you returned {describe(got)}, autograd's {target}.grad is {describe(want)}"
    if got.requires_grad:
        return ("graph-attached", f"d{target} is attached to an autograd graph (requires_grad=True): build it "
                "from the inputs with plain tensor operations, without requires_grad_ or requires_grad=True", body)
    if got.shape != want.shape:
        named = _catalogued_form(step, target, got, probe)
        return (*(named or _shape(target, got, want, probe)), body)
    if got.dtype != want.dtype:
        return ("dtype", f"d{target} must be {describe(want).split()[-1]} like {target}, not "
                f"{str(got.dtype).replace('torch.', '')}: build it from the inputs (e.g. torch.zeros_like({target}) "
                "or arithmetic on them) rather than torch.tensor(...) or a fresh torch.zeros(...) without dtype", body)
    if got.device != want.device:
        return ("device", f"d{target} is on {got.device}, {target} is on {want.device}: create new tensors with "
                "*_like(...) or device=... so they follow the inputs", body)
    if not torch.isfinite(got).all():
        bad = (~torch.isfinite(got)).nonzero()[0].tolist()
        named = _catalogued_form(step, target, got, probe)
        if named:
            return (named[0], f"{named[1]} (first NaN or inf at {bad})", body)
        return ("non-finite", f"d{target} holds NaN or inf (first at {bad}) where autograd's is finite: look for "
                "a division by a tiny number (or 0/0), an exp of a large one, or a log of zero", body)
    return None


def _kata_of(step: Step) -> Kata | None:
    """The kata a step belongs to (step names repeat across katas; their parameters do not)."""
    return next((k for k in KATAS if step in k.steps), None)


def _catalogued_form(step: Step, target: str, got, probe: Probe):
    """A catalogued mistake with the same shape and the same values (NaN where got has NaN), if any."""
    kata = _kata_of(step)
    if kata is None:
        return None
    for m, theirs in _mistake_results(kata, step, target, probe):
        if theirs.shape != got.shape or theirs.requires_grad:
            continue
        theirs = theirs.to(got.dtype)
        fin = torch.isfinite(got)
        if (torch.equal(fin, torch.isfinite(theirs)) and torch.equal(torch.isnan(got), torch.isnan(theirs))
                and close(torch.where(fin, got, 0), torch.where(fin, theirs, 0),
                          probe.scales[step.targets.index(target)])):
            return m.id, m.sentence
    return None


def _shape(target: str, got: torch.Tensor, want: torch.Tensor, probe: Probe) -> tuple[str, str]:
    g, w = tuple(got.shape), tuple(want.shape)
    hard = _hard_coded_shape(g, w, probe.cfg)
    if hard:
        return "hard-coded", (f"d{target} is {g} but {target} is {w} at {probe.cfg.describe()}: {hard}; "
                              "a size always comes from a shape (x.shape[0], torch.zeros_like(x))")
    if len(g) == 2 and g == w[::-1] and g != w:
        return "transposed", (f"d{target} has {target}'s shape transposed, {g} instead of {w}: "
                              "in a matmul's backward, choose the order and the .T that make the shapes fit")
    if got.numel() == want.numel() and [s for s in g if s != 1] == [s for s in w if s != 1]:
        if len(g) > len(w):
            how = "here the size-1 dimension must go: sum without keepdim=True (or .squeeze it)"
        else:
            how = "sum with keepdim=True (or reshape) so it keeps the size-1 dimension"
        return "keepdim", f"d{target} is {g} but {target} is {w}: {how}"
    if got.numel() > want.numel() and _broadcasts(w, g):
        return "missing-sum", (f"d{target} is {g}, the broadcast shape, but {target} is {w}: {target} was "
                               f"broadcast in the forward pass, so add up the gradients of its copies: "
                               f"{_sum_call(w, g)}")
    upstream = _upstream(probe)
    for name, up in upstream.items():
        if up.shape == got.shape and got.numel() < want.numel() and _broadcasts(g, w):
            return "shape", (f"d{target} is {g}, the shape of {name}, but {target} is {w}: the forward pass summed "
                             f"{target} down to that shape, and a sum's backward is a broadcast: spread it over "
                             f"every element (e.g. torch.ones_like({target}) * ...)")
    for t in probe.kwargs.values():
        if not torch.is_tensor(t) or not t.is_floating_point():
            continue
        mine = _reduced_over(tuple(t.shape), g)
        if mine is None:
            continue
        right = _reduced_over(tuple(t.shape), w)
        if right is not None and right != mine:
            return "shape", (f"d{target} is {g}: that is a sum over dim {mine[0]}, but {target} {w} was broadcast "
                             f"along dim {right[0]}: {_sum_call(w, tuple(t.shape))}")
        if tuple(t.shape) == w:
            return "shape", (f"d{target} is {g}: that is a sum over dim {mine[0]}, but {target} already has the "
                             f"shape {w} of the gradient it is built from: nothing was broadcast, nothing to sum")
    if got.numel() == want.numel():
        return "shape", (f"d{target} is {g}, with the right number of elements but not {target}'s shape {w}: "
                         f"a view or reshape only rearranges, so undo it with .view({target}.shape)")
    return "shape", (f"d{target} must have {target}'s shape {w}, got {g}: a gradient always has the shape "
                     "of the tensor it is for; check the shape of each operand on that line")


def _broadcasts(small: tuple, big: tuple) -> bool:
    if len(small) > len(big):
        return False
    return all(a in (1, b) for a, b in zip(reversed(small), reversed(big)))


def _sum_call(small: tuple, big: tuple) -> str:
    """The sum that takes a gradient of shape `big` to `small`, e.g. `.sum(0, keepdim=True)`."""
    lead = len(big) - len(small)
    padded = (None,) * lead + small
    dropped = [i for i in range(lead)]
    kept = [i for i in range(lead, len(big)) if padded[i] == 1 and big[i] != 1]
    calls = []
    if kept:
        dims = kept[0] if len(kept) == 1 else tuple(kept)
        calls.append(f".sum({dims}, keepdim=True)")
    if dropped:
        dims = dropped[0] if len(dropped) == 1 else tuple(dropped)
        calls.append(f".sum({dims})")
    return "".join(calls) or ".sum(...)"


def _reduced_over(big: tuple, small: tuple):
    """(dim, keepdim) when `small` is `big` summed over one dim, else None."""
    for d in range(len(big)):
        if big[d] == 1:
            continue
        if small == big[:d] + (1,) + big[d + 1:]:
            return d, True
        if small == big[:d] + big[d + 1:]:
            return d, False
    return None


def _upstream(probe: Probe) -> dict:
    """The upstream gradients the step was given (its d<line> parameters)."""
    return {k: v for k, v in probe.kwargs.items()
            if k.startswith("d") and torch.is_tensor(v) and v.is_floating_point()}


def _size_pairs(cfg: Config) -> list[tuple[str, int, int]]:
    """(name, size here, size at the lecture's sizes) for each size (kata 04 trains with 200 hidden)."""
    return [("n", cfg.n, LECTURE.n), ("n_embd", cfg.n_embd, LECTURE.n_embd),
            ("block_size", cfg.block_size, LECTURE.block_size), ("vocab_size", cfg.vocab_size, LECTURE.vocab_size),
            ("n_hidden", cfg.n_hidden, LECTURE.n_hidden), ("n_hidden", cfg.n_hidden, 200),
            ("block_size*n_embd", cfg.block_size * cfg.n_embd, LECTURE.block_size * LECTURE.n_embd)]


def _same_sizes(a: Config, b: Config) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in ("n", "n_embd", "block_size", "vocab_size", "n_hidden"))


def _hard_coded_shape(g: tuple, w: tuple, cfg: Config) -> str:
    """Where a dimension of the result is the lecture's size of the dimension the configuration wants."""
    if len(g) != len(w):
        return ""
    found = []
    for a, b in zip(g, w):
        if a == b:
            continue
        names = [name for name, here, there in _size_pairs(cfg) if here == b and there == a and here != there]
        if not names:
            return ""
        name = "n (the batch size)" if names[0] == "n" else names[0]
        found.append(f"{a} is the lecture's {name}, which is {b} here")
    return "; ".join(found)


# ---------------------------------------------------------------------------------------------
# wrong numbers


def values(kata: Kata, step: Step, target: str, got, want, probe: Probe, rows) -> tuple[str, str]:
    """The id and sentence that best explain right-shaped but wrong values."""
    whole, probe = probe, _focus(probe, step, target)
    ident, sentence = (_catalogued(kata, step, target, got, whole, rows)
                       or _precision(target, rows)
                       or _hard_coded(kata, target, got, want, probe, rows)
                       or _generic(step, target, got, want, probe)
                       or _wrong_values(target, got, want, probe))
    return ident, sentence + _which_targets(kata, step, rows, whole)


def _focus(probe: Probe, step: Step, target: str) -> Probe:
    """The probe as seen by one target: its own scale first (steps with several gradients)."""
    i = step.targets.index(target)
    return dataclasses.replace(probe, scales=(probe.scales[i],) + probe.scales[:i] + probe.scales[i + 1:])


def _which_targets(kata: Kata, step: Step, rows, probe: Probe) -> str:
    """For a step that returns several gradients: which are right, in backward order from the loss.

    A gradient that is ~0 at this probe (db1, right after batchnorm) says nothing either way: left out.
    """
    if len(step.targets) < 2:
        return ""
    silent = {t for t, e, scale in zip(step.targets, probe.expected, probe.scales)
              if float(e.abs().max()) <= tolerance(e, scale)}
    wrong = {t for t in step.targets for r in rows if r.label.endswith(f" · d{t}") and not r.approximate}
    lines = list(kata.graph.lines)

    def last_use(t):  # the later its first consumer, the earlier the backward pass reaches it
        return -min((lines.index(c) for c in kata.graph.consumers(t)), default=0)

    order = sorted(step.targets, key=last_use)
    right = [f"d{t}" for t in order if t not in wrong and t not in silent]
    bad = [f"d{t}" for t in order if t in wrong]
    if not right:
        return (f" (every gradient differs, even d{order[0]}, the first the backward pass reaches: the slip is "
                "at its start)")
    first_bad = min(order.index(t) for t in wrong)
    if all(f"d{t}" not in right for t in order[first_bad:]):  # everything from the first wrong one on
        return (f" (right: {', '.join(right)}; wrong: {', '.join(bad)}; walking back from the loss, the first "
                f"slip lies after {right[-1]} and before {bad[0]})")
    return (f" (right: {', '.join(right)}; wrong: {', '.join(bad)}: the slip is in the lines of {', '.join(bad)} "
            "themselves, since the gradients after them are right)")


def _mistake_results(kata: Kata, step: Step, target: str, probe: Probe, rows=None):
    """(mistake, its d<target>) for every catalogued mistake of the step that runs on the probe's inputs.

    For a step that returns several gradients, with `rows`, a mistake must also be right and wrong
    on the same gradients as the learner at this probe (one slip shows in all that come after it).
    """
    index = step.targets.index(target)
    label = f"{probe.label}, {probe.cfg.label} · d"
    verdicts = {r.label[len(label):]: r.approximate for r in rows or () if r.label.startswith(label)}
    for m in mistakes.of(kata.folder, step.name):
        call = call_step(m.fn, {k: v.clone() for k, v in probe.kwargs.items()})
        if call.error is not None:
            continue
        result = call.result
        if len(step.targets) > 1:
            if not isinstance(result, (tuple, list)) or len(result) != len(step.targets):
                continue
            if verdicts and any(t in verdicts and _right(r, e, scale) != verdicts[t]
                                for t, r, e, scale in zip(step.targets, result, probe.expected, probe.scales)):
                continue
            result = result[index]
        if torch.is_tensor(result):
            yield m, result.detach()


def _right(got, want, scale: float) -> bool:
    return (torch.is_tensor(got) and got.shape == want.shape and got.dtype == want.dtype
            and close(got, want, scale))


def _catalogued(kata: Kata, step: Step, target: str, got, probe: Probe, rows=None):
    scale = probe.scales[step.targets.index(target)]
    for m, theirs in _mistake_results(kata, step, target, probe, rows):
        if theirs.shape == got.shape and close(got, theirs.to(got.dtype), scale):
            return m.id, m.sentence
    return None


def _factor(k: float, cfg: Config) -> tuple[str, str]:
    """(name, what it usually means) of a constant factor k, with the configuration's sizes."""
    n = cfg.n
    named = [("n", n, "a 1/n is missing: a mean divides by n, and its gradient does too"),
             ("1/n", 1 / n, "an extra 1/n: the mean's 1/n is applied once, where the mean is, and every "
              "gradient after it already carries it"),
             ("n/(n-1)", n / (n - 1) if n > 1 else 0.0, "Bessel's correction is off: the lecture's variance "
              "divides by n-1, not n"),
             ("(n-1)/n", (n - 1) / n, "Bessel's correction is off: the lecture's variance divides by n-1, not n"),
             ("n-1", n - 1, "a 1/(n-1) is missing: the variance divides its sum by n-1"),
             ("1/(n-1)", 1 / (n - 1) if n > 1 else 0.0, "an extra 1/(n-1): the variance's factor belongs to "
              "one step only"),
             ("2", 2.0, "a 2 too many, or a 1/2 missing: d x**2/dx = 2x, d x**0.5/dx = 0.5 x**-0.5"),
             ("1/2", 0.5, "a factor 2 missing, or an extra 1/2: d x**2/dx = 2x, d x**-0.5/dx = -0.5 x**-1.5")]
    sizes = [("n", n), ("vocab_size", cfg.vocab_size), ("n_hidden", cfg.n_hidden), ("n_embd", cfg.n_embd),
             ("block_size", cfg.block_size)]
    named = [(f"{name} (= {v:.4g}, with n = {n})" if "n" in name else name, v, meaning)
             for name, v, meaning in named]
    for a, x in sizes:
        for b, y in sizes:
            if a != b and x != y:
                named.append((f"{a}/{b} (= {x}/{y} here)", x / y, f"a division by {b} where {a} belongs (or "
                              "the reverse): check which dimension the mean or the sum runs over"))
    for shown, v, meaning in named:
        if v and v != 1 and abs(k - v) <= 1e-3 * abs(v):
            return shown, meaning
    if abs(k - round(k)) <= 1e-3 * abs(k):
        return f"{round(k)}", "look for an extra or missing constant in the local derivative"
    if abs(1 / k - round(1 / k)) <= 1e-3 / abs(k):
        return f"1/{round(1 / k)}", "look for an extra or missing constant in the local derivative"
    return f"{k:.4g}", "look for an extra or missing constant in the local derivative"


def _scale_factor(got, want, probe: Probe) -> float | None:
    """k such that got == k * want within tolerance (k != 1, 0, -1), else None."""
    denom = float((want * want).sum())
    if denom == 0 or float(want.abs().max()) <= tolerance(want, probe.scale):
        return None
    k = float((got * want).sum()) / denom
    if abs(k - 1) <= 1e-4 or abs(k + 1) <= 1e-4 or abs(k) <= 1e-6 or not math.isfinite(k):
        return None
    return k if close(got, k * want, probe.scale) else None


def _generic(step: Step, target: str, got, want, probe: Probe):
    s = probe.scale
    if float(want.abs().max()) > tolerance(want, s) and close(got, torch.zeros_like(got), s):
        return "wrong-values", (f"d{target} is zero everywhere, but {target} does reach the loss: every path from "
                                f"{target} to the loss contributes (a value that is ~0 at the lecture's numbers may "
                                "not be at others)")
    if close(got, -want, s):
        return "sign", (f"d{target} has the opposite sign of autograd's: check the sign of each local "
                        "derivative (a subtraction, a negative power, the minus of the loss)")
    k = _scale_factor(got, want, probe)
    if k is not None:
        name, meaning = _factor(abs(k), probe.cfg)
        ident = "bessel" if name.startswith(("n/(n-1)", "(n-1)/n")) else "scale"
        sign = " and the opposite sign" if k < 0 else ""
        return ident, (f"d{target} is autograd's times {name}{sign}: the pattern is right and a constant factor "
                       f"is off — {meaning}")
    found = _branches(target, got, probe)
    if found:
        return found
    found = _chain_rule(target, got, want, probe)
    if found:
        return found
    if target == "C" and "Xb" in probe.kwargs:
        return _accumulate(got, want, probe)
    return None


def _branches(target: str, got, probe: Probe):
    """Explain got as a combination of the gradients through each consumer of target.

    Least squares gives one coefficient per branch; they are rounded to the
    slips a learner makes (0: left out, -1: sign, a named factor) and the
    combination must reproduce got. Branches too small to matter at this
    probe (the max's ~1e-9 in the lecture) are left at 1.
    """
    names = list(probe.branches)
    if len(names) < 2:
        return None
    tol = tolerance(got, probe.scale)
    live = [b for b in names if float(probe.branches[b].abs().max()) > 10 * tol]
    if not live:
        return None
    basis = torch.stack([probe.branches[b].reshape(-1).to(torch.float64) for b in live], 1)
    rest = sum((probe.branches[b] for b in names if b not in live), torch.zeros_like(got))
    rhs = (got - rest).reshape(-1, 1).to(torch.float64)
    coef = torch.linalg.lstsq(basis, rhs).solution.reshape(-1).tolist()
    n = probe.cfg.n
    candidates = [1.0, 0.0, -1.0, n, 1 / n, n - 1, 1 / max(n - 1, 1), n / max(n - 1, 1), (n - 1) / n, 2.0, 0.5]
    rounded = [min(candidates, key=lambda c: abs(c - x)) for x in coef]
    if all(c == 1.0 for c in rounded):
        return None
    combo = rest + sum((c * probe.branches[b] for c, b in zip(rounded, live)), torch.zeros_like(got))
    if not close(got, combo, probe.scale):
        return None
    wrong = {b: c for b, c in zip(live, rounded) if c != 1.0}
    uses = " and ".join(names)
    left_out = [b for b, c in wrong.items() if c == 0.0]
    if left_out and len(wrong) == len(left_out):
        kept = [b for b in names if b not in left_out]
        return "missing-branch", (f"d{target} holds only the gradient through {', '.join(kept)}; the gradient "
                                  f"through {', '.join(left_out)} is left out — {target} feeds {uses}, and the "
                                  "gradients of all its uses add")
    flipped = [b for b, c in wrong.items() if c == -1.0]
    if flipped and len(wrong) == len(flipped):
        return "sign", (f"the gradient through {', '.join(flipped)} has the wrong sign — {target} feeds {uses}, "
                        "and each branch keeps the sign of its own local derivative")
    if len(wrong) == 1:
        (b, c), = wrong.items()
        name, meaning = _factor(c, probe.cfg)
        ident = "bessel" if name.startswith(("n/(n-1)", "(n-1)/n")) else "scale"
        return ident, f"the gradient through {b} is off by a factor {name} ({meaning}); the other branch is right"
    return None


def _chain_rule(target: str, got, want, probe: Probe):
    """One factor of the chain rule is missing: got is the local derivative alone, or the upstream alone."""
    ups = {k: v for k, v in _upstream(probe).items() if not close(v, torch.zeros_like(v), probe.scale)}
    for name, up in ups.items():
        if up.shape == got.shape and close(got, up, probe.scale):
            return "chain-rule", (f"d{target} is {name} passed through unchanged: the chain rule multiplies the "
                                  "upstream gradient by the local derivative of this line")
    if len(ups) == 1:
        (name, up), = ups.items()
        if up.shape == want.shape and close(got * up, want, probe.scale):
            return "chain-rule", (f"d{target} is the local derivative alone: multiplied by the upstream gradient "
                                  f"{name} it is right — the chain rule always multiplies by the gradient from above")
    return None


def _accumulate(got, want, probe: Probe):
    """Rows of C used once are right, rows used more than once are not: an overwrite."""
    uses = torch.bincount(probe.kwargs["Xb"].reshape(-1), minlength=want.shape[0])
    ok = ((got - want).abs() <= tolerance(want, probe.scale)).all(dim=1)
    if ok[uses <= 1].all() and not ok[uses > 1].all():
        return "accumulate", ("the rows of dC that Xb uses once are right, the rows it uses several times are "
                              "not: each use adds its gradient (index_add_, or += in a loop over positions), "
                              "while dC[Xb] = demb keeps only one of them")
    return None


def _hard_coded(kata: Kata, target: str, got, want, probe: Probe, rows):
    """Every check at the kata's own sizes passes, a check at other sizes fails: a size written as a number."""
    home = kata.configs[0]
    if _same_sizes(probe.cfg, home):
        return None
    at_home = [r for r in rows if any(r.label.split(" · ")[0].endswith(", " + c.label)
                                      for c in kata.configs if _same_sizes(c, home))]
    if not at_home or not all(r.approximate for r in at_home):
        return None
    k = _scale_factor(got, want, probe)
    guess = ""
    if k is not None:
        for name, here, there in _size_pairs(probe.cfg):
            for a, b, what in ((here, there, f"{there} where {name} belongs"),
                               (here - 1, there - 1, f"{there - 1} where {name}-1 belongs")):
                if a != b and b and (abs(k - a / b) <= 1e-3 * a / b or abs(k - b / a) <= 1e-3 * b / a):
                    guess = f" (it looks like {what}: {a} here)"
                    break
            if guess:
                break
    return "hard-coded", (f"d{target} is right at the lecture's sizes and wrong at {probe.cfg.describe()}: a size is "
                          f"written as a number{guess}; take every size from a shape (x.shape[0], *_like)")


def _precision(target: str, rows):
    f64 = [r for r in rows if "float64" in r.label]
    if f64 and not all(r.approximate for r in f64) and all(r.approximate for r in rows if r not in f64):
        return "wrong-values", (f"d{target} is right to float32 precision but off in float64: a small "
                                "constant slip, such as a missing eps (1e-5), hides in float32 noise")
    return None


def _wrong_values(target: str, got, want, probe: Probe):
    diff = (got.to(want.dtype) - want).abs()
    bad = diff > tolerance(want, probe.scale)
    flat = int(diff.argmax())
    worst = []
    for size in reversed(want.shape):  # the flat index as a multi-index
        flat, i = divmod(flat, size)
        worst.insert(0, i)
    flat = int(diff.argmax())
    share = f"{int(bad.sum())} of {want.numel()} elements differ"
    return "wrong-values", (f"d{target} matches no known mistake: {share}, the worst at {worst} (you "
                            f"{float(got.reshape(-1)[flat]):.6g}, autograd {float(want.reshape(-1)[flat]):.6g}, at "
                            f"{probe.label}, {probe.cfg.label}); work that element out by hand, one factor of the "
                            "chain rule at a time")
