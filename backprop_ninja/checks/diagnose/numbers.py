"""Right-shaped, wrong numbers: catalogued mistakes first, then the generic patterns."""

from __future__ import annotations

import dataclasses
import math

import torch

from backprop_ninja.checks.compare import TOLERANCE, close, figures, tolerance
from backprop_ninja.checks.diagnose.catalogued import catalogued_match
from backprop_ninja.checks.diagnose.form import upstream_gradients
from backprop_ninja.checks.probes import Probe
from backprop_ninja.models.katas import Kata, Step
from backprop_ninja.models.lecture import Config


def values(kata: Kata, step: Step, target: str, got, want, probe: Probe, rows, seen=()) -> tuple[str, str]:
    """The id and sentence that best explain right-shaped but wrong values.

    `seen` holds (probe, the learner's returned tensors) for every probe that ran. A claim is made
    only when it holds at every one of them: a catalogued mistake must reproduce the learner's
    answer wherever both ran, a generic pattern must hold wherever it is checked.
    """
    seen = list(seen) or [(probe, (got,) if len(probe.targets) == 1 else None)]
    everywhere = [(_focus(p, target), g[p.targets.index(target)], p.expected[p.targets.index(target)])
                  for p, g in seen if g is not None and target in p.targets]
    whole, probe = probe, _focus(probe, target)
    ident, sentence = (catalogued_match(kata, step, target, got, whole, rows, seen)
                       or _precision(target, rows, everywhere)
                       or _hard_coded(kata, target, got, want, probe, rows)
                       or _generic(step, target, got, want, probe, everywhere)
                       or _number_for_size(target, got, want, probe, everywhere)
                       or _wrong_values(target, got, want, probe))
    return ident, sentence + _which_targets(rows, whole)


def _focus(probe: Probe, target: str) -> Probe:
    """The probe as seen by one target: its own scale first (steps with several gradients)."""
    i = probe.targets.index(target)
    return dataclasses.replace(probe, scales=(probe.scales[i],) + probe.scales[:i] + probe.scales[i + 1:])


def _which_targets(rows, probe: Probe) -> str:
    """For a step that returns several gradients: which are right, in backward order from the loss.

    A gradient is wrong when it differs at any probe (rows), right when it differs at none. One
    that is ~0 at this probe (db1, right after batchnorm) says nothing either way: left out.
    """
    if len(probe.targets) < 2:
        return ""
    silent = {t for t, e, scale in zip(probe.targets, probe.expected, probe.scales)
              if float(e.abs().max()) <= tolerance(e, scale)}
    order = probe.order
    wrong = {r.target for r in rows if r.target in order and not r.approximate}
    right = [f"d{t}" for t in order if t not in wrong and t not in silent]
    bad = [f"d{t}" for t in order if t in wrong]
    if not right or not bad:
        return (f" (every gradient differs, even d{order[0]}, the first the backward pass reaches: the slip is "
                "at its start)") if not right else ""
    first = f"first wrong in backward order: {bad[0]}; "
    first_bad = min(order.index(t) for t in wrong)
    if all(f"d{t}" not in right for t in order[first_bad:]):  # everything from the first wrong one on
        return (f" ({first}right: {_listed(right)}; wrong: {_listed(bad)}; walking back from the loss, the "
                f"first slip lies after {right[-1]} and before {bad[0]}, and every gradient after it inherits it)")
    return (f" ({first}right: {_listed(right)}; wrong: {_listed(bad)}: the slip is in the lines of the wrong "
            "ones themselves, since the gradients after them are right)")


def _listed(names: list) -> str:
    """Names in a sentence: all of a few, the first and last of many (a GPT has dozens of parameters)."""
    return ", ".join(names) if len(names) <= 6 else f"{len(names)}: {names[0]}, {names[1]} … {names[-1]}"


def _size(cfg, name: str) -> int:
    return dict(cfg.sizes())[name]


