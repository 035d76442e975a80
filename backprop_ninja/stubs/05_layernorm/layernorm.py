"""Kata 05 — layernorm of a small GPT (Part 2: this project's katas, beyond the lecture).

The final layernorm of a small GPT, between its last block and the lm_head.
Batchnorm from kata 03 turned sideways: each row (one position of one
sequence) is normalised over its C channels, with the *biased* variance
(divide by C), and w, b are shared by every row.

    pytest katas/05_layernorm                 check every step
    backprop-ninja hint dx --kata 05          a hint (--level 2, --level 3 for more)

Shapes at the model sizes: B=3 sequences, T=8 positions, C=48 channels. The
checks also run at odd sizes, so every size comes from a shape.
Each step may also declare any forward value of the graph by name (x, mean,
xshift, var, rstd, norm, out, w, b, ...) as an extra parameter, and the sizes
B, T, C, nh, hs as ints.
"""

import torch  # noqa: F401


def db(dout):
    """out = norm * w + b. dout (3, 8, 48) -> (48,)."""
    # TODO 05.01: return d loss / d b, shape (48,) like b.
    raise NotImplementedError("05.01 db: not written yet")


def dw(norm, dout):
    """out = norm * w + b. norm, dout (3, 8, 48) -> (48,)."""
    # TODO 05.02: return d loss / d w, shape (48,) like w.
    raise NotImplementedError("05.02 dw: not written yet")


def dx(dout, w, norm, rstd):
    """The whole layernorm backward, from dout to dx, in one expression.

    Forward, per row of x (3, 8, 48):
        mean = x.mean(-1, keepdim=True); xshift = x - mean
        var = (xshift**2).mean(-1, keepdim=True); rstd = (var + 1e-5)**-0.5
        norm = xshift * rstd; out = norm * w + b

    dout, norm (3, 8, 48), w (48,), rstd (3, 8, 1) -> (3, 8, 48).
    """
    # TODO 05.03: return d loss / d x, shape (3, 8, 48) like x.
    raise NotImplementedError("05.03 dx: not written yet")
