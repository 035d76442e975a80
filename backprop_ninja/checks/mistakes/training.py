"""Kata 04's catalogue: classic wrong answers of the fused backward pass, one slip each.

`backward` returns (dC, dW1, db1, dW2, db2, dbngain, dbnbias). Each mistake
below is the reference with exactly one slip, so a slip early in the pass
(dlogits) shows in every gradient after it; the check names the first
gradient that differs, and the catalogue recognises the slip from it.

db1 is ~0 in exact arithmetic here (batchnorm subtracts the batch mean right
after b1), so a slip that only changes db1's values (a sign, a mean) is no
mistake at all: only its shape can be wrong.
"""

import torch
import torch.nn.functional as F

from backprop_ninja.checks.mistakes import mistake

K = "04_training"


def _backward(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw, h, logits,
              slip: str = ""):
    """The reference backward pass, with one named slip."""
    n = Xb.shape[0]
    onehot = F.one_hot(Yb, logits.shape[1]).to(logits.dtype)  # (n, vocab_size)
    if slip == "no-over-n":
        dlogits = F.softmax(logits, 1) - onehot
    elif slip == "no-one-hot":
        dlogits = F.softmax(logits, 1) / n
    elif slip == "one-hot-minus-softmax":
        dlogits = (onehot - F.softmax(logits, 1)) / n
    else:
        dlogits = (F.softmax(logits, 1) - onehot) / n  # (n, vocab_size)

    dh = dlogits @ W2.T  # (n, n_hidden)
    dW2 = dlogits.T @ h if slip == "dW2-transposed" else h.T @ dlogits
    db2 = dlogits.sum(0, keepdim=slip == "db2-keepdim")

    if slip == "tanh-of-output":
        dhpreact = (1.0 - torch.tanh(h) ** 2) * dh
    else:
        dhpreact = (1.0 - h**2) * dh  # (n, n_hidden)
    dbngain = (bnraw * dhpreact).sum(0, keepdim=slip != "dbngain-keepdim")
    dbnbias = dhpreact.clone() if slip == "dbnbias-not-summed" else dhpreact.sum(0, keepdim=True)

    bessel = {"biased-variance": 1.0, "bessel-inverted": (n - 1) / n}.get(slip, n / (n - 1))
    mean_term = 0 if slip == "no-mean-term" else dhpreact.sum(0)
    dhprebn = bngain * bnvar_inv / n * (n * dhpreact - mean_term - bessel * bnraw * (dhpreact * bnraw).sum(0))

    dembcat = dhprebn @ W1.T  # (n, block_size*n_embd)
    dW1 = embcat.T @ dhprebn  # (block_size*n_embd, n_hidden)
    db1 = dhprebn.sum(0, keepdim=slip == "db1-keepdim")
    demb = dembcat.view(emb.shape)  # (n, block_size, n_embd)

    if slip == "dC-overwritten":
        dC = torch.zeros_like(C)
        dC[Xb] = demb
    elif slip == "dC-27-rows":
        dC = torch.zeros(27, C.shape[1], dtype=C.dtype)
        dC.index_add_(0, Xb.reshape(-1), demb.reshape(-1, C.shape[1]))
    elif slip == "dC-float64":
        dC = torch.zeros(C.shape, dtype=torch.float64)
        dC.index_add_(0, Xb.reshape(-1), demb.reshape(-1, C.shape[1]).double())
    else:
        dC = torch.zeros_like(C)  # (vocab_size, n_embd)
        dC.index_add_(0, Xb.reshape(-1), demb.reshape(-1, C.shape[1]))
    return dC, dW1, db1, dW2, db2, dbngain, dbnbias


# --- dlogits, the fused cross-entropy (kata 02), and everything after it -----------------------

@mistake(K, "backward", "scale",
         "this is exactly the backward pass without the 1/n of dlogits: F.cross_entropy averages over the batch, "
         "so dlogits = (softmax - one_hot) / n, and every gradient after it inherits the factor n")
def backward_without_over_n(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                            h, logits):
    return _backward(**locals(), slip="no-over-n")


@mistake(K, "backward", "missing-branch",
         "this is exactly the backward pass with dlogits = softmax / n, without the one-hot: the loss also reads "
         "the correct logit directly, so subtract 1 at Yb in each row before dividing by n")
def backward_without_one_hot(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                             h, logits):
    return _backward(**locals(), slip="no-one-hot")


@mistake(K, "backward", "sign",
         "this is exactly the backward pass with dlogits = (one_hot - softmax) / n: it is softmax minus one-hot, "
         "and every gradient after it flips with it")
def backward_one_hot_minus_softmax(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv,
                                   bnraw, h, logits):
    return _backward(**locals(), slip="one-hot-minus-softmax")


# --- the second layer and tanh ------------------------------------------------------------------

@mistake(K, "backward", "transposed",
         "dlogits.T @ h is dW2 transposed: in a matmul's backward, let the shapes choose: h.T @ dlogits")
def backward_dW2_transposed(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                            h, logits):
    return _backward(**locals(), slip="dW2-transposed")


@mistake(K, "backward", "keepdim",
         "dlogits.sum(0, keepdim=True) gives db2 the shape (1, vocab_size), but b2 is (vocab_size,)")
