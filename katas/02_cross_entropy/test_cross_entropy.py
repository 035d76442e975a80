"""Kata 02: dlogits against autograd's F.cross_entropy.

It runs at the lecture's sizes, at odd sizes, in float64, and with huge
logits (where a softmax without the max subtraction overflows).
"""


def test_dlogits(check):
    check("dlogits")
