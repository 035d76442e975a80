"""Naming what is wrong: the shape family, then catalogued mistakes, then generic patterns."""

from __future__ import annotations

import torch

from . import mistakes
from .compare import close, describe, tolerance
from .guard import call_step
from .katas import Kata, Step
from .probes import Probe


def structure(step: Step, target: str, got: torch.Tensor, want: torch.Tensor, probe: Probe):
    """(id, sentence, body) when the result is attached to a graph, misshapen, mistyped or not finite."""
    body = f"  d{target}: you returned {describe(got)}, autograd's {target}.grad is {describe(want)}"
    if got.requires_grad:
        return ("graph-attached", f"d{target} is attached to an autograd graph (requires_grad=True): build it "
                "from the inputs with plain tensor operations, without requires_grad_ or requires_grad=True", body)
    if got.shape != want.shape:
        return (*_shape(target, got, want), body)
    if got.dtype != want.dtype:
        return ("dtype", f"d{target} must be {describe(want).split()[-1]} like {target}, not "
                f"{str(got.dtype).replace('torch.', '')}: build it from the inputs (e.g. torch.zeros_like({target}) "
                "or arithmetic on them) rather than torch.tensor(...) or a fresh torch.zeros(...) without dtype", body)
    if got.device != want.device:
        return ("device", f"d{target} is on {got.device}, {target} is on {want.device}: create new tensors with "
                "*_like(...) or device=... so they follow the inputs", body)
    if not torch.isfinite(got).all():
        bad = (~torch.isfinite(got)).nonzero()[0].tolist()
        return ("non-finite", f"d{target} holds NaN or inf (first at {bad}) where autograd's is finite: look for "
                "a division by a tiny number, an exp of a large one, or a log of zero", body)
    return None


def _shape(target: str, got: torch.Tensor, want: torch.Tensor) -> tuple[str, str]:
    g, w = tuple(got.shape), tuple(want.shape)
    if len(g) == 2 and g == w[::-1]:
        return "transposed", (f"d{target} has {target}'s shape transposed, {g} instead of {w}: "
                              "in a matmul's backward, choose the order and the .T that make the shapes fit")
    if got.numel() == want.numel() and [s for s in g if s != 1] == [s for s in w if s != 1]:
        return "keepdim", (f"d{target} is {g} but {target} is {w}: a dimension was dropped or added; "
                           f"sum with keepdim=True (or reshape) so the gradient has exactly {target}'s shape")
    if got.numel() > want.numel() and _broadcasts(w, g):
        dims = [i for i, (a, b) in enumerate(zip((1,) * (len(g) - len(w)) + w, g)) if a != b]
        return "missing-sum", (f"d{target} is {g}, the broadcast shape, but {target} is {w}: {target} was "
                               f"broadcast in the forward pass, so sum its gradient over dim {dims} "
                               "(keepdim=True where it had size 1)")
    return "shape", (f"d{target} must have {target}'s shape {w}, got {g}: a gradient always has the shape "
                     "of the tensor it is for; check the shape of each operand on that line")


def _broadcasts(small: tuple, big: tuple) -> bool:
    if len(small) > len(big):
        return False
    return all(a in (1, b) for a, b in zip(reversed(small), reversed(big)))


def values(kata: Kata, step: Step, target: str, got, want, probe: Probe, rows) -> tuple[str, str]:
    """The id and sentence that best explain right-shaped but wrong values."""
    return (_catalogued(kata, step, target, got, probe)
            or _generic(step, target, got, want, probe)
            or _precision(target, rows)
            or ("wrong-values", f"d{target} differs from autograd's and matches no known mistake; compare the "
                "worst index above with a value you compute by hand, one factor of the chain rule at a time"))


def _catalogued(kata: Kata, step: Step, target: str, got, probe: Probe):
    index = step.targets.index(target)
    for m in mistakes.of(kata.folder, step.name):
        call = call_step(m.fn, {k: v.clone() for k, v in probe.kwargs.items()})
        if call.error is not None:
            continue
        theirs = call.result if len(step.targets) == 1 else call.result[index]
        if torch.is_tensor(theirs) and close(got, theirs.to(got.dtype), probe.scale):
            return m.id, m.sentence
    return None


def _factor_name(k: float, n: int) -> str:
    names = {"n": n, "1/n": 1 / n, "n-1": n - 1, "1/(n-1)": 1 / (n - 1) if n > 1 else 0,
             "n/(n-1)": n / (n - 1) if n > 1 else 0, "(n-1)/n": (n - 1) / n, "2": 2.0, "1/2": 0.5}
    for name, v in names.items():
        if v and abs(k - v) <= 1e-3 * abs(v):
            return f"{name} (= {v:.4g}, with n = {n})" if "n" in name else name
    return f"{k:.4g}"


def _generic(step: Step, target: str, got, want, probe: Probe):
    s = probe.scale
    if close(got, -want, s):
        return "sign", (f"d{target} has the opposite sign of autograd's: check the sign of each local "
                        "derivative (a subtraction, a negative power, the minus of the loss)")
    if want.abs().max() > 0:
        k = float((got * want).sum() / (want * want).sum())
        if abs(k - 1) > 1e-4 and k != 0 and close(got, k * want, s):
            return "scale", (f"d{target} is autograd's times a constant factor {_factor_name(k, probe.cfg.n)}: "
                             "look for a missing or extra 1/n, n-1, or 2 in the local derivative")
    for line, part in probe.branches.items():
        if close(got, part, s):
            others = ", ".join(b for b in probe.branches if b != line)
            return "missing-branch", (f"d{target} holds only the gradient through {line}; {target} also feeds "
                                      f"{others}, and the gradients of all its uses add up")
    if target == "C" and "Xb" in probe.kwargs:
        return _accumulate(got, want, probe)
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


def _precision(target: str, rows):
    f64 = [r for r in rows if "float64" in r.label]
    if f64 and not all(r.approximate for r in f64) and all(r.approximate for r in rows if r not in f64):
        return "wrong-values", (f"d{target} is right to float32 precision but off in float64: a small "
                                "constant slip, such as a missing eps (1e-5), hides in float32 noise")
    return None
