"""Right-shaped, wrong numbers: catalogued mistakes first, then the generic patterns."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..compare import close, tolerance
from ..katas import Kata, Step
from ..lecture import Config
from ..probes import Probe
from .catalogued import _catalogued
from .form import _same_sizes, _size_pairs, _upstream


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


def _factor(k: float, cfg: Config) -> tuple[str, str]:
    """(name, what it usually means) of a constant factor k, with the configuration's sizes."""
    sizes = list(cfg.sizes())
    named = [("2", 2.0, "a 2 too many, or a 1/2 missing: d x**2/dx = 2x, d x**0.5/dx = 0.5 x**-0.5"),
             ("1/2", 0.5, "a factor 2 missing, or an extra 1/2: d x**2/dx = 2x, d x**-0.5/dx = -0.5 x**-1.5")]
    n = dict(sizes).get("n")
    if n is not None:  # the lecture's batch: means and the Bessel-corrected variance divide by it
        named = [("n", n, "a 1/n is missing: a mean divides by n, and its gradient does too"),
                 ("1/n", 1 / n, "an extra 1/n: the mean's 1/n is applied once, where the mean is, and every "
                  "gradient after it already carries it"),
                 ("n/(n-1)", n / (n - 1) if n > 1 else 0.0, "Bessel's correction is off: the lecture's variance "
                  "divides by n-1, not n"),
                 ("(n-1)/n", (n - 1) / n, "Bessel's correction is off: the lecture's variance divides by n-1, "
                  "not n"),
                 ("n-1", n - 1, "a 1/(n-1) is missing: the variance divides its sum by n-1"),
                 ("1/(n-1)", 1 / (n - 1) if n > 1 else 0.0, "an extra 1/(n-1): the variance's factor belongs to "
                  "one step only"), *named]
        named = [(f"{name} (= {v:.4g}, with n = {n})" if "n" in name else name, v, meaning)
                 for name, v, meaning in named]
    hs = dict(sizes).get("hs")
    if hs is not None:  # a GPT's attention scale
        named += [(f"hs**0.5 (= {hs**0.5:.4g})", hs**0.5, "the attention scale hs**-0.5 is missing: preatt = "
                   "(q @ k.T) * hs**-0.5, so dq and dk carry that factor too"),
                  (f"hs**-0.5 (= {hs**-0.5:.4g})", hs**-0.5, "hs**-0.5 is applied twice, or where it does not "
                   "belong: it scales preatt once, so only dq and dk carry it")]
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
    n = dict(probe.cfg.sizes()).get("n")
    candidates = [1.0, 0.0, -1.0, 2.0, 0.5]
    if n is not None:  # the lecture's batch size and its Bessel factors
        candidates[3:3] = [n, 1 / n, n - 1, 1 / max(n - 1, 1), n / max(n - 1, 1), (n - 1) / n]
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
