"""Kata 11: each step against autograd's SwiGLU inside a small Llama.

Each test runs its step at the model sizes, at odd sizes and in float64, fed
the true upstream gradients of the model's next-character loss and random ones.
"""


def test_dW_down(check):
    check("dW_down")


def test_dh(check):
    check("dh")


def test_du(check):
    check("du")


def test_da(check):
    check("da")


def test_dW_gate(check):
    check("dW_gate")


def test_dW_up(check):
    check("dW_up")


def test_dx(check):
    check("dx")
