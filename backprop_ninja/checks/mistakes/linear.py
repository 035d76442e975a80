"""The classic slips of a linear layer applied to every (b, t) row, y = x @ W + b, for Part 2.

Katas 06 and 07 each have two such layers, under their own names; these
functions register the same slips for each, with the step's own parameter
names (the harness calls a step by name) and sentences in the kata's terms.
"""

from __future__ import annotations

import inspect

from backprop_ninja.checks.mistakes import mistake


def _flat(t):
    """(B, T, n) -> (B*T, n): every (b, t) row one row of a matrix."""
    return t.reshape(-1, t.shape[-1])


def _register(kata: str, step: str, params: tuple, slip: str, id: str, sentence: str, fn) -> None:
    """Register fn(*tensors) as a mistake of `step`, callable by the step's parameter names."""
    def wrong(**given):
        return fn(*(given[p] for p in params))

    wrong.__name__ = wrong.__qualname__ = f"{step}_{slip}"
    wrong.__signature__ = inspect.Signature(
        [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params])
    mistake(kata, step, id, sentence)(wrong)


def weight(kata: str, step: str, x: str, dy: str, shape: str) -> None:
    """Slips of d<W> = x^T @ dy summed over B and T: step(x, dy), W of `shape` (e.g. "C, 3C")."""
    W = step[1:]
    params = (x, dy)
    _register(kata, step, params, "per_sequence", "missing-sum",
              f"{step} is one matrix per sequence, (B, {shape}): {W} is shared by every sequence, so add them "
              f"up, or flatten B and T into the rows ({x}.reshape(-1, n).T @ {dy}.reshape(-1, m))",
              lambda a, d: a.transpose(-2, -1) @ d)
    _register(kata, step, params, "first_sequence", "missing-sum",
              f"{step} uses the first sequence only: {W} is shared by all B sequences, so every one adds its "
              f"{x}^T @ {dy}; flatten B and T into the rows",
              lambda a, d: a[0].T @ d[0])
    _register(kata, step, params, "mean_over_rows", "scale",
              f"{step} is averaged over the B*T rows, where a sum belongs: every row adds its whole gradient; "
              f"the loss's own 1/(B*T) is already inside {dy}",
              lambda a, d: _flat(a).T @ _flat(d) / _flat(d).shape[0])


def bias(kata: str, step: str, dy: str, shape: str) -> None:
    """Slips of d<b> = dy.sum((0, 1)): step(dy), b of `shape` (e.g. "3C")."""
    params = (dy,)
    _register(kata, step, params, "summed_over_batch_only", "missing-sum",
              f"{step} is summed over B only: the bias is added at every position of every sequence, so sum "
              f"{dy} over both B and T ({dy}.sum((0, 1)))",
              lambda d: d.sum(0))
    _register(kata, step, params, "kept_dims", "keepdim",
              f"{step} kept the summed dimensions, (1, 1, {shape}): the bias is ({shape},), so sum over (0, 1) "
              "without keepdim=True",
              lambda d: d.sum((0, 1), keepdim=True))
    _register(kata, step, params, "mean_not_sum", "scale",
              f"{step} is a mean over the rows, where a sum belongs: every (b, t) row adds its whole gradient "
              "to the shared bias",
              lambda d: d.mean((0, 1)))


def inputs(kata: str, step: str, W: str, dy: str, line: str) -> None:
    """Slips of d<x> = dy @ W.T: step(W, dy), for the forward `line` (e.g. "fch = x @ W_fc + b_fc")."""
    params = (W, dy)
    _register(kata, step, params, "reshape_not_transpose", "transposed",
              f"{W}.reshape(n, m) is not {W}.T: reshape keeps the memory order and only regroups it; a "
              f"transpose swaps rows and columns: {step} = {dy} @ {W}.T",
              lambda w, d: d @ w.reshape(w.shape[1], w.shape[0]))
    _register(kata, step, params, "negated", "sign",
              f"{step} has the wrong sign: {line} has no minus, {step} = {dy} @ {W}.T",
              lambda w, d: -(d @ w.T))
