"""The training checks: a short run with your backward follows autograd's.

Kata 04 (the lecture's MLP): two runs from the lecture's parameters see the
same batches of a small synthetic dataset (no names.txt needed); after every
SGD step the two sets of parameters must agree to the float32 tolerance of
compare.TOLERANCE, relative to each parameter's size.

Katas 08 and 12 (the GPT, the Llama: the kata's whole model, its graph): one
run of AdamW steps in float64 at the model sizes, on batches of the built-in
names, with autograd's gradients computed beside the learner's at the same
parameters and batch.

Both report with the ids of every step's check (checks.checker): a result
of the wrong form is named by the checker's own form check, at the sizes the
run trains. A run that stops (backward raised, returned what cannot update
the parameters, or left autograd's) first runs the fixed-batch check
(test_backward): when that fails too, the training check only waits for it,
as the chain does, so one problem is said once, by test_backward. The check a
kata runs is looked up in FOLLOWERS by its folder: data, not a branch.
"""

from __future__ import annotations

import dataclasses

import torch

from backprop_ninja.checks import diagnose
from backprop_ninja.checks.checker import check_step, scan_findings
from backprop_ninja.checks.compare import TOLERANCE, close
from backprop_ninja.checks.probes import probes, results
from backprop_ninja.checks.problems import form_problem, process_problem
from backprop_ninja.checks.report import report, todo
from backprop_ninja.checks.verdict import Verdict, location, waiting
from backprop_ninja.models import lecture
from backprop_ninja.models.katas import Kata
from backprop_ninja.sandbox.guard import call_step
from backprop_ninja.sandbox.loader import DEFAULT_SECONDS
from backprop_ninja.train import gpt as gpt_training
from backprop_ninja.train import mlp as training

STEPS = 100  # steps of either training check
GPT_LR = 1e-3  # the GPT check's AdamW learning rate
VOCAB = 27


