"""Finding and loading a learner's kata module by path (kata folders start with digits)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from .katas import Kata, repo_root

ENV = "BACKPROP_NINJA_IMPL"


class ImplError(Exception):
    """A kata module that cannot be found or loaded; the message is for the learner."""


def impl_root(option: str | None = None, base: Path | None = None) -> Path:
    """The tree shaped like katas/ to check: --impl, then $BACKPROP_NINJA_IMPL, then katas/.

    A relative path is taken from the current directory, else from the
    repository root (so `--impl reference` works from anywhere inside it).
    """
    chosen = option or os.environ.get(ENV)
    root = repo_root(base)
    if not chosen:
        if root is None:
            raise ImplError("no kata repository here: run this inside your clone of backprop-ninja "
                            "(the folder that holds katas/ and reference/), or pass --impl PATH")
        return root / "katas"
    path = Path(chosen).expanduser()
    if not path.is_absolute() and not path.exists() and root is not None and (root / path).exists():
        path = root / path
    if not path.is_dir():
        raise ImplError(f"--impl {chosen}: no such folder; give a tree shaped like katas/ "
                        "(e.g. --impl reference)")
    return path.resolve()


def kata_file(root: Path, kata: Kata) -> Path:
    return root / kata.folder / kata.module


def load(path: Path):
    """Import the file at `path` as a fresh module, with errors a learner can act on."""
    if not path.is_file():
        raise ImplError(f"{path} does not exist: restore the stub with `backprop-ninja reset "
                        f"{path.parent.name}`, or check --impl")
    name = f"backprop_ninja_impl_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # registered, as an import would be (torch.compile looks modules up)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        sys.modules.pop(name, None)
        raise ImplError(f"{path.name} line {e.lineno}: SyntaxError: {e.msg}; fix that line, "
                        "then every step of the file is checked again") from None
    except Exception as e:
        sys.modules.pop(name, None)
        raise ImplError(f"{path.name} fails while loading, before any step runs: "
                        f"{type(e).__name__}: {e}") from None
    return module


def step_function(module, kata: Kata, name: str):
    """The learner's function for step `name`."""
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ImplError(f"{Path(module.__file__).name} has no function {kata.step(name).signature()}: "
                        "add it back with exactly that name and those parameters")
    return fn
