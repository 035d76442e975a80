"""Kata 01 — the atomic compute graph, solved.

Each function returns the gradient of the loss with respect to one tensor of
the lecture's forward pass, from the loss back to the embedding table C.
Three rules do almost all the work:
  - the chain rule: local derivative times the upstream gradient;
  - a broadcast in the forward pass is a sum in the backward pass (summed
    over the broadcast dimension, keeping it, so shapes match);
  - a tensor used twice gets the sum of both gradients (branches add).
n, the batch size, always comes from a shape.
"""

import torch
import torch.nn.functional as F


def dlogprobs(logprobs, Yb):
    """loss = -logprobs[range(n), Yb].mean(). logprobs (32, 27), Yb (32,) -> (32, 27)."""
    n = logprobs.shape[0]
    # The mean picks n entries and divides by n; every other entry does not touch the loss.
    out = torch.zeros_like(logprobs)
    out[range(n), Yb] = -1.0 / n
    return out


def dprobs(probs, dlogprobs):
    """logprobs = probs.log(). probs, dlogprobs (32, 27) -> (32, 27)."""
    # d log(x)/dx = 1/x: rows where the right answer had low probability get boosted.
    return (1.0 / probs) * dlogprobs


def dcounts_sum_inv(counts, dprobs):
    """probs = counts * counts_sum_inv. counts, dprobs (32, 27) -> (32, 1)."""
    # counts_sum_inv (32, 1) was broadcast across the 27 columns: sum them back.
    return (counts * dprobs).sum(1, keepdim=True)


def dcounts_sum(counts_sum, dcounts_sum_inv):
    """counts_sum_inv = counts_sum**-1. counts_sum, dcounts_sum_inv (32, 1) -> (32, 1)."""
    # d x**-1 / dx = -x**-2
    return -counts_sum**-2 * dcounts_sum_inv


def dcounts(counts_sum_inv, dprobs, dcounts_sum):
    """probs = counts * counts_sum_inv; counts_sum = counts.sum(1, keepdims=True).

    counts_sum_inv (32, 1), dprobs (32, 27), dcounts_sum (32, 1) -> (32, 27).
    """
    # counts feeds two lines, so its gradient is the sum of two branches;
    # the sum in the forward pass broadcasts dcounts_sum back over the columns.
    return counts_sum_inv * dprobs + torch.ones_like(dprobs) * dcounts_sum


def dnorm_logits(counts, dcounts):
    """counts = norm_logits.exp(). counts, dcounts (32, 27) -> (32, 27)."""
    # d exp(x)/dx = exp(x), which the forward pass already computed: counts.
    return counts * dcounts


def dlogit_maxes(dnorm_logits):
    """norm_logits = logits - logit_maxes. dnorm_logits (32, 27) -> (32, 1)."""
    # logit_maxes (32, 1) was broadcast and subtracted: sum, with a minus sign.
    return -dnorm_logits.sum(1, keepdim=True)


def dlogits(logits, dnorm_logits, dlogit_maxes):
    """norm_logits = logits - logit_maxes; logit_maxes = logits.max(1, keepdim=True).values.

    logits, dnorm_logits (32, 27), dlogit_maxes (32, 1) -> (32, 27).
    """
    # Two branches: the direct one, and the max, which routes its gradient to
    # the one position per row that held the maximum.
    onehot = F.one_hot(logits.max(1).indices, num_classes=logits.shape[1]).to(logits.dtype)
    return dnorm_logits.clone() + onehot * dlogit_maxes


def dh(W2, dlogits):
    """logits = h @ W2 + b2. W2 (64, 27), dlogits (32, 27) -> (32, 64)."""
    # Shapes decide a matmul's backward: (32, 27) @ (27, 64) is the only fit.
    return dlogits @ W2.T


def dW2(h, dlogits):
    """logits = h @ W2 + b2. h (32, 64), dlogits (32, 27) -> (64, 27)."""
    return h.T @ dlogits


def db2(dlogits):
    """logits = h @ W2 + b2. dlogits (32, 27) -> (27,)."""
    # b2 (27,) was broadcast over the batch rows: sum them.
    return dlogits.sum(0)