def backward_db2_keepdim(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                         h, logits):
    return _backward(**locals(), slip="db2-keepdim")


@mistake(K, "backward", "derivative",
         "this is exactly the backward pass with tanh's derivative taken as 1 - tanh(h)**2: h already is "
         "tanh(hpreact), so dhpreact = (1 - h**2) * dh")
def backward_tanh_of_output(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                            h, logits):
    return _backward(**locals(), slip="tanh-of-output")


# --- batchnorm (kata 03) ------------------------------------------------------------------------

@mistake(K, "backward", "keepdim",
         "(bnraw * dhpreact).sum(0) drops the dimension: bngain is (1, n_hidden), so sum with keepdim=True")
def backward_dbngain_without_keepdim(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv,
                                     bnraw, h, logits):
    return _backward(**locals(), slip="dbngain-keepdim")


@mistake(K, "backward", "missing-sum",
         "dhpreact is the gradient of each use of bnbias; bnbias (1, n_hidden) was broadcast over the rows, so "
         "sum them: dhpreact.sum(0, keepdim=True)")
def backward_dbnbias_not_summed(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                                h, logits):
    return _backward(**locals(), slip="dbnbias-not-summed")


@mistake(K, "backward", "bessel",
         "this is exactly the batchnorm backward of the biased variance (1/n): the forward pass uses "
         "var(unbiased=True), which divides by n-1 and puts n/(n-1) on the variance term")
def backward_biased_variance(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                             h, logits):
    return _backward(**locals(), slip="biased-variance")


@mistake(K, "backward", "bessel",
         "this is exactly the batchnorm backward with Bessel's factor upside down: the variance term carries "
         "n/(n-1), not (n-1)/n")
def backward_bessel_inverted(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                             h, logits):
    return _backward(**locals(), slip="bessel-inverted")


@mistake(K, "backward", "missing-branch",
         "this is exactly the batchnorm backward without the path through the mean: hprebn feeds bnmean too, "
         "so subtract dhpreact.sum(0) inside the bracket")
def backward_without_mean_term(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                               h, logits):
    return _backward(**locals(), slip="no-mean-term")


# --- the first layer and the embedding ----------------------------------------------------------

@mistake(K, "backward", "keepdim",
         "dhprebn.sum(0, keepdim=True) gives db1 the shape (1, n_hidden), but b1 is (n_hidden,)")
def backward_db1_keepdim(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                         h, logits):
    return _backward(**locals(), slip="db1-keepdim")


@mistake(K, "backward", "accumulate",
         "this is exactly dC[Xb] = demb: with repeated indices an indexed write keeps one copy's gradient; a row "
         "of C used several times must collect the sum of all of them (index_add_)")
def backward_dC_overwritten(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                            h, logits):
    return _backward(**locals(), slip="dC-overwritten")


@mistake(K, "backward", "hard-coded",
         "torch.zeros(27, ...) is the lecture's vocabulary size: take dC's shape from C (torch.zeros_like(C))")
def backward_dC_with_27_rows(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                             h, logits):
    return _backward(**locals(), slip="dC-27-rows")


@mistake(K, "backward", "dtype",
         "torch.zeros(C.shape, dtype=torch.float64) fixes dC's dtype: torch.zeros_like(C) follows C's")
def backward_dC_in_float64(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                           h, logits):
    return _backward(**locals(), slip="dC-float64")


# --- the form of the answer ---------------------------------------------------------------------

@mistake(K, "backward", "not-a-tensor",
         "a gradient left as None (a placeholder never filled in) is no tensor: backward returns seven gradients, "
         "(dC, dW1, db1, dW2, db2, dbngain, dbnbias), each a tensor")
def backward_dbnbias_left_none(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                               h, logits):
    *grads, dbnbias = _backward(**locals())
    dbnbias = None  # still to do
    return (*grads, dbnbias)


@mistake(K, "backward", "mutated-input",
         "C.zero_() wipes the embedding table the forward pass uses (a trailing underscore writes in place): "
         "start dC from torch.zeros_like(C)")
def backward_zeroing_C(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw, h, logits):
    grads = _backward(**locals())
    C.zero_()
    return grads


@mistake(K, "backward", "autograd",
         "loss.backward() is what the kata replaces: derive each gradient with the chain rule")
def backward_by_autograd(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                         h, logits):
    params = [p.requires_grad_(True) for p in (C, W1, b1, W2, b2, bngain, bnbias)]
    x = (C[Xb].view(Xb.shape[0], -1) @ W1 + b1)
    x = bngain * (x - x.mean(0, keepdim=True)) * (x.var(0, keepdim=True) + 1e-5) ** -0.5 + bnbias
    F.cross_entropy(torch.tanh(x) @ W2 + b2, Yb).backward()
    return tuple(p.grad for p in params)


@mistake(K, "backward", "graph-attached",
         "torch.zeros_like(C, requires_grad=True) starts an autograd graph: a gradient is a plain tensor")
def backward_dC_requires_grad(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw,
                              h, logits):
    dC, *rest = _backward(**locals())
    return (torch.zeros_like(C, requires_grad=True) + dC, *rest)
