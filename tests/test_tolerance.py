"""The tolerance sits between the two populations, with a margin of 10x on each side.

Every correct variant (and the reference) stays below TOLERANCE/10 of the
scale in every probe; every catalogued mistake whose answer has the right
shape exceeds 10x TOLERANCE in at least one probe.
"""

import pytest
import torch
import variants
from conftest import built_katas, kata_module

from backprop_ninja.checks import mistakes
from backprop_ninja.checks.compare import TOLERANCE
from backprop_ninja.checks.probes import cloned, probes
from backprop_ninja.checks.probes import results as probe_results
from backprop_ninja.models.katas import kata
from backprop_ninja.sandbox.guard import call_step

MARGIN = 10
BUILT = {k.folder for k in built_katas()}


def relative_errors(k, step_name, fn):
    """[(relative error, dtype)] over every probe and target where fn returns a usable tensor."""
    step = k.step(step_name)
    found = []
    for cfg in k.configs:
        for probe in probes(step, k.graph, cfg):
            call = call_step(fn, cloned(probe.kwargs), trusted=False)  # as a learner's step: in the worker
            results = None if call.error is not None or call.mutated else probe_results(probe, call.result)
            if results is None:
                return None  # caught before values are compared (an error, not-a-tensor)
            for got, want, scale in zip(results, probe.expected, probe.scales):
                if not torch.is_tensor(got) or got.shape != want.shape or got.dtype != want.dtype:
                    return None
                if got.requires_grad or not torch.isfinite(got).all():
                    return None
                found.append((float((got - want).abs().max()) / scale, want.dtype))
    return found


def right_answers():
    ref = [(k.folder, s, getattr(kata_module("reference", k), s)) for k in built_katas() for s in k.step_names]
    return ref + [v for v in variants.everything() if v[0] in BUILT]


RIGHT = right_answers()
WRONG = [m for m in mistakes.everything() if m.kata in BUILT]


@pytest.mark.parametrize(("folder", "step", "fn"), RIGHT, ids=[f"{k[:2]}-{s}-{f.__name__}" for k, s, f in RIGHT])
def test_right_answers_stay_ten_times_below_the_tolerance(folder, step, fn):
    for err, dtype in relative_errors(kata(folder), step, fn):
        assert err <= TOLERANCE[dtype] / MARGIN, f"{err:.2e} of the scale in {dtype}"


@pytest.mark.parametrize("m", WRONG, ids=lambda m: f"{m.kata[:2]}-{m.step}-{m.name}")
def test_wrong_answers_exceed_ten_times_the_tolerance_somewhere(m):
    errors = relative_errors(kata(m.kata), m.step, m.fn)
    if errors is None:
        pytest.skip("caught before values are compared (shape, dtype, guard)")
    assert any(err >= TOLERANCE[dtype] * MARGIN for err, dtype in errors), max(errors)
