"""Kata 01 — the atomic compute graph (the lecture's exercise 1, from 00:13:01).

Write each gradient of the lecture's forward pass by hand, from the loss back
to the embedding table C, one atomic line at a time. Each function returns
d loss / d <name>, with exactly the shape and dtype of <name>.

    pytest katas/01_atomic_graph            check every step
    pytest katas/01_atomic_graph -k dprobs  check one
    backprop-ninja hint dprobs              a hint (--level 2, --level 3 for more)

Rules of thumb: the chain rule is local derivative times upstream gradient;
a broadcast in the forward pass is a sum in the backward pass; a tensor used
twice gets the sum of both gradients. n, the batch size, comes from a shape
(or declare a parameter n: see each step's last docstring line).
"""

import torch
import torch.nn.functional as F


def dlogprobs(logprobs, Yb):
    """loss = -logprobs[range(n), Yb].mean(). logprobs (32, 27), Yb (32,) -> (32, 27).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.01: return d loss / d logprobs, shape (32, 27) like logprobs.
    raise NotImplementedError("01.01 dlogprobs: not written yet")


def dprobs(probs, dlogprobs):
    """logprobs = probs.log(). probs, dlogprobs (32, 27) -> (32, 27).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.02: return d loss / d probs, shape (32, 27) like probs.
    raise NotImplementedError("01.02 dprobs: not written yet")


def dcounts_sum_inv(counts, dprobs):
    """probs = counts * counts_sum_inv. counts, dprobs (32, 27) -> (32, 1).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.03: return d loss / d counts_sum_inv, shape (32, 1) like counts_sum_inv.
    raise NotImplementedError("01.03 dcounts_sum_inv: not written yet")


def dcounts_sum(counts_sum, dcounts_sum_inv):
    """counts_sum_inv = counts_sum**-1. counts_sum, dcounts_sum_inv (32, 1) -> (32, 1).

    The notebook: counts_sum**-1 rather than 1.0/counts_sum, whose backward is not bit-exact.

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.04: return d loss / d counts_sum, shape (32, 1) like counts_sum.
    raise NotImplementedError("01.04 dcounts_sum: not written yet")


def dcounts(counts_sum_inv, dprobs, dcounts_sum):
    """probs = counts * counts_sum_inv; counts_sum = counts.sum(1, keepdims=True).

    counts_sum_inv (32, 1), dprobs (32, 27), dcounts_sum (32, 1) -> (32, 27).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.05: return d loss / d counts, shape (32, 27) like counts.
    raise NotImplementedError("01.05 dcounts: not written yet")


def dnorm_logits(counts, dcounts):
    """counts = norm_logits.exp(). counts, dcounts (32, 27) -> (32, 27).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.06: return d loss / d norm_logits, shape (32, 27) like norm_logits.
    raise NotImplementedError("01.06 dnorm_logits: not written yet")


def dlogit_maxes(dnorm_logits):
    """norm_logits = logits - logit_maxes. dnorm_logits (32, 27) -> (32, 1).

    The notebook: subtract the max for numerical stability (exp of a large logit overflows).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.07: return d loss / d logit_maxes, shape (32, 1) like logit_maxes.
    raise NotImplementedError("01.07 dlogit_maxes: not written yet")


def dlogits(logits, dnorm_logits, dlogit_maxes):
    """norm_logits = logits - logit_maxes; logit_maxes = logits.max(1, keepdim=True).values.

    The notebook: subtract the max for numerical stability (exp of a large logit overflows).

    logits, dnorm_logits (32, 27), dlogit_maxes (32, 1) -> (32, 27).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.08: return d loss / d logits, shape (32, 27) like logits.
    raise NotImplementedError("01.08 dlogits: not written yet")


def dh(W2, dlogits):
    """logits = h @ W2 + b2. W2 (64, 27), dlogits (32, 27) -> (32, 64).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.09: return d loss / d h, shape (32, 64) like h.
    raise NotImplementedError("01.09 dh: not written yet")


def dW2(h, dlogits):
    """logits = h @ W2 + b2. h (32, 64), dlogits (32, 27) -> (64, 27).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.10: return d loss / d W2, shape (64, 27) like W2.
    raise NotImplementedError("01.10 dW2: not written yet")


def db2(dlogits):
    """logits = h @ W2 + b2. dlogits (32, 27) -> (27,).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.11: return d loss / d b2, shape (27,) like b2.
    raise NotImplementedError("01.11 db2: not written yet")


def dhpreact(h, dh):
    """h = torch.tanh(hpreact). h, dh (32, 64) -> (32, 64).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.12: return d loss / d hpreact, shape (32, 64) like hpreact.
    raise NotImplementedError("01.12 dhpreact: not written yet")


