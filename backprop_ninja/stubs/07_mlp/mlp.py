"""Kata 07 — the MLP of a small GPT (Part 2: this project's katas, beyond the lecture).

Block 0's MLP inside a small GPT: a linear layer to 4C hidden units, GPT-2's
tanh-approximate GELU, a linear layer back to C. x (3, 8, 48) is the
layernormed input; the hidden layer is (3, 8, 192).

    pytest katas/07_mlp                       check every step
    backprop-ninja hint dfch                  a hint (--level 2, --level 3 for more)

The forward pass, as the model runs it:
    fch = x @ W_fc + b_fc                                    # (B, T, 4C)
    fch_gelu = 0.5*fch*(1 + tanh(sqrt(2/pi)*(fch + 0.044715*fch**3)))
    out = fch_gelu @ W_proj + b_proj                         # (B, T, C)

Every size comes from a shape (the checks also run at B=2, T=5, C=12).
Each step may also declare any forward value of the graph by name (x, fch,
fch_gelu, out, W_fc, ...) as an extra parameter, and the sizes B, T, C, nh, hs
as ints.
"""

import math  # noqa: F401  (GELU's sqrt(2/pi))

import torch  # noqa: F401


def dW_proj(fch_gelu, dout):
    """out = fch_gelu @ W_proj + b_proj. fch_gelu (3, 8, 192), dout (3, 8, 48) -> (192, 48)."""
    # TODO 07.01: return d loss / d W_proj, shape (192, 48) like W_proj.
    raise NotImplementedError("07.01 dW_proj: not written yet")


def db_proj(dout):
    """out = fch_gelu @ W_proj + b_proj. dout (3, 8, 48) -> (48,)."""
    # TODO 07.02: return d loss / d b_proj, shape (48,) like b_proj.
    raise NotImplementedError("07.02 db_proj: not written yet")


def dfch_gelu(W_proj, dout):
    """out = fch_gelu @ W_proj + b_proj. W_proj (192, 48), dout (3, 8, 48) -> (3, 8, 192)."""
    # TODO 07.03: return d loss / d fch_gelu, shape (3, 8, 192) like fch_gelu.
    raise NotImplementedError("07.03 dfch_gelu: not written yet")


def dfch(fch, dfch_gelu):
    """fch_gelu = 0.5*fch*(1 + tanh(sqrt(2/pi)*(fch + 0.044715*fch**3))). fch, dfch_gelu (3, 8, 192) -> (3, 8, 192).

    GPT-2's tanh approximation of GELU, not the exact (erf) GELU: differentiate this formula.
    """
    # TODO 07.04: return d loss / d fch, shape (3, 8, 192) like fch.
    raise NotImplementedError("07.04 dfch: not written yet")


def dW_fc(x, dfch):
    """fch = x @ W_fc + b_fc. x (3, 8, 48), dfch (3, 8, 192) -> (48, 192)."""
    # TODO 07.05: return d loss / d W_fc, shape (48, 192) like W_fc.
    raise NotImplementedError("07.05 dW_fc: not written yet")


def db_fc(dfch):
    """fch = x @ W_fc + b_fc. dfch (3, 8, 192) -> (192,)."""
    # TODO 07.06: return d loss / d b_fc, shape (192,) like b_fc.
    raise NotImplementedError("07.06 db_fc: not written yet")


def dx(W_fc, dfch):
    """fch = x @ W_fc + b_fc. W_fc (48, 192), dfch (3, 8, 192) -> (3, 8, 48)."""
    # TODO 07.07: return d loss / d x, shape (3, 8, 48) like x.
    raise NotImplementedError("07.07 dx: not written yet")