def _factor(k: float, cfg: Config) -> tuple[str, str, object]:
    """(name, what it usually means, its value at any configuration) of a constant factor k."""
    sizes = cfg.sizes()
    named = []
    if hasattr(cfg, "n"):
        named = [("n", lambda c: c.n, "a 1/n is missing: a mean divides by n, and its gradient does too"),
                 ("1/n", lambda c: 1 / c.n, "an extra 1/n: the mean's 1/n is applied once, where the mean is, "
                  "and every gradient after it already carries it"),
                 ("n/(n-1)", lambda c: c.n / (c.n - 1) if c.n > 1 else 0.0, "Bessel's correction is off: the "
                  "lecture's variance divides by n-1, not n"),
                 ("(n-1)/n", lambda c: (c.n - 1) / c.n, "Bessel's correction is off: the lecture's variance "
                  "divides by n-1, not n"),
                 ("n-1", lambda c: c.n - 1, "a 1/(n-1) is missing: the variance divides its sum by n-1"),
                 ("1/(n-1)", lambda c: 1 / (c.n - 1) if c.n > 1 else 0.0, "an extra 1/(n-1): the variance's "
                  "factor belongs to one step only")]
        named = [(f"{name} (= {v(cfg):.4g}, with n = {cfg.n})", v, meaning) for name, v, meaning in named]
    named += [("2", lambda c: 2.0, "a 2 too many, or a 1/2 missing: d x**2/dx = 2x, d x**0.5/dx = 0.5 x**-0.5"),
              ("1/2", lambda c: 0.5, "a factor 2 missing, or an extra 1/2: d x**2/dx = 2x, "
               "d x**-0.5/dx = -0.5 x**-1.5")]
    if "hs" in dict(sizes):  # a GPT's attention scale
        hs = _size(cfg, "hs")
        named += [(f"hs**0.5 (= {hs**0.5:.4g})", lambda c: _size(c, "hs") ** 0.5, "the attention scale hs**-0.5 "
                   "is missing: preatt = (q @ k.T) * hs**-0.5, so dq and dk carry that factor too"),
                  (f"hs**-0.5 (= {hs**-0.5:.4g})", lambda c: _size(c, "hs") ** -0.5, "hs**-0.5 is applied twice, "
                   "or where it does not belong: it scales preatt once, so only dq and dk carry it")]
    for a, x in sizes:
        for b, y in sizes:
            if a != b and x != y and y:
                named.append((f"{a}/{b} (= {x}/{y} here)", lambda c, a=a, b=b: _size(c, a) / _size(c, b),
                              f"a division by {b} where {a} belongs (or the reverse): check which dimension the "
                              "mean or the sum runs over"))
    for shown, v, meaning in named:
        value = v(cfg)
        if value and value != 1 and abs(k - value) <= 1e-3 * abs(value):
            return shown, meaning, v
    other = "look for an extra or missing constant in the local derivative"
    if abs(k - round(k)) <= 1e-3 * abs(k):
        return f"{round(k)}", other, _constant(float(round(k)))
    if abs(1 / k - round(1 / k)) <= 1e-3 / abs(k):
        return f"1/{round(1 / k)}", other, _constant(1 / round(1 / k))
    return f"{k:.4g}", other, _constant(k)


def _constant(value: float):
    """A factor that is the same number at every configuration."""
    return lambda cfg: value


def _scale_factor(got, want, probe: Probe) -> float | None:
    """k such that got == k * want within tolerance (k != 1, 0, -1), else None."""
    denom = float((want * want).sum())
    if denom == 0 or float(want.abs().max()) <= tolerance(want, probe.scale):
        return None
    k = float((got * want).sum()) / denom
    if abs(k - 1) <= 1e-4 or abs(k + 1) <= 1e-4 or abs(k) <= 1e-6 or not math.isfinite(k):
        return None
    return k if close(got, k * want, probe.scale) else None


def _generic(step: Step, target: str, got, want, probe: Probe, everywhere=()):
    """The first generic pattern found at this probe that holds at every probe in `everywhere`."""
    everywhere = list(everywhere) or [(probe, got, want)]
    for ident, sentence, holds in _claims(step, target, got, want, probe):
        if all(holds(p, g, w) for p, g, w in everywhere):
            return ident, sentence
    return None


