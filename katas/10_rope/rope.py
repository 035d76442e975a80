"""Kata 10 — rotary position embeddings of a small Llama (Part 3: this project's katas, beyond the lecture).

The rotary embedding (RoPE) of block 0's queries inside a small Llama-style
model. It replaces GPT's learned position table: q and k are turned, pair of
channels by pair of channels, by an angle that grows with the position t.
q (3, 4, 8, 12): B=3 sequences, nh=4 heads, T=8 positions, hs=12 channels.

    pytest katas/10_rope                      check the step
    backprop-ninja hint dq --kata 10          a hint (--level 2, --level 3 for more)

The forward pass, as the model runs it, in the half layout of HF transformers
(channel i is paired with channel i + hs/2, not with its neighbour as in
Llama's own code):
    theta_i = 10000**(-2i/hs), i < hs/2; angle = t * theta_i, t = 0..T-1
    cos = cat(cos(angle), cos(angle)); sin likewise          # (T, hs): both halves alike
    rotate_half(u) = cat(-u[..., hs/2:], u[..., :hs/2])       # (-u2, u1)
    q_rot = q * cos + rotate_half(q) * sin                   # (B, nh, T, hs); k_rot alike

Every size comes from a shape (the checks also run at B=2, nh=3, T=5, hs=4).
Every tensor you are given is a fresh contiguous copy. The step may also
declare any forward value of the graph by name (q, k, q_rot, x, qkv, ...) as
an extra parameter, and the sizes B, T, C, nh, hs as ints.
"""

import torch  # noqa: F401


def dq(dq_rot, cos, sin):
    """q_rot = q * cos + rotate_half(q) * sin. dq_rot (3, 4, 8, 12), cos, sin (8, 12) -> (3, 4, 8, 12).

    The same function serves k: k_rot is made by the same line, so dk = dq(dk_rot, cos, sin).
    """
    # TODO 10.01: return d loss / d q, shape (3, 4, 8, 12) like q.
    raise NotImplementedError("10.01 dq: not written yet")
