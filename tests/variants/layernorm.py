"""Correct variants of kata 05 (layernorm): the same gradients, other algebra."""

import torch

from backprop_ninja.commands.bench import layernorm_atomic

from . import variant

K = "05_layernorm"


@variant(K, "db")
def db_einsum(dout):
    return torch.einsum("btc->c", dout)


@variant(K, "dw")
def dw_flattened_rows(norm, dout):
    """Every (b, t) row as one row of a matrix: a sum over B*T rows."""
    C = norm.shape[-1]
    return (norm.reshape(-1, C) * dout.reshape(-1, C)).sum(0)


@variant(K, "dx")
def dx_with_sums(dout, w, norm, rstd):
    """The paper's form: rstd/C * (C*dnorm - Σ dnorm - norm * Σ dnorm*norm)."""
    C = dout.shape[-1]
    dnorm = dout * w
    return rstd / C * (C * dnorm - dnorm.sum(-1, keepdim=True) - norm * (dnorm * norm).sum(-1, keepdim=True))


# the forward's lines walked back one at a time: bench's baseline, so its row times a right answer
variant(K, "dx")(layernorm_atomic)


@variant(K, "dx")
def dx_jacobian_per_row(dout, w, norm, rstd):
    """Each row's (C, C) Jacobian, d norm_i / d x_j = rstd * (δij - 1/C - norm_i*norm_j/C), symmetric."""
    C = dout.shape[-1]
    eye = torch.eye(C, dtype=norm.dtype, device=norm.device)
    jac = eye - 1.0 / C - torch.einsum("bti,btj->btij", norm, norm) / C  # (B, T, C, C)
    return rstd * torch.einsum("btij,btj->bti", jac, dout * w)
