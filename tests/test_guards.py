"""Guards around a learner's step: autograd out of reach, a time limit, inputs watched."""

import torch

from backprop_ninja.checks.checker import check_step
from backprop_ninja.models.katas import kata
from backprop_ninja.sandbox.guard import call_step

ATOMIC = kata("01")


def test_autograd_raises_while_a_step_runs_and_comes_back_after():
    def cheat(x):
        x = x.clone().requires_grad_(True)
        (x * x).sum().backward()
        return x.grad

    call = call_step(cheat, {"x": torch.ones(3)})
    assert call.error.isa("AutogradUsed")
    x = torch.ones(2, requires_grad=True)
    (x * 3).sum().backward()
    assert torch.equal(x.grad, torch.full((2,), 3.0))


def test_torch_autograd_grad_is_out_of_reach_too():
    def cheat(x):
        x = x.clone().requires_grad_(True)
        return torch.autograd.grad((x * x).sum(), x)[0]

    assert call_step(cheat, {"x": torch.ones(3)}).error.isa("AutogradUsed")


def test_a_runaway_step_is_stopped():
    def runaway(x):
        while True:
            pass

    call = call_step(runaway, {"x": torch.ones(1)}, seconds=0.2)
    assert call.error.isa("StepTimeout")


def test_an_argument_changed_in_place_is_named():
    def sneaky(a, b):
        a += 1
        return a

    call = call_step(sneaky, {"a": torch.zeros(2), "b": torch.zeros(2)})
    assert call.mutated == ("a",)


def test_the_learners_line_is_quoted_when_a_step_raises():
    def broken(x):
        return x @ x.T @ torch.ones(7)

    call = call_step(broken, {"x": torch.ones(2, 3)})
    assert call.error.isa("RuntimeError")
    assert "test_guards.py" in call.where and "torch.ones(7)" in call.where


def test_a_step_that_raises_gets_the_exception_id_and_its_line():
    def broken(probs, dlogprobs):
        return probs @ dlogprobs

    verdict = check_step(ATOMIC, "dprobs", broken)
    assert (verdict.status, verdict.diagnosis) == ("wrong", "exception")
    assert "return probs @ dlogprobs" in verdict.report


def test_renamed_parameters_are_reported_as_a_signature_mismatch():
    def dprobs(p, dl):
        return dl / p

    verdict = check_step(ATOMIC, "dprobs", dprobs)
    assert verdict.diagnosis == "signature"
    assert "dprobs(probs, dlogprobs)" in verdict.sentence


def test_a_step_that_raises_only_at_odd_sizes_is_named_hard_coded():
    def demb(emb, dembcat):
        return dembcat.view(32, 3, 10)

    verdict = check_step(ATOMIC, "demb", demb)
    assert verdict.diagnosis == "hard-coded"
    assert "odd sizes" in verdict.sentence
