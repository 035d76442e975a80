"""Kata 04 — exercise 4: the whole backward pass of the fused network, solved.

This is the worked solution. `backprop-ninja train --impl reference` trains
the network with it; `pytest katas/04_training --impl reference` checks it.
"""

import torch
import torch.nn.functional as F


def backward(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw, h, logits):
    """The gradients of the loss for one training step, without autograd.

    The forward pass (exercise 4):

        emb = C[Xb]; embcat = emb.view(emb.shape[0], -1)
        hprebn = embcat @ W1 + b1
        bnmean = hprebn.mean(0, keepdim=True); bnvar = hprebn.var(0, keepdim=True, unbiased=True)
        bnvar_inv = (bnvar + 1e-5)**-0.5; bnraw = (hprebn - bnmean) * bnvar_inv
        hpreact = bngain * bnraw + bnbias; h = torch.tanh(hpreact)
        logits = h @ W2 + b2; loss = F.cross_entropy(logits, Yb)

    Shapes: Xb (n, block_size) and Yb (n,) int64; C (vocab_size, n_embd);
    W1 (block_size*n_embd, n_hidden); b1 (n_hidden,); W2 (n_hidden, vocab_size);
    b2 (vocab_size,); bngain, bnbias, bnvar_inv (1, n_hidden);
    emb (n, block_size, n_embd); embcat (n, block_size*n_embd);
    hprebn, bnraw, h (n, n_hidden); logits (n, vocab_size).

    Returns (dC, dW1, db1, dW2, db2, dbngain, dbnbias), each the shape of its
    parameter: d loss / d parameter.
    """
    n = Xb.shape[0]  # batch size: from a shape, never a constant

    # cross-entropy, fused (kata 02): d loss/d logits = (softmax - one_hot(Yb)) / n, because loss is
    # the mean over n rows of -log softmax(logits)[Yb]. F.softmax makes a fresh tensor, so the one-hot
    # part is subtracted in place: scatter_add_ adds -1 at (k, Yb[k]) in one call, cheaper than the
    # indexing dlogits[range(n), Yb] -= 1 (which gathers, subtracts and writes back)
    dlogits = F.softmax(logits, 1)  # (n, vocab_size)
    dlogits.scatter_add_(1, Yb[:, None], logits.new_full((n, 1), -1.0))
    dlogits /= n

    # second layer: logits = h @ W2 + b2; b2 was broadcast over the rows, so its gradient sums them
    dh = dlogits @ W2.T  # (n, n_hidden)
    dW2 = h.T @ dlogits  # (n_hidden, vocab_size)
    db2 = dlogits.sum(0)  # (vocab_size,)

    # tanh: d tanh(x)/dx = 1 - tanh(x)**2, and h is already tanh(hpreact);
    # dh * (1 - h**2) written as dh - (dh * h) * h, two passes instead of four
    dhpreact = torch.addcmul(dh, dh * h, h, value=-1.0)  # (n, n_hidden)

    # batchnorm's affine part; bngain and bnbias were broadcast over the rows (keepdim keeps (1, n_hidden))
    dbngain = (bnraw * dhpreact).sum(0, keepdim=True)  # (1, n_hidden)
    dbnbias = dhpreact.sum(0, keepdim=True)  # (1, n_hidden)

    # batchnorm, fused (kata 03): every hprebn[i] moves the batch mean and the variance, hence the
    # two sums over the batch, and they are dbnbias and dbngain, already summed above;
    # n/(n-1) is Bessel's correction of the unbiased variance the forward pass used:
    # dhprebn = bngain * bnvar_inv / n * (n * dhpreact - dbnbias - n/(n-1) * bnraw * dbngain)
    dhprebn = torch.addcmul(dhpreact - dbnbias / n, bnraw, dbngain, value=-1.0 / (n - 1))  # (n, n_hidden)
    dhprebn *= bngain * bnvar_inv

    # first layer: hprebn = embcat @ W1 + b1
    dembcat = dhprebn @ W1.T  # (n, block_size*n_embd)
    dW1 = embcat.T @ dhprebn  # (block_size*n_embd, n_hidden)
    db1 = dhprebn.sum(0)  # (n_hidden,)

    # emb = C[Xb] copied row Xb[k, j] of C into emb[k, j], and embcat only regrouped emb's numbers:
    # a row used several times collects the sum of its gradients. index_add_ accumulates, in one
    # call over the flattened context (n*block_size rows of n_embd), no Python loop
    dC = torch.zeros_like(C)  # (vocab_size, n_embd)
    dC.index_add_(0, Xb.reshape(-1), dembcat.view(-1, C.shape[1]))

    return dC, dW1, db1, dW2, db2, dbngain, dbnbias
