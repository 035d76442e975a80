"""A catalogued mistake that reproduces the learner's result on the same inputs names it."""

from __future__ import annotations

import torch

from backprop_ninja.checks import mistakes
from backprop_ninja.checks.compare import close
from backprop_ninja.checks.probes import Probe, cloned, results
from backprop_ninja.models.katas import KATAS, Kata, Step
from backprop_ninja.sandbox.guard import call_step


def kata_of(step: Step) -> Kata | None:
    """The kata a step belongs to: the one holding this very Step (db_proj(dout) is in katas 06 and 07)."""
    return next((k for k in KATAS if any(s is step for s in k.steps)), None)


def catalogued_form(step: Step, target: str, got, probe: Probe, ids: tuple = ()):
    """A catalogued mistake with the same shape and the same values (NaN where got has NaN), if any.

    With `ids`, only mistakes with one of those ids, and the same dtype as got (a float64 answer
    where float32 belongs is named by a `dtype` mistake, not by one with other numbers); the values
    are then compared in the dtype autograd's has (NumPy's float64 differs from a float32 line in
    its last float32 digits, whatever order it promoted in).
    """
    kata = kata_of(step)
    if kata is None:
        return None
    for m, theirs in _mistake_results(kata, step, target, probe):
        if theirs.shape != got.shape or theirs.requires_grad or (ids and m.id not in ids):
            continue
        if ids and theirs.dtype != got.dtype:
            continue
        mine = got
        if ids:
            want = probe.expected[probe.targets.index(target)].dtype
            mine, theirs = got.to(want), theirs.to(want)
        theirs = theirs.to(mine.dtype)
        fin = torch.isfinite(mine)
        if (torch.equal(fin, torch.isfinite(theirs)) and torch.equal(torch.isnan(mine), torch.isnan(theirs))
                and close(torch.where(fin, mine, 0), torch.where(fin, theirs, 0),
                          probe.scales[probe.targets.index(target)])):
            return m.id, m.sentence
    return None


def _mistake_results(kata: Kata, step: Step, target: str, probe: Probe, rows=None):
    """(mistake, its d<target>) for every catalogued mistake of the step that runs on the probe's inputs.


    For a step that returns several gradients, with `rows`, a mistake must also be right and wrong
    on the same gradients as the learner at this probe (one slip shows in all that come after it).
    """
    for m in mistakes.of(kata.folder, step.name):
        result = _mistake_result(m, step, target, probe, rows)
        if result is not None and result is not _DIFFERS:
            yield m, result


_DIFFERS = object()  # the mistake ran, and is right or wrong on other gradients than the learner


def _mistake_result(m, step: Step, target: str, probe: Probe, rows=None):
    """The mistake's d<target> at the probe; None where it raises or the probe has no such gradient (kata
    08's odd sizes have one layer); _DIFFERS where its verdicts differ."""
    here = f"{probe.label}, {probe.cfg.label}"
    verdicts = {r.target: r.approximate for r in rows or () if r.probe == here}
    call = call_step(m.fn, cloned(probe.kwargs))
    if call.error is not None:
        return None
    result = results(probe, call.result)
    if result is None:
        return None
    if len(probe.targets) > 1 and verdicts and any(
            t in verdicts and _right(r, e, scale) != verdicts[t]
            for t, r, e, scale in zip(probe.targets, result, probe.expected, probe.scales)):
        return _DIFFERS
    if target not in probe.targets:
        return None
    result = result[probe.targets.index(target)]
    return result.detach() if torch.is_tensor(result) else None


def _right(got, want, scale: float) -> bool:
    return (torch.is_tensor(got) and got.shape == want.shape and got.dtype == want.dtype
            and close(got, want, scale))


def _same(got, theirs, scale: float) -> bool:
    return theirs.shape == got.shape and close(got, theirs.to(got.dtype), scale)


def catalogued_match(kata: Kata, step: Step, target: str, got, probe: Probe, rows=None, seen=()):
    """The catalogued mistake that gives the learner's answer here and at every probe in `seen` where it ran.

    `seen` holds (probe, the learner's returned tensors, one per target) for every probe that ran.
    """
    scale = probe.scales[probe.targets.index(target)]
    for m, theirs in _mistake_results(kata, step, target, probe, rows):
        if not _same(got, theirs, scale):
            continue
        if all(_reproduces(m, step, target, p, mine, rows) for p, mine in seen if mine is not None):
            return m.id, m.sentence
    return None


def _reproduces(m, step: Step, target: str, probe: Probe, mine: tuple, rows) -> bool:
    """The mistake gives the learner's d<target> (`mine`: every gradient returned) at this probe, at the
    learner's dtype (or cannot run there, or the probe has no d<target>)."""
    theirs = _mistake_result(m, step, target, probe, rows)
    if theirs is None:
        return True
    i = probe.targets.index(target)
    return theirs is not _DIFFERS and _same(mine[i], theirs, probe.scales[i])