def _claims(step: Step, target: str, got, want, probe: Probe):
    """(id, sentence, holds(probe, got, want)) for each generic pattern that fits at this probe, best first."""
    s = probe.scale
    if float(want.abs().max()) > tolerance(want, s) and close(got, torch.zeros_like(got), s):
        yield "zero", (f"d{target} is zero everywhere, but {target} does reach the loss: every path "
                               f"from {target} to the loss contributes (a value that is ~0 at the lecture's "
                               "numbers may not be at others)"), lambda p, g, w: close(g, torch.zeros_like(g), p.scale)
    if close(got, -want, s):
        yield "sign", (f"d{target} has the opposite sign of autograd's: check the sign of each local "
                       "derivative (a subtraction, a negative power, the minus of the loss)"), \
            lambda p, g, w: close(g, -w, p.scale)
    k = _scale_factor(got, want, probe)
    if k is not None:
        name, meaning, value = _factor(abs(k), probe.cfg)
        ident = "bessel" if name.startswith(("n/(n-1)", "(n-1)/n")) else "scale"
        sign = -1.0 if k < 0 else 1.0
        yield ident, (f"d{target} is autograd's times {name}{' and the opposite sign' if k < 0 else ''}: the "
                      f"pattern is right and a constant factor is off — {meaning}"), \
            lambda p, g, w: close(g, sign * value(p.cfg) * w, p.scale)
        if "here" in name or "with n" in name:  # a size at this probe; the same number at every size is not
            here = _constant(sign * value(probe.cfg))
            flip = " and the opposite sign" if k < 0 else ""
            yield "scale", (f"d{target} is autograd's times {abs(k):.4g}{flip} at every size checked, the same "
                            f"number: at {probe.cfg.label} it is {name.split(' (')[0]}, so if it is a size, it is "
                            "written as a number; take every size from a shape (x.shape[0])"), \
                lambda p, g, w: close(g, here(p.cfg) * w, p.scale)
    yield from _branches(target, got, probe)
    yield from _chain_rule(target, got, want, probe)
    yield from _plus_for_times(target, got, want, probe)
    if target == "C" and "Xb" in probe.kwargs:
        yield from _accumulate(got, want, probe)


def _branches(target: str, got, probe: Probe):
    """Explain got as a combination of the gradients through each consumer of target.


    Least squares gives one coefficient per branch; they are rounded to the
    slips a learner makes (0: left out, -1: sign, a named factor) and the
    combination must reproduce got, here and at every other probe (with the
    factor taken at that probe's sizes). Branches too small to matter at this
    probe (the max's ~1e-9 in the lecture) are left at 1.
    """
    names = list(probe.branches)
    if len(names) < 2:
        return
    tol = tolerance(got, probe.scale)
    live = [b for b in names if float(probe.branches[b].abs().max()) > 10 * tol]
    if not live:
        return
    basis = torch.stack([probe.branches[b].reshape(-1).to(torch.float64) for b in live], 1)
    rest = sum((probe.branches[b] for b in names if b not in live), torch.zeros_like(got))
    rhs = (got - rest).reshape(-1, 1).to(torch.float64)
    coef = torch.linalg.lstsq(basis, rhs).solution.reshape(-1).tolist()
    candidates = [(1.0, lambda c: 1.0), (0.0, lambda c: 0.0), (-1.0, lambda c: -1.0), (2.0, lambda c: 2.0),
                  (0.5, lambda c: 0.5)]
    if hasattr(probe.cfg, "n"):
        n = probe.cfg.n
        candidates += [(n, lambda c: c.n), (1 / n, lambda c: 1 / c.n), (n - 1, lambda c: c.n - 1),
                       (1 / max(n - 1, 1), lambda c: 1 / max(c.n - 1, 1)),
                       (n / max(n - 1, 1), lambda c: c.n / max(c.n - 1, 1)), ((n - 1) / n, lambda c: (c.n - 1) / c.n)]
    rounded = [min(candidates, key=lambda c: abs(c[0] - x)) for x in coef]
    if all(c == 1.0 for c, _ in rounded):
        return
    factors = dict(zip(live, (f for _, f in rounded)))

    def combination(p: Probe, like):
        if set(p.branches) != set(names):
            return None
        return sum((factors.get(b, lambda c: 1.0)(p.cfg) * p.branches[b] for b in names), torch.zeros_like(like))

    def holds(p, g, w):
        combo = combination(p, g)
        return combo is not None and close(g, combo, p.scale)

    if not holds(probe, got, None):
        return
    wrong = {b: c for b, (c, _) in zip(live, rounded) if c != 1.0}
    uses = " and ".join(names)
    left_out = [b for b, c in wrong.items() if c == 0.0]
    if left_out and len(wrong) == len(left_out):
        kept = [b for b in names if b not in left_out]
        yield "missing-branch", (f"d{target} holds only the gradient through {', '.join(kept)}; the gradient "
                                 f"through {', '.join(left_out)} is left out — {target} feeds {uses}, and the "
                                 "gradients of all its uses add"), holds
        return
    flipped = [b for b, c in wrong.items() if c == -1.0]
    if flipped and len(wrong) == len(flipped):
        yield "sign", (f"the gradient through {', '.join(flipped)} has the wrong sign — {target} feeds {uses}, "
                       "and each branch keeps the sign of its own local derivative"), holds
        return
    if len(wrong) == 1:
        (b, c), = wrong.items()
        name, meaning, _ = _factor(c, probe.cfg)
        ident = "bessel" if name.startswith(("n/(n-1)", "(n-1)/n")) else "scale"
        yield ident, f"the gradient through {b} is off by a factor {name} ({meaning}); the other branch is right", holds


