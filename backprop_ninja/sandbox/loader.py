"""Finding and loading a learner's kata module by path (kata folders start with digits).

`open` is how the harness meets a learner's file: it reads it (scan.py)
and has the worker (client.py) import it; the file never runs in this
process. `load` imports a file here, for trusted trees only (the project's
own tests of reference/ and bench's candidates).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from backprop_ninja.models.paths import repo_root

if TYPE_CHECKING:  # torch-free at import: the command line reads its options before torch loads
    from backprop_ninja.models.katas import Kata

ENV = "BACKPROP_NINJA_IMPL"
DEFAULT_SECONDS = 10.0  # per import of a file and per call of a step; a runaway loop is stopped, not waited for


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
    name = "--impl" if option else f"${ENV}"
    if refused(chosen, name):
        raise ImplError(refused(chosen, name))
    path = Path(chosen).expanduser()
    if not path.is_absolute() and not path.exists() and root is not None and (root / path).exists():
        path = root / path
    if not path.is_dir():
        raise ImplError(f"--impl {chosen}: no such folder; give a tree shaped like katas/ "
                        "(e.g. --impl reference)")
    return path.resolve()


def refused(path: str, name: str = "--impl") -> str:
    """Why the operating system refuses to look `path` up (too long, a NUL byte, no permission), as a
    sentence naming the option; "" when it can look (a path that does not exist is not refused)."""
    try:
        os.stat(Path(path).expanduser())
    except (FileNotFoundError, NotADirectoryError):
        return ""
    except (OSError, ValueError) as e:
        why = getattr(e, "strerror", None) or str(e)
        shown = path if len(path) <= 60 else f"{path[:40]}…{path[-19:]} ({len(path):,} characters)"
        return f"{name} {shown}: the operating system refuses this path ({why}); give a shorter, plain path"
    return ""


def step_seconds(text, option: str = "--step-timeout") -> float:
    """A time limit given as text (`--step-timeout 5`): seconds above 0, or a ValueError naming `option`.

    The one reading of the option: pytest's, status's and show's.
    """
    try:
        seconds = float(text)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{option} {text}: give the time limit per step as a number of seconds above 0, "
                         f"e.g. {option} {DEFAULT_SECONDS:g}")
    return seconds


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


@dataclasses.dataclass
class Learner:
    """A learner's kata file as the worker imported it: its functions, by name, and the scan's findings."""

    path: Path
    functions: dict  # name -> {"params": [[name, kind, has default], ...], "line": def line}
    findings: list  # scan.Finding, top level and in every function
    loaded: bool = True  # False when a finding at the top level, or nothing but stubs, kept it from running
    stubs: frozenset = frozenset()  # functions still a stub (scan.stubs): todo without running

    def wide_finding(self, step_names: tuple):
        """The first finding outside every step (the file's top level, a helper): it stops every step alike."""
        return next((f for f in self.findings if f.function not in step_names), None)

    def function(self, name: str, step_names: tuple = ()):
        """The Remote for function `name`, with the findings that concern it; None if there is none."""
        from backprop_ninja.sandbox.guard import Remote

        info = self.functions.get(name)
        if info is None:
            return None
        mine = tuple(f for f in self.findings if f.function in ("", name) or f.function not in step_names)
        return Remote(str(self.path), name, tuple(tuple(p) for p in info["params"]), int(info["line"]), mine,
                      stub=name in self.stubs)


_OPENED: dict = {}  # (path, size, mtime) -> Learner: a file is imported once per worker


def open_file(path: Path, seconds: float = 10.0) -> Learner:
    """Scan the file at `path`, then import it in the worker within `seconds`; ImplError says why not."""
    from backprop_ninja.sandbox import client, guard, results, scan

    path = Path(path)
    if not path.is_file():
        raise ImplError(f"{path} does not exist: restore the stub with `backprop-ninja reset "
                        f"{path.parent.name}`, or check --impl")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    w = client.worker()
    cached = _OPENED.get(key)
    if cached is not None and (not cached.loaded or str(path.resolve()) in w.loaded):
        return cached
    try:
        source = path.read_text(encoding="utf-8")
        findings = scan.scan_source(source, str(path.resolve()))
    except SyntaxError as e:
        raise ImplError(f"{path.name} line {e.lineno}: SyntaxError: {e.msg}; fix that line, "
                        "then every step of the file is checked again") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise ImplError(f"{path.name} cannot be read as Python source ({e}): save it as UTF-8 text") from None
    stubs = frozenset(scan.stubs(source))
    defined = _defined(source)
    if any(not f.function for f in findings) or set(defined) <= stubs:
        learner = Learner(path.resolve(), defined, findings, loaded=False, stubs=stubs)
    else:
        answer = w.request({"op": "load", "path": str(path.resolve())}, seconds)
        guard.show(answer)
        if "error" in answer:
            raise ImplError(_load_problem(path, results.raised(answer["error"]), seconds))
        w.loaded.add(str(path.resolve()))
        functions = answer.get("functions") if isinstance(answer.get("functions"), dict) else {}
        learner = Learner(path.resolve(), functions, findings, stubs=stubs)
    _OPENED[key] = learner
    return learner


def _defined(source: str) -> dict:
    """The top-level functions of a file read but not run: their parameters and def lines."""
    import ast

    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            params = [[p.arg, "POSITIONAL_OR_KEYWORD", False] for p in a.posonlyargs + a.args]
            out[node.name] = {"params": params, "line": node.lineno}
    return out


def _load_problem(path: Path, err, seconds: float) -> str:
    """One sentence for a file that cannot be imported."""
    if err.isa("StepTimeout"):
        return (f"{path.name} does not finish loading within {seconds:g} s: a loop at the top level of the file "
                "(outside every def) runs on; move it into a step or end it")
    if err.isa("SystemExit") or err.isa("ProcessExit") or err.isa("KeyboardInterrupt"):
        return (f"{path.name} ends the Python process while loading ({err.message}): "
                "remove that call from the top level of the file")
    if err.isa("ProcessCrash"):
        return f"{path.name} crashes Python while loading ({err.message}): look at its top-level lines"
    if err.isa("SyntaxError"):
        return f"{path.name}: SyntaxError: {err.message}; fix that line, then every step of the file is checked again"
    return (f"{path.name} fails while loading, before any step runs: {err.type}: {err.message}"
            + (f" (at {err.where})" if err.where else ""))


def step_function(module, kata: Kata, name: str):
    """The learner's function for step `name` (a guard.Remote for a file opened with open_file)."""
    fn = function_of(module, name, kata.step_names)
    if not callable(fn):
        path = module.path if isinstance(module, Learner) else Path(module.__file__)
        raise ImplError(f"{Path(path).name} has no function {kata.step(name).signature()}: "
                        "add it back with exactly that name and those parameters")
    return fn


def function_of(module, name: str, step_names: tuple = ()):
    """Function `name` of an opened file (a Learner) or of a module imported here; None if absent."""
    if isinstance(module, Learner):
        return module.function(name, step_names)
    return getattr(module, name, None)
