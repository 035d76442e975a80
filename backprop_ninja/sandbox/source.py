"""A step's source text and its module's names, read without running the learner's code.

A learner's step is a guard.Remote (its file, name and def line): its file
is parsed here with ast, never imported. A function of this process (a
test's, a notebook's) is read with inspect as usual.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from backprop_ninja.sandbox.guard import Remote


def step_lines(fn) -> tuple[list[str], int] | None:
    """(the function's source lines, the number of its first line), or None when they cannot be read."""
    if not isinstance(fn, Remote):
        try:
            return inspect.getsourcelines(fn)
        except (TypeError, OSError):
            return None
    parsed = _parse(fn.path)
    if parsed is None:
        return None
    text, tree = parsed
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == fn.name]
    if not defs:
        return None
    # the def the worker saw (its first line, decorators included); else the last, which Python binds
    node = next((n for n in defs if fn.line in (n.lineno, _first_line(n))), defs[-1])
    start = _first_line(node)
    return text.splitlines(keepends=True)[start - 1:node.end_lineno], start


def step_source(fn) -> str:
    """The function's source text ("" when it cannot be read)."""
    found = step_lines(fn)
    return "".join(found[0]) if found else ""


def module_names(fn) -> tuple[str, ...]:
    """The names the function's module defines at its top level (functions, imports, assignments)."""
    if not isinstance(fn, Remote):
        return tuple(getattr(fn, "__globals__", {}))
    parsed = _parse(fn.path)
    return top_level_names(parsed[1]) if parsed else ()


def top_level_names(tree: ast.Module) -> tuple[str, ...]:
    """The names a module binds outside its functions and classes, in order of first binding."""
    names: dict[str, None] = {}
    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = None
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    names[alias.asname or alias.name.split(".")[0]] = None
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names[node.id] = None
        if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            names[node.target.id] = None
        if isinstance(node, ast.ExceptHandler) and node.name:
            names[node.name] = None
        todo.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, (ast.Lambda, ast.comprehension)))
    return tuple(names)


def _first_line(node) -> int:
    return min([node.lineno] + [d.lineno for d in node.decorator_list])


def _parse(path: str) -> tuple[str, ast.Module] | None:
    try:
        text = Path(path).read_text(encoding="utf-8")
        return text, ast.parse(text)
    except (OSError, SyntaxError, ValueError):
        return None
