"""Kata 09 — RMSNorm of a small Llama, solved.

The forward pass, per row (one position of one sequence) of x (B, T, C):
    inv_rms = (x.pow(2).mean(-1, keepdim=True) + 1e-5).rsqrt()   # 1/RMS, eps inside the root
    norm = x * inv_rms; out = norm * w                           # w: (C,), no bias
Layernorm without the mean: nothing is subtracted before the scaling, so x
reaches norm two ways (directly, and through inv_rms), not three.
"""

import torch  # noqa: F401


def dw(norm, dout):
    """out = norm * w. norm, dout (B, T, C) -> (C,)."""
    # w is shared by every row of every sequence: each (b, t) row adds its norm * dout
    return (norm * dout).sum((0, 1))


def dx(dout, w, x, inv_rms):
    """The whole RMSNorm backward. dout, x (B, T, C), w (C,), inv_rms (B, T, 1) -> (B, T, C)."""
    dnorm = dout * w  # (B, T, C)
    norm = x * inv_rms  # (B, T, C): the forward's own line, cheaper than a parameter
    # inv_rms * (   dnorm                                the direct path, x_c -> norm_c,
    #             - norm * (dnorm * norm).mean(-1) )     through inv_rms, which every x_c of the row moves
    #                                                    by -inv_rms**3 * x_c / C (its 1/C: a mean).
    # No mean term: RMSNorm subtracts no mean. eps needs no term of its own: it is inside inv_rms.
    return inv_rms * (dnorm - norm * (dnorm * norm).mean(-1, keepdim=True))
