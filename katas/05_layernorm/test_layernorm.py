"""Kata 05: each step against autograd's layernorm inside a small GPT.

Each test runs its step at the model sizes, at odd sizes and in float64, fed
the true upstream gradient of the model's next-character loss and a random one.
"""


def test_db(check):
    check("db")


def test_dw(check):
    check("dw")


def test_dx(check):
    check("dx")
