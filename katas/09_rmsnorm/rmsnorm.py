"""Kata 09 — RMSNorm of a small Llama (Part 3: this project's katas, beyond the lecture).

The final RMSNorm of a small Llama-style model, between its last block and
the lm_head. Kata 05's layernorm without the mean: each row (one position of
one sequence) is divided by its root mean square over its C channels (eps
inside the root), then scaled by w, which every row shares. No bias.

    pytest katas/09_rmsnorm                   check every step
    backprop-ninja hint dx --kata 09          a hint (--level 2, --level 3 for more)

Shapes at the model sizes: B=3 sequences, T=8 positions, C=48 channels. The
checks also run at odd sizes, so every size comes from a shape.
Each step may also declare any forward value of the graph by name (x, inv_rms,
norm, out, w, ...) as an extra parameter, and the sizes B, T, C, nh, hs, H as ints.
"""

import torch  # noqa: F401


def dw(norm, dout):
    """out = norm * w. norm, dout (3, 8, 48) -> (48,)."""
    # TODO 09.01: return d loss / d w, shape (48,) like w.
    raise NotImplementedError("09.01 dw: not written yet")


def dx(dout, w, x, inv_rms):
    """The whole RMSNorm backward, from dout to dx, in one expression.

    Forward, per row of x (3, 8, 48):
        inv_rms = (x.pow(2).mean(-1, keepdim=True) + 1e-5).rsqrt()
        norm = x * inv_rms; out = norm * w

    dout, x (3, 8, 48), w (48,), inv_rms (3, 8, 1) -> (3, 8, 48).
    """
    # TODO 09.02: return d loss / d x, shape (3, 8, 48) like x.
    raise NotImplementedError("09.02 dx: not written yet")
