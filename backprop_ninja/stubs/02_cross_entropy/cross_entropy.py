"""Kata 02 — cross entropy in one expression (the lecture's exercise 2, from 01:26:31).

Kata 01 walked the loss back to the logits through eight atomic lines.
Here the whole of F.cross_entropy(logits, Yb) is one node: derive its
gradient on paper, then write it as one short expression.

    pytest katas/02_cross_entropy                check it
    backprop-ninja hint dlogits --kata 02        a hint (--level 2, --level 3 for more)

n, the batch size, comes from a shape. Huge logits are checked too, so keep
the softmax numerically stable.
A step may also take, by name, any forward value of the lecture's graph
(counts, hprebn, ...), the batch Xb/Yb, or n (the batch size, an int).
"""

import torch
import torch.nn.functional as F


def dlogits(logits, Yb):
    """loss = F.cross_entropy(logits, Yb). logits (32, 27), Yb (32,) int64 -> (32, 27).

    F.cross_entropy is the mean over the batch of -log softmax(logits[i])[Yb[i]].
    Return d loss / d logits, with the shape and dtype of logits.

    Also fed by name, if you add them as parameters: any forward value of the graph, the batch Xb/Yb, or n.
    """
    # TODO 02.01: return d loss / d logits in one expression, shape (32, 27) like logits.
    raise NotImplementedError("02.01 dlogits: not written yet")
