"""Kata 05 — layernorm of a small GPT, solved.

The forward pass, per row (one position of one sequence) of x (B, T, C):
    mean = x.mean(-1, keepdim=True); xshift = x - mean
    var = (xshift**2).mean(-1, keepdim=True); rstd = (var + 1e-5)**-0.5
    norm = xshift * rstd; out = norm * w + b          # w, b: (C,)
Batchnorm's algebra turned sideways: the mean and the (biased) variance run
over the C channels of a row, and w, b are shared by every row.
"""

import torch  # noqa: F401


def db(dout):
    """out = norm * w + b. dout (B, T, C) -> (C,)."""
    # b is broadcast over every row of every sequence: its gradient adds them up
    return dout.sum((0, 1))


def dw(norm, dout):
    """out = norm * w + b. norm, dout (B, T, C) -> (C,)."""
    return (norm * dout).sum((0, 1))


def dx(dout, w, norm, rstd):
    """The whole layernorm backward. dout, norm (B, T, C), w (C,), rstd (B, T, 1) -> (B, T, C)."""
    dnorm = dout * w  # (B, T, C)
    # rstd * (   dnorm                                   the direct path,
    #          - dnorm.mean(-1)                          through the mean (every channel moved it by 1/C),
    #          - norm * (dnorm * norm).mean(-1) )        through the variance (biased: 1/C, no Bessel).
    return rstd * (dnorm - dnorm.mean(-1, keepdim=True) - norm * (dnorm * norm).mean(-1, keepdim=True))
