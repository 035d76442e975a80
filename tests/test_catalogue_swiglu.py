"""Kata 11's slips, written as a learner writes them (F.sigmoid, einsum, views), fail and are named."""

import torch
import torch.nn.functional as F

from backprop_ninja.checks.checker import check_step
from backprop_ninja.models.katas import kata


def verdict(step, fn):
    v = check_step(kata("11_swiglu"), step, fn)
    assert v.status == "wrong", v.report
    return v


# --- da: silu's derivative ----------------------------------------------------------------------

def test_sigmoid_alone_for_silus_derivative_is_named():
    def da(a, u, dh):
        return dh * u * F.sigmoid(a)
    v = verdict("da", da)
    assert v.diagnosis == "derivative", v.report
    assert "sigmoid(a) alone" in v.sentence and "s * (1 + a * (1 - s))" in v.sentence


def test_sigmoids_derivative_for_silus_is_named():
    def da(a, u, dh):
        sig = torch.sigmoid(a)
        return dh * u * sig * (1 - sig)
    v = verdict("da", da)
    assert v.diagnosis == "derivative", v.report
    assert "sigmoid's derivative, not silu's" in v.sentence


def test_silu_itself_for_its_derivative_is_named():
    v = verdict("da", lambda a, u, dh: F.silu(a) * u * dh)
    assert v.diagnosis == "derivative", v.report
    assert "silu(a) itself" in v.sentence


# --- the gate and the up confused ---------------------------------------------------------------

def test_du_without_the_silu_is_named():
    v = verdict("du", lambda a, dh: dh * a)
    assert v.diagnosis == "derivative", v.report
    assert "du forgot the silu" in v.sentence


def test_da_given_the_up_paths_gradient_is_named():
    v = verdict("da", lambda a, u, dh: F.silu(a) * dh)
    assert v.diagnosis == "derivative", v.report
    assert "roles are swapped" in v.sentence


def test_dx_with_the_weights_crossed_is_named():
    def dx(W_gate, W_up, da, du):
        return torch.einsum("bth,ch->btc", da, W_up) + torch.einsum("bth,ch->btc", du, W_gate)
    v = verdict("dx", dx)
    assert v.diagnosis == "order", v.report
    assert "the paths are crossed" in v.sentence


# --- dx: two paths ------------------------------------------------------------------------------

def test_dx_with_one_path_is_named_with_the_other():
    v = verdict("dx", lambda W_gate, W_up, da, du: du @ W_up.T)
    assert v.diagnosis == "missing-branch", v.report
    assert "add the gate's path, da @ W_gate.T" in v.sentence


# --- the weights --------------------------------------------------------------------------------

def test_a_weight_gradient_summed_over_the_batch_only_is_named():
    def dW_down(h, dout):
        return h.permute(1, 2, 0) @ dout.transpose(0, 1)  # (T, H, B) @ (T, B, C): a sum over B alone
    v = verdict("dW_down", dW_down)
    assert v.diagnosis == "missing-sum", v.report
    assert "summed over B only" in v.sentence


def test_a_weight_gradient_transposed_is_named():
    def dW_gate(x, da):
        return torch.einsum("bth,btc->hc", da, x)
    v = verdict("dW_gate", dW_gate)
    assert v.diagnosis == "transposed", v.report
    assert "dW_gate = x^T @ da" in v.sentence
