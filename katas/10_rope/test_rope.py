"""Kata 10: the rotary embedding's backward against autograd's, inside a small Llama.

The test runs the step at the model sizes, at odd sizes and in float64, fed
the true upstream gradient of the model's next-character loss and a random one.
"""


def test_dq(check):
    check("dq")
