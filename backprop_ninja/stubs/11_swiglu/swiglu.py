"""Kata 11 — the SwiGLU MLP of a small Llama (Part 3: this project's katas, beyond the lecture).

Block 0's SwiGLU inside a small Llama-style model: two linear maps of x to H
hidden units, a gate (silu of one) times the other, and a linear map back to
C. No biases. x (3, 8, 48) is the RMSNormed input; the hidden tensors are
(3, 8, 128).

    pytest katas/11_swiglu                    check every step
    backprop-ninja hint da                    a hint (--level 2, --level 3 for more)

The forward pass, as the model runs it:
    a = x @ W_gate                                           # (B, T, H)
    u = x @ W_up                                             # (B, T, H)
    h = silu(a) * u            # silu(a) = a * sigmoid(a)       (B, T, H)
    out = h @ W_down                                         # (B, T, C)

Every size comes from a shape (the checks also run at B=2, T=5, C=12, H=20).
Each step may also declare any forward value of the graph by name (x, a, u,
h, out, W_gate, W_up, W_down, ...) as an extra parameter, and the sizes B, T,
C, H, nh, hs as ints.
"""

import torch  # noqa: F401


def dW_down(h, dout):
    """out = h @ W_down. h (3, 8, 128), dout (3, 8, 48) -> (128, 48)."""
    # TODO 11.01: return d loss / d W_down, shape (128, 48) like W_down.
    raise NotImplementedError("11.01 dW_down: not written yet")


def dh(W_down, dout):
    """out = h @ W_down. W_down (128, 48), dout (3, 8, 48) -> (3, 8, 128)."""
    # TODO 11.02: return d loss / d h, shape (3, 8, 128) like h.
    raise NotImplementedError("11.02 dh: not written yet")


def du(a, dh):
    """h = silu(a) * u, silu(a) = a * sigmoid(a). a, dh (3, 8, 128) -> (3, 8, 128)."""
    # TODO 11.03: return d loss / d u, shape (3, 8, 128) like u.
    raise NotImplementedError("11.03 du: not written yet")


def da(a, u, dh):
    """h = silu(a) * u, silu(a) = a * sigmoid(a). a, u, dh (3, 8, 128) -> (3, 8, 128).

    silu's derivative comes from sigmoid's: derive it, do not look it up.
    """
    # TODO 11.04: return d loss / d a, shape (3, 8, 128) like a.
    raise NotImplementedError("11.04 da: not written yet")


def dW_gate(x, da):
    """a = x @ W_gate. x (3, 8, 48), da (3, 8, 128) -> (48, 128)."""
    # TODO 11.05: return d loss / d W_gate, shape (48, 128) like W_gate.
    raise NotImplementedError("11.05 dW_gate: not written yet")


def dW_up(x, du):
    """u = x @ W_up. x (3, 8, 48), du (3, 8, 128) -> (48, 128)."""
    # TODO 11.06: return d loss / d W_up, shape (48, 128) like W_up.
    raise NotImplementedError("11.06 dW_up: not written yet")


def dx(W_gate, W_up, da, du):
    """a = x @ W_gate, u = x @ W_up. W_gate, W_up (48, 128), da, du (3, 8, 128) -> (3, 8, 48)."""
    # TODO 11.07: return d loss / d x, shape (3, 8, 48) like x.
    raise NotImplementedError("11.07 dx: not written yet")
