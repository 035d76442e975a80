"""Correct variants of kata 09 (RMSNorm): the same gradients, other algebra."""

import torch

from . import variant

K = "09_rmsnorm"


@variant(K, "dw")
def dw_einsum(norm, dout):
    return torch.einsum("btc,btc->c", norm, dout)


@variant(K, "dw")
def dw_flattened_rows(norm, dout):
    """Every (b, t) row as one row of a matrix: a sum over B*T rows."""
    C = norm.shape[-1]
    return (norm.reshape(-1, C) * dout.reshape(-1, C)).sum(0)


@variant(K, "dx")
def dx_in_x(dout, w, x, inv_rms):
    """Written with x, not norm: the path through inv_rms carries inv_rms**3 * x_c / C."""
    dnorm = dout * w
    return inv_rms * dnorm - inv_rms**3 * x * (dnorm * x).mean(-1, keepdim=True)


@variant(K, "dx")
def dx_with_sums(dout, w, x, inv_rms):
    """The paper's form: inv_rms/C * (C*dnorm - norm * Σ dnorm*norm)."""
    C = x.shape[-1]
    dnorm = dout * w
    norm = x * inv_rms
    return inv_rms / C * (C * dnorm - norm * (dnorm * norm).sum(-1, keepdim=True))


@variant(K, "dx")
def dx_line_by_line(dout, w, x, inv_rms):
    """The forward's lines walked back one at a time: out, norm, inv_rms, the mean square, x**2."""
    C = x.shape[-1]
    dnorm = dout * w  # out = norm * w
    dx = dnorm * inv_rms  # norm = x * inv_rms, the x side
    dinv_rms = (dnorm * x).sum(-1, keepdim=True)  # norm = x * inv_rms, the inv_rms side (broadcast: a sum)
    dms = -0.5 * inv_rms**3 * dinv_rms  # inv_rms = (ms + eps)**-0.5, and (ms + eps)**-1.5 is inv_rms**3
    dxsq = dms.expand_as(x) / C  # ms = xsq.mean(-1)
    return dx + 2 * x * dxsq  # xsq = x**2


@variant(K, "dx")
def dx_jacobian_per_row(dout, w, x, inv_rms):
    """Each row's (C, C) Jacobian, d norm_i / d x_j = inv_rms * (δij - norm_i*norm_j/C), symmetric."""
    C = x.shape[-1]
    norm = x * inv_rms
    eye = torch.eye(C, dtype=x.dtype, device=x.device)
    jac = eye - torch.einsum("bti,btj->btij", norm, norm) / C  # (B, T, C, C)
    return inv_rms * torch.einsum("btij,btj->bti", jac, dout * w)


@variant(K, "dx")
def dx_rms_recomputed_with_eps(dout, w, x, inv_rms):
    """inv_rms recomputed from x with eps inside the root, as the forward does, and rsqrt spelled out."""
    r = 1.0 / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)
    dnorm = dout * w
    norm = x * r
    return r * (dnorm - norm * (dnorm * norm).mean(-1, keepdim=True))
