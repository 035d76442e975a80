"""The training check of every whole backward (katas 04, 08, 12): it waits for test_backward when that fails,
and says when the run leaves autograd's when the fixed batches pass, so one problem is said once."""

import types

import pytest
from conftest import after_a_step

from backprop_ninja.checks import mistakes
from backprop_ninja.models.katas import kata
from backprop_ninja.train.follow import check_training

#: per kata: catalogued slips of its backward, the steps of a short run (None: the check's own), and what
#: the sentence of a run that leaves autograd's says of when
WHOLE = {
    "04": (["backward_without_over_n", "backward_biased_variance", "backward_dC_overwritten",
            "backward_tanh_of_output", "backward_without_mean_term"], None,
           ["after step", "differs from autograd's run"]),
    "08": (["backward_without_the_tie", "backward_residual_overwritten", "backward_dwte_overwritten",
            "backward_loss_over_B"], 3, ["at step 2 of 3"]),
    "12": (["backward_rope_skipped", "backward_residual_overwritten", "backward_dwte_overwritten",
            "backward_silu_derivative_as_the_sigmoid"], 3, ["at step 2 of 3"]),
}
CASES = [(number, name) for number, (names, _, _) in WHOLE.items() for name in names]


def as_module(fn):
    return types.SimpleNamespace(backward=fn)


def slip(number, name):
    return next(m for m in mistakes.of(kata(number).folder, "backward") if m.name == name)


def run(number, fn, steps=None):
    steps = steps or WHOLE[number][1]
    return check_training(kata(number), as_module(fn), **({"steps": steps} if steps else {}))


@pytest.mark.parametrize("number, name", CASES)
def test_a_slip_test_backward_names_makes_training_wait_for_it_under_its_id(number, name):
    verdict = run(number, slip(number, name).fn)
    assert (verdict.status, verdict.diagnosis, verdict.waits_for) == ("wrong", slip(number, name).id, "backward")
    assert verdict.sentence == f"waits for backward: fix it first (pytest katas/{kata(number).folder} -k backward)"


@pytest.mark.parametrize("number, name", CASES)
def test_a_slip_the_fixed_batches_miss_makes_the_run_leave_autograd_and_says_when(number, name):
    verdict = run(number, after_a_step(kata(number), slip(number, name).fn))
    assert (verdict.status, verdict.diagnosis, verdict.waits_for) == ("wrong", "wrong-values", "")
    assert all(when in verdict.sentence for when in WHOLE[number][2]), verdict.sentence
    assert "the checks' fixed batches pass" in verdict.sentence


def boom(**kwargs):
    raise ValueError("boom")


@pytest.mark.parametrize("number", WHOLE)
def test_an_error_inside_backward_is_quoted_when_the_fixed_batches_pass(number):
    verdict = run(number, after_a_step(kata(number), boom), steps=2)
    assert verdict.diagnosis == "exception" and "ValueError: boom" in verdict.sentence


@pytest.mark.parametrize("number", WHOLE)
def test_an_error_test_backward_meets_too_makes_training_wait_for_it(number):
    verdict = run(number, boom, steps=2)
    assert (verdict.diagnosis, verdict.waits_for) == ("exception", "backward")
    assert "boom" not in verdict.sentence