def _chain_rule(target: str, got, want, probe: Probe):
    """One factor of the chain rule is missing: got is the local derivative alone, or the upstream alone."""
    ups = {k: v for k, v in upstream_gradients(probe).items() if not close(v, torch.zeros_like(v), probe.scale)}
    for name, up in ups.items():
        if up.shape == got.shape and close(got, up, probe.scale):
            yield "chain-rule", (f"d{target} is {name} passed through unchanged: the chain rule multiplies the "
                                 "upstream gradient by the local derivative of this line"), \
                lambda p, g, w, name=name: name in p.kwargs and close(g, p.kwargs[name], p.scale)
    if len(ups) == 1:
        (name, up), = ups.items()
        if up.shape == want.shape and close(got * up, want, probe.scale):
            yield "chain-rule", (f"d{target} is the local derivative alone: multiplied by the upstream gradient "
                                 f"{name} it is right — the chain rule always multiplies by the gradient from "
                                 "above"), \
                lambda p, g, w: name in p.kwargs and close(g * p.kwargs[name], w, p.scale)


def _plus_for_times(target: str, got, want, probe: Probe):
    """`(local) + dup` typed for `(local) * dup`: got - up, times up, is autograd's."""
    ups = upstream_gradients(probe)
    if len(ups) != 1:
        return
    (name, up), = ups.items()

    def holds(p, g, w):
        u = p.kwargs.get(name)
        return u is not None and u.shape == g.shape and close((g - u) * u, w, p.scale)

    if up.shape == got.shape and holds(probe, got, want):
        yield "chain-rule", (f"d{target} is the local derivative plus {name}: the chain rule multiplies the local "
                             f"derivative by the upstream gradient — write `* {name}` where the line has `+ {name}`"), \
            holds


def _accumulate(got, want, probe: Probe):
    """Rows of C used once are right, rows used more than once are not: an overwrite."""
    def right_rows(p, g, w):
        uses = torch.bincount(p.kwargs["Xb"].reshape(-1), minlength=w.shape[0])
        ok = ((g - w).abs() <= tolerance(w, p.scale)).all(dim=1)
        return ok, uses

    ok, uses = right_rows(probe, got, want)
    if ok[uses <= 1].all() and not ok[uses > 1].all():
        yield "accumulate", ("the rows of dC that Xb uses once are right, the rows it uses several times are "
                             "not: each use adds its gradient (index_add_, or += in a loop over positions), "
                             "while dC[Xb] = demb keeps only one of them"), \
            lambda p, g, w: "Xb" in p.kwargs and bool(right_rows(p, g, w)[0][right_rows(p, g, w)[1] <= 1].all())


