"""Kata 07: each step against autograd's MLP (tanh-GELU) inside a small GPT.

Each test runs its step at the model sizes, at odd sizes and in float64, fed
the true upstream gradients of the model's next-character loss and random ones.
"""


def test_dW_proj(check):
    check("dW_proj")


def test_db_proj(check):
    check("db_proj")


def test_dfch_gelu(check):
    check("dfch_gelu")


def test_dfch(check):
    check("dfch")


def test_dW_fc(check):
    check("dW_fc")


def test_db_fc(check):
    check("db_fc")


def test_dx(check):
    check("dx")
