"""Kata 04's training check: a short run with your backward stays with autograd's."""

import types

import pytest
import variants
from conftest import kata_module

from backprop_ninja.checks import mistakes
from backprop_ninja.models.katas import kata
from backprop_ninja.train.follow import check_training

TRAINING = kata("04")


def as_module(fn):
    return types.SimpleNamespace(backward=fn)


def test_the_reference_backward_trains_like_autograd():
    verdict = check_training(TRAINING, kata_module("reference", TRAINING))
    assert verdict.status == "done", verdict.report


def test_the_stub_waits_as_todo():
    verdict = check_training(TRAINING, kata_module("katas", TRAINING))
    assert (verdict.status, verdict.diagnosis) == ("todo", "not-implemented")


@pytest.mark.parametrize("name", ["backward_without_over_n", "backward_biased_variance", "backward_dC_overwritten",
                                  "backward_tanh_of_output", "backward_without_mean_term"])
def test_a_wrong_gradient_makes_the_runs_part_and_says_when(name):
    m = next(m for m in mistakes.of(TRAINING.folder, "backward") if m.name == name)
    verdict = check_training(TRAINING, as_module(m.fn))
    assert (verdict.status, verdict.diagnosis) == ("wrong", "wrong-values")
    assert "after step" in verdict.sentence and "differs from autograd's run" in verdict.sentence


def test_a_gradient_that_cannot_update_its_parameter_is_named_by_the_form_check():
    m = next(m for m in mistakes.of(TRAINING.folder, "backward") if m.name == "backward_dW2_transposed")
    verdict = check_training(TRAINING, as_module(m.fn), steps=5)
    assert verdict.diagnosis == "transposed" and "cannot update the parameters" in verdict.sentence


def test_an_error_inside_backward_is_quoted():
    def backward(**kwargs):
        raise ValueError("boom")

    verdict = check_training(TRAINING, as_module(backward), steps=5)
    assert verdict.diagnosis == "exception" and "ValueError: boom" in verdict.sentence


@pytest.mark.parametrize("fn", [fn for k, _, fn in variants.everything() if k == TRAINING.folder],
                         ids=lambda fn: fn.__name__)
def test_a_correct_variant_trains_like_autograd(fn):
    verdict = check_training(TRAINING, as_module(fn))
    assert verdict.status == "done", verdict.report
