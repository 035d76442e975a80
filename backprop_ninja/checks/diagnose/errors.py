"""A step that raised: say what kind of error it is, what the line did, and the way out.

The error arrives as plain data (results.Raised: type names, message, the
learner's line), never as the exception object; the step's source text gives
its free names. Each kind has its own sentence:

- NameError: every name the step uses and does not define, at once, each
  with its way out (a parameter the harness feeds by name, or a shape);
- AttributeError: the close name of the method or function;
- TypeError from a keyword: which call, which keyword, the close one;
- a shape mismatch: the operands' sizes, named after the configuration's.

"Check the shapes" is said only where the shapes are the problem.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import re
import symtable
import textwrap

import torch
import torch.nn.functional as F

#: keywords of the torch calls a step makes, for a close match of a mistyped one
KEYWORDS = ("dim", "keepdim", "dtype", "device", "out", "unbiased", "correction", "input", "other", "index",
            "num_classes", "source", "accumulate", "generator", "requires_grad", "alpha", "exponent", "min",
            "max", "start_dim", "end_dim", "dim0", "dim1", "diagonal", "layout", "memory_format")


def explain(step, raised, source: str = "", feedable=(), shapes=None, sizes=None, defined=()) -> tuple[str, str]:
    """(id, sentence) for a step that raised `raised` (a guard.Raised).

    source: the step function's source text; feedable: the names the harness
    can feed by name; shapes: name -> shape of what it feeds at this probe;
    sizes: (name, size) of the configuration, e.g. ("n", 32); defined: the
    names the learner's module defines (functions, imports).
    """
    shapes = shapes or {}
    sizes = list(sizes or ())
    line = _line(raised)
    if raised.isa("NameError"):
        return "exception", _name_error(step, raised, source, feedable, shapes, sizes, defined)
    if raised.isa("AttributeError"):
        return "exception", _attribute_error(step, raised, line)
    if raised.isa("TypeError"):
        found = _keyword_error(step, raised, line)
        if found:
            return "exception", found
        if "NoneType" in raised.message:  # a value is None: a placeholder left in, or a missing return
            return "exception", (f"{step.name} raised TypeError: {raised.message}{line}: a value there is None — "
                                 "a function it calls still has its `...` placeholder (paste your step in), or "
                                 "a function lacks its `return`")
    if raised.isa("RuntimeError") or raised.isa("IndexError"):
        found = _shape_error(step, raised, line, sizes)
        if found:
            return "exception", found
    return "exception", (f"{step.name} raised {raised.type}: {raised.message}{line}: that line fails before any "
                         "value is compared; run it by hand on the docstring's inputs to see why")


def _line(raised) -> str:
    """` at line N (`code`)`, from raised.where = "file:LINE: code"."""
    m = re.match(r"^(.*):(\d+): ?(.*)$", raised.where or "")
    if not m:
        return ""
    code = f" (`{m.group(3)}`)" if m.group(3) else ""
    return f" at line {m.group(2)}{code}"


# --- NameError ----------------------------------------------------------------------------------

def free_names(source: str) -> list[str]:
    """The names a function's source reads that it neither binds nor receives, in order of first use."""
    try:
        table = symtable.symtable(textwrap.dedent(source), "<step>", "exec")
    except SyntaxError:
        return []
    found: list[str] = []

    def walk(t):
        for sym in t.get_symbols():
            name = sym.get_name()
            if (sym.is_global() or (sym.is_free() and t.get_type() != "module")) and sym.is_referenced():
                if name not in found and not sym.is_assigned():
                    found.append(name)
        for child in t.get_children():
            walk(child)

    for child in table.get_children():
        walk(child)
    # in the order the code reads them (a name's first use as a name, not as part of a longer one)
    uses = [(n.lineno, n.col_offset, n.id) for n in ast.walk(ast.parse(textwrap.dedent(source)))
            if isinstance(n, ast.Name) and n.id in found]
    order = {name: i for i, (_, _, name) in reversed(list(enumerate(sorted(uses))))}
    return sorted(found, key=lambda name: order.get(name, len(uses)))


def _name_error(step, raised, source, feedable, shapes, sizes, defined) -> str:
    known = set(dir(builtins)) | set(defined)
    undefined = [name for name in free_names(source) if name not in known]
    m = re.search(r"name '(\w+)' is not defined", raised.message)
    if m and m.group(1) not in undefined:
        undefined.insert(0, m.group(1))
    ways = [f"{name} → {_way_out(step, name, source, feedable, shapes, sizes, defined)}" for name in undefined]
    what = "a name it does not define" if len(ways) == 1 else f"{len(ways)} names it does not define"
    return f"{step.name} uses {what}: " + "; ".join(ways)


def _way_out(step, name, source, feedable, shapes, sizes, defined) -> str:
    size = dict(sizes).get(name)
    if size is not None:  # a named size (n, hs, T, ...): from the first input that has it, or fed by name
        at = next(((p, shape.index(size)) for p in step.params if size in (shape := shapes.get(p, ()))), None)
        if at:
            return f"`{name} = {at[0]}.shape[{at[1]}]`, or a parameter `{name}`"
        return f"a parameter `{name}`" + (" (the batch size)" if name == "n" else f" (the size {name})")
    if name in feedable:
        way = f"add `{name}` as a parameter (the harness feeds it by name)"
        like = re.search(rf"([\w.]+_like)\(\s*{re.escape(name)}\b", source)
        same = [p for p in step.params if name in shapes and shapes.get(p) == shapes[name]]
        if like and same:
            way += f", or use {like.group(1)}({same[0]}) (same shape)"
        return way
    if name.startswith("d") and name[1:] in feedable:
        return (f"the gradient {name} is not given to this step (only {', '.join(step.params)}); "
                "build it from those")
    if name in _MODULES:  # a module the file uses but never imports
        return f"a module the file never imports: add `{_MODULES[name]}` at the top of the file"
    close = difflib.get_close_matches(name, list(step.params) + list(feedable) + list(defined), n=1)
    return f"not defined anywhere: did you mean {close[0]}?" if close else "not defined anywhere: a typo?"


