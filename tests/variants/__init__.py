"""Correct variants: right answers written differently from the reference.

Each must pass its step's test. Register one with @variant(kata, step); the
function has the step's signature.
"""

import importlib

VARIANTS: dict = {}  # (kata folder, step) -> [functions]
_MODULES = ("atomic_graph", "cross_entropy", "batchnorm", "training", "layernorm", "attention", "mlp", "gpt",
            "rmsnorm", "rope", "swiglu", "llama")


def variant(kata: str, step: str):
    def register(fn):
        VARIANTS.setdefault((kata, step), []).append(fn)
        return fn
    return register


def everything() -> list:
    """[(kata, step, fn)] over every variants module that exists."""
    for name in _MODULES:
        try:
            importlib.import_module(f"variants.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"variants.{name}":
                raise
    return [(k, s, fn) for (k, s), fns in VARIANTS.items() for fn in fns]
