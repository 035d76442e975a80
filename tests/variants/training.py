"""Correct variants of kata 04's backward: the same seven gradients, written other ways."""

import torch
import torch.nn.functional as F

from . import variant

K = "04_training"


@variant(K, "backward")
def backward_with_one_hot_everywhere(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv,
                                     bnraw, h, logits):
    """Softmax minus a one-hot, batchnorm term by term, dC as a one-hot matmul."""
    n, vocab_size = logits.shape
    dlogits = (F.softmax(logits, 1) - F.one_hot(Yb, vocab_size).to(logits.dtype)) / n
    dh, dW2, db2 = dlogits @ W2.T, h.T @ dlogits, dlogits.sum(0)
    dhpreact = (1 - h * h) * dh
    dbngain, dbnbias = (bnraw * dhpreact).sum(0, keepdim=True), dhpreact.sum(0, keepdim=True)
    # batchnorm: through bnraw = (hprebn - bnmean) * bnvar_inv, the variance (n-1), and the mean
    dbnraw = bngain * dhpreact
    bndiff = bnraw / bnvar_inv
    dbnvar = (-0.5 * bnvar_inv**3 * (dbnraw * bndiff).sum(0, keepdim=True))
    dhprebn = dbnraw * bnvar_inv + 2 * bndiff / (n - 1) * dbnvar
    dhprebn = dhprebn - dhprebn.mean(0, keepdim=True)
    dembcat, dW1, db1 = dhprebn @ W1.T, embcat.T @ dhprebn, dhprebn.sum(0)
    demb = dembcat.view(emb.shape)
    onehot = F.one_hot(Xb.reshape(-1), C.shape[0]).to(C.dtype)  # (n*block_size, vocab_size)
    dC = onehot.T @ demb.reshape(-1, C.shape[1])
    return dC, dW1, db1, dW2, db2, dbngain, dbnbias


@variant(K, "backward")
def backward_by_a_loop_over_the_batch_for_dC(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn,
                                             bnvar_inv, bnraw, h, logits):
    """The lecture's own loop for dC, and log-softmax for the loss."""
    n = logits.shape[0]
    dlogits = torch.exp(F.log_softmax(logits, 1))
    dlogits[range(n), Yb] -= 1
    dlogits = dlogits / n
    dh, dW2, db2 = dlogits @ W2.T, h.T @ dlogits, dlogits.sum(0)
    dhpreact = (1 - h**2) * dh
    dbngain, dbnbias = (bnraw * dhpreact).sum(0, keepdim=True), dhpreact.sum(0, keepdim=True)
    dhprebn = bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0)
                                        - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
    dembcat, dW1, db1 = dhprebn @ W1.T, embcat.T @ dhprebn, dhprebn.sum(0)
    demb = dembcat.view(emb.shape)
    dC = torch.zeros_like(C)
    for k in range(Xb.shape[0]):
        for j in range(Xb.shape[1]):
            dC[Xb[k, j]] += demb[k, j]
    return dC, dW1, db1, dW2, db2, dbngain, dbnbias
