"""Kata 11 — the SwiGLU MLP of a small Llama, solved.

The forward pass (x (B, T, C) is the RMSNormed input; no biases):
    a = x @ W_gate                                           # (B, T, H)
    u = x @ W_up                                             # (B, T, H)
    h = silu(a) * u, silu(a) = a * sigmoid(a)                # (B, T, H)
    out = h @ W_down                                         # (B, T, C)
silu's derivative: sigmoid(a) * (1 + a * (1 - sigmoid(a))).
"""

import torch


def dW_down(h, dout):
    """out = h @ W_down. h (B, T, H), dout (B, T, C) -> (H, C)."""
    return h.reshape(-1, h.shape[-1]).T @ dout.reshape(-1, dout.shape[-1])


def dh(W_down, dout):
    """out = h @ W_down. W_down (H, C), dout (B, T, C) -> (B, T, H)."""
    return dout @ W_down.T


def du(a, dh):
    """h = silu(a) * u. a, dh (B, T, H) -> (B, T, H): u's factor is silu(a)."""
    return a * torch.sigmoid(a) * dh


def da(a, u, dh):
    """h = silu(a) * u. a, u, dh (B, T, H) -> (B, T, H): a's factor is u, times silu'(a)."""
    s = torch.sigmoid(a)  # (B, T, H)
    # silu(a) = a * s: product rule, with s' = s * (1 - s)
    return s * (1 + a * (1 - s)) * u * dh


def dW_gate(x, da):
    """a = x @ W_gate. x (B, T, C), da (B, T, H) -> (C, H)."""
    return x.reshape(-1, x.shape[-1]).T @ da.reshape(-1, da.shape[-1])


def dW_up(x, du):
    """u = x @ W_up. x (B, T, C), du (B, T, H) -> (C, H)."""
    return x.reshape(-1, x.shape[-1]).T @ du.reshape(-1, du.shape[-1])


def dx(W_gate, W_up, da, du):
    """a = x @ W_gate, u = x @ W_up. W_gate, W_up (C, H), da, du (B, T, H) -> (B, T, C): x feeds both."""
    return da @ W_gate.T + du @ W_up.T
