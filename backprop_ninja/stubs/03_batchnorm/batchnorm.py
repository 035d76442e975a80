"""Kata 03 — batchnorm in one expression (the lecture's exercise 3, from 01:36:37).

Kata 01 walked the gradient from hpreact back to hprebn through nine atomic
lines. Here the whole batchnorm layer is one node: derive d hprebn on paper,
then write it as one expression.

    pytest katas/03_batchnorm                    check it
    backprop-ninja hint dhprebn --kata 03        a hint (--level 2, --level 3 for more)

The variance is Bessel-corrected, as in the lecture: it divides by n-1.
n, the batch size, comes from a shape.
A step may also take, by name, any forward value of the lecture's graph
(counts, hprebn, ...), the batch Xb/Yb, or n (the batch size, an int).
"""

import torch  # noqa: F401


def dhprebn(dhpreact, bngain, bnvar_inv, bnraw):
    """The whole batchnorm backward, from dhpreact to dhprebn.

    Forward, per column of hprebn (32, 64):
        bnmeani = 1/n * hprebn.sum(0, keepdim=True)
        bnvar = 1/(n-1) * ((hprebn - bnmeani)**2).sum(0, keepdim=True)
        bnvar_inv = (bnvar + 1e-5)**-0.5; bnraw = (hprebn - bnmeani) * bnvar_inv
        hpreact = bngain * bnraw + bnbias

    dhpreact (32, 64), bngain (1, 64), bnvar_inv (1, 64), bnraw (32, 64) -> (32, 64).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 03.01: return d loss / d hprebn in one expression, shape (32, 64) like hprebn.
    raise NotImplementedError("03.01 dhprebn: not written yet")
