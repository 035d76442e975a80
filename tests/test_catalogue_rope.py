"""Kata 10's slips, written as a learner writes them (Llama's own code, the complex form, GPT-J's
rotate_every_two), fail and are named: the other layout is told as the other layout."""

import torch
from conftest import solution_changed

from backprop_ninja.checks.checker import check_step
from backprop_ninja.models.katas import kata
from backprop_ninja.sandbox import loader

ROPE = kata("10_rope")


def verdict(fn):
    v = check_step(ROPE, "dq", fn)
    assert v.status == "wrong", v.report
    return v


def precompute_freqs_cis(hs, T, theta=10000.0):
    """Llama's own table (its reference code): e^{i t theta_i}, one complex number per pair, (T, hs/2)."""
    freqs = 1.0 / (theta ** (torch.arange(0, hs, 2)[: hs // 2].double() / hs))
    return torch.polar(torch.ones(T, hs // 2, dtype=torch.float64), torch.outer(torch.arange(T).double(), freqs))


def test_llamas_own_layout_with_the_conjugate_is_told_it_rotates_the_other_layout():
    def dq(dq_rot):
        B, nh, T, hs = dq_rot.shape
        freqs_cis = precompute_freqs_cis(hs, T).to(torch.complex128 if dq_rot.dtype == torch.float64
                                                   else torch.complex64)
        z = torch.view_as_complex(dq_rot.reshape(B, nh, T, hs // 2, 2))  # Llama's pairs: channels 2i, 2i+1
        return torch.view_as_real(z * freqs_cis.conj()).flatten(3)
    v = verdict(dq)
    assert v.diagnosis == "layout", v.report
    assert "inverse rotation of the other layout" in v.sentence
    assert "(2i, 2i+1), as Llama's own code does" in v.sentence
    assert "half layout of HF transformers" in v.sentence


def test_llamas_own_forward_copied_is_told_both_slips():
    def dq(dq_rot, cos, sin):
        half = dq_rot.shape[-1] // 2
        z = torch.view_as_complex(dq_rot.reshape(*dq_rot.shape[:-1], half, 2))
        turn = torch.complex(cos[..., :half], sin[..., :half])  # e^{+i angle}: the forward's
        return torch.view_as_real(z * turn).flatten(-2)
    v = verdict(dq)
    assert v.diagnosis == "layout", v.report
    assert "forward again, as Llama's own forward does: two slips" in v.sentence


def test_gptj_rotate_every_two_on_the_half_tables_is_told_the_layouts():
    def dq(dq_rot, cos, sin):
        x1, x2 = dq_rot[..., ::2], dq_rot[..., 1::2]
        rotate_every_two = torch.stack((-x2, x1), dim=-1).flatten(-2)
        return dq_rot * cos - rotate_every_two * sin
    v = verdict(dq)
    assert v.diagnosis == "layout", v.report
    assert "rotate_every_two" in v.sentence and "half layout of HF transformers" in v.sentence


def test_the_complex_form_without_the_conjugate_is_turning_forward_again():
    def dq(dq_rot, cos, sin):
        half = dq_rot.shape[-1] // 2
        z = torch.complex(dq_rot[..., :half], dq_rot[..., half:])  # the half layout: i with i + hs/2
        out = z * torch.complex(cos[..., :half], sin[..., :half])
        return torch.cat([out.real, out.imag], dim=-1)
    v = verdict(dq)
    assert v.diagnosis == "sign", v.report
    assert "forward again, by +angle" in v.sentence and "conjugate" in v.sentence


def test_rotate_half_where_its_transpose_belongs_is_named_whether_sin_comes_before_or_after():
    def rotate_half(u):
        half = u.shape[-1] // 2
        return torch.cat([-u[..., half:], u[..., :half]], dim=-1)

    for dq in (lambda dq_rot, cos, sin: dq_rot * cos + rotate_half(dq_rot * sin),
               lambda dq_rot, cos, sin: dq_rot * cos + rotate_half(dq_rot) * sin):
        v = verdict(dq)
        assert v.diagnosis == "sign", v.report
        assert "rotate_half's transpose is cat(u2, -u1) = -rotate_half(u)" in v.sentence


def test_cos_and_sin_swapped_is_named():
    def dq(dq_rot, cos, sin):
        half = dq_rot.shape[-1] // 2
        g1, g2 = dq_rot[..., :half], dq_rot[..., half:]
        s, c = cos[..., :half], sin[..., :half]  # the two tables taken the wrong way round
        return torch.cat([g1 * c + g2 * s, g2 * c - g1 * s], dim=-1)
    v = verdict(dq)
    assert v.diagnosis == "order", v.report
    assert "cos and sin are swapped" in v.sentence


def test_a_half_written_as_6_is_hard_coded():
    def dq(dq_rot, cos, sin):
        g = dq_rot * sin
        return dq_rot * cos + torch.cat([g[..., 6:], -g[..., :6]], dim=-1)
    assert verdict(dq).diagnosis == "hard-coded"


# --- a learner's file, through the worker ----------------------------------------------------------

def test_a_learners_file_in_the_complex_form_passes_and_may_declare_q_and_hs(tmp_path):
    module = solution_changed(
        tmp_path, "10_rope", "def dq(dq_rot, cos, sin):\n",
        "def dq(dq_rot, cos, sin, q, hs):\n"
        "    assert q.shape == dq_rot.shape and q.is_contiguous() and hs == dq_rot.shape[-1]\n"
        "    z = torch.view_as_complex(torch.stack([dq_rot[..., :hs // 2], dq_rot[..., hs // 2:]], dim=-1))\n"
        "    z = z * torch.view_as_complex(torch.stack([cos[..., :hs // 2], sin[..., :hs // 2]], dim=-1)).conj()\n"
        "    return torch.cat([z.real, z.imag], dim=-1)\n")
    assert check_step(ROPE, "dq", loader.step_function(module, ROPE, "dq")).status == "done"


def test_a_learners_file_with_llamas_layout_is_told_the_layout(tmp_path):
    module = solution_changed(
        tmp_path, "10_rope", "def dq(dq_rot, cos, sin):\n",
        "def dq(dq_rot, cos, sin):\n"
        "    half = dq_rot.shape[-1] // 2\n"
        "    z = torch.view_as_complex(dq_rot.reshape(*dq_rot.shape[:-1], half, 2))\n"
        "    z = z * torch.complex(cos[..., :half], -sin[..., :half])\n"
        "    return torch.view_as_real(z).flatten(-2)\n")
    v = check_step(ROPE, "dq", loader.step_function(module, ROPE, "dq"))
    assert (v.status, v.diagnosis) == ("wrong", "layout"), v.report
    assert "inverse rotation of the other layout" in v.sentence
