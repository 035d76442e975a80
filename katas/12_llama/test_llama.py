"""Kata 12: your backward() against autograd, then a short training run with autograd beside it.

test_backward checks every parameter's gradient at the model sizes (2 layers),
at odd sizes (1 layer) and in float64, and names the first wrong one in
backward order. test_training trains 100 AdamW steps with your gradients,
autograd computing its own at every step: the two must not part.
"""


def test_backward(check):
    check("backward")


def test_training_with_your_backward_follows_autograd(check):
    check.training()