def dbngain(bnraw, dhpreact):
    """hpreact = bngain * bnraw + bnbias. bnraw, dhpreact (32, 64) -> (1, 64).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.13: return d loss / d bngain, shape (1, 64) like bngain.
    raise NotImplementedError("01.13 dbngain: not written yet")


def dbnbias(dhpreact):
    """hpreact = bngain * bnraw + bnbias. dhpreact (32, 64) -> (1, 64).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.14: return d loss / d bnbias, shape (1, 64) like bnbias.
    raise NotImplementedError("01.14 dbnbias: not written yet")


def dbnraw(bngain, dhpreact):
    """hpreact = bngain * bnraw + bnbias. bngain (1, 64), dhpreact (32, 64) -> (32, 64).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.15: return d loss / d bnraw, shape (32, 64) like bnraw.
    raise NotImplementedError("01.15 dbnraw: not written yet")


def dbnvar_inv(bndiff, dbnraw):
    """bnraw = bndiff * bnvar_inv. bndiff, dbnraw (32, 64) -> (1, 64).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.16: return d loss / d bnvar_inv, shape (1, 64) like bnvar_inv.
    raise NotImplementedError("01.16 dbnvar_inv: not written yet")


def dbnvar(bnvar, dbnvar_inv):
    """bnvar_inv = (bnvar + 1e-5)**-0.5. bnvar, dbnvar_inv (1, 64) -> (1, 64).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.17: return d loss / d bnvar, shape (1, 64) like bnvar.
    raise NotImplementedError("01.17 dbnvar: not written yet")


def dbndiff2(bndiff2, dbnvar):
    """bnvar = 1/(n-1) * bndiff2.sum(0, keepdim=True). bndiff2 (32, 64), dbnvar (1, 64) -> (32, 64).

    The notebook: Bessel's correction (dividing by n-1, not n).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.18: return d loss / d bndiff2, shape (32, 64) like bndiff2.
    raise NotImplementedError("01.18 dbndiff2: not written yet")


def dbndiff(bndiff, bnvar_inv, dbnraw, dbndiff2):
    """bndiff2 = bndiff**2; bnraw = bndiff * bnvar_inv.

    bndiff (32, 64), bnvar_inv (1, 64), dbnraw, dbndiff2 (32, 64) -> (32, 64).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.19: return d loss / d bndiff, shape (32, 64) like bndiff.
    raise NotImplementedError("01.19 dbndiff: not written yet")


def dbnmeani(dbndiff):
    """bndiff = hprebn - bnmeani. dbndiff (32, 64) -> (1, 64).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.20: return d loss / d bnmeani, shape (1, 64) like bnmeani.
    raise NotImplementedError("01.20 dbnmeani: not written yet")


def dhprebn(dbndiff, dbnmeani):
    """bndiff = hprebn - bnmeani; bnmeani = 1/n * hprebn.sum(0, keepdim=True).

    dbndiff (32, 64), dbnmeani (1, 64) -> (32, 64).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.21: return d loss / d hprebn, shape (32, 64) like hprebn.
    raise NotImplementedError("01.21 dhprebn: not written yet")


def dembcat(W1, dhprebn):
    """hprebn = embcat @ W1 + b1. W1 (30, 64), dhprebn (32, 64) -> (32, 30).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.22: return d loss / d embcat, shape (32, 30) like embcat.
    raise NotImplementedError("01.22 dembcat: not written yet")


def dW1(embcat, dhprebn):
    """hprebn = embcat @ W1 + b1. embcat (32, 30), dhprebn (32, 64) -> (30, 64).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.23: return d loss / d W1, shape (30, 64) like W1.
    raise NotImplementedError("01.23 dW1: not written yet")


def db1(dhprebn):
    """hprebn = embcat @ W1 + b1. dhprebn (32, 64) -> (64,).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.24: return d loss / d b1, shape (64,) like b1.
    raise NotImplementedError("01.24 db1: not written yet")


def demb(emb, dembcat):
    """embcat = emb.view(emb.shape[0], -1). emb (32, 3, 10), dembcat (32, 30) -> (32, 3, 10).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.25: return d loss / d emb, shape (32, 3, 10) like emb.
    raise NotImplementedError("01.25 demb: not written yet")


def dC(C, Xb, demb):
    """emb = C[Xb]. C (27, 10), Xb (32, 3), demb (32, 3, 10) -> (27, 10).

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 01.26: return d loss / d C, shape (27, 10) like C.
    raise NotImplementedError("01.26 dC: not written yet")
