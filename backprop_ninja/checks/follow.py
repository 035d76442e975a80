"""Kata 04's last check: a short training run with your backward follows autograd's.

Both runs start from the lecture's parameters and see the same batches of a
small synthetic dataset (no names.txt needed); after every step the two sets
of parameters must agree to the float32 tolerance of compare.TOLERANCE,
relative to each parameter's size.
"""

from __future__ import annotations

import torch

from backprop_ninja.checks.checker import DEFAULT_SECONDS, Verdict, _process_problem, location
from backprop_ninja.checks.compare import TOLERANCE
from backprop_ninja.models import lecture
from backprop_ninja.models.katas import Kata
from backprop_ninja.sandbox.guard import call_step

STEPS = 100
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


def check_training(kata: Kata, module, steps: int = STEPS, seconds: float = DEFAULT_SECONDS,
                   device: str = "cpu") -> Verdict:
    """Train `steps` SGD steps with module.backward and with autograd; compare them step by step."""
    from backprop_ninja.sandbox.loader import function_of
    from backprop_ninja.train import mlp as training  # torch-heavy, and only this check needs it

    fn = function_of(module, "backward", kata.step_names)
    if not callable(fn):
        return Verdict(kata.folder, "training", "wrong", "no-step", "the module has no function backward",
                       report="training: no backward() to train with\ndiagnosis: no-step — add backward back")

    found = list(getattr(fn, "findings", ()))
    if found:
        ident, sentence = found[0].ident, found[0].sentence("backward")
        return Verdict(kata.folder, "training", "wrong", ident, sentence,
                       report=f"training: {ident}\ndiagnosis: {ident} — {sentence}")

    def guarded(**kwargs):
        call = call_step(fn, kwargs, seconds, trusted=False)
        if call.error is not None:
            raise _Stop(_failed(kata, fn, call))
        return call.result

    X, Y = (t.to(device) for t in dataset())
    mine, theirs = training.init_model(VOCAB, device=device), training.init_model(VOCAB, device=device)
    manual = training.manual_gradients(guarded)
    g = torch.Generator().manual_seed(7)
    for i in range(steps):
        ix = torch.randint(0, X.shape[0], (32,), generator=g).to(device)  # (32,)
        try:
            loss = training.train_step(manual, mine, X[ix], Y[ix], 0.1)
        except _Stop as stop:
            return stop.verdict
        except (TypeError, RuntimeError) as error:  # a result of the wrong form met the update
            sentence = (f"backward's result cannot update the parameters (p -= lr * dp: {error}); "
                        "test_backward names the gradient and its shape")
            return Verdict(kata.folder, "training", "wrong", "shape", sentence,
                           report=f"training: stopped at step {i}\ndiagnosis: shape — {sentence}")
        ref = training.train_step(training.autograd_gradients, theirs, X[ix], Y[ix], 0.1)
        drift = {k: float((mine[k] - theirs[k].detach()).abs().max() / theirs[k].detach().abs().max())
                 for k in lecture.PARAMETERS}
        worst = max(drift, key=drift.get)
        if not drift[worst] <= TOLERANCE[torch.float32]:  # NaN fails too
            sentence = (f"after step {i + 1} of {steps}, {worst} differs from autograd's run by "
                        f"{drift[worst]:.1e} of its size (loss {float(loss):.4f} vs {float(ref):.4f}); "
                        "test_backward names the gradient that is off")
            return Verdict(kata.folder, "training", "wrong", "wrong-values", sentence,
                           report=f"training: your run leaves autograd's\ndiagnosis: wrong-values — {sentence}")
    return Verdict(kata.folder, "training", "done")


def _failed(kata: Kata, fn, call) -> Verdict:
    err = call.error
    if err.isa("NotImplementedError"):
        return Verdict(kata.folder, "training", "todo", "not-implemented", "training waits for backward",
                       report="todo: training — waits for backward", where=location(fn))
    lost = _process_problem(kata.step("backward"), err)
    ident = (lost[0] if lost else "autograd" if err.isa("AutogradUsed") else "timeout" if err.isa("StepTimeout")
             else "exception")
    sentence = f"backward raised {err.type}: {err}" + (f" at {call.where}" if call.where else "")
    return Verdict(kata.folder, "training", "wrong", ident, sentence,
                   report=f"training: backward raised an error\ndiagnosis: {ident} — {sentence}")
