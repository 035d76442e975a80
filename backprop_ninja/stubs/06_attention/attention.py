"""Kata 06 — causal self-attention of a small GPT (Part 2: this project's katas, beyond the lecture).

Block 0's attention inside a small GPT, walked back from its output to its
input, one line at a time. x (3, 8, 48) is the layernormed input; nh = 4
heads of hs = 12 channels each.

    pytest katas/06_attention                 check every step
    pytest katas/06_attention -k dpreatt      check one
    backprop-ninja hint dpreatt               a hint (--level 2, --level 3 for more)

The forward pass, as the model runs it:
    qkv = x @ W_attn + b_attn                                # (B, T, 3C)
    q, k, v = qkv.split(C, dim=2)                            # each (B, T, C)
    q = q.view(B, T, nh, hs).transpose(1, 2)                 # (B, nh, T, hs); k, v alike
    preatt = (q @ k.transpose(-2, -1)) * hs**-0.5            # (B, nh, T, T)
    att = preatt.masked_fill(mask == 0, -inf).softmax(-1)    # mask = tril(ones(T, T))
    y = att @ v                                              # (B, nh, T, hs)
    ycat = y.transpose(1, 2).contiguous().view(B, T, C)      # (B, T, C)
    out = ycat @ W_proj + b_proj                             # (B, T, C)

Every size comes from a shape (the checks also run at B=2, T=5, C=12, nh=3):
nh and hs from y's, q's or k's shape. Every tensor you are given is a fresh
contiguous copy. Each step may also declare any forward value of the graph by
name (x, qkv, q, k, v, preatt, att, y, ycat, out, mask, W_attn, ...) as an
extra parameter, and the sizes B, T, C, nh, hs as ints.
"""

import torch  # noqa: F401


def dW_proj(ycat, dout):
    """out = ycat @ W_proj + b_proj. ycat, dout (3, 8, 48) -> (48, 48)."""
    # TODO 06.01: return d loss / d W_proj, shape (48, 48) like W_proj.
    raise NotImplementedError("06.01 dW_proj: not written yet")


def db_proj(dout):
    """out = ycat @ W_proj + b_proj. dout (3, 8, 48) -> (48,)."""
    # TODO 06.02: return d loss / d b_proj, shape (48,) like b_proj.
    raise NotImplementedError("06.02 db_proj: not written yet")


def dycat(W_proj, dout):
    """out = ycat @ W_proj + b_proj. W_proj (48, 48), dout (3, 8, 48) -> (3, 8, 48)."""
    # TODO 06.03: return d loss / d ycat, shape (3, 8, 48) like ycat.
    raise NotImplementedError("06.03 dycat: not written yet")


def dy(y, dycat):
    """ycat = y.transpose(1, 2).contiguous().view(B, T, C). y (3, 4, 8, 12), dycat (3, 8, 48) -> (3, 4, 8, 12).

    y is given for its shape.
    """
    # TODO 06.04: return d loss / d y, shape (3, 4, 8, 12) like y.
    raise NotImplementedError("06.04 dy: not written yet")


def datt(v, dy):
    """y = att @ v. v, dy (3, 4, 8, 12) -> (3, 4, 8, 8)."""
    # TODO 06.05: return d loss / d att, shape (3, 4, 8, 8) like att.
    raise NotImplementedError("06.05 datt: not written yet")


def dv(att, dy):
    """y = att @ v. att (3, 4, 8, 8), dy (3, 4, 8, 12) -> (3, 4, 8, 12)."""
    # TODO 06.06: return d loss / d v, shape (3, 4, 8, 12) like v.
    raise NotImplementedError("06.06 dv: not written yet")


def dpreatt(att, datt):
    """att = preatt.masked_fill(mask == 0, -inf).softmax(-1). att, datt (3, 4, 8, 8) -> (3, 4, 8, 8).

    The softmax and the mask together. datt is dense: att is 0 above the
    diagonal, but y still depends on those entries of att.
    """
    # TODO 06.07: return d loss / d preatt, shape (3, 4, 8, 8) like preatt.
    raise NotImplementedError("06.07 dpreatt: not written yet")


def dq(k, dpreatt):
    """preatt = (q @ k.transpose(-2, -1)) * hs**-0.5. k (3, 4, 8, 12), dpreatt (3, 4, 8, 8) -> (3, 4, 8, 12)."""
    # TODO 06.08: return d loss / d q, shape (3, 4, 8, 12) like q.
    raise NotImplementedError("06.08 dq: not written yet")


def dk(q, dpreatt):
    """preatt = (q @ k.transpose(-2, -1)) * hs**-0.5. q (3, 4, 8, 12), dpreatt (3, 4, 8, 8) -> (3, 4, 8, 12)."""
    # TODO 06.09: return d loss / d k, shape (3, 4, 8, 12) like k.
    raise NotImplementedError("06.09 dk: not written yet")


def dqkv(dq, dk, dv):
    """q, k, v = qkv.split(C, dim=2), each .view(B, T, nh, hs).transpose(1, 2).

    dq, dk, dv (3, 4, 8, 12) -> (3, 8, 144).
    """
    # TODO 06.10: return d loss / d qkv, shape (3, 8, 144) like qkv.
    raise NotImplementedError("06.10 dqkv: not written yet")


def dW_attn(x, dqkv):
    """qkv = x @ W_attn + b_attn. x (3, 8, 48), dqkv (3, 8, 144) -> (48, 144)."""
    # TODO 06.11: return d loss / d W_attn, shape (48, 144) like W_attn.
    raise NotImplementedError("06.11 dW_attn: not written yet")


def db_attn(dqkv):
    """qkv = x @ W_attn + b_attn. dqkv (3, 8, 144) -> (144,)."""
    # TODO 06.12: return d loss / d b_attn, shape (144,) like b_attn.
    raise NotImplementedError("06.12 db_attn: not written yet")


def dx(W_attn, dqkv):
    """qkv = x @ W_attn + b_attn. W_attn (48, 144), dqkv (3, 8, 144) -> (3, 8, 48)."""
    # TODO 06.13: return d loss / d x, shape (3, 8, 48) like x.
    raise NotImplementedError("06.13 dx: not written yet")
