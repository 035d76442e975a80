"""The classic slips of a row norm's gain, out = norm * w (+ b), for katas 05 and 09: dw(norm, dout) -> (C,).

Layernorm and RMSNorm share the step: w (C,) scales every (b, t) row of norm
(B, T, C), so dw = (norm * dout).sum((0, 1)). These functions register the
same slips for each kata, in the kata's own forward line.
"""

from __future__ import annotations

from backprop_ninja.checks.mistakes import mistake


def gain(kata: str, forward: str, mean_note: str = "") -> None:
    """Register dw's slips for `kata`, whose forward line is `forward` (e.g. "out = norm * w + b")."""

    @mistake(kata, "dw", "missing-sum",
             "dw is summed over B only: w is shared by every position of every sequence, so sum norm * dout "
             "over both B and T")
    def dw_summed_over_batch_only(norm, dout):
        return (norm * dout).sum(0)

    @mistake(kata, "dw", "chain-rule",
             f"dw is dout summed, without the local derivative: {forward}, so d out / d w is norm, "
             "and dw = (norm * dout).sum((0, 1))")
    def dw_without_norm(norm, dout):
        return dout.sum((0, 1))

    @mistake(kata, "dw", "scale",
             "dw is a mean over the rows, where a sum belongs: every (b, t) row adds its whole gradient to the "
             f"shared gain{mean_note}")
    def dw_mean_not_sum(norm, dout):
        return (norm * dout).mean((0, 1))

    @mistake(kata, "dw", "shape",
             "dw is summed over the channels (dim -1): w has one entry per channel, so keep the channels and sum "
             "over the rows, dims 0 and 1")
    def dw_summed_over_channels(norm, dout):
        return (norm * dout).sum(-1)

    @mistake(kata, "dw", "keepdim",
             "dw kept the summed dimensions, (1, 1, C): w is (C,), so sum over (0, 1) without keepdim=True")
    def dw_kept_dims(norm, dout):
        return (norm * dout).sum((0, 1), keepdim=True)
