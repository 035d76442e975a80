"""Comparing a step's tensor with autograd's, as the lecture's `cmp` does.

Tolerance rule (CONTRIBUTING.md): an element is right when
|got - expected| <= TOLERANCE[dtype] * scale, where scale is the size of the
computation (the largest magnitude among the expected gradient and the
upstream gradients the step was given), not the size of the element. A
gradient that is zero in exact arithmetic (dlogit_maxes is ~1e-9 of float
noise in the lecture) is then answered correctly by an exact zero.
"""

from __future__ import annotations

import dataclasses

import torch

#: Between the two populations (tests/test_tolerance.py, CONTRIBUTING.md): right
#: answers stay below 1e-5 of the scale in float32 (the worst, a logsumexp softmax
#: at huge logits, 7e-6) and 5e-15 in float64; catalogued mistakes exceed 3e-2 in
#: float32, except slips of a small constant (a dropped eps, 8e-5), which float64
#: catches (2e-6 there).
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-10, torch.float16: 1e-2, torch.bfloat16: 1e-2}


@dataclasses.dataclass
class Row:
    """One line of the lecture-style table.

    `label` is what the table prints ("<probe>, <configuration> · d<target>" for a step with several
    gradients); `target` and `probe` are its parts, kept apart so nothing parses the label back.
    """

    label: str
    exact: bool
    approximate: bool
    maxdiff: float
    worst: tuple  # index of the largest difference
    got: float  # the value there
    want: float
    target: str = ""  # the gradient's name (W1 for dW1); the chain's rows: its step's
    probe: str = ""  # the probe's label and its configuration's; empty in the chain


def tolerance(expected: torch.Tensor, scale: float) -> float:
    return TOLERANCE.get(expected.dtype, 1e-5) * scale


def close(got: torch.Tensor, expected: torch.Tensor, scale: float) -> bool:
    """Same shape and every element within tolerance of autograd's."""
    if got.shape != expected.shape:
        return False
    return bool(((got.to(expected.dtype) - expected).abs() <= tolerance(expected, scale)).all())


def compare(label: str, got: torch.Tensor, expected: torch.Tensor, scale: float, target: str = "",
            probe: str = "") -> Row:
    """The lecture's cmp: exact, approximate, maxdiff, plus the worst index (got and expected: one shape)."""
    diff = (got.to(expected.dtype) - expected).abs()
    flat = int(diff.argmax()) if diff.numel() else 0
    worst = unravel(flat, tuple(expected.shape)) if diff.numel() else ()
    return Row(label=label, exact=bool(torch.equal(got, expected)), approximate=close(got, expected, scale),
               maxdiff=float(diff.max()) if diff.numel() else 0.0, worst=worst,
               got=float(got.reshape(-1)[flat]) if diff.numel() else 0.0,
               want=float(expected.reshape(-1)[flat]) if diff.numel() else 0.0, target=target, probe=probe)


def unravel(flat: int, shape: tuple) -> tuple:
    """A flat index as a multi-index (torch.unravel_index would import sympy: slow)."""
    index = []
    for size in reversed(shape):
        flat, i = divmod(flat, size)
        index.append(i)
    return tuple(reversed(index))


def table(name: str, rows: list[Row]) -> str:
    """Rows laid out like the lecture's cmp output, one per check."""
    width = max(len(r.label) for r in rows)
    lines = [f"  {'check'.ljust(width)} | exact | approximate | maxdiff  | worst index"]
    for r in rows:
        idx = "[" + ", ".join(map(str, r.worst)) + "]" if not r.approximate else ""
        lines.append(f"  {r.label.ljust(width)} | {str(r.exact):5s} | {str(r.approximate):11s} | "
                     f"{r.maxdiff:.1e}  | {idx}")
    return "\n".join(lines)


def figures(got: float, want: float) -> tuple[str, str]:
    """Two numbers with enough significant digits to tell them apart (6 at least, 17 at most)."""
    for digits in range(6, 18):
        a, b = f"{got:.{digits}g}", f"{want:.{digits}g}"
        if a != b:
            break
    return a, b


def describe(t) -> str:
    """A tensor as the learner thinks of it: shape and dtype."""
    if torch.is_tensor(t):
        return f"{tuple(t.shape)} {str(t.dtype).replace('torch.', '')}"
    if isinstance(t, dict):  # kata 08's params and acts
        return f"{{{len(t)} tensors}}"
    return type(t).__name__
