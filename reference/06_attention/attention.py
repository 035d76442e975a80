"""Kata 06 — causal self-attention of a small GPT, solved.

The forward pass (x (B, T, C) is the layernormed input; nh heads of hs = C/nh):
    qkv = x @ W_attn + b_attn                                # (B, T, 3C)
    q, k, v = qkv.split(C, dim=2)                            # each (B, T, C)
    q = q.view(B, T, nh, hs).transpose(1, 2)                 # (B, nh, T, hs); k, v alike
    preatt = (q @ k.transpose(-2, -1)) * hs**-0.5            # (B, nh, T, T)
    att = preatt.masked_fill(tril(ones(T, T)) == 0, -inf).softmax(-1)
    y = att @ v                                              # (B, nh, T, hs)
    ycat = y.transpose(1, 2).contiguous().view(B, T, C)      # (B, T, C)
    out = ycat @ W_proj + b_proj                             # (B, T, C)
Every size comes from a shape: nh and hs from y's, q's or k's.
"""

import torch


def dW_proj(ycat, dout):
    """out = ycat @ W_proj + b_proj. ycat, dout (B, T, C) -> (C, C)."""
    C = ycat.shape[-1]
    # every (b, t) row is one more example of the same matmul: flatten them and sum in the product
    return ycat.reshape(-1, C).T @ dout.reshape(-1, dout.shape[-1])


def db_proj(dout):
    """out = ycat @ W_proj + b_proj. dout (B, T, C) -> (C,)."""
    return dout.sum((0, 1))


def dycat(W_proj, dout):
    """out = ycat @ W_proj + b_proj. W_proj (C, C), dout (B, T, C) -> (B, T, C)."""
    return dout @ W_proj.T


def dy(y, dycat):
    """ycat = y.transpose(1, 2).contiguous().view(B, T, C). y (B, nh, T, hs), dycat (B, T, C) -> (B, nh, T, hs)."""
    B, nh, T, hs = y.shape
    # undo the merge in reverse: split C into (nh, hs), then swap T and nh back
    return dycat.view(B, T, nh, hs).transpose(1, 2)


def datt(v, dy):
    """y = att @ v. v, dy (B, nh, T, hs) -> (B, nh, T, T)."""
    return dy @ v.transpose(-2, -1)


def dv(att, dy):
    """y = att @ v. att (B, nh, T, T), dy (B, nh, T, hs) -> (B, nh, T, hs)."""
    return att.transpose(-2, -1) @ dy


def dpreatt(att, datt):
    """att = softmax(preatt masked above the diagonal). att, datt (B, nh, T, T) -> (B, nh, T, T)."""
    # the softmax's Jacobian per row, att_i (δij - att_j), applied to datt; masked entries
    # have att = 0, so they get 0: the mask needs no line of its own
    return att * (datt - (att * datt).sum(-1, keepdim=True))


def dq(k, dpreatt):
    """preatt = (q @ k.transpose(-2, -1)) * hs**-0.5. k (B, nh, T, hs), dpreatt (B, nh, T, T) -> (B, nh, T, hs)."""
    hs = k.shape[-1]
    return (dpreatt @ k) * hs**-0.5


def dk(q, dpreatt):
    """preatt = (q @ k.transpose(-2, -1)) * hs**-0.5. q (B, nh, T, hs), dpreatt (B, nh, T, T) -> (B, nh, T, hs)."""
    hs = q.shape[-1]
    return (dpreatt.transpose(-2, -1) @ q) * hs**-0.5


def dqkv(dq, dk, dv):
    """q, k, v = qkv.split(C, dim=2), each viewed as heads. dq, dk, dv (B, nh, T, hs) -> (B, T, 3C)."""
    B, nh, T, hs = dq.shape

    def merge(d):  # (B, nh, T, hs) -> (B, T, C): the split into heads, undone
        return d.transpose(1, 2).reshape(B, T, nh * hs)

    return torch.cat([merge(dq), merge(dk), merge(dv)], dim=2)


def dW_attn(x, dqkv):
    """qkv = x @ W_attn + b_attn. x (B, T, C), dqkv (B, T, 3C) -> (C, 3C)."""
    return x.reshape(-1, x.shape[-1]).T @ dqkv.reshape(-1, dqkv.shape[-1])


def db_attn(dqkv):
    """qkv = x @ W_attn + b_attn. dqkv (B, T, 3C) -> (3C,)."""
    return dqkv.sum((0, 1))


def dx(W_attn, dqkv):
    """qkv = x @ W_attn + b_attn. W_attn (C, 3C), dqkv (B, T, 3C) -> (B, T, C)."""
    return dqkv @ W_attn.T
