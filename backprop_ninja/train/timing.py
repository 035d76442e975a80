"""Timing a learner's code where it runs: in the worker, as `bench`'s candidate side.

`bench` names one of these loops to sandbox/guard.run_loop, as `train` names
its training loop: the inputs cross the pipe once, the loop builds the
candidate's work from the learner's function (and, for a chain, the other
steps of its file), times it with torch.utils.benchmark here in the worker,
and answers the median µs per call. No call of the learner's code crosses
the pipe.

Each loop answers {"us": median µs per call}, or {"raised": {...}} (what the
learner's code raised while it was timed, as plain data).
"""

from __future__ import annotations

from typing import Callable

PREFIX = "backprop_ninja.train.timing:"  # the loops below, by the name the worker imports them with


def _median_us(session, work: Callable, threads: int, min_time: float) -> dict:
    """The median µs per call of work(), within the session's time limit (the watchdog ends a hang).
    The first call is not timed: under --compile it is the one that compiles."""
    from torch.utils import benchmark

    from backprop_ninja.sandbox.results import StepFailed

    def measure():
        work()
        timer = benchmark.Timer(stmt="fn()", globals={"fn": work}, num_threads=threads)
        return timer.blocked_autorange(min_run_time=min_time).median * 1e6

    try:
        return {"us": float(session.call(measure, {}))}
    except StepFailed as failed:
        r = failed.raised
        return {"raised": {"type": r.type, "message": r.message, "kinds": list(r.kinds), "where": r.where}}


def _maybe_compiled(work: Callable, compiled: bool) -> Callable:
    """work, or work under torch.compile (--compile). Only a training step's forward + backward is
    compiled; the optimiser's update stays eager on both sides of the row, since AdamW's step count, a
    Python int, would make torch.compile build the graph again at every call."""
    if not compiled:
        return work
    import torch

    return torch.compile(work)


def step(session, fn, *, args: list, threads: int, min_time: float) -> dict:
    """One step called as fn(*args)."""
    return _median_us(session, lambda: fn(*args), threads, min_time)


def attention(session, fn, *, values: dict, threads: int, min_time: float) -> dict:
    """Kata 06's 13 steps chained (fn is one of them; the others are found in its file)."""
    s = {name: fn.__globals__.get(name) for name in ("dycat", "dy", "datt", "dv", "dpreatt", "dq", "dk", "dqkv",
                                                      "dx", "dW_attn", "db_attn", "dW_proj", "db_proj")}
    v = values

    def by_hand():
        dycat = s["dycat"](v["W_proj"], v["dout"])
        dy = s["dy"](v["y"], dycat)
        datt, dv = s["datt"](v["v"], dy), s["dv"](v["att"], dy)
        dpreatt = s["dpreatt"](v["att"], datt)
        dqkv = s["dqkv"](s["dq"](v["k"], dpreatt), s["dk"](v["q"], dpreatt), dv)
        return (s["dx"](v["W_attn"], dqkv), s["dW_attn"](v["x"], dqkv), s["db_attn"](dqkv),
                s["dW_proj"](v["ycat"], v["dout"]), s["db_proj"](v["dout"]))

    return _median_us(session, by_hand, threads, min_time)


def mlp_step(session, fn, *, Xb, Yb, threads: int, min_time: float, compiled: bool = False) -> dict:
    """One SGD step of the exercise-4 network with kata 04's backward (fn)."""
    from backprop_ninja.train import mlp

    gradients, params = _maybe_compiled(mlp.manual_gradients(fn), compiled), mlp.init_model(27)
    return _median_us(session, lambda: mlp.train_step(gradients, params, Xb, Yb, 0.1), threads, min_time)


def gpt_step(session, fn, *, idx, targets, threads: int, min_time: float, compiled: bool = False) -> dict:
    """One AdamW step of `train --model gpt`'s small GPT with kata 08's backward (fn)."""
    from backprop_ninja.models import gpt
    from backprop_ninja.train import gpt as gpt_training

    cfg = gpt.TRAIN
    params = gpt.init_training(cfg)
    opt = gpt_training.AdamW(params)

    def forward_backward() -> dict:
        _, kwargs = gpt_training.backward_kwargs(params, idx, targets, cfg.nh)
        return fn(**kwargs)

    gradients = _maybe_compiled(forward_backward, compiled)
    return _median_us(session, lambda: opt.step(gradients(), gpt_training.LR), threads, min_time)
