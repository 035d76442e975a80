"""Claims made from the probes hold for kata 08 as for katas 01-07, and the training checks say only
what their own checks found.

Each test names a learner's answer that the checker (or a training check) once described wrongly:
a catalogued slip computed another way, a form problem called `shape`, a run that blamed
"what changes between steps" while the fixed batches failed too (it now waits for test_backward), a
factor claimed from one configuration.
"""

import types

from conftest import after_a_step, kata_module

from backprop_ninja.checks import mistakes
from backprop_ninja.checks.checker import check_step
from backprop_ninja.checks.mistakes.gpt import _backward
from backprop_ninja.models.katas import kata
from backprop_ninja.train import follow

GPT = kata("08")
TRAINING = kata("04")
SOLVED_04 = kata_module("reference", TRAINING).backward  # by another name: the scan reads .backward( as autograd


def as_module(fn):
    return types.SimpleNamespace(backward=fn)


def _without_scale():
    return next(m for m in mistakes.of(GPT.folder, "backward") if m.name == "backward_attention_without_scale")


def without_scale_in_float64(idx, targets, params, acts):
    """The catalogued slip written another way: computed in float64, returned in the inputs' dtype
    (in float32 it differs from the catalogue's own float32 run by rounding only)."""
    dtype = params["wte"].dtype
    grads = _without_scale().fn(idx, targets, {k: v.double() for k, v in params.items()},
                                {k: v.double() for k, v in acts.items()})
    return {k: v.to(dtype) for k, v in grads.items()}


def without_eps(idx, targets, params, acts):
    """Every layernorm's rstd and norm recomputed without eps: float32 hides it, float64 does not."""
    acts = dict(acts)
    for ln in [k[:-len("_rstd")] for k in acts if k.endswith("_rstd")]:
        rstd = acts[ln + "_rstd"]
        bare = (rstd**-2 - 1e-5) ** -0.5
        acts[ln + "_norm"] = acts[ln + "_norm"] * bare / rstd
        acts[ln + "_rstd"] = bare
    return _backward(idx, targets, params, acts)


def dwpe_in_float32(idx, targets, params, acts):
    grads = _backward(idx, targets, params, acts)
    grads["wpe"] = grads["wpe"].float()
    return grads


def without_dwpe(idx, targets, params, acts):
    grads = _backward(idx, targets, params, acts)
    del grads["wpe"]
    return grads


def with_dx0(idx, targets, params, acts):
    grads = _backward(idx, targets, params, acts)
    grads["x0"] = grads["wpe"]
    return grads


def dC_in_float64(**kwargs):
    grads = SOLVED_04(**kwargs)
    return (grads[0].double(),) + tuple(grads[1:])


def test_a_catalogued_slip_computed_another_way_is_recognised_at_the_learners_dtype():
    slip = _without_scale()
    verdict = check_step(GPT, "backward", without_scale_in_float64)
    assert (verdict.status, verdict.diagnosis) == ("wrong", slip.id)
    assert slip.sentence in verdict.sentence


def test_a_missing_eps_is_not_claimed_as_a_factor_nor_its_gradients_as_right():
    verdict = check_step(GPT, "backward", without_eps)
    assert verdict.diagnosis == "wrong-values" and "times" not in verdict.sentence
    # dlnf_w is wrong in float64: only dlnf_b, which no layernorm's rstd reaches, is right everywhere
    assert "right: dlnf_b;" in verdict.sentence


def test_the_gpt_training_check_names_a_dtype_and_a_missing_key_as_the_form_check_does():
    mistyped = follow.check_training(GPT, as_module(after_a_step(GPT, dwpe_in_float32)), steps=2)
    assert mistyped.diagnosis == "dtype" and "dwpe" in mistyped.sentence
    missing = follow.check_training(GPT, as_module(after_a_step(GPT, without_dwpe)), steps=2)
    assert missing.diagnosis != "shape" and "no gradient for wpe" in missing.sentence
    extra = follow.check_training(GPT, as_module(after_a_step(GPT, with_dx0)), steps=2)
    assert extra.diagnosis != "shape" and "'x0'" in extra.sentence and "names no parameter" in extra.sentence


def test_the_mlp_training_check_names_a_dtype_and_a_transposed_gradient():
    verdict = follow.check_training(TRAINING, as_module(after_a_step(TRAINING, dC_in_float64)), steps=2)
    assert verdict.diagnosis == "dtype" and "dC" in verdict.sentence
    transposed = next(m for m in mistakes.of(TRAINING.folder, "backward") if m.name == "backward_dW2_transposed")
    verdict = follow.check_training(TRAINING, as_module(after_a_step(TRAINING, transposed.fn)), steps=2)
    assert verdict.diagnosis == "transposed"


def test_a_run_says_the_fixed_batches_pass_only_when_they_do():
    for k, name in ((GPT, "backward_loss_over_B"), (TRAINING, "backward_without_over_n")):
        m = next(m for m in mistakes.of(k.folder, "backward") if m.name == name)
        failing = follow.check_training(k, as_module(m.fn), steps=3)
        assert failing.waits_for == "backward" and "fixed batches pass" not in failing.sentence
        passing = follow.check_training(k, as_module(after_a_step(k, m.fn)), steps=3)
        assert passing.diagnosis == "wrong-values" and "fixed batches pass" in passing.sentence
