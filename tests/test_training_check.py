"""Kata 04's training check: a short run with your backward stays with autograd's."""

import textwrap
import types

import pytest
import variants
from conftest import ROOT, after_a_step, kata_module, learner_file

from backprop_ninja.checks import mistakes
from backprop_ninja.models.katas import kata
from backprop_ninja.train.follow import check_training

TRAINING = kata("04")


def as_module(fn):
    return types.SimpleNamespace(backward=fn)


def slip(name):
    return next(m for m in mistakes.of(TRAINING.folder, "backward") if m.name == name)


def test_the_reference_backward_trains_like_autograd():
    verdict = check_training(TRAINING, kata_module("reference", TRAINING))
    assert verdict.status == "done", verdict.report


def test_the_stub_waits_as_todo():
    verdict = check_training(TRAINING, kata_module("katas", TRAINING))
    assert (verdict.status, verdict.diagnosis) == ("todo", "not-implemented")


def test_a_result_that_cannot_update_the_parameters_mid_run_is_named_by_the_form_check():
    verdict = check_training(TRAINING, as_module(after_a_step(TRAINING, slip("backward_dW2_transposed").fn)), steps=5)
    assert verdict.diagnosis == "transposed"
    assert "at step 2, backward's result cannot update the parameters" in verdict.sentence


@pytest.mark.parametrize("fn", [fn for k, _, fn in variants.everything() if k == TRAINING.folder],
                         ids=lambda fn: fn.__name__)
def test_a_correct_variant_trains_like_autograd(fn):
    verdict = check_training(TRAINING, as_module(fn))
    assert verdict.status == "done", verdict.report


def test_a_backward_that_keeps_a_buffer_from_call_to_call_is_told_so(tmp_path):
    """dC accumulated into a buffer kept between calls: right on its first call, so its own check can pass."""
    solved = (ROOT / "reference" / TRAINING.folder / TRAINING.module).read_text()
    mine = learner_file(tmp_path, TRAINING, solved + textwrap.dedent("""

        right = backward
        kept = {}


        def backward(**kwargs):
            grads = right(**kwargs)
            buffer = kept.setdefault(grads[0].shape, torch.zeros_like(grads[0]))
            buffer += grads[0]  # the buffer should start from zero at every call
            return (buffer.clone(),) + tuple(grads[1:])
        """))
    verdict = check_training(TRAINING, mine, steps=3)
    assert (verdict.status, verdict.diagnosis) == ("wrong", "kept-state")
    assert verdict.sentence.startswith("at step 2, backward gave other gradients for the same inputs")
