"""Kata 03: dhprebn against autograd's batchnorm.

It runs at the lecture's sizes, at odd sizes, in float64 and with a batch of
two, fed the lecture's dhpreact and random ones.
"""


def test_dhprebn(check):
    check("dhprebn")
