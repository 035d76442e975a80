"""Correct variants of kata 07 (the MLP, tanh-GELU): the same gradients, written other ways."""

import math

import torch

from . import variant

K = "07_mlp"
S = math.sqrt(2 / math.pi)


@variant(K, "dW_proj")
def dW_proj_einsum(fch_gelu, dout):
    return torch.einsum("bth,btc->hc", fch_gelu, dout)


@variant(K, "dW_proj")
def dW_proj_batched_then_summed(fch_gelu, dout):
    return (fch_gelu.transpose(-2, -1) @ dout).sum(0)


@variant(K, "db_proj")
def db_proj_einsum(dout):
    return torch.einsum("btc->c", dout)


@variant(K, "dfch_gelu")
def dfch_gelu_einsum(W_proj, dout):
    return torch.einsum("btc,hc->bth", dout, W_proj)


@variant(K, "dfch")
def dfch_atomic_chain(fch, dfch_gelu):
    """The GELU as atomic lines, walked back: cube, u, t, 1 + t, half, product."""
    cube = fch**3
    u = S * (fch + 0.044715 * cube)
    t = torch.tanh(u)
    # fch_gelu = half * onept with half = 0.5*fch, onept = 1 + t
    dhalf = (1 + t) * dfch_gelu
    donept = 0.5 * fch * dfch_gelu
    du = (1 - t**2) * donept
    dcube = S * 0.044715 * du
    return 0.5 * dhalf + S * du + 3 * fch**2 * dcube


@variant(K, "dfch")
def dfch_sech_squared(fch, dfch_gelu):
    """tanh' = sech**2 = 1/cosh**2."""
    u = S * (fch + 0.044715 * fch**3)
    local = 0.5 * (1 + torch.tanh(u)) + 0.5 * fch * S * (1 + 3 * 0.044715 * fch**2) / torch.cosh(u) ** 2
    return local * dfch_gelu


@variant(K, "dfch")
def dfch_sigmoid_form(fch, dfch_gelu):
    """0.5*(1 + tanh(u)) = sigmoid(2u), and its derivative 2*sigmoid(2u)*(1 - sigmoid(2u))."""
    u = S * (fch + 0.044715 * fch**3)
    sig = torch.sigmoid(2 * u)
    du = S * (1 + 3 * 0.044715 * fch**2)
    return (sig + fch * 2 * sig * (1 - sig) * du) * dfch_gelu


@variant(K, "dW_fc")
def dW_fc_einsum(x, dfch):
    return torch.einsum("btc,bth->ch", x, dfch)


@variant(K, "db_fc")
def db_fc_two_sums(dfch):
    return dfch.sum(0).sum(0)


@variant(K, "dx")
def dx_einsum(W_fc, dfch):
    return torch.einsum("bth,ch->btc", dfch, W_fc)
