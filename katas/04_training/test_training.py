"""Kata 04: your backward() against autograd, then a short training run beside autograd's.

test_backward checks each of the seven gradients at the lecture's sizes
(n_hidden 200), at odd sizes and in float64. test_training trains 100 steps
with your gradients and with loss.backward(): the two runs must not part.
"""


def test_backward(check):
    check("backward")


def test_training_with_your_backward_follows_autograd(check):
    check.training()
