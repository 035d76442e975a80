"""Kata 09's slips, written as a learner writes them, fail and are named by the catalogue's own sentence."""

import re

import pytest
import torch

from backprop_ninja.checks import mistakes
from backprop_ninja.checks.checker import check_step
from backprop_ninja.models.katas import kata

K = kata("09_rmsnorm")


def verdict(step, fn):
    v = check_step(K, step, fn)
    assert v.status == "wrong", v.report
    return v


def named(v, name):
    """The verdict names the catalogued mistake `name`: its id and its own sentence."""
    m = next(m for m in mistakes.everything() if m.kata == K.folder and m.name == name)
    assert v.diagnosis == m.id, v.report
    assert m.sentence in v.sentence, v.report


@pytest.mark.parametrize("m", [m for m in mistakes.everything() if m.kata == "09_rmsnorm"], ids=lambda m: m.name)
def test_each_catalogued_slip_is_named_by_its_own_sentence_not_only_its_id(m):
    named(verdict(m.step, m.fn), m.name)


def back(dout, w, x, inv_rms, half=-0.5, two=2.0, mean=True, with_w=True):
    """The forward's lines walked back one at a time, with a slip where asked."""
    C = x.shape[-1]
    dnorm = dout * w if with_w else dout
    dinv_rms = (dnorm * x).sum(-1, keepdim=True)
    dms = half * inv_rms**3 * dinv_rms
    dxsq = dms / C if mean else dms
    return dnorm * inv_rms + two * x * dxsq


# --- the lesson: layernorm's third term has nothing to come from ----------------------------------

def test_layernorm_answer_with_its_sums_is_named_layernorms_gradient():
    def dx(dout, w, x, inv_rms):
        C = x.shape[-1]
        dnorm, norm = dout * w, x * inv_rms
        return inv_rms / C * (C * dnorm - dnorm.sum(-1, keepdim=True) - norm * (dnorm * norm).sum(-1, keepdim=True))
    named(verdict("dx", dx), "dx_layernorm_mean_term_kept")


def test_the_mean_term_kept_in_the_x_form_is_named_too():
    def dx(dout, w, x, inv_rms):
        dnorm = dout * w
        return inv_rms * (dnorm - dnorm.mean(-1, keepdim=True)) - inv_rms**3 * x * (dnorm * x).mean(-1, keepdim=True)
    named(verdict("dx", dx), "dx_layernorm_mean_term_kept")


# --- inv_rms: a factor, three times in the second term --------------------------------------------

def test_inv_rms_divided_in_the_x_form_is_named():
    def dx(dout, w, x, inv_rms):
        dnorm = dout * w
        return dnorm / inv_rms - x * (dnorm * x).mean(-1, keepdim=True) * inv_rms
    named(verdict("dx", dx), "dx_divided_by_inv_rms")


def test_inv_rms_squared_where_it_is_cubed_is_named():
    def dx(dout, w, x, inv_rms):
        dnorm = dout * w
        return inv_rms * dnorm - inv_rms**2 * x * (dnorm * x).mean(-1, keepdim=True)
    named(verdict("dx", dx), "dx_second_term_without_inv_rms")


def test_only_the_direct_path_is_named_a_missing_branch():
    named(verdict("dx", lambda dout, w, x, inv_rms: dout * w * inv_rms), "dx_without_inv_rms_term")


# --- the derivative of the root of a mean square, line by line ------------------------------------

def test_the_mean_squares_1_over_C_forgotten_line_by_line_is_named():
    named(verdict("dx", lambda dout, w, x, inv_rms: back(dout, w, x, inv_rms, mean=False)), "dx_sum_not_mean")


def test_the_x_form_with_a_sum_is_named_the_same():
    def dx(dout, w, x, inv_rms):
        dnorm = dout * w
        return inv_rms * dnorm - inv_rms**3 * x * (dnorm * x).sum(-1, keepdim=True)
    named(verdict("dx", dx), "dx_sum_not_mean")


def test_the_power_rules_half_dropped_line_by_line_is_named():
    named(verdict("dx", lambda dout, w, x, inv_rms: back(dout, w, x, inv_rms, half=1.0)),
          "dx_power_rule_without_half")
    named(verdict("dx", lambda dout, w, x, inv_rms: back(dout, w, x, inv_rms, half=-1.0)),
          "dx_power_rule_half_dropped_minus_kept")


def test_the_2_of_the_square_dropped_line_by_line_is_named():
    named(verdict("dx", lambda dout, w, x, inv_rms: back(dout, w, x, inv_rms, two=1.0)),
          "dx_without_the_two_of_the_square")


def test_the_chain_rule_without_w_line_by_line_is_named():
    named(verdict("dx", lambda dout, w, x, inv_rms: back(dout, w, x, inv_rms, with_w=False)), "dx_without_w")


def test_the_rms_recomputed_without_eps_is_named():
    def dx(dout, w, x, inv_rms):
        r = 1 / x.pow(2).mean(-1, keepdim=True).sqrt()
        dnorm = dout * w
        return r * dnorm - r**3 * x * (dnorm * x).mean(-1, keepdim=True)
    v = verdict("dx", dx)
    named(v, "dx_rms_without_eps")
    # the sentence says float64 shows it: a float64 probe fails
    assert re.search(r"float64 +\| False +\| False", v.report), v.report


# --- dw -------------------------------------------------------------------------------------------

def test_dw_by_einsum_over_b_only_is_named():
    named(verdict("dw", lambda norm, dout: torch.einsum("btc,btc->tc", norm, dout)), "dw_summed_over_batch_only")


def test_dw_as_a_mean_is_named():
    named(verdict("dw", lambda norm, dout: (norm * dout).mean(dim=(0, 1))), "dw_mean_not_sum")


def test_dw_with_its_dims_kept_one_at_a_time_is_named():
    named(verdict("dw", lambda norm, dout: (norm * dout).sum(0, keepdim=True).sum(1, keepdim=True)), "dw_kept_dims")
