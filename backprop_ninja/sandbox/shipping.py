"""Sending a function to the worker: by module and name, or as its code with the values it reads.

The worker (sandbox/worker.py) rebuilds what `ship` describes; nothing here
runs the function.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types


class ShipError(Exception):
    """A function that cannot be sent to the worker (its source cannot be read)."""


def ship(fn) -> dict:
    """How the worker finds `fn`: by file and name, by module and name, or from its source."""
    code = getattr(fn, "__code__", None)
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    qualname = getattr(fn, "__qualname__", "")
    if module is not None and code is not None and "<locals>" not in qualname and _same(_attr(module, qualname), fn):
        name = module.__name__
        if name.startswith("backprop_ninja_impl_") and os.path.isfile(code.co_filename):
            return {"kind": "file", "path": code.co_filename, "name": fn.__name__}
        if name != "__main__" and getattr(module, "__file__", None) and _importable(name):
            return {"kind": "module", "module": name, "qualname": qualname, "sys_path": list(sys.path)}
    return _source(fn, set())


def _same(found, fn) -> bool:
    """`found` is `fn`, or the same def of a kata file imported again since (equal code: same file, line, body)."""
    if found is fn:
        return True
    return (isinstance(found, types.FunctionType) and fn.__module__.startswith("backprop_ninja_impl_")
            and found.__code__ == fn.__code__)


def _attr(obj, dotted: str):
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
    return obj


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _source(fn, seen: set) -> dict:
    """The function's code (marshal, read only by the worker: same interpreter), its globals,
    closed-over values and defaults as plain data, and its file's lines for quoting."""
    import base64
    import linecache
    import marshal

    code = getattr(fn, "__code__", None)
    if not isinstance(fn, types.FunctionType):
        raise ShipError(f"{getattr(fn, '__name__', fn)!r} is not a plain function: define it with `def`")
    seen = seen | {code}
    env = fn.__globals__
    globs = {}
    for n in _names(code):
        if n in env:
            v = _portable(env[n], seen)
            if v is not _SKIP:
                globs[n] = v
    closure = []
    for cell in fn.__closure__ or ():
        try:
            v = _portable(cell.cell_contents, seen)
        except ValueError:  # an empty cell
            v = _SKIP
        closure.append({"$empty": True} if v is _SKIP else {"$cell": v})
    defaults = [_portable(d, seen) for d in fn.__defaults__ or ()]
    kwdefaults = {k: _portable(d, seen) for k, d in (fn.__kwdefaults__ or {}).items()}
    if any(d is _SKIP for d in defaults) or any(d is _SKIP for d in kwdefaults.values()):
        raise ShipError(f"{fn.__name__} has a default value the harness cannot send: use numbers or strings")
    return {"kind": "code", "name": fn.__name__, "filename": code.co_filename,
            "code": base64.b64encode(marshal.dumps(code)).decode("ascii"),
            "globals": globs, "closure": closure, "defaults": defaults, "kwdefaults": kwdefaults,
            "lines": list(linecache.getlines(code.co_filename)), "module": fn.__module__,
            "sys_path": list(sys.path)}  # where the modules it names by name are found


def globals_read(fn) -> dict:
    """{name: value} of every global `fn` (and the functions inside it) loads that its module holds.

    Loads only (LOAD_GLOBAL, LOAD_NAME): `x.mean()` reads no global `mean`.
    """
    code, env = getattr(fn, "__code__", None), getattr(fn, "__globals__", None)
    if code is None or env is None:
        return {}
    return {n: env[n] for n in sorted(_loaded(code)) if n in env}


def _loaded(code) -> set:
    import dis

    names = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _loaded(const)
    return names


def _names(code) -> set:
    """Every global name a code object (and the functions and lambdas inside it) reads."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


_SKIP = object()


def _portable(v, seen: set):
    """A value the worker can rebuild: plain data, a tensor, a module or function by name, or a function's source."""
    import torch

    if isinstance(v, types.ModuleType):
        return {"$module": v.__name__}
    if type(v) is torch.Tensor:
        return v.detach()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, torch.dtype):
        return {"$dtype": str(v).removeprefix("torch.")}
    if isinstance(v, tuple):
        items = [_portable(x, seen) for x in v]
        return _SKIP if any(x is _SKIP for x in items) else {"$tuple": items}
    if isinstance(v, list):
        items = [_portable(x, seen) for x in v]
        return _SKIP if any(x is _SKIP for x in items) else items
    module, qualname = getattr(v, "__module__", None), getattr(v, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname and module != "__main__":
        owner = sys.modules.get(module)
        if owner is not None and _attr(owner, qualname) is v and _importable(module):
            return {"$attr": [module, qualname]}
    if isinstance(v, types.FunctionType) and v.__code__ not in seen:
        try:
            return {"$function": _source(v, seen)}
        except ShipError:
            return _SKIP
    if isinstance(v, type):
        return {"$enclosing": v.__name__} if v in seen else _namespace(v, seen)
    return _SKIP


def _namespace(cls: type, seen: set):
    """A class that only holds functions (kata 08's layernorm, attention, mlp in a notebook), by their code.

    Its functions read the class by its name (layernorm.dx); the worker binds
    that name to the class it rebuilds ({"$enclosing": its name}).
    """
    methods = {}
    for name, f in vars(cls).items():
        if name.startswith("__") and name.endswith("__") and not isinstance(f, (types.FunctionType, staticmethod)):
            continue  # __module__, __doc__, __dict__ and the like
        f = f.__func__ if isinstance(f, staticmethod) else f
        if not isinstance(f, types.FunctionType):
            return _SKIP
        try:
            methods[name] = _source(f, seen | {cls})
        except ShipError:
            return _SKIP
    return {"$class": {"name": cls.__name__, "methods": methods}}
