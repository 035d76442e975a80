"""Kata 07 — the MLP of a small GPT, solved.

The forward pass (x (B, T, C) is the layernormed input):
    fch = x @ W_fc + b_fc                                    # (B, T, 4C)
    fch_gelu = 0.5*fch*(1 + tanh(sqrt(2/pi)*(fch + 0.044715*fch**3)))
    out = fch_gelu @ W_proj + b_proj                         # (B, T, C)
GELU here is GPT-2's tanh approximation: its derivative is that formula's,
not the exact (erf) GELU's.
"""

import math

import torch


def dW_proj(fch_gelu, dout):
    """out = fch_gelu @ W_proj + b_proj. fch_gelu (B, T, 4C), dout (B, T, C) -> (4C, C)."""
    return fch_gelu.reshape(-1, fch_gelu.shape[-1]).T @ dout.reshape(-1, dout.shape[-1])


def db_proj(dout):
    """out = fch_gelu @ W_proj + b_proj. dout (B, T, C) -> (C,)."""
    return dout.sum((0, 1))


def dfch_gelu(W_proj, dout):
    """out = fch_gelu @ W_proj + b_proj. W_proj (4C, C), dout (B, T, C) -> (B, T, 4C)."""
    return dout @ W_proj.T


def dfch(fch, dfch_gelu):
    """fch_gelu = 0.5*fch*(1 + tanh(u)), u = sqrt(2/pi)*(fch + 0.044715*fch**3). fch, dfch_gelu (B, T, 4C)."""
    s = math.sqrt(2 / math.pi)
    t = torch.tanh(s * (fch + 0.044715 * fch**3))  # (B, T, 4C)
    # product rule: d(0.5*fch)*(1 + t) + 0.5*fch * dt, and dt = (1 - t**2) * du, du = s*(1 + 3*0.044715*fch**2)
    local = 0.5 * (1 + t) + 0.5 * fch * (1 - t**2) * s * (1 + 3 * 0.044715 * fch**2)
    return local * dfch_gelu


def dW_fc(x, dfch):
    """fch = x @ W_fc + b_fc. x (B, T, C), dfch (B, T, 4C) -> (C, 4C)."""
    return x.reshape(-1, x.shape[-1]).T @ dfch.reshape(-1, dfch.shape[-1])


def db_fc(dfch):
    """fch = x @ W_fc + b_fc. dfch (B, T, 4C) -> (4C,)."""
    return dfch.sum((0, 1))


def dx(W_fc, dfch):
    """fch = x @ W_fc + b_fc. W_fc (C, 4C), dfch (B, T, 4C) -> (B, T, C)."""
    return dfch @ W_fc.T
