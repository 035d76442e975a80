"""A catalogued mistake that reproduces the learner's result on the same inputs names it."""

from __future__ import annotations

import torch

from .. import mistakes
from ..compare import close
from ..guard import call_step
from ..katas import KATAS, Kata, Step
from ..probes import Probe


def _kata_of(step: Step) -> Kata | None:
    """The kata a step belongs to: the one holding this very Step (db_proj(dout) is in katas 06 and 07)."""
    return next((k for k in KATAS if any(s is step for s in k.steps)), None)


def _catalogued_form(step: Step, target: str, got, probe: Probe):
    """A catalogued mistake with the same shape and the same values (NaN where got has NaN), if any."""
    kata = _kata_of(step)
    if kata is None:
        return None
    for m, theirs in _mistake_results(kata, step, target, probe):
        if theirs.shape != got.shape or theirs.requires_grad:
            continue
        theirs = theirs.to(got.dtype)
        fin = torch.isfinite(got)
        if (torch.equal(fin, torch.isfinite(theirs)) and torch.equal(torch.isnan(got), torch.isnan(theirs))
                and close(torch.where(fin, got, 0), torch.where(fin, theirs, 0),
                          probe.scales[step.targets.index(target)])):
            return m.id, m.sentence
    return None


def _mistake_results(kata: Kata, step: Step, target: str, probe: Probe, rows=None):
    """(mistake, its d<target>) for every catalogued mistake of the step that runs on the probe's inputs.


    For a step that returns several gradients, with `rows`, a mistake must also be right and wrong
    on the same gradients as the learner at this probe (one slip shows in all that come after it).
    """
    index = step.targets.index(target)
    label = f"{probe.label}, {probe.cfg.label} · d"
    verdicts = {r.label[len(label):]: r.approximate for r in rows or () if r.label.startswith(label)}
    for m in mistakes.of(kata.folder, step.name):
        call = call_step(m.fn, {k: v.clone() for k, v in probe.kwargs.items()})
        if call.error is not None:
            continue
        result = call.result
        if len(step.targets) > 1:
            if not isinstance(result, (tuple, list)) or len(result) != len(step.targets):
                continue
            if verdicts and any(t in verdicts and _right(r, e, scale) != verdicts[t]
                                for t, r, e, scale in zip(step.targets, result, probe.expected, probe.scales)):
                continue
            result = result[index]
        if torch.is_tensor(result):
            yield m, result.detach()


def _right(got, want, scale: float) -> bool:
    return (torch.is_tensor(got) and got.shape == want.shape and got.dtype == want.dtype
            and close(got, want, scale))


def _catalogued(kata: Kata, step: Step, target: str, got, probe: Probe, rows=None):
    scale = probe.scales[step.targets.index(target)]
    for m, theirs in _mistake_results(kata, step, target, probe, rows):
        if theirs.shape == got.shape and close(got, theirs.to(got.dtype), scale):
            return m.id, m.sentence
    return None
