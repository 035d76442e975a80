"""Kata 06: each step against autograd's causal self-attention inside a small GPT.

Each test runs its step at the model sizes, at odd sizes and in float64, fed
the true upstream gradients of the model's next-character loss and random ones.
"""


def test_dW_proj(check):
    check("dW_proj")


def test_db_proj(check):
    check("db_proj")


def test_dycat(check):
    check("dycat")


def test_dy(check):
    check("dy")


def test_datt(check):
    check("datt")


def test_dv(check):
    check("dv")


def test_dpreatt(check):
    check("dpreatt")


def test_dq(check):
    check("dq")


def test_dk(check):
    check("dk")


def test_dqkv(check):
    check("dqkv")


def test_dW_attn(check):
    check("dW_attn")


def test_db_attn(check):
    check("db_attn")


def test_dx(check):
    check("dx")
