"""Kata 04 — training with your own backward pass (the lecture's exercise 4, from 01:50:02).

Katas 01-03 each asked for one piece of the backward pass. Here you write all
of it, for the fused forward pass below, and then train the network with your
gradients instead of loss.backward(): reuse kata 02's dlogits, kata 03's
dhprebn and kata 01's matmul, tanh and embedding steps.

    pytest katas/04_training                     check it
    backprop-ninja hint backward                 a hint (--level 2, --level 3 for more)
    backprop-ninja train                         then train the network with it

n, the batch size, comes from a shape, or from a parameter n if you declare one.
"""

import torch  # noqa: F401
import torch.nn.functional as F  # noqa: F401


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

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO: dlogits, then back through the second layer, tanh, batchnorm, the first layer and C
    raise NotImplementedError("kata 04: backward — write the gradients of the whole training step")
