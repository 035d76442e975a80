"""Feeding a step: its table parameters, and any extra parameter the kata knows by name.

A learner's step may declare, beyond the parameters of its table, a forward
value of the graph (a tensor of its shape at the configuration), an input of
the batch, or a size (an int); the harness feeds each by name.
"""

from __future__ import annotations

import functools
import inspect

import torch

from backprop_ninja.models.katas import Kata, Step
from backprop_ninja.sandbox.guard import Remote


@functools.lru_cache(maxsize=32)  # a GPT's batch makes every parameter: once per kata
def feedable(kata: Kata) -> tuple[str, ...]:
    """Every name a step of `kata` may declare beyond its table parameters (extra parameters: the
    forward values and sizes its graph knows by name, each a tensor or an int)."""
    return kata.graph.extra_names(kata.configs[0])


def _parameters(fn) -> list | None:
    """[(name, kind, has a default)] of the learner's signature; None when it cannot be told."""
    if isinstance(fn, Remote):
        return [tuple(p) for p in fn.params] if fn.params else None
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [(p.name, p.kind.name, p.default is not p.empty) for p in sig.parameters.values()]


def feeding(kata: Kata, step: Step, fn) -> tuple[list[str], list[str]]:
    """(the names to feed `fn`, the parameters it declares that cannot be fed)."""
    params = _parameters(fn)
    if params is None:
        return list(step.params), []
    extra = set(feedable(kata))
    names, unfed = [], []
    for name, kind, has_default in params:
        if kind in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            continue
        if kind != "POSITIONAL_ONLY" and (name in step.params or name in extra):
            names.append(name)
        elif not has_default:
            unfed.append(name)
    if any(kind == "VAR_KEYWORD" for _, kind, _ in params):
        names += [p for p in step.params if p not in names]
    return names, unfed


def fed(kata: Kata, given: dict, names: list[str], cfg) -> dict:
    """The arguments by name: the probe's (or chain's) own, else a forward value or a size.

    A forward value is a fresh contiguous clone (q of kata 06 is a transposed view in the trace):
    what a step does to it touches nothing the harness keeps.
    """
    values = kata.graph.feeds(cfg) if any(name not in given for name in names) else {}
    out = {}
    for name in names:
        if name in given:
            out[name] = given[name]
        elif torch.is_tensor(value := values.get(name)):
            out[name] = value
        else:
            out[name] = getattr(cfg, name)
    return out


def unfed_sentence(kata: Kata, step: Step, unfed: list[str]) -> str:
    upstream = [u for u in unfed if u.startswith("d") and u[1:] in kata.graph]
    others = [u for u in unfed if u not in upstream]
    why = []
    if others:
        why.append(f"{', '.join(others)} {'is' if len(others) == 1 else 'are'} not a name the harness knows")
    if upstream:
        are = "is an upstream gradient" if len(upstream) == 1 else "are upstream gradients"
        why.append(f"{', '.join(upstream)} {are} this step is not given (only the table's are)")
    return (f"the harness calls {step.signature()} by these parameter names, and feeds any extra parameter "
            f"named after a forward value, an input of the batch or a size ({', '.join(feedable(kata))}); "
            f"{'; '.join(why)}: rename or remove {', '.join(unfed)}")