def _hard_coded(kata: Kata, target: str, got, want, probe: Probe, rows):
    """Every check at the kata's own sizes passes, a check at other sizes fails: a size written as a number."""
    home = kata.configs[0]
    if probe.cfg.sizes() == home.sizes():
        return None
    at_home = [r for r in rows if any(r.probe.endswith(", " + c.label)
                                      for c in kata.configs if c.sizes() == home.sizes())]
    if not at_home or not all(r.approximate for r in at_home):
        return None
    k = _scale_factor(got, want, probe)
    guess = ""
    if k is not None:
        for name, here, there in probe.cfg.size_pairs():
            for a, b, what in ((here, there, f"{there} where {name} belongs"),
                               (here - 1, there - 1, f"{there - 1} where {name}-1 belongs")):
                if a != b and b and (abs(k - a / b) <= 1e-3 * a / b or abs(k - b / a) <= 1e-3 * b / a):
                    guess = f" (it looks like {what}: {a} here)"
                    break
            if guess:
                break
    return "hard-coded", (f"d{target} is right at the {home.label} and wrong at {probe.cfg.describe()}: a size is "
                          f"written as a number{guess}; take every size from a shape (x.shape[0], *_like)")


def _precision(target: str, rows, everywhere=()):
    """Right at every float32 probe, and at every float64 probe right to float32's tolerance, not float64's."""
    f64 = [r for r in rows if "float64" in r.probe]
    if not f64 or all(r.approximate for r in f64) or not all(r.approximate for r in rows if r not in f64):
        return None
    wide = [(p, g, w) for p, g, w in everywhere if w.dtype == torch.float64]
    if not wide or not all(float((g.to(w.dtype) - w).abs().max()) <= TOLERANCE[torch.float32] * p.scale
                           for p, g, w in wide):
        return None
    return "precision", (f"d{target} is right to float32 precision but off in float64: a constant written with too "
                         "few digits (0.79788456 for sqrt(2/pi)), or an eps missing (1e-5), hides in float32 noise; "
                         "write constants in full (math.sqrt(2 / math.pi))")


#: how a size enters a formula: as a factor, a divisor, a square root, one over a square root
_POWERS = {1: "{}", -1: "1/{}", 0.5: "{}**0.5", -0.5: "{}**-0.5"}


def _named_sizes(cfg) -> dict:
    """Every named size at this configuration, the layers' widths (3C, 4C) too."""
    return {**dict(cfg.sizes()), **{name: here for name, here, _ in cfg.size_pairs()}}


def _number_for_size(target: str, got, want, probe: Probe, everywhere=()):
    """Right if a size had another value, the same number at every probe: a number written where a size belongs.

    got = want * (N / size)**power at every probe, with one whole number N (not the size) for all of them, and
    a size that differs between the configurations (else a constant factor would pass for it).
    """
    everywhere = list(everywhere) or [(probe, got, want)]
    k = _scale_factor(got, want, probe)
    if k is None or k <= 0:
        return None
    for name, here in _named_sizes(probe.cfg).items():
        if len({_named_sizes(p.cfg).get(name) for p, _, _ in everywhere}) < 2:
            continue
        for power, shown in _POWERS.items():
            n = here * k ** (1 / power)
            N = round(n)
            if N < 2 or N == here or N > 100_000 or abs(n - N) > 1e-3 * n:
                continue

            def holds(p, g, w, name=name, power=power, N=N):
                size = _named_sizes(p.cfg).get(name)
                return bool(size) and close(g, (N / size) ** power * w, p.scale)

            if all(holds(p, g, w) for p, g, w in everywhere):
                term = shown.format(name)
                return "hard-coded", (f"d{target} is right if {name} were {N}: the number {N} is written where "
                                      f"{name} belongs (a {term} in the line; {name} is {here} at "
                                      f"{probe.cfg.label}); take every size from a shape ({name} from "
                                      "x.shape)")
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
    mine, autograd = figures(float(got.reshape(-1)[flat]), float(want.reshape(-1)[flat]))
    return "wrong-values", (f"d{target} matches no known mistake: {share}, the worst at {worst} (you "
                            f"{mine}, autograd {autograd}, at "
                            f"{probe.label}, {probe.cfg.label}); work that element out by hand, one factor of the "
                            "chain rule at a time")