def dataset(n: int = 2000, seed: int = 42) -> tuple[torch.Tensor, torch.Tensor]:
    """X (n, 3) random contexts and Y (n,) = a function of them, so the loss can fall."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, VOCAB, (n, 3), generator=g)  # (n, block_size)
    Y = (X[:, 2] + X[:, 1]) % VOCAB  # (n,) learnable from the context
    return X, Y


class _Stop(Exception):
    def __init__(self, verdict: Verdict):
        self.verdict = verdict


def form_probe(kata: Kata, cfg):
    """The probe that says what form backward returns at the sizes a run trains (cfg): built once,
    before the run (its trace needs autograd, which the manual loop turns off)."""
    return probes(kata.step("backward"), kata.graph, cfg)[0]


def form_at(kata: Kata, probe, kwargs: dict, result, autograd) -> tuple[str, str] | None:
    """(id, sentence) when backward's result at one training step is not gradients of the parameters'
    form (the checker's form check: a tuple or dict of plain tensors, each of its parameter's shape,
    dtype and device, finite), else None.

    probe: form_probe at the sizes the run trains; kwargs: what backward was fed;
    autograd(): autograd's gradients at the same parameters and batch (a tuple in the targets' order,
    or a dict by name), computed only when the result has the right outer form.
    """
    step = kata.step("backward")
    problem = form_problem(step, probe, result)
    if problem:
        return problem
    got = results(probe, result)
    if all(not g.requires_grad and g.shape == e.shape and g.dtype == e.dtype and g.device == e.device
           and bool(torch.isfinite(g).all()) for g, e in zip(got, probe.expected)):
        return None  # every step of a good run: no autograd pass for the form alone
    expected = autograd()
    if isinstance(expected, dict):
        expected = tuple(expected[t] for t in probe.targets)
    probe = dataclasses.replace(probe, label="training step", kwargs=kwargs, expected=expected,
                                scales=tuple(float(e.abs().max()) or 1.0 for e in expected), branches={})
    for target, g, want in zip(probe.targets, got, expected):
        found = diagnose.structure(step, target, g, want, probe)
        if found:
            return found[:2]
    return None


def _wrong(kata: Kata, headline: str, ident: str, sentence: str, where: str = "") -> Verdict:
    """The training check failed: `headline` heads its report, `sentence` says what went wrong and what to try."""
    return Verdict(kata.folder, "training", "wrong", ident, sentence,
                   report=report("training", headline, "", ident, sentence), where=where)


def _form_verdict(kata: Kata, i: int, problem: tuple[str, str]) -> Verdict:
    ident, sentence = problem
    return _wrong(kata, f"stopped at step {i + 1}", ident,
                  f"at step {i + 1}, backward's result cannot update the parameters: {sentence}")


def _left_autograds(kata: Kata, sentence: str) -> Verdict:
    return _wrong(kata, "your run leaves autograd's", "wrong-values", sentence)


FIXED_BATCHES_PASS = ("the checks' fixed batches pass, so look for what changes between steps: a value kept from "
                      "an earlier call, or a line right only for some batches or parameter values")


def stopped(kata: Kata, fn, seconds: float, verdict: Verdict, kwargs: dict | None, i: int) -> Verdict:
    """The verdict of a run that stopped at step i (0-based), fed `kwargs` there: kept-state when backward
    answers those inputs twice and differs (not tried when kwargs is None: a call that hung or ended the
    worker is not repeated); else `verdict` when it passes its own fixed-batch check
    (test_backward, run now); else one line that waits for that check, under its diagnosis id."""
    kept = kept_state(kata, fn, seconds, kwargs, i) if kwargs is not None else None
    if kept is not None:
        return kept
    with torch.enable_grad():  # kata 04's run stops inside the manual loop's no_grad; the checks' trace needs autograd
        own = check_step(kata, "backward", fn, seconds)
    if own.status == "done":
        return verdict
    return waiting(kata, "training", "backward", own.diagnosis or "wrong-values", location(fn))


def kept_state(kata: Kata, fn, seconds: float, kwargs: dict, i: int) -> Verdict | None:
    """kept-state when two calls of backward on the same inputs (a step's) disagree beyond rounding: it keeps
    something from call to call (a buffer not zeroed, a global), so a rerun of its check would not say what
    the run saw. None when they agree, or when neither call returns tensors to compare."""
    first, second = (call_step(fn, kwargs, seconds, trusted=False) for _ in range(2))
    if first.error is not None and second.error is not None:
        return None
    a, b = _tensors(first.result), _tensors(second.result)
    if first.error is None and second.error is None:
        if a is None or b is None or len(a) != len(b):
            return None
        if all(type(x) is torch.Tensor and type(y) is torch.Tensor and close(x, y, float(y.abs().max()) or 1.0)
               for x, y in zip(a, b)):
            return None
    sentence = (f"at step {i + 1}, backward gave other gradients for the same inputs when called again: it keeps "
                "something from call to call (a buffer it does not zero, a global it updates); make each call "
                "start from nothing")
    return _wrong(kata, "different answers to the same inputs", "kept-state", sentence, location(fn))


def _tensors(result) -> list | None:
    """backward's gradients as a list (a dict's by sorted key), or None when it returned neither form."""
    if isinstance(result, dict):
        return [result[k] for k in sorted(result, key=str)]
    if isinstance(result, (tuple, list)):
        return list(result)
    return None


def follow_mlp(kata: Kata, module, steps: int = STEPS, seconds: float = DEFAULT_SECONDS,
               device: str = "cpu") -> Verdict:
    """Kata 04: train `steps` SGD steps with module.backward and with autograd; compare them step by step."""
    fn = backward_of(kata, module)
    if isinstance(fn, Verdict):
        return fn

    # the sizes training.init_model makes
    probe = form_probe(kata, dataclasses.replace(kata.configs[0], device=str(device)))
    at = [0]  # the step the run is at, for a verdict
    fed = [{}]  # what backward was fed at that step

    def guarded(**kwargs):
        fed[0] = kwargs
        call = call_step(fn, kwargs, seconds, trusted=False)
        if call.error is not None:
            raise _Stop(failed_verdict(kata, fn, call, seconds, kwargs, at[0]))

        def autograd():
            leaves = {k: kwargs[k].detach().clone() for k in lecture.PARAMETERS}
            with torch.enable_grad():  # backward is called inside the manual loop's no_grad
                return training.autograd_gradients(leaves, kwargs["Xb"], kwargs["Yb"])[1]

        problem = form_at(kata, probe, kwargs, call.result, autograd)
        if problem:
            raise _Stop(stopped(kata, fn, seconds, _form_verdict(kata, at[0], problem), kwargs, at[0]))
        return call.result

    X, Y = (t.to(device) for t in dataset())
    mine, theirs = training.init_model(VOCAB, device=device), training.init_model(VOCAB, device=device)
    manual = training.manual_gradients(guarded)
    g = torch.Generator().manual_seed(7)
    for i in range(steps):
        at[0] = i
        ix = torch.randint(0, X.shape[0], (32,), generator=g).to(device)  # (32,)
        try:
            loss = training.train_step(manual, mine, X[ix], Y[ix], 0.1)
        except _Stop as stop:
            return stop.verdict
        ref = training.train_step(training.autograd_gradients, theirs, X[ix], Y[ix], 0.1)
        drift = {k: float((mine[k] - theirs[k].detach()).abs().max() / theirs[k].detach().abs().max())
                 for k in lecture.PARAMETERS}
        worst = max(drift, key=drift.get)
        if not drift[worst] <= TOLERANCE[torch.float32]:  # NaN fails too
            sentence = (f"after step {i + 1} of {steps}, {worst} differs from autograd's run by "
                        f"{drift[worst]:.1e} of its size (loss {float(loss):.4f} vs {float(ref):.4f}); "
                        f"{FIXED_BATCHES_PASS}")
            return stopped(kata, fn, seconds, _left_autograds(kata, sentence), fed[0], i)
    return Verdict(kata.folder, "training", "done")


def backward_of(kata: Kata, module):
    """The module's backward to train with, or the verdict that says why there is none to train:
    missing, or what the scan found in it (autograd, the harness's own code)."""
    from backprop_ninja.sandbox.loader import function_of

    fn = function_of(module, "backward", kata.step_names)
    if not callable(fn):
        return Verdict(kata.folder, "training", "wrong", "no-step", "the module has no function backward",
                       report=report("training", "no backward() to train with", "", "no-step", "add backward back"))
    found = scan_findings(fn)
    if found:  # test_backward says what the scan found; the run waits for it
        return waiting(kata, "training", "backward", found[0].ident, location(fn))
    return fn


def failed_verdict(kata: Kata, fn, call, seconds: float, kwargs: dict, i: int) -> Verdict:
    """The verdict of a call of backward that raised during a run: todo while it is not written yet."""
    err = call.error
    if err.isa("NotImplementedError"):
        return Verdict(kata.folder, "training", "todo", "not-implemented", "training waits for backward",
                       report=todo("training", "waits for backward"), where=location(fn))
    lost = process_problem(kata.step("backward"), err)
    ident = (lost[0] if lost else "autograd" if err.isa("AutogradUsed") else "timeout" if err.isa("StepTimeout")
             else "exception")
    sentence = f"backward raised {err.type}: {err}" + (f" at {call.where}" if call.where else "")
    if lost or ident == "timeout":
        kwargs = None  # a call that ended the worker or hung is not repeated to look for kept state
    return stopped(kata, fn, seconds, _wrong(kata, "backward raised an error", ident, sentence), kwargs, i)


# --------------------------------------------------------------------------- katas 08, 12: AdamW steps of a whole model

def follow_model(kata: Kata, module, steps: int = STEPS, seconds: float = DEFAULT_SECONDS,
                 device: str = "cpu") -> Verdict:
    """Katas 08, 12: train `steps` AdamW steps of the kata's whole model (kata.graph, models/gpt_trace.py)
    with module.backward, autograd beside it at every step.

    One run, in float64 at the model sizes, on batches cut from the built-in names:
    at every step autograd computes the gradients at the same parameters and
    batch, and each of the learner's must match it within float64's tolerance of
    its own size. Comparing at the same parameters, not two runs apart, keeps
    AdamW from magnifying float noise in gradients that are zero in exact
    arithmetic (the keys' bias) into a false alarm.
    """
    fn = backward_of(kata, module)
    if isinstance(fn, Verdict):
        return fn
    model = kata.graph
    cfg = dataclasses.replace(model.module.FLOAT64, device=str(device))
    params = model.module.init_parameters(cfg)
    opt = gpt_training.AdamW(params)
    data = model.module.stream().to(device)
    probe = form_probe(kata, cfg)
    g = torch.Generator().manual_seed(7)
    for i in range(steps):
        idx, targets = gpt_training.batch(data, cfg.B, cfg.T, g)
        loss, kwargs = gpt_training.backward_kwargs(params, idx, targets, cfg.nh, model)
        call = call_step(fn, kwargs, seconds, trusted=False)
        if call.error is not None:
            return failed_verdict(kata, fn, call, seconds, kwargs, i)
        grads = call.result
        _, want = gpt_training.autograd_gradients(params, idx, targets, cfg.nh, model)
        problem = form_at(kata, probe, kwargs, grads, lambda want=want: want)
        if problem:
            return stopped(kata, fn, seconds, _form_verdict(kata, i, problem), kwargs, i)
        for name in model.module.backward_order(params):
            scale = float(want[name].abs().max()) or 1.0
            if not close(grads[name], want[name], scale):
                diff = float((grads[name] - want[name]).abs().max()) / scale
                sentence = (f"at step {i + 1} of {steps}, d{name} differs from autograd's at the same parameters "
                            f"and batch by {diff:.1e} of its size (loss {float(loss):.4f}); {FIXED_BATCHES_PASS}")
                return stopped(kata, fn, seconds, _left_autograds(kata, sentence), kwargs, i)
        opt.step(grads, GPT_LR)
    return Verdict(kata.folder, "training", "done")


#: kata folder -> its training check
FOLLOWERS = {"04_training": follow_mlp, "08_gpt": follow_model, "12_llama": follow_model}


def check_training(kata: Kata, module, steps: int = STEPS, seconds: float = DEFAULT_SECONDS,
                   device: str = "cpu") -> Verdict:
    """The kata's training check: `steps` steps with module.backward beside autograd."""
    return FOLLOWERS[kata.folder](kata, module, steps, seconds, device)
