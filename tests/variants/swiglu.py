"""Correct variants of kata 11 (the SwiGLU MLP of a small Llama): the same gradients, written other ways."""

import torch
import torch.nn.functional as F

from . import variant

K = "11_swiglu"


@variant(K, "dW_down")
def dW_down_einsum(h, dout):
    return torch.einsum("bth,btc->hc", h, dout)


@variant(K, "dW_down")
def dW_down_batched_then_summed(h, dout):
    return (h.transpose(-2, -1) @ dout).sum(0)


@variant(K, "dh")
def dh_einsum(W_down, dout):
    return torch.einsum("btc,hc->bth", dout, W_down)


@variant(K, "du")
def du_with_F_silu(a, dh):
    return F.silu(a) * dh


@variant(K, "du")
def du_sigmoid_as_a_fraction(a, dh):
    """silu(a) = a / (1 + exp(-a))."""
    return a / (1 + torch.exp(-a)) * dh


@variant(K, "da")
def da_with_F_silu(a, u, dh):
    """silu'(a) = sigmoid(a) + silu(a) * (1 - sigmoid(a))."""
    s = torch.sigmoid(a)
    return (s + F.silu(a) * (1 - s)) * u * dh


@variant(K, "da")
def da_atomic_chain(a, u, dh):
    """The gate as atomic lines, walked back: s = sigmoid(a) = 1/(1 + exp(-a)), g = a * s, h = g * u."""
    e = torch.exp(-a)
    s = 1 / (1 + e)
    dg = u * dh
    ds = a * dg
    de = -ds / (1 + e) ** 2
    return s * dg + (-e) * de


@variant(K, "da")
def da_sigmoid_of_minus_a(a, u, dh):
    """1 - sigmoid(a) = sigmoid(-a)."""
    return torch.sigmoid(a) * (1 + a * torch.sigmoid(-a)) * u * dh


@variant(K, "dW_gate")
def dW_gate_einsum(x, da):
    return torch.einsum("btc,bth->ch", x, da)


@variant(K, "dW_gate")
def dW_gate_tensordot(x, da):
    return torch.tensordot(x, da, dims=([0, 1], [0, 1]))


@variant(K, "dW_up")
def dW_up_einsum(x, du):
    return torch.einsum("btc,bth->ch", x, du)


@variant(K, "dW_up")
def dW_up_batched_then_summed(x, du):
    return (x.transpose(-2, -1) @ du).sum(0)


@variant(K, "dx")
def dx_concatenated(W_gate, W_up, da, du):
    """[a u] = x @ [W_gate W_up]: one matmul with the stacked weights and gradients."""
    return torch.cat([da, du], dim=-1) @ torch.cat([W_gate, W_up], dim=-1).T


@variant(K, "dx")
def dx_einsum(W_gate, W_up, da, du):
    return torch.einsum("bth,ch->btc", da, W_gate) + torch.einsum("bth,ch->btc", du, W_up)
