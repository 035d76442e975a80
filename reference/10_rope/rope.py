"""Kata 10 — rotary position embeddings of a small Llama, solved.

The forward pass (q (B, nh, T, hs); cos, sin (T, hs) for positions 0..T-1), in
the half layout of HF transformers: channel i and channel i + hs/2 form a pair,
turned by the angle t * theta_i, theta_i = 10000**(-2i/hs):
    rotate_half(u) = cat(-u[..., hs/2:], u[..., :hs/2])
    q_rot = q * cos + rotate_half(q) * sin                   # (B, nh, T, hs); k_rot alike
Every size comes from a shape.
"""

import torch


def dq(dq_rot, cos, sin):
    """q_rot = q * cos + rotate_half(q) * sin. dq_rot (B, nh, T, hs), cos, sin (T, hs) -> (B, nh, T, hs).

    The same function serves k: dk = dq(dk_rot, cos, sin).
    """
    half = dq_rot.shape[-1] // 2
    # each pair (u1, u2) = (q_i, q_{i+hs/2}) was turned by +angle: [u1, u2] -> [c*u1 - s*u2, s*u1 + c*u2].
    # Its Jacobian is that rotation matrix, and the backward multiplies by its transpose, the rotation by
    # -angle: rotate_half's transpose is cat(u2, -u1) = -rotate_half(u), so the sin term changes sign
    g = dq_rot * sin
    return dq_rot * cos + torch.cat([g[..., half:], -g[..., :half]], dim=-1)
