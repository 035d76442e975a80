"""Classic wrong answers of kata 10 (rotary position embeddings of a small Llama):
dq = dq_rot * cos + rotate_half^T(dq_rot * sin), rotate_half^T(u) = cat(u2, -u1) = -rotate_half(u).

The forward turns each pair (channel i, channel i + hs/2) by +angle; the backward
turns it back by -angle. The slips: turning forward again (the sign of the
rotate-half transpose), cos and sin swapped, a path left out, the minus lost,
and the other layout, Llama's own neighbouring pairs (2i, 2i+1). cos and sin hold
the same values in both halves, so rotate_half(u * sin) = rotate_half(u) * sin:
where the sin goes, before or after the swap, is no slip.
"""

import torch

from backprop_ninja.checks.mistakes import mistake
from backprop_ninja.models.llama import rotate_half

K = "10_rope"


@mistake(K, "dq", "sign",
         "dq turns each pair forward again, by +angle: the backward of a rotation is its transpose, the "
         "rotation by -angle, and rotate_half's transpose is cat(u2, -u1) = -rotate_half(u), so the sin term "
         "is subtracted: dq_rot * cos - rotate_half(dq_rot) * sin (in the complex form: multiply by the "
         "conjugate)")
def dq_rotated_forward_again(dq_rot, cos, sin):
    return dq_rot * cos + rotate_half(dq_rot) * sin


@mistake(K, "dq", "order",
         "cos and sin are swapped: q_rot = q * cos + rotate_half(q) * sin, so the path straight through q "
         "carries cos and the path through rotate_half carries sin, in the backward as in the forward")
def dq_cos_and_sin_swapped(dq_rot, cos, sin):
    return dq_rot * sin - rotate_half(dq_rot) * cos


@mistake(K, "dq", "missing-branch",
         "the path through rotate_half is missing: q reaches q_rot twice, as q * cos and as "
         "rotate_half(q) * sin, so dq adds rotate_half's transpose of dq_rot * sin to dq_rot * cos")
def dq_without_the_sin_term(dq_rot, cos, sin):
    return dq_rot * cos


@mistake(K, "dq", "missing-branch",
         "the direct path is missing: q reaches q_rot twice, as q * cos and as rotate_half(q) * sin, so "
         "dq adds dq_rot * cos to the sin term")
def dq_without_the_cos_term(dq_rot, cos, sin):
    return -rotate_half(dq_rot) * sin


@mistake(K, "dq", "sign",
         "rotate_half's transpose has lost its minus: the halves swapped alone, cat(u2, u1), is a "
         "reflection, not a rotation; the transpose of rotate_half(u) = cat(-u2, u1) is cat(u2, -u1), the "
         "new second half negated")
def dq_halves_swapped_without_minus(dq_rot, cos, sin):
    half = dq_rot.shape[-1] // 2
    return dq_rot * cos + torch.cat([dq_rot[..., half:], dq_rot[..., :half]], dim=-1) * sin


@mistake(K, "dq", "layout",
         "dq is the inverse rotation of the other layout: it pairs neighbouring channels (2i, 2i+1), as "
         "Llama's own code does (view_as_complex over reshape(..., hs/2, 2)); this model uses the half layout "
         "of HF transformers, channel i paired with channel i + hs/2 (rotate_half), cos and sin repeated "
         "over the two halves; the rotation by -angle is right, so pair channel i with channel i + hs/2 instead")
def dq_inverse_rotation_of_neighbouring_pairs(dq_rot, cos, sin):
    half = dq_rot.shape[-1] // 2
    c, s = cos[..., :half], sin[..., :half]  # (T, hs/2): the angle of pair i
    pairs = dq_rot.reshape(*dq_rot.shape[:-1], half, 2)  # (..., hs/2, 2): channels 2i, 2i+1
    a, b = pairs[..., 0], pairs[..., 1]
    return torch.stack([a * c + b * s, b * c - a * s], dim=-1).flatten(-2)


@mistake(K, "dq", "layout",
         "the rotation swaps neighbouring channels (2i, 2i+1), the interleaved layout of Llama's own code "
         "(GPT-J's rotate_every_two), while cos and sin here are in the half layout of HF transformers: channel i "
         "is paired with channel i + hs/2, rotate_half's pairs, and both halves share the angles")
def dq_neighbouring_pairs_with_half_tables(dq_rot, cos, sin):
    pairs = dq_rot.reshape(*dq_rot.shape[:-1], -1, 2)  # (..., hs/2, 2): channels 2i, 2i+1
    a, b = pairs[..., 0], pairs[..., 1]
    transposed = torch.stack([b, -a], dim=-1).flatten(-2)  # rotate_every_two's transpose
    return dq_rot * cos + transposed * sin


@mistake(K, "dq", "layout",
         "dq turns neighbouring channels (2i, 2i+1) forward again, as Llama's own forward does: two slips. "
         "This model pairs channel i with channel i + hs/2 (the half layout of HF transformers, rotate_half), "
         "and the backward of a rotation is the rotation by -angle (in the complex form: multiply by the "
         "conjugate, e^{-i angle})")
def dq_neighbouring_pairs_turned_forward_again(dq_rot, cos, sin):
    half = dq_rot.shape[-1] // 2
    c, s = cos[..., :half], sin[..., :half]  # (T, hs/2): the angle of pair i
    pairs = dq_rot.reshape(*dq_rot.shape[:-1], half, 2)  # (..., hs/2, 2): channels 2i, 2i+1
    a, b = pairs[..., 0], pairs[..., 1]
    return torch.stack([a * c - b * s, a * s + b * c], dim=-1).flatten(-2)
