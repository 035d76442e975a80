"""The catalogue of classic wrong answers, per kata and step.

Each mistake is code with the step's own signature, an id from the
diagnosis vocabulary (checks/diagnose/) and one sentence that teaches the rule it
breaks. It serves twice: the contract suite proves every kata test fails on
every mistake and names it; at run time a wrong answer that equals a
mistake (computed on the same inputs) is named by it.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Mistake:
    kata: str  # kata folder, e.g. "01_atomic_graph"
    step: str
    id: str
    sentence: str
    fn: Callable

    @property
    def name(self) -> str:
        return self.fn.__name__


CATALOGUE: dict[tuple[str, str], list[Mistake]] = {}

#: the modules that fill the catalogue, one per kata
_MODULES = ("atomic_graph", "cross_entropy", "batchnorm", "training", "layernorm", "attention", "mlp", "gpt",
            "rmsnorm", "rope", "swiglu", "llama")


def mistake(kata: str, step: str, id: str, sentence: str):
    """Register the decorated function as a catalogued mistake of `step`."""
    def register(fn: Callable) -> Callable:
        found = CATALOGUE.setdefault((kata, step), [])
        # a module imported again (pytest's in-process runs unload what they import) replaces its own
        found[:] = [m for m in found if m.name != fn.__name__]
        found.append(Mistake(kata, step, id, sentence, fn))
        return fn
    return register


def model_slips(kata: str, backward: Callable) -> Callable:
    """For a whole model's kata (08, 12): slip(name, how, id, sentence) registers, as a mistake of its step
    `backward`, the kata's worked backward run with `how`: backward(idx, targets, params, acts, slip=how)."""
    def slip(name: str, how: str, id: str, sentence: str) -> Callable:
        def wrong(idx, targets, params, acts):
            return backward(idx, targets, params, acts, slip=how)
        wrong.__name__ = wrong.__qualname__ = name
        return mistake(kata, "backward", id, sentence)(wrong)
    return slip


def of(kata: str, step: str) -> list[Mistake]:
    """The catalogued mistakes of one step (empty if none)."""
    _load()
    return CATALOGUE.get((kata, step), [])


def everything() -> list[Mistake]:
    _load()
    return [m for ms in CATALOGUE.values() for m in ms]


def _load() -> None:
    for name in _MODULES:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
