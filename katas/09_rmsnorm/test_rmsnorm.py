"""Kata 09: each step against autograd's RMSNorm inside a small Llama.

Each test runs its step at the model sizes, at odd sizes and in float64, fed
the true upstream gradient of the model's next-character loss and a random one.
"""


def test_dw(check):
    check("dw")


def test_dx(check):
    check("dx")