#: modules (and their usual short names) a step reaches for, with the import line that brings each
_MODULES = {"math": "import math", "torch": "import torch", "F": "import torch.nn.functional as F",
            "nn": "import torch.nn as nn", "np": "import numpy as np", "numpy": "import numpy"}


# --- AttributeError -----------------------------------------------------------------------------

def _attribute_error(step, raised, line: str) -> str:
    msg = raised.message
    m = re.search(r"module '([\w.]+)' has no attribute '(\w+)'", msg)
    owner, names = None, []
    if m:
        owner, attr = m.group(1), m.group(2)
        names = dir({"torch": torch, "torch.nn.functional": F}.get(owner, object))
        shown = "F" if owner == "torch.nn.functional" else owner
    else:
        m = re.search(r"'(\w+)' object has no attribute '(\w+)'", msg)
        if m:
            owner, attr = m.group(1), m.group(2)
            names = dir(torch.Tensor) if owner == "Tensor" else dir(getattr(builtins, owner, object))
            shown = "a tensor" if owner == "Tensor" else f"a {owner}"
    if not m:
        return f"{step.name} raised AttributeError: {msg}{line}: the name after the dot does not exist there"
    close = difflib.get_close_matches(attr, [n for n in names if not n.startswith("_")], n=2)
    if close:
        return (f"{shown} has no `{attr}`{line}: did you mean `{close[0]}`"
                + (f" (or `{close[1]}`)" if len(close) > 1 else "") + "?")
    return f"{shown} has no `{attr}`{line}: look the name up in the torch documentation"


# --- TypeError from a keyword -------------------------------------------------------------------

def _keyword_error(step, raised, line: str) -> str | None:
    msg = raised.message
    m = re.search(r"(\w+)\(\) got an unexpected keyword argument '(\w+)'", msg)
    if m:
        call, word, valid = m.group(1), m.group(2), KEYWORDS
    else:
        m = re.search(r"(\w+)\(\) received an invalid combination of arguments - got \(([^)]*)\)", msg)
        if not m:
            return None
        words = re.findall(r"(\w+)=", m.group(2))
        expected = msg[m.end():]
        valid = set(re.findall(r"\b(\w+)(?=\s*(?:=[^,)]*)?[,)])", expected)) or set(KEYWORDS)
        bad = [w for w in words if w not in valid]
        if not bad:
            return None
        call, word = m.group(1), bad[0]
    close = difflib.get_close_matches(word, list(valid), n=1)
    way = f"did you mean `{close[0]}=`?" if close else f"see which keywords {call}() takes"
    return f"{call}() takes no keyword `{word}`{line}: {way}"


# --- shapes -------------------------------------------------------------------------------------

def _named(size: int, sizes) -> str:
    names = [name for name, value in sizes if value == size]
    return f"{size} ({' or '.join(names)})" if names else f"{size}"


def _broadcast(m, line, sizes) -> str:
    return (f"the operands{line} do not broadcast: at dimension {m[3]} of the result one has "
            f"{_named(int(m[1]), sizes)} and the other {_named(int(m[2]), sizes)}, and neither is 1. Check the "
            "shapes of that line's operands (print(x.shape)) against the docstring")


def _matmul(m, line, sizes) -> str:
    a, b, c, d = (int(x) for x in m.groups())
    return (f"the matmul{line} multiplies ({_named(a, sizes)}, {_named(b, sizes)}) by ({_named(c, sizes)}, "
            f"{_named(d, sizes)}): the inner sizes {b} and {c} must agree; choose the order and the .T that make "
            "the shapes fit (the result has the shape of the gradient you want)")


def _view(m, line, sizes) -> str:
    return (f"the view{line} asks for the shape [{m[1]}], but the tensor has {m[2]} elements: take the target "
            "shape from the tensor it is for (x.shape)")


def _joined(m, line, sizes) -> str:
    return (f"the tensors joined{line} differ outside dimension {m[1]}: {_named(int(m[2]), sizes)} and "
            f"{_named(int(m[3]), sizes)}. Check the shapes of the joined tensors (print(x.shape))")


def _index(m, line, sizes) -> str:
    return (f"an index{line} is {m[1]}, past the end of dimension {m[2]} (size {_named(int(m[3]), sizes)}): "
            "check which dimension each index runs over")


#: torch's messages of a shape problem, each with what to tell the learner
SHAPE_ERRORS = (
    (r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at non-singleton dimension (\d+)",
     _broadcast),
    (r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)", _matmul),
    (r"shape '\[([^\]]*)\]' is invalid for input of size (\d+)", _view),
    (r"Sizes of tensors must match except in dimension (\d+)\. Expected size (\d+) but got size (\d+)", _joined),
    (r"index (-?\d+) is out of bounds for dimension (\d+) with size (\d+)", _index),
)


def _shape_error(step, raised, line: str, sizes) -> str | None:
    for pattern, say in SHAPE_ERRORS:
        m = re.search(pattern, raised.message)
        if m:
            return f"{step.name}: {say(m, line, sizes)}"
    return None
