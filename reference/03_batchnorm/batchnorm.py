"""Kata 03 — batchnorm in one expression, solved.

The forward pass, per column (feature) of hprebn (n, n_hidden):
    bnmeani = hprebn.mean(0); bnvar = ((hprebn - bnmeani)**2).sum(0) / (n-1)
    bnvar_inv = (bnvar + 1e-5)**-0.5; bnraw = (hprebn - bnmeani) * bnvar_inv
    hpreact = bngain * bnraw + bnbias
Every input of a column moves its mean and its variance, so each dhprebn[i]
collects three terms: its own direct path, the mean's share, and the
variance's share.
"""

import torch  # noqa: F401


def dhprebn(dhpreact, bngain, bnvar_inv, bnraw):
    """The whole batchnorm backward. dhpreact, bnraw (32, 64); bngain, bnvar_inv (1, 64) -> (32, 64)."""
    n = dhpreact.shape[0]
    # bngain*bnvar_inv/n * (   n*dhpreact                      the direct path,
    #                        - dhpreact.sum(0)                  through the mean (every row moved it by 1/n),
    #                        - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0) )  through the variance.
    # n/(n-1) comes from Bessel's correction: bnvar divides by n-1, not n, so the
    # variance path is n/(n-1) times the textbook (biased-variance) one.
    return bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
