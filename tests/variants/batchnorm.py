"""Correct variants of kata 03's dhprebn: the same gradient, other algebra."""

import torch

from . import variant

K = "03_batchnorm"


@variant(K, "dhprebn")
def dhprebn_with_means(dhpreact, bngain, bnvar_inv, bnraw):
    """Through dbnraw and means: dx = inv * (dx̂ - mean(dx̂) - x̂ * sum(dx̂ * x̂) / (n-1))."""
    n = dhpreact.shape[0]
    dbnraw = bngain * dhpreact
    return bnvar_inv * (dbnraw - dbnraw.mean(0, keepdim=True)
                        - bnraw * (dbnraw * bnraw).sum(0, keepdim=True) / (n - 1))


@variant(K, "dhprebn")
def dhprebn_nine_atomic_lines(dhpreact, bngain, bnvar_inv, bnraw):
    """The notebook's atomic lines, composed; bndiff and bnvar rebuilt from what is given."""
    n = dhpreact.shape[0]
    bndiff = bnraw / bnvar_inv  # bnraw = bndiff * bnvar_inv
    dbnraw = bngain * dhpreact
    dbndiff = bnvar_inv * dbnraw
    dbnvar_inv = (bndiff * dbnraw).sum(0, keepdim=True)
    dbnvar = -0.5 * bnvar_inv**3 * dbnvar_inv  # (bnvar + eps)**-1.5 is bnvar_inv**3
    dbndiff2 = 1.0 / (n - 1) * torch.ones_like(bndiff) * dbnvar
    dbndiff = dbndiff + 2 * bndiff * dbndiff2
    dbnmeani = -dbndiff.sum(0, keepdim=True)
    return dbndiff + 1.0 / n * torch.ones_like(dbndiff) * dbnmeani


@variant(K, "dhprebn")
def dhprebn_jacobian_per_feature(dhpreact, bngain, bnvar_inv, bnraw):
    """The (n, n) Jacobian of each column, then a batched matrix-vector product.

    d bnraw[i] / d hprebn[j] = bnvar_inv * (δij - 1/n - bnraw[i]*bnraw[j]/(n-1)), symmetric in i, j.
    """
    n = dhpreact.shape[0]
    eye = torch.eye(n, dtype=bnraw.dtype, device=bnraw.device)
    jac = eye - 1.0 / n - torch.einsum("ik,jk->kij", bnraw, bnraw) / (n - 1)  # (n_hidden, n, n)
    dbnraw = bngain * dhpreact  # (n, n_hidden)
    return bnvar_inv * torch.einsum("kij,jk->ik", jac, dbnraw)