def dhpreact(h, dh):
    """h = torch.tanh(hpreact). h, dh (32, 64) -> (32, 64)."""
    # d tanh(x)/dx = 1 - tanh(x)**2, and tanh(x) is h, the output.
    return (1.0 - h**2) * dh


def dbngain(bnraw, dhpreact):
    """hpreact = bngain * bnraw + bnbias. bnraw, dhpreact (32, 64) -> (1, 64)."""
    return (bnraw * dhpreact).sum(0, keepdim=True)


def dbnbias(dhpreact):
    """hpreact = bngain * bnraw + bnbias. dhpreact (32, 64) -> (1, 64)."""
    return dhpreact.sum(0, keepdim=True)


def dbnraw(bngain, dhpreact):
    """hpreact = bngain * bnraw + bnbias. bngain (1, 64), dhpreact (32, 64) -> (32, 64)."""
    return bngain * dhpreact


def dbnvar_inv(bndiff, dbnraw):
    """bnraw = bndiff * bnvar_inv. bndiff, dbnraw (32, 64) -> (1, 64)."""
    # bnvar_inv (1, 64) was broadcast down the batch: sum over it.
    return (bndiff * dbnraw).sum(0, keepdim=True)


def dbnvar(bnvar, dbnvar_inv):
    """bnvar_inv = (bnvar + 1e-5)**-0.5. bnvar, dbnvar_inv (1, 64) -> (1, 64)."""
    # The eps belongs to the derivative too.
    return -0.5 * (bnvar + 1e-5) ** -1.5 * dbnvar_inv


def dbndiff2(bndiff2, dbnvar):
    """bnvar = 1/(n-1) * bndiff2.sum(0, keepdim=True). bndiff2 (32, 64), dbnvar (1, 64) -> (32, 64)."""
    # A sum in the forward pass is a broadcast in the backward pass; n-1 is Bessel's correction.
    n = bndiff2.shape[0]
    return 1.0 / (n - 1) * torch.ones_like(bndiff2) * dbnvar


def dbndiff(bndiff, bnvar_inv, dbnraw, dbndiff2):
    """bndiff2 = bndiff**2; bnraw = bndiff * bnvar_inv.

    bndiff (32, 64), bnvar_inv (1, 64), dbnraw, dbndiff2 (32, 64) -> (32, 64).
    """
    # bndiff feeds two lines: add both branches.
    return bnvar_inv * dbnraw + 2 * bndiff * dbndiff2


def dbnmeani(dbndiff):
    """bndiff = hprebn - bnmeani. dbndiff (32, 64) -> (1, 64)."""
    return -dbndiff.sum(0, keepdim=True)


def dhprebn(dbndiff, dbnmeani):
    """bndiff = hprebn - bnmeani; bnmeani = 1/n * hprebn.sum(0, keepdim=True).

    dbndiff (32, 64), dbnmeani (1, 64) -> (32, 64).
    """
    # Two branches again: the direct one, and the mean, which spreads
    # dbnmeani evenly (1/n) over the rows it averaged.
    n = dbndiff.shape[0]
    return dbndiff.clone() + 1.0 / n * torch.ones_like(dbndiff) * dbnmeani


def dembcat(W1, dhprebn):
    """hprebn = embcat @ W1 + b1. W1 (30, 64), dhprebn (32, 64) -> (32, 30)."""
    return dhprebn @ W1.T


def dW1(embcat, dhprebn):
    """hprebn = embcat @ W1 + b1. embcat (32, 30), dhprebn (32, 64) -> (30, 64)."""
    return embcat.T @ dhprebn


def db1(dhprebn):
    """hprebn = embcat @ W1 + b1. dhprebn (32, 64) -> (64,)."""
    return dhprebn.sum(0)


def demb(emb, dembcat):
    """embcat = emb.view(emb.shape[0], -1). emb (32, 3, 10), dembcat (32, 30) -> (32, 3, 10)."""
    # A view only rearranges: undo it.
    return dembcat.view(emb.shape)


def dC(C, Xb, demb):
    """emb = C[Xb]. C (27, 10), Xb (32, 3), demb (32, 3, 10) -> (27, 10)."""
    # Each row of C was copied to every position of Xb that names it; a row
    # used several times collects the sum of all its copies' gradients.
    out = torch.zeros_like(C)
    out.index_add_(0, Xb.view(-1), demb.view(-1, C.shape[1]))
    return out
