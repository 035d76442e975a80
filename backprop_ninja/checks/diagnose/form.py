"""The form of one returned tensor: graph, shape family, dtype, device, finiteness."""

from __future__ import annotations

import torch

from backprop_ninja.checks.compare import close, describe
from backprop_ninja.checks.diagnose.catalogued import catalogued_form, kata_of
from backprop_ninja.checks.probes import Probe
from backprop_ninja.models.katas import Step
from backprop_ninja.models.lecture import Config


def structure(step: Step, target: str, got: torch.Tensor, want: torch.Tensor, probe: Probe):
    """(id, sentence, body) when the result is attached to a graph, misshapen, mistyped or not finite."""
    body = f"  d{target}: you returned {describe(got)}, autograd's {target}.grad is {describe(want)}"
    if got.requires_grad:
        return ("graph-attached", f"d{target} is attached to an autograd graph (requires_grad=True): build it "
                "from the inputs with plain tensor operations, without requires_grad_ or requires_grad=True", body)
    if got.shape != want.shape:
        ident, sentence = catalogued_form(step, target, got, probe) or _shape(step, target, got, want, probe)
        return ident, sentence + _values_note(target, got, want, probe, ident), body
    if got.dtype != want.dtype:
        named = catalogued_form(step, target, got, probe, ids=("dtype",))
        if named:
            return (*named, body)
        return ("dtype", f"d{target} must be {describe(want).split()[-1]} like {target}, not "
                f"{str(got.dtype).replace('torch.', '')}: end with .to({target}.dtype) where it was computed in "
                "another dtype (NumPy promotes to float64), and build new tensors from the inputs "
                f"(torch.zeros_like({target}), arithmetic on them), not torch.tensor(...) or torch.zeros(...) "
                "without dtype", body)
    if got.device != want.device:
        return ("device", f"d{target} is on {got.device}, {target} is on {want.device}: create new tensors with "
                "*_like(...) or device=... so they follow the inputs", body)
    if not torch.isfinite(got).all():
        bad = (~torch.isfinite(got)).nonzero()[0].tolist()
        named = catalogued_form(step, target, got, probe)
        if named:
            return (named[0], f"{named[1]} (first NaN or inf at {bad})", body)
        return ("non-finite", f"d{target} holds NaN or inf (first at {bad}) where autograd's is finite: look for "
                "a division by a tiny number (or 0/0), an exp of a large one, or a log of zero", body)
    return None


def _shape(step: Step, target: str, got: torch.Tensor, want: torch.Tensor, probe: Probe) -> tuple[str, str]:
    g, w = tuple(got.shape), tuple(want.shape)
    kata = kata_of(step)
    hard = _hard_coded_shape(g, w, probe.cfg, (kata.configs[0] if kata else probe.cfg).label)
    if hard:
        return "hard-coded", (f"d{target} is {g} but {target} is {w} at {probe.cfg.describe()}: {hard}; "
                              "a size always comes from a shape (x.shape[0], torch.zeros_like(x))")
    if len(g) == 2 and g == w[::-1] and g != w:
        return "transposed", (f"d{target} has {target}'s shape transposed, {g} instead of {w}: "
                              "in a matmul's backward, choose the order and the .T that make the shapes fit")
    if got.numel() == want.numel() and [s for s in g if s != 1] == [s for s in w if s != 1]:
        inputs = [tuple(t.shape) for t in probe.kwargs.values() if torch.is_tensor(t) and t.is_floating_point()]
        if len(g) < len(w) and inputs and all(s == w for s in inputs):
            return "shape", (f"d{target} is {g} but {target} is {w}: no sum is needed here — every input is "
                             f"already {w}, so nothing was broadcast; a sum over a dimension of size 1 only "
                             f"drops it: leave out the .sum (or the reshape) and keep {w}")
        if len(g) > len(w):
            how = "here the size-1 dimension must go: sum without keepdim=True (or .squeeze it)"
        else:
            how = "sum with keepdim=True (or reshape) so it keeps the size-1 dimension"
        return "keepdim", f"d{target} is {g} but {target} is {w}: {how}"
    if got.numel() > want.numel() and _broadcasts(w, g):
        return "missing-sum", (f"d{target} is {g}, the broadcast shape, but {target} is {w}: {target} was "
                               f"broadcast in the forward pass, so add up the gradients of its copies: "
                               f"{_sum_call(w, g)}")
    upstream = upstream_gradients(probe)
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


def _values_note(target: str, got: torch.Tensor, want: torch.Tensor, probe: Probe, ident: str) -> str:
    """Whether the values are right, only the shape not: a reshape of it matches autograd."""
    if got.numel() != want.numel() or got.dtype != want.dtype or not close(got.reshape(want.shape), want,
                                                                            probe.scales[0]):
        return ""
    note = (f". Its values are right at the {probe.label} ({probe.cfg.label}): .reshape({target}.shape) of it "
            "matches autograd, only the shape is off")
    if _broadcasts(tuple(got.shape), tuple(want.shape)):
        note += (f" (the lecture's cmp compared {tuple(got.shape)} with {tuple(want.shape)} by broadcasting and "
                 "passed; here shapes are strict")
        if ident == "keepdim" and len(got.shape) < len(want.shape):
            note += f", and keepdim=True makes it the shape of {target}"
        note += ")"
    return note


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


def upstream_gradients(probe: Probe) -> dict:
    """The upstream gradients the step was given (its d<line> parameters)."""
    return {k: v for k, v in probe.kwargs.items()
            if k.startswith("d") and torch.is_tensor(v) and v.is_floating_point()}


def _hard_coded_shape(g: tuple, w: tuple, cfg: Config, home: str) -> str:
    """Where a dimension of the result is the size at `home` (the kata's own sizes, e.g. "lecture sizes")
    of the dimension the configuration wants."""
    if len(g) != len(w):
        return ""
    found = []
    for a, b in zip(g, w):
        if a == b:
            continue
        names = [name for name, here, there in cfg.size_pairs() if here == b and there == a and here != there]
        if not names:
            return ""
        name = "n (the batch size)" if names[0] == "n" else names[0]
        found.append(f"{a} is {name} at the {home}, which is {b} here")
    return "; ".join(found)
